"""Push the review queue to a Label Studio project: create or update the project, add new tasks, add predictions.

A task is identified by its `data.item_id`: pushing again adds no task for an item the project already has;
it only attaches predictions of judges the task does not have yet (model_version = judge_id).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import BaseModel, Field

from judge.review.label_studio import LabelStudio
from judge.review.queue import QueueEntry
from judge.review.tasks import prediction, review_config, task_for

PROJECT_DESCRIPTION = ("medjudge review queue: check the judge's error category for each wrong answer, correct it "
                       "if needed, add secondary categories and a note.")


class PushResult(BaseModel):
    """What a push did."""

    project: str
    """Project title."""
    project_id: int
    """Label Studio project id."""
    project_created: bool
    """Whether the project was created by this push."""
    config_updated: bool
    """Whether the labelling interface of an existing project was replaced."""
    judge_id: str | None = None
    """The judge the needs_review / low-confidence / sample selectors read."""
    n_selected: int
    """Items in the queue."""
    n_created: int
    """Tasks created."""
    n_existing: int
    """Queued items the project already had a task for."""
    n_predictions_added: int
    """Predictions attached to existing tasks."""
    by_reason: dict[str, int] = Field(default_factory=dict)
    """Queued items per selector."""
    duplicate_tasks: list[str] = Field(default_factory=list)
    """Item ids with more than one task in the project (made outside medjudge)."""


def ensure_project(ls: LabelStudio, title: str, config: str) -> tuple[dict[str, Any], bool, bool]:
    """The project called `title` with the review interface: (project, created, interface replaced)."""
    project = ls.project_by_title(title)
    if project is None:
        return ls.create_project(title, config, PROJECT_DESCRIPTION), True, False
    if (project.get("label_config") or "").strip() != config.strip():
        return ls.update_project(int(project["id"]), label_config=config), False, True
    return project, False, False


def push_queue(ls: LabelStudio, title: str, queue: list[QueueEntry], batch: int = 500,
               judge_id: str | None = None) -> PushResult:
    """Create or update the project `title` and add the queue's items that it does not have yet."""
    project, created, replaced = ensure_project(ls, title, review_config())
    pid = int(project["id"])
    existing: dict[str, dict[str, Any]] = {}
    seen = Counter()
    for task in ([] if created else ls.iter_tasks(pid)):
        item_id = str((task.get("data") or {}).get("item_id") or "")
        if item_id:
            seen[item_id] += 1
            existing.setdefault(item_id, task)
    new = [e for e in queue if e.item.item_id not in existing]
    n_created = 0
    for i in range(0, len(new), batch):
        n_created += len(ls.import_tasks(pid, [task_for(e) for e in new[i:i + batch]]))
    added = 0
    for e in queue:
        task = existing.get(e.item.item_id)
        if task is None:
            continue
        have = {p.get("model_version") for p in task.get("predictions") or [] if isinstance(p, dict)}
        for v in e.verdicts:
            if v.judge_id not in have:
                p = prediction(v)
                ls.add_prediction(int(task["id"]), p["result"], p["model_version"], p["score"])
                added += 1
    reasons = Counter(r for e in queue for r in e.reasons)
    return PushResult(project=title, project_id=pid, project_created=created, config_updated=replaced, judge_id=judge_id,
                      n_selected=len(queue), n_created=n_created, n_existing=len(queue) - len(new),
                      n_predictions_added=added, by_reason=dict(reasons),
                      duplicate_tasks=sorted(i for i, n in seen.items() if n > 1))
