"""The Judge protocol every judge (LLM, rules, baseline, cascade) implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from judge.core.models import Item, Verdict


@runtime_checkable
class Judge(Protocol):
    """Something that turns an item into a verdict."""

    judge_id: str
    """Stable id of this judge configuration."""
    model: str
    """Model string shown in verdict rows (e.g. openai/gpt-4o-mini, offline)."""

    def identity(self) -> dict[str, object]:
        """The configuration that the judge_id hashes (no secrets)."""
        ...

    async def ajudge(self, item: Item) -> Verdict:
        """Judge one item; never raises for model or validation problems (returns a status instead)."""
        ...


@runtime_checkable
class BatchJudge(Judge, Protocol):
    """A CPU-only judge that is much faster on many items at once (the offline judges)."""

    def judge_batch(self, items: Sequence[Item]) -> list[Verdict]:
        """Judge many items in one go; the same verdicts as `ajudge` one by one."""
        ...


def batch_judge_of(judge: Judge) -> BatchJudge | None:
    """The judge as a BatchJudge when it can judge in batches right now (a cascade with an LLM stage cannot)."""
    if isinstance(judge, BatchJudge) and getattr(judge, "batchable", True):
        return judge
    return None
