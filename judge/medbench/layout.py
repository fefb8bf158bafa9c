"""Read one MedBench record of either release into what scoring needs: task, question id, options, warnings.

The older public set writes `other` as a JSON object, the options as an `options` list, and `other.source` is
the task name. The current (v4) set differs in three ways, all handled here:

- `other` may be a Python-literal dict string (`"{'id': 3, 'source': 'MedExam_V4'}"`); it is read with
  `ast.literal_eval`, never evaluated.
- Options are written inside the question text (`A.…` / `A、…` / `A．…`, one a line or run together on one
  line); the last block of consecutive labels A, B, C, … after the last `##` heading (so after the worked
  example) is taken. `options` is usually null or the string `'None'`.
- `other.source` carries a version suffix and some renames (`MedExam_V4`, `CTR-QC` for MedReportQC); the
  task is named from the normalised source when the task table knows it, else from the file name.

Options are read from the question text only for choice tasks (and for tasks the table does not know), so
the item ids of open tasks of the older set never change. Everything that cannot be mapped is returned as a
warning (kind, message) that the reader reports with the file and line: `unknown_task` (neither the source
nor the file name is in the table), `unknown_source` (the source is not, the file name is), `task_mismatch`
(they name two different known tasks), `no_options` (a choice task's record has no options anywhere),
`options_conflict` (the `options` field and the question text disagree). Malformed fields raise
`LayoutError`.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import unicodedata
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from judge.medbench.tasks import CHOICE_TYPES, TaskInfo, guess_type, load_aliases, source_name, task_info

_LABEL = re.compile(r"(?:[(（]\s*([A-JＡ-Ｊ])\s*[)）]|(?<![A-Za-z0-9_Ａ-Ｚａ-ｚ])([A-JＡ-Ｊ])\s*[.．、:：)）])[ \t]*")
# Options run together after Latin text ("A.维生素CB.亚硫酸氢钠", "…,bidB.200mg"): a label right after a letter.
_LOOSE_LABEL = re.compile(r"()([B-JＢ-Ｊ])\s*[.．、][ \t]*")
_HEADING = re.compile(r"(?m)^[ \t]*##")
_BLOCK_END = re.compile(r"\n[ \t]*\n|\n[ \t]*(?:答|答案|##)")
_NULLS = {"", "none", "null", "nan", "[]"}


class LayoutError(ValueError):
    """A record field that cannot be read (kind is an IngestProblem kind)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class RecordLayout(BaseModel):
    """What one record says once its release's layout is undone."""

    task: str
    """Task name (a key of the task table when the task is known)."""
    info: TaskInfo
    """The task's table entry (dimension None and a guessed type when unknown)."""
    record_id: str
    """`other.id`, else "q" + a short hash of the question text."""
    options: list[str] | None
    """Options as "A. content" strings, in the record's order; None when it has none."""
    options_from: str
    """Where the options were read: field, question or none."""
    other: dict[str, Any] = Field(default_factory=dict)
    """The parsed `other` object."""
    warnings: list[tuple[str, str]] = Field(default_factory=list)
    """(kind, message) of things that could not be mapped; the record is still read."""


def parse_other(value: Any) -> dict[str, Any]:
    """`other` as a dict: an object as is, a JSON or Python-literal dict string parsed safely, null as {}."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in _NULLS:
            return {}
        for parse in (json.loads, ast.literal_eval):
            try:
                parsed = parse(text)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                continue
            if isinstance(parsed, dict):
                return parsed
        raise LayoutError("invalid_record", f"`other` is a string that is not a dict literal: {_clip(text)}")
    raise LayoutError("invalid_record", f"`other` must be an object or a dict literal string, got {type(value).__name__}")


def parse_options_field(value: Any) -> list[str] | None:
    """The `options` field as a list of strings; None for null, 'None', '' or []. Raises LayoutError otherwise.

    Accepted: a list of strings; a dict {"A": "…", …}; a string holding either of those as a JSON or Python
    literal, or option lines ("A. …\\nB. …").
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in _NULLS:
            return None
        for parse in (json.loads, ast.literal_eval):
            try:
                parsed = parse(text)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                continue
            if isinstance(parsed, list | dict):
                return parse_options_field(parsed)
        found = options_in_text(text, after_heading=False)
        if found:
            return found
        raise LayoutError("invalid_record", f"`options` is a string with no readable options: {_clip(text)}")
    if isinstance(value, dict):
        if value and all(isinstance(v, str) for v in value.values()):
            return [f"{str(k).strip()}. {v.strip()}" for k, v in value.items()]
    elif isinstance(value, list):
        if not value:
            return None
        if all(isinstance(o, str) for o in value):
            return value
    raise LayoutError("invalid_record", "`options` must be a list of strings, a letter -> text object, or null; "
                                        f"got {_clip(json.dumps(value, ensure_ascii=False, default=str))}")


