"""The Judge protocol every judge (LLM, rules, baseline, cascade) implements."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from judge.models import Item, Verdict


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
