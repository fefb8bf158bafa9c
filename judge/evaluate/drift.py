"""Judge drift: κ of calibration runs over time, and a warning when the newest run fell below the previous one.

Runs are compared within one gold split. The newest run is flagged when its κ is lower than the previous run's
by more than the two bootstrap CIs allow: each CI's half-width is read as 1.96 standard errors, and the drop must
exceed 1.96 times the standard error of the difference of two independent estimates,
sqrt(se_new² + se_previous²). (Two runs on the same items are not independent; for a paired test on the same
items use `medjudge calibrate --compare-to`.) Runs without a κ or a CI are shown but never flagged.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

Z95 = 1.959963984540054
"""The standard normal quantile of a two-sided 95 % interval."""


class CalibrationPoint(BaseModel):
    """One stored calibration run: which judge, when, on which split, and its κ with the bootstrap bounds."""

    calibration_id: str
    """Row id."""
    judge_id: str | None
    """Judge calibrated."""
    model: str | None
    """Judge model."""
    split: str | None
    """Gold split used (drift points say "all" for the whole gold set)."""
    created_at: str
    """When it ran (UTC, to the second)."""
    n: int | None
    """Gold items scored."""
    kappa: float | None
    """Cohen's κ."""
    kappa_lo: float | None
    """Lower bootstrap bound."""
    kappa_hi: float | None
    """Upper bootstrap bound."""


class DriftPoint(CalibrationPoint):
    """One calibration run on the κ-over-time plot."""

    prompt_version: str | None
    """Prompt version of the judge."""

    @property
    def series(self) -> str:
        """The line it belongs to on the plot: model and prompt version."""
        return f"{self.model or '?'} · prompt {(self.prompt_version or '?')[:8]}"


class DriftWarning(BaseModel):
    """The newest calibration on a split is below the previous one by more than the CIs allow."""

    split: str
    """Gold split."""
    newest: DriftPoint
    """The newest run."""
    previous: DriftPoint
    """The run before it on the same split."""
    drop: float
    """previous κ - newest κ."""
    allowed: float
    """The largest drop the CIs allow (1.96 × the standard error of the difference)."""


def drift_points(rows: Iterable[Mapping[str, Any]]) -> list[DriftPoint]:
    """Calibration rows (from `Store.calibration_history`) as plot points, oldest first."""
    return [DriftPoint(**{**r, "split": r.get("split") or "all", "created_at": str(r["created_at"])[:19]})
            for r in rows]


def _se(p: DriftPoint) -> float | None:
    if p.kappa_lo is None or p.kappa_hi is None:
        return None
    return (p.kappa_hi - p.kappa_lo) / (2 * Z95)


def drift_warnings(points: Iterable[DriftPoint]) -> list[DriftWarning]:
    """One warning per split whose newest run dropped below the previous one beyond the CIs (see module doc)."""
    by_split: dict[str, list[DriftPoint]] = {}
    for p in points:
        by_split.setdefault(p.split or "all", []).append(p)
    out = []
    for split, runs in sorted(by_split.items()):
        runs = sorted(runs, key=lambda p: p.created_at)
        if len(runs) < 2:
            continue
        prev, new = runs[-2], runs[-1]
        se_prev, se_new = _se(prev), _se(new)
        if prev.kappa is None or new.kappa is None or se_prev is None or se_new is None:
            continue
        allowed = Z95 * math.sqrt(se_prev**2 + se_new**2)
        drop = prev.kappa - new.kappa
        if drop > allowed:
            out.append(DriftWarning(split=split, newest=new, previous=prev, drop=drop, allowed=allowed))
    return out
