"""Abstention: a judge's verdicts below a confidence threshold become `needs_review` instead of a category.

`AbstainingJudge(judge, min_confidence)` wraps any judge (in practice the offline ones: `medjudge label --model
offline --min-confidence 0.6`). An `ok` verdict whose confidence is below the threshold is stored as
`needs_review` without a category; the category it would have had and its confidence stay visible to a
reviewer: the error and the rationale say "would be <category> (confidence …)", the
`confidence` column keeps the number, and the flag `below_min_confidence` marks the row. Verdicts at or above the
threshold, and verdicts that already are `needs_review` or `failed`, pass unchanged. The wrapper's judge_id hashes
the inner judge's identity and the threshold, so another threshold is another judge and a re-run resumes.
"""

from __future__ import annotations

from collections.abc import Sequence

from judge.core.models import Item, Verdict
from judge.core.protocol import Judge, batch_judge_of
from judge.core.settings import make_judge_id

BELOW_MIN_CONFIDENCE = "below_min_confidence"
"""Flag of a verdict held back for review because its confidence is below the judge's min_confidence."""


def would_be(verdict: Verdict) -> str:
    """The text naming the category a held-back verdict would have had, as stored in its error and rationale."""
    return f"would be {verdict.category} (confidence {verdict.confidence or 0.0:.3f})"


class AbstainingJudge:
    """Wrap `judge`: verdicts with confidence < `min_confidence` become needs_review (see module doc)."""

    def __init__(self, judge: Judge, min_confidence: float) -> None:
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence}")
        self.inner = judge
        self.min_confidence = float(min_confidence)
        self.model = judge.model
        self.judge_id = make_judge_id(self.identity())

    def identity(self) -> dict[str, object]:
        """The inner judge's identity and the threshold."""
        return {**self.inner.identity(), "min_confidence": round(self.min_confidence, 6)}

    def preflight(self) -> None:
        """The inner judge's checks before a run."""
        check = getattr(self.inner, "preflight", None)
        if callable(check):
            check()

    @property
    def batchable(self) -> bool:
        """Whether `judge_batch` can run: when the inner judge can judge in batches."""
        return batch_judge_of(self.inner) is not None

    @property
    def processes(self) -> int:
        """The processes the inner batch judge shares a large batch out over (1 when it has none)."""
        return int(getattr(batch_judge_of(self.inner), "processes", 1))

    def hold_back(self, v: Verdict) -> Verdict:
        """The verdict as this judge stores it: below the threshold, needs_review with the would-be category."""
        update: dict[str, object] = {"judge_id": self.judge_id}
        if v.status == "ok" and (v.confidence or 0.0) < self.min_confidence:
            note = f"{would_be(v)} < min_confidence {self.min_confidence:.3f}"
            update |= {"status": "needs_review", "category": None, "error": note,
                       "rationale": f"{note}; {v.rationale or ''}".rstrip("; "),
                       "flags": [*v.flags, BELOW_MIN_CONFIDENCE]}
        return v.model_copy(update=update)

    def judge_batch(self, items: Sequence[Item]) -> list[Verdict]:
        """Judge many items with the inner batch judge."""
        batcher = batch_judge_of(self.inner)
        if batcher is None:
            raise TypeError(f"{type(self.inner).__name__} cannot judge in batches")
        return [self.hold_back(v) for v in batcher.judge_batch(items)]

    async def ajudge(self, item: Item) -> Verdict:
        """Judge one item."""
        return self.hold_back(await self.inner.ajudge(item))
