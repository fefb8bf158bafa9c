"""Failure signatures: error-profile thresholds that point to an optimisation level, applied per dimension and model.

One table (`SIGNATURES`) holds every threshold. A signature fires strictly beyond its threshold: a share of
exactly 40 % omissions does not fire "> 40 %", a consistency of exactly 0.85 does not fire "< 0.85".
Shares are those of the category among a judge's ok verdicts for one (dimension, model); robustness is the
option-shuffle consistency of that (dimension, model).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import BaseModel

Metric = Literal["omission", "hallucination", "format_mismatch", "robustness"]


class Signature(BaseModel):
    """One failure signature and what to do about it."""

    name: str
    """Short name shown in reports."""
    metric: Metric
    """Measured quantity: a category share (omission, hallucination, format_mismatch) or robustness."""
    op: Literal[">", "<"]
    """Fires when the value is strictly above (>) or below (<) the threshold."""
    threshold: float
    """Threshold, as a fraction (0.40 = 40 %)."""
    level: str = ""
    """Optimisation level the signature points to, when one is named (e.g. "Level 1–2")."""
    remedy: str
    """Recommended intervention."""

    def fires(self, value: float) -> bool:
        """Whether a measured value triggers this signature."""
        return value > self.threshold if self.op == ">" else value < self.threshold


SIGNATURES: tuple[Signature, ...] = (
    Signature(name="omission-dominated", metric="omission", op=">", threshold=0.40, level="Level 1–2",
              remedy="data coverage and answer-point checklists"),
    Signature(name="hallucination-dominated", metric="hallucination", op=">", threshold=0.60,
              remedy="retrieval-augmented verification"),
    Signature(name="fragile under option shuffling", metric="robustness", op="<", threshold=0.85,
              remedy="explicit constraint enforcement or safety fine-tuning"),
    Signature(name="format-mismatch-prone", metric="format_mismatch", op=">", threshold=0.10,
              remedy="structured-output training"),
)


class Measure(BaseModel):
    """One measured value for one dimension and model."""

    dimension: str
    """MedBench dimension ("unknown" for tasks outside the task table)."""
    model: str
    """Model under test."""
    metric: Metric
    """What was measured."""
    value: float
    """The measured share or consistency (0..1)."""
    n: int
    """Verdicts (for shares) or permutation groups (for robustness) behind the value."""


class SignatureHit(BaseModel):
    """A signature that fired, with the value that triggered it."""

    signature: Signature
    """The signature."""
    measure: Measure
    """The measured value that crossed its threshold."""


def detect_signatures(measures: Iterable[Measure], table: Sequence[Signature] = SIGNATURES) -> list[SignatureHit]:
    """Every (signature, measure) pair where the measure crosses the signature's threshold, in table order."""
    ms = list(measures)
    return [SignatureHit(signature=s, measure=m) for s in table for m in ms if m.metric == s.metric and s.fires(m.value)]
