"""Judge prompt templates: load a template file, hash it (= prompt version), render chat messages."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta

from judge.core.exceptions import ConfigError
from judge.core.hashing import content_version
from judge.core.models import Item
from judge.core.resources import prompt_path
from judge.core.settings import DEFAULT_PROMPT
from judge.core.taxonomy import Category, Taxonomy
from judge.llm.letters import lettered

_SECTION = re.compile(r"^=== (system|user) ===\s*$", re.MULTILINE)
_FENCE_TOKEN = re.compile(r"<<<|>>>")
_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False)


@lru_cache(maxsize=64)
def _compile(source: str) -> jinja2.Template:
    return _ENV.from_string(source)


@lru_cache(maxsize=64)
def _uses_item(source: str) -> bool:
    """Whether a template section refers to the item (if not, its rendering is the same for every item)."""
    return "item" in jinja2.meta.find_undeclared_variables(_ENV.parse(source))


@lru_cache(maxsize=16)
def _split(text: str) -> dict[str, str]:
    parts = _SECTION.split(text)
    return {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}


def fence(name: str, text: str) -> str:
    """Wrap untrusted text in <<<NAME>>> … <<<END NAME>>> markers it cannot forge."""
    safe = _FENCE_TOKEN.sub(lambda m: "‹‹‹" if m.group() == "<<<" else "›››", text)
    return f"<<<{name}>>>\n{safe}\n<<<END {name}>>>"


DEFAULT_MAX_FIELD_CHARS = 32_000
"""Longest question, options, reference answer or response sent to the judge (characters); longer ones are cut."""
INLINE_MAX_CHARS = 200
"""Longest one-line field (task, dimension) shown in a prompt."""
TRUNCATED_FLAG = "input_truncated"
"""Verdict flag: a field was cut to the size cap before it was sent."""
_SECTION_MARK = re.compile(r"={3,}")


def inline(text: str | None, limit: int = INLINE_MAX_CHARS) -> str | None:
    """A short untrusted field (task, dimension) made safe to print on a prompt line: one line, no fence or section
    markers it could forge, at most `limit` characters. Ordinary values ("Med-Exam") come out unchanged."""
    if text is None:
        return None
    flat = " ".join(text.split())
    flat = _FENCE_TOKEN.sub(lambda m: "‹‹‹" if m.group() == "<<<" else "›››", flat)
    flat = _SECTION_MARK.sub(lambda m: "＝" * len(m.group()), flat)
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def cap(text: str | None, limit: int) -> tuple[str | None, bool]:
    """`text` cut to `limit` characters with a note saying how much was cut, and whether it was cut."""
    if text is None or len(text) <= limit:
        return text, False
    return f"{text[:limit]}\n[... {len(text) - limit:,} more characters cut before judging]", True


@dataclass(frozen=True)
class PromptItem:
    """An item as a prompt shows it: long fields cut to the size cap, one-line fields made safe."""

    item_id: str
    task: str | None
    dimension: str | None
    model: str | None
    question: str
    options: list[str] | None
    reference_answer: str | None
    response: str
    meta: dict[str, object]
    cut: tuple[str, ...] = ()
    """Names of the fields that were cut."""


def prompt_item(item: Item, max_chars: int = DEFAULT_MAX_FIELD_CHARS) -> PromptItem:
    """The view of `item` the templates render (see `PromptItem`); the options are capped together."""
    question, q_cut = cap(item.question, max_chars)
    reference, r_cut = cap(item.reference_answer, max_chars)
    response, s_cut = cap(item.response, max_chars)
    options = item.options
    o_cut = options is not None and sum(len(o) for o in options) > max_chars
    if options is not None and o_cut:
        joined, _ = cap("\n".join(options), max_chars)
        options = (joined or "").split("\n")
    cut = tuple(name for name, was in (("question", q_cut), ("options", o_cut), ("reference_answer", r_cut),
                                       ("response", s_cut)) if was)
    return PromptItem(item_id=item.item_id, task=inline(item.task), dimension=inline(item.dimension),
                      model=inline(item.model), question=question or "", options=options, reference_answer=reference,
                      response=response or "", meta=item.meta, cut=cut)


@dataclass(frozen=True)
class PromptTemplate:
    """A judge prompt: a system and a user section, Jinja2-templated."""

    name: str
    text: str
    _static: dict[tuple[object, ...], str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def version(self) -> str:
        """Content hash of the template file: the prompt version."""
        return content_version(self.text)

    def sections(self) -> tuple[str, str]:
        """Return the (system, user) template sources."""
        found = _split(self.text)
        if set(found) != {"system", "user"}:
            raise ConfigError(f"prompt {self.name} needs '=== system ===' and '=== user ===' sections")
        return found["system"], found["user"]

    def render(self, item: Item, taxonomy: Taxonomy, category_order: list[str] | None = None,
               max_field_chars: int = DEFAULT_MAX_FIELD_CHARS, letters: bool = False) -> list[dict[str, str]]:
        """Render the chat messages for one item; `category_order` reorders the category list, and `letters` shows
        the categories as A–H in that order (the label-renaming probe: the template's `c.code` is then a letter).

        The template sees `prompt_item(item)`: fields longer than `max_field_chars` cut with a note, the task and
        other one-line fields stripped of line breaks and of fence and section markers, so no field can pass for
        the prompt's own structure."""
        system_src, user_src = self.sections()
        cats: list[Category] = (
            [taxonomy.get(c) for c in category_order] if category_order else list(taxonomy.categories)
        )
        order = [c.code for c in cats]
        shown: list[Any] = cats
        decision_order: list[str] = list(taxonomy.decision_order)
        if letters:
            shown, decision_order = lettered(taxonomy, order)
        ctx = {
            "taxonomy": taxonomy,
            "categories": shown,
            "decision_order": decision_order,
            "item": prompt_item(item, max_field_chars),
            "fence": fence,
        }
        try:
            if _uses_item(system_src):
                system = _compile(system_src).render(**ctx)
            else:
                key = (system_src, taxonomy.version, taxonomy.content_hash, tuple(order), letters)
                system = self._static.get(key) or self._static.setdefault(key, _compile(system_src).render(**ctx))
            user = _compile(user_src).render(**ctx)
        except jinja2.TemplateError as e:
            raise ConfigError(f"prompt {self.name} failed to render: {e}") from e
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def load_prompt(name: str | Path | None = None) -> PromptTemplate:
    """Load a prompt template by path or by name inside the shipped prompts/ folder."""
    path = prompt_path(str(name or DEFAULT_PROMPT))
    text = path.read_text(encoding="utf-8")
    tpl = PromptTemplate(name=path.name, text=text)
    tpl.sections()
    return tpl


@lru_cache(maxsize=256)
def _json_bytes(text: str) -> bytes:
    return json.dumps(text, ensure_ascii=False).encode()


def messages_hash(messages: list[dict[str, str]]) -> str:
    """Stable hash of rendered messages (logged with every LLM call): SHA-256 of their sorted-key JSON.

    Plain role/content messages are hashed piecewise, so the shared system prompt is encoded once, not per item;
    the bytes hashed are exactly `json.dumps(messages, ensure_ascii=False, sort_keys=True)`.
    """
    if not all(m.keys() == {"role", "content"} and isinstance(m["content"], str) and isinstance(m["role"], str)
               for m in messages):
        return hashlib.sha256(json.dumps(messages, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:16]
    h = hashlib.sha256(b"[")
    for i, m in enumerate(messages):
        content = m["content"]
        h.update(b', {"content": ' if i else b'{"content": ')
        h.update(_json_bytes(content) if m["role"] == "system" else json.dumps(content, ensure_ascii=False).encode())
        h.update(b', "role": ' + _json_bytes(m["role"]) + b"}")
    h.update(b"]")
    return h.hexdigest()[:16]
