"""The MedBench task table: each task's dimension and answer type, read from prompts/task_dimensions.toml.

Task names are the older set's `other.source` values and the current (v4) set's file names. `source_name`
turns a v4 `other.source` into a task name: the version suffix is dropped (`MedExam_V4` -> MedExam,
`MedRxCheck_V4_SCQ` -> MedRxCheck_SCQ) and renamed sources are mapped through the table's `[aliases]`
(`CTR-QC` -> MedReportQC).
"""

from __future__ import annotations

import re
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

from judge.core.exceptions import ConfigError
from judge.core.models import Dimension
from judge.core.resources import resource_dir

TaskType = Literal["single_choice", "multi_choice", "open", "extraction", "calculation"]
CHOICE_TYPES: tuple[str, ...] = ("single_choice", "multi_choice")
"""Task types whose answers are option letters."""
_VERSION = re.compile(r"_[Vv]\d+(?=_|$)")
_MULTI_HINT = re.compile(r"一个或多个|多项选择|多选|不定项|哪些.{0,8}正确")


class TaskInfo(BaseModel):
    """What medjudge knows about one benchmark task."""

    name: str
    """Task name as in `other.source`, e.g. Med-Exam."""
    dimension: Dimension | None = None
    """MedBench dimension; None for tasks not in the table."""
    type: TaskType = "open"
    """How answers are scored: single_choice, multi_choice (option letters), or open, extraction, calculation (text)."""
    zh: str = ""
    """Chinese task name, for reports."""
    known: bool = True
    """False when the task is not in the table and its type was guessed."""


class _Entry(BaseModel):
    dimension: Dimension
    type: TaskType
    zh: str = ""


def load_task_table(path: str | Path | None = None) -> dict[str, TaskInfo]:
    """Read the task table (default: the shipped prompts/task_dimensions.toml), keyed by task name."""
    return dict(_load(_table_path(path))[0])


def load_aliases(path: str | Path | None = None) -> dict[str, str]:
    """The table's `[aliases]`: source names (version suffix dropped) that map to a differently named task."""
    return dict(_load(_table_path(path))[1])


def _table_path(path: str | Path | None) -> str:
    return str(path) if path else str(resource_dir("prompts") / "task_dimensions.toml")


@lru_cache(maxsize=8)
def _load(path: str) -> tuple[tuple[tuple[str, TaskInfo], ...], tuple[tuple[str, str], ...]]:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        entries = {name: _Entry(**raw) for name, raw in data.get("tasks", {}).items()}
        aliases = {str(k): str(v) for k, v in data.get("aliases", {}).items()}
    except (OSError, tomllib.TOMLDecodeError, ValidationError, TypeError, AttributeError) as e:
        raise ConfigError(f"invalid task table {path}: {e}") from e
    bad = sorted(f"{a} -> {t}" for a, t in aliases.items() if t not in entries)
    if bad:
        raise ConfigError(f"invalid task table {path}: aliases name tasks that are not in the table: {', '.join(bad)}")
    return tuple((n, TaskInfo(name=n, **e.model_dump())) for n, e in entries.items()), tuple(aliases.items())


def source_name(source: str, aliases: dict[str, str] | None = None) -> str:
    """The task name a record's `other.source` stands for: version suffix dropped, then renamed by `aliases`."""
    bare = _VERSION.sub("", source.strip())
    aliases = load_aliases() if aliases is None else aliases
    return aliases.get(bare, bare)


def guess_type(options: list[str] | None, question: str | None = None) -> TaskType:
    """Guess an unknown task's type: open without options; multi_choice when the prompt asks for several."""
    if not options:
        return "open"
    return "multi_choice" if question and _MULTI_HINT.search(question) else "single_choice"


def task_info(
    task: str | None,
    options: list[str] | None = None,
    question: str | None = None,
    table: dict[str, TaskInfo] | None = None,
) -> TaskInfo:
    """Look a task up in the table; unknown tasks get dimension None and a type guessed from the record."""
    table = load_task_table() if table is None else table
    if task and task in table:
        return table[task]
    return TaskInfo(name=task or "", dimension=None, type=guess_type(options, question), known=False)
