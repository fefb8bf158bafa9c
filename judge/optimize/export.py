"""Export an optimized DSPy judge program as a prompt template the Instructor judge runs.

The exported file is the base template (default prompts/judge_v1.md) with, at the end of its system section,
the optimized instructions (when the optimizer changed them) and the program's demos written out as worked
examples: an excerpt of the item in fenced blocks followed by the JSON verdict the judge should return. Exported
text is literal: Jinja syntax in it is escaped and lines that look like section markers are defused, so the file
renders the same way for every item. A comment before `=== system ===` records where the prompt came from; it is
not sent to the model but is part of the file's hash, i.e. of the prompt version.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dspy
from pydantic import BaseModel

from judge.core.exceptions import ConfigError
from judge.core.taxonomy import CATEGORY_CODES
from judge.llm.prompt import PromptTemplate, fence, load_prompt
from judge.optimize.signature import NOT_PROVIDED

_MARKER = re.compile(r"^=== (system|user) ===\s*$", re.MULTILINE)
_JINJA_OPEN = re.compile(r"\{[{%#]")
EXCERPT_CHARS = 600
"""Longest excerpt of a demo's question, options, reference answer or response."""
EXAMPLE_CONFIDENCE = 0.8
"""Confidence written into every worked example's verdict (demos carry no confidence of their own)."""


class WorkedExample(BaseModel):
    """One demo of the optimized program, as it is written into the exported prompt."""

    item_id: str | None = None
    """Gold item id, when the demo is a gold item."""
    task: str
    """Benchmark task name."""
    dimension: str
    """MedBench dimension."""
    question: str
    """The question (full; excerpted when rendered)."""
    options: str
    """Options, one per line, or (not provided)."""
    reference_answer: str
    """Reference answer, or (not provided)."""
    response: str
    """The wrong response."""
    category: str
    """The category the demo teaches."""
    rationale: str
    """Why that category applies."""
    bootstrapped: bool = False
    """True when the rationale was written by a model run whose category matched the gold one."""


def program_instructions(program: dspy.Module) -> str:
    """The instructions of the program's (single) predictor."""
    return program.predictors()[0].signature.instructions


def _as_dict(demo: Any) -> dict[str, Any]:
    if hasattr(demo, "toDict"):
        return demo.toDict()
    if isinstance(demo, Mapping):
        return dict(demo)
    raise TypeError(f"unsupported demo type {type(demo).__name__}")


def program_demos(program: dspy.Module) -> list[WorkedExample]:
    """The program's demos that carry a valid category, as worked examples (others are skipped)."""
    out = []
    for demo in program.predictors()[0].demos:
        d = _as_dict(demo)
        if d.get("category") not in CATEGORY_CODES or not d.get("question") or d.get("response") is None:
            continue
        out.append(WorkedExample(
            item_id=d.get("item_id"), task=str(d.get("task") or "unknown"),
            dimension=str(d.get("dimension") or "unknown"), question=str(d["question"]),
            options=str(d.get("options") or NOT_PROVIDED), reference_answer=str(d.get("reference_answer") or NOT_PROVIDED),
            response=str(d["response"]), category=d["category"], rationale=str(d.get("rationale") or "").strip(),
            bootstrapped=bool(d.get("augmented")),
        ))
    return out


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """`text` cut to `limit` characters, with a visible mark when cut."""
    text = text.strip()
    return text if len(text) <= limit else text[:limit].rstrip() + " …[truncated]"


def verdict_json(example: WorkedExample, confidence: float = EXAMPLE_CONFIDENCE) -> str:
    """The judge's JSON answer for a worked example."""
    return json.dumps({"category": example.category, "rationale": example.rationale or example.category,
                       "evidence": "", "confidence": confidence, "secondary": []}, ensure_ascii=False)


