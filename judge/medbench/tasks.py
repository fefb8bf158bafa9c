"""The MedBench task table: each task's dimension and answer type, read from prompts/task_dimensions.toml."""

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

TaskType = Literal["single_choice", "multi_choice", "open"]
_MULTI_HINT = re.compile(r"一个或多个|多项选择|多选|不定项|哪些.{0,8}正确")


class TaskInfo(BaseModel):
    """What medjudge knows about one benchmark task."""

    name: str
    """Task name as in `other.source`, e.g. Med-Exam."""
    dimension: Dimension | None = None
    """MedBench dimension; None for tasks not in the table."""
    type: TaskType = "open"
    """How answers are scored: single_choice, multi_choice or open."""
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
    return dict(_load(str(path) if path else str(resource_dir("prompts") / "task_dimensions.toml")))


@lru_cache(maxsize=8)
def _load(path: str) -> tuple[tuple[str, TaskInfo], ...]:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        entries = {name: _Entry(**raw) for name, raw in data.get("tasks", {}).items()}
    except (OSError, tomllib.TOMLDecodeError, ValidationError, TypeError) as e:
        raise ConfigError(f"invalid task table {path}: {e}") from e
    return tuple((n, TaskInfo(name=n, **e.model_dump())) for n, e in entries.items())


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