def options_in_text(question: str, *, after_heading: bool = True) -> list[str] | None:
    """The last block of consecutive option labels A, B, C, … in `question`, as "A. content" strings.

    With `after_heading`, the block must start after the last `##` heading, so a worked example's options are
    never taken for the item's. None when no block of two or more options is found.
    """
    start = 0
    if after_heading:
        heads = list(_HEADING.finditer(question))
        start = heads[-1].start() if heads else 0
    block = _last_block(question, start, loose=False)
    loose = _last_block(question, start, loose=True)
    if loose and (not block or (loose[0].start() == block[0].start() and len(loose) > len(block))):
        block = loose
    if not block:
        return None
    out = []
    for i, m in enumerate(block):
        end = block[i + 1].start() if i + 1 < len(block) else len(question)
        content = question[m.end():end]
        if i + 1 == len(block):
            cut = _BLOCK_END.search(content)
            content = content[: cut.start()] if cut else content
        content = content.strip()
        if not content:
            return None
        out.append(f"{_letter(m)}. {content}")
    return out


def _last_block(question: str, start: int, *, loose: bool) -> list[re.Match[str]] | None:
    """The last run of labels A, B, C, … (two or more); `loose` also takes B… labels right after a letter."""
    matches = list(_LABEL.finditer(question, start))
    if loose:
        matches = sorted(matches + list(_LOOSE_LABEL.finditer(question, start)), key=lambda m: m.start())
    blocks: list[list[re.Match[str]]] = []
    for m in matches:
        letter = _letter(m)
        if blocks and letter == chr(ord(_letter(blocks[-1][-1])) + 1) and m.start() >= blocks[-1][-1].end():
            blocks[-1].append(m)
        elif letter == "A":
            blocks.append([m])
    blocks = [b for b in blocks if len(b) >= 2]
    return blocks[-1] if blocks else None


def _letter(m: re.Match[str]) -> str:
    return unicodedata.normalize("NFKC", m.group(1) or m.group(2))


def _contents(options: list[str]) -> list[str]:
    from judge.medbench.extract import option_contents

    return [re.sub(r"\s+", "", unicodedata.normalize("NFKC", c)) for c in option_contents(options)]


def question_id(question: str, other: dict[str, Any]) -> str:
    """`other.id` as a string, else "q" + the first 10 hex digits of the sha1 of the question text."""
    if other.get("id") is not None:
        return str(other["id"])
    return "q" + hashlib.sha1(question.encode("utf-8")).hexdigest()[:10]


def resolve_task(source: Any, stem: str, table: dict[str, TaskInfo],
                 aliases: dict[str, str]) -> tuple[str, list[tuple[str, str]]]:
    """Task name from `other.source` (normalised) or the file name, with warnings for what does not map."""
    raw = str(source).strip() if source not in (None, "") else ""
    named = source_name(raw, aliases) if raw else ""
    if named in table:
        if stem in table and stem != named:
            return named, [("task_mismatch", f"other.source {raw!r} is task {named!r} but the file is named "
                                             f"after task {stem!r}; {named!r} is used")]
        return named, []
    if stem in table:
        if not raw:
            return stem, []
        return stem, [("unknown_source", f"other.source {raw!r} (read as {named!r}) is not in the task table; "
                                         f"named {stem!r} after the file. Add an alias to prompts/task_dimensions.toml"
                                         " if this is a rename")]
    task = named or stem
    return task, [("unknown_task", f"task {task!r} (other.source {raw or '(none)'!r}, file {stem!r}) is not in the "
                                   "task table: no dimension, type guessed. Add it to prompts/task_dimensions.toml")]


def read_layout(record: dict[str, Any], path: Path, table: dict[str, TaskInfo],
                aliases: dict[str, str] | None = None) -> RecordLayout:
    """Undo the release's layout of one parsed record (question already checked to be a string)."""
    aliases = load_aliases() if aliases is None else aliases
    other = parse_other(record.get("other"))
    question = record["question"]
    task, warnings = resolve_task(other.get("source"), path.stem, table, aliases)
    field = parse_options_field(record.get("options"))
    known = task in table
    choice = known and table[task].type in CHOICE_TYPES
    in_text = options_in_text(question) if (choice or not known) else None
    options, where = (field, "field") if field else (in_text, "question" if in_text else "none")
    if field and in_text and sorted(_contents(field)) != sorted(_contents(in_text)):
        warnings.append(("options_conflict", f"the `options` field ({len(field)} options) and the options written "
                                             f"in the question ({len(in_text)}) differ; the field is used"))
    info = task_info(task, options, question, table)
    if not known:
        info = info.model_copy(update={"type": guess_type(options, question)})
    if info.type in CHOICE_TYPES and not options:
        warnings.append(("no_options", f"{task} is a {info.type} task but the record has no options, neither in "
                                       "`options` nor as A./B. lines in the question: scored as unknown"))
    return RecordLayout(task=task, info=info, record_id=question_id(question, other), options=options,
                        options_from=where, other=other, warnings=warnings)


def _clip(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[:n] + "…"
