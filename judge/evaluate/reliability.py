"""Calibration of the judge's confidences: equal-width reliability bins and expected calibration error (ECE).

Bins: `n_bins` equal-width bins over [0, 1]; a confidence c falls into bin min(floor(c * n_bins), n_bins - 1), so
bin i covers [i/n_bins, (i+1)/n_bins) and the last bin also holds c = 1.0.
ECE = sum over non-empty bins of (count / n) * |accuracy - mean confidence|.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel


class ReliabilityBin(BaseModel):
    """One bin of a reliability diagram."""

    lo: float
    """Lower edge (inclusive)."""
    hi: float
    """Upper edge (exclusive, except 1.0 for the last bin)."""
    count: int
    """Items whose confidence falls in the bin."""
    mean_confidence: float | None
    """Mean confidence of those items; None for an empty bin."""
    accuracy: float | None
    """Share of those items that are correct; None for an empty bin."""


def _bin_index(confidences: Sequence[float], correct: Sequence[bool], n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    if len(confidences) != len(correct):
        raise ValueError(f"{len(confidences)} confidences but {len(correct)} correctness flags")
    if n_bins < 1:
        raise ValueError("n_bins must be >= 1")
    conf = np.asarray(confidences, dtype=float)
    if conf.size and (np.isnan(conf).any() or conf.min() < 0 or conf.max() > 1):
        raise ValueError("confidences must lie in [0, 1]")
    return np.minimum(np.floor(conf * n_bins).astype(int), n_bins - 1), conf


def reliability_bins(confidences: Sequence[float], correct: Sequence[bool], n_bins: int = 10) -> list[ReliabilityBin]:
    """All `n_bins` equal-width bins (empty ones included) with their count, mean confidence and accuracy."""
    idx, conf = _bin_index(confidences, correct, n_bins)
    ok = np.asarray(correct, dtype=bool)
    bins = []
    for i in range(n_bins):
        members = idx == i
        count = int(members.sum())
        bins.append(
            ReliabilityBin(
                lo=i / n_bins,
                hi=(i + 1) / n_bins,
                count=count,
                mean_confidence=float(conf[members].mean()) if count else None,
                accuracy=float(ok[members].mean()) if count else None,
            )
        )
    return bins


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool], n_bins: int = 10) -> float:
    """ECE over equal-width bins (see module doc); nan when there are no items."""
    if not len(confidences):
        _bin_index(confidences, correct, n_bins)
        return math.nan
    n = len(confidences)
    return float(
        sum(
            b.count / n * abs(b.accuracy - b.mean_confidence)
            for b in reliability_bins(confidences, correct, n_bins)
            if b.count and b.accuracy is not None and b.mean_confidence is not None
        )
    )
