"""Failure signatures: error-profile thresholds that point to an optimisation level, applied per dimension and model.

One table (`SIGNATURES`) holds every threshold. A signature fires only when the evidence is clear: at least
`MIN_N` verdicts (or permutation groups) behind the value, and the whole 95 % Wilson interval of the share beyond
the threshold (a share of 100 % from one item does not fire). A share of exactly 40 % omissions never fires
"> 40 %", a consistency of exactly 0.85 never fires "< 0.85".
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

    def crosses(self, value: float) -> bool:
        """Whether a value lies beyond the threshold (strictly)."""
        return value > self.threshold if self.op == ">" else value < self.threshold

    def fires(self, measure: Measure, min_n: int = 0) -> bool:
        """Whether a measure triggers this signature: enough items, and its whole CI beyond the threshold."""
        if measure.n < min_n or not self.crosses(measure.value):
            return False
        return self.crosses(measure.ci_lo if self.op == ">" else measure.ci_hi)


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
    ci_lo: float = 0.0
    """Lower end of the 95 % Wilson interval of the value."""
    ci_hi: float = 1.0
    """Upper end of the 95 % Wilson interval of the value."""


def measure(dimension: str, model: str, metric: Metric, k: int, n: int) -> Measure:
    """The share k / n as a Measure with its 95 % Wilson interval (scipy)."""
    from scipy.stats import binomtest

    if n <= 0:
        return Measure(dimension=dimension, model=model, metric=metric, value=0.0, n=0, ci_lo=0.0, ci_hi=1.0)
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return Measure(dimension=dimension, model=model, metric=metric, value=k / n, n=n, ci_lo=float(ci.low),
                   ci_hi=float(ci.high))


class SignatureHit(BaseModel):
    """A signature that fired, with the value that triggered it."""

    signature: Signature
    """The signature."""
    measure: Measure
    """The measured value that crossed its threshold."""


MIN_N = 10
"""Fewest verdicts (or permutation groups) a signature needs to fire."""


def detect_signatures(measures: Iterable[Measure], table: Sequence[Signature] = SIGNATURES,
                      min_n: int = MIN_N) -> list[SignatureHit]:
    """Every (signature, measure) pair that fires (see `Signature.fires`), in table order."""
    ms = list(measures)
    return [SignatureHit(signature=s, measure=m) for s in table for m in ms
            if m.metric == s.metric and s.fires(m, min_n)]
