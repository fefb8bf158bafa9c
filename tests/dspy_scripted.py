"""Scripted judge LMs for the optimization tests: offline DSPy engines and an HTTP responder sharing one policy.

The policy knows every gold item's category but only answers it when the prompt "teaches" that category:
its definition appears in the system message (instructions), or a demo carries it (a chat-adapter demo turn
`[[ ## category ## ]]` or a worked example `"category": "<code>"` in an exported prompt). Otherwise it answers
`default`. So a prompt only scores better when an optimizer put the right instructions or demos into it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from dspy.lm15 import Message, Response, TextPart, Usage

from judge.core.taxonomy import load_taxonomy
from judge.gold.gold_set import GoldItem

_OUTPUTS = re.compile(r"Your output fields are:\n(.*?)\nAll interactions", re.S)
_FIELD = re.compile(r"^\d+\. `(\w+)`", re.M)
_DEMO_CATEGORY = re.compile(r"\[\[ ## category ## \]\]\s*\n\s*(\w+)")
_GOLD_DEFINITION = re.compile(r"The physicians' category is `(\w+)`")
PROPOSAL_MARKER = "Learned guidance (proposed)."


@dataclass
class Policy:
    """Which category the scripted judge answers for a prompt."""

    truth: dict[str, str]
    """{question text: gold category}."""
    default: str = "omission"
    """Answer when the prompt does not teach the item's category."""
    use_definitions: bool = True
    """A definition in the system message teaches its category."""
    use_demos: bool = True
    """A demo or worked example with the category teaches it."""
    oracle: bool = False
    """Answer every known item's category whatever the prompt (a strong teacher)."""
    calls: list[list[dict[str, str]]] = field(default_factory=list)
    """Every message list answered (for assertions)."""

    @classmethod
    def from_gold(cls, items: list[GoldItem], **kw: Any) -> Policy:
        """A policy knowing the consensus categories of `items`."""
        truth = {g.question: str(g.consensus) for g in items if g.consensus}
        return cls(truth=truth, **kw)

    def truth_for(self, text: str) -> str | None:
        """Gold category of the question contained in `text` (the longest match), if any."""
        found = [q for q in self.truth if q in text]
        return self.truth[max(found, key=len)] if found else None

    def taught(self, code: str, system: str, demo_turns: list[str]) -> bool:
        """Whether the prompt teaches category `code`."""
        tax = load_taxonomy()
        if self.oracle:
            return True
        if self.use_definitions and tax.get(code).definition in system:
            return True
        if not self.use_demos:
            return False
        if f'"category": "{code}"' in system:
            return True
        return any(code in _DEMO_CATEGORY.findall(turn) for turn in demo_turns)

    def category(self, messages: list[dict[str, str]]) -> str:
        """The scripted judge's category for a chat request."""
        system = "\n".join(m["content"] for m in messages if m["role"] == "system")
        users = [m["content"] for m in messages if m["role"] == "user"]
        demos = [m["content"] for m in messages[:-1] if m["role"] == "assistant"]
        gold = self.truth_for(users[-1]) if users else None
        if gold is not None and self.taught(gold, system, demos):
            return gold
        return self.default


def proposal_text() -> str:
    """An instruction a scripted proposer would write: a marker plus every category definition."""
    tax = load_taxonomy()
    return PROPOSAL_MARKER + " " + " ".join(f"`{c.code}`: {c.definition}" for c in tax.categories)


def chat_adapter_reply(values: dict[str, str]) -> str:
    """A reply in DSPy's chat-adapter format."""
    body = "".join(f"[[ ## {k} ## ]]\n{v}\n\n" for k, v in values.items())
    return body + "[[ ## completed ## ]]"


def reflected_instruction(prompt: str) -> str:
    """A reflection LM's new instruction: the definitions of the gold categories named in the feedback."""
    tax = load_taxonomy()
    codes = sorted(set(_GOLD_DEFINITION.findall(prompt)))
    return "\n".join(["Classify why the response is wrong."] + [f"- `{c}`: {tax.get(c).definition}" for c in codes])


def answer(policy: Policy, messages: list[dict[str, str]]) -> str:
    """Answer any DSPy request (chat or JSON adapter): the judge by the policy, proposers and reflection by script."""
    policy.calls.append(messages)
    system = "\n".join(m["content"] for m in messages if m["role"] == "system")
    everything = "\n".join(m["content"] for m in messages)
    found = _OUTPUTS.search(system)
    if not found:
        return "```\n" + reflected_instruction(everything) + "\n```"
    values: dict[str, str] = {}
    for name in _FIELD.findall(found.group(1)):
        if name == "category":
            values[name] = policy.category(messages)
        elif name == "proposed_instruction":
            values[name] = proposal_text()
        elif name == "new_instruction":
            values[name] = reflected_instruction(everything)
        else:
            values[name] = f"scripted {name}"
    if "Outputs will be a JSON object" in system:
        return json.dumps(values, ensure_ascii=False)
    return chat_adapter_reply(values)


def json_verdict(policy: Policy, messages: list[dict[str, str]]) -> str:
    """Answer a request of the Instructor judge with a JSON verdict chosen by the policy."""
    policy.calls.append(messages)
    return json.dumps({"category": policy.category(messages), "rationale": "scripted", "evidence": "",
                       "confidence": 0.8}, ensure_ascii=False)


def request_messages(request: Any) -> list[dict[str, str]]:
    """An lm15 Request as OpenAI-style message dicts."""
    out = []
    if request.system is not None:
        system = request.system if isinstance(request.system, str) else "".join(p.text for p in request.system)
        out.append({"role": "system", "content": system})
    out.extend({"role": m.role, "content": m.text or ""} for m in request.messages)
    return out


def scripted_lm(policy: Policy, name: str = "scripted/judge") -> Any:
    """A dspy.LM answering through `policy` offline (no cache, so every call reaches the policy)."""
    import dspy

    return dspy.LM(name, engine=ScriptedEngine(policy), cache=False)


class ScriptedEngine:
    """A dspy.LM engine answering every request through `answer(policy, ...)`; no network."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def complete(self, request: Any) -> Response:
        """Answer one canonical request."""
        text = answer(self.policy, request_messages(request))
        return Response(id=None, model="scripted", message=Message.assistant([TextPart(text)]), finish_reason="stop",
                        usage=Usage(input_tokens=1, output_tokens=1, total_tokens=2))

    def stream(self, request: Any) -> Any:
        """Streaming is not needed by the optimizers."""
        raise NotImplementedError

    def close(self) -> None:
        """Nothing to release."""