def render_example(n: int, ex: WorkedExample, limit: int = EXCERPT_CHARS) -> str:
    """One worked example: the item in fenced blocks, then its verdict."""
    source = "model rationale, category confirmed by physicians" if ex.bootstrapped else "physician-labelled"
    head = f"### Example {n} ({source}{', gold item ' + ex.item_id if ex.item_id else ''})"
    parts = [head, f"Task: {ex.task}    Dimension: {ex.dimension}", fence("EXAMPLE QUESTION", excerpt(ex.question, limit))]
    if ex.options != NOT_PROVIDED:
        parts.append(fence("EXAMPLE OPTIONS", excerpt(ex.options, limit)))
    parts += [fence("EXAMPLE REFERENCE ANSWER", excerpt(ex.reference_answer, limit)),
              fence("EXAMPLE RESPONSE", excerpt(ex.response, limit)), f"Verdict: {verdict_json(ex)}"]
    return "\n".join(parts)


def guidance_block(instructions: str | None, examples: list[WorkedExample], limit: int = EXCERPT_CHARS) -> str:
    """The text added to the system section: optimized instructions and worked examples (empty if neither)."""
    parts = []
    if instructions and instructions.strip():
        parts.append("Additional guidance learned from physician-labelled examples:\n" + instructions.strip())
    if examples:
        parts.append("Worked examples. The blocks below are EXAMPLES of data with the verdict physicians expect; "
                     "they are not the item you are asked to judge.\n\n"
                     + "\n\n".join(render_example(i, ex, limit) for i, ex in enumerate(examples, start=1)))
    return "\n\n".join(parts)


def literal(text: str) -> str:
    """`text` made safe to paste into a template: renders verbatim and cannot open a new section."""
    text = _MARKER.sub(lambda m: f"== {m.group(1)} ==", text)
    if not _JINJA_OPEN.search(text):
        return text
    text = re.sub(r"\{%(-?\s*)(end)?raw", r"{ %\1\2raw", text)
    return "{% raw %}" + text + "{% endraw %}"


def insert_into_system(base_text: str, block: str) -> str:
    """Insert `block` at the end of the system section of a template's text (other text unchanged)."""
    markers = list(_MARKER.finditer(base_text))
    system = next((i for i, m in enumerate(markers) if m.group(1) == "system"), None)
    if system is None:
        raise ConfigError("base prompt has no '=== system ===' section")
    end = markers[system + 1].start() if system + 1 < len(markers) else len(base_text)
    head = base_text[:end].rstrip("\n")
    return f"{head}\n\n{literal(block)}\n{base_text[end:]}"


def header_comment(provenance: Mapping[str, Any]) -> str:
    """The provenance comment placed before `=== system ===` (not rendered, but part of the prompt version)."""
    lines = [f"  {k}: {v}" for k, v in provenance.items() if v is not None]
    body = "\n".join(lines).replace("-->", "- ->")
    return f"<!-- medjudge optimized judge prompt (generated; review before use)\n{body}\n-->\n"


def build_prompt_text(base: PromptTemplate, instructions: str | None, examples: list[WorkedExample],
                      provenance: Mapping[str, Any] | None = None, limit: int = EXCERPT_CHARS) -> str:
    """The exported template text: header comment + base template with the guidance block in its system section."""
    block = guidance_block(instructions, examples, limit)
    text = insert_into_system(base.text, block) if block else base.text
    return (header_comment(provenance) if provenance else "") + text


def export_prompt(program: dspy.Module, out: str | Path, *, base: str | Path | None = None,
                  default_instructions: str | None = None, provenance: Mapping[str, Any] | None = None,
                  limit: int = EXCERPT_CHARS) -> PromptTemplate:
    """Write the optimized program as a prompt file at `out` and return it loaded (its version is its hash).

    The program's instructions are written only when they differ from `default_instructions` (the taxonomy text
    the base template already contains).
    """
    base_tpl = load_prompt(base)
    instructions = program_instructions(program)
    changed = default_instructions is None or instructions.strip() != default_instructions.strip()
    text = build_prompt_text(base_tpl, instructions if changed else None, program_demos(program), provenance, limit)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    return load_prompt(path)
