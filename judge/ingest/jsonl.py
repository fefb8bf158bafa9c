"""The one JSONL line reader behind items, MedBench outputs and the gold set: bad lines are reported, never fatal.

Each non-blank line becomes a `JsonlLine` with its 1-based number and either the parsed JSON value or a problem:
- `invalid_utf8`: the bytes are not UTF-8;
- `merge_conflict_marker`: a git conflict line (<<<<<<<, |||||||, =======, >>>>>>>);
- `invalid_json`: not JSON, or nested too deeply to parse.
A byte-order mark is dropped wherever a line starts with one (BOM-prefixed files are sometimes concatenated).
Lines end at LF, CRLF or a lone CR (old Mac files), so a CR-only file is read line by line too; JSON itself never
holds a raw line break, so no record is cut by this.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

ProblemKind = Literal["invalid_utf8", "merge_conflict_marker", "invalid_json"]
MERGE_MARKERS = ("<<<<<<<", "|||||||", "=======", ">>>>>>>")
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class JsonlLine:
    """One non-blank line of a JSONL file: its parsed value, or what is wrong with it."""

    line: int
    """1-based line number."""
    value: Any = None
    """The parsed JSON value (None when `problem` is set)."""
    problem: ProblemKind | None = None
    """What kind of bad line this is, or None."""
    message: str = ""
    """Human-readable detail of the problem."""


def _physical_lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        for raw in fh:
            body = raw.rstrip(b"\n").rstrip(b"\r")
            if b"\r" in body:
                yield from body.split(b"\r")
            else:
                yield body


def iter_jsonl_lines(path: str | Path) -> Iterator[JsonlLine]:
    """Stream the non-blank lines of a JSONL file as `JsonlLine`s (see the module docstring)."""
    for lineno, raw in enumerate(_physical_lines(Path(path)), start=1):
        if raw.startswith(_BOM):
            raw = raw[len(_BOM):]
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            yield JsonlLine(lineno, problem="invalid_utf8", message=f"invalid UTF-8 at byte {e.start}")
            continue
        if text.startswith(MERGE_MARKERS):
            yield JsonlLine(lineno, problem="merge_conflict_marker",
                            message=f"git merge-conflict marker line {text[:50]!r}")
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as e:
            yield JsonlLine(lineno, problem="invalid_json", message=f"invalid JSON: {e.msg} at column {e.colno}")
            continue
        except RecursionError:
            yield JsonlLine(lineno, problem="invalid_json", message="invalid JSON: nested too deeply")
            continue
        except ValueError as e:  # e.g. an integer of thousands of digits (Python's int conversion limit)
            yield JsonlLine(lineno, problem="invalid_json", message=f"invalid JSON: {str(e)[:120]}")
            continue
        yield JsonlLine(lineno, value=value)
