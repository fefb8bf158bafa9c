"""Two judges (or two programs) on the same items: the difference of their Cohen's κ with a paired bootstrap CI.

Both κs are computed on one resample of the items at a time, so what the two have in common (the same hard
items, the same gold labels) cancels out of the difference; the interval is the percentile interval of the
resampled differences. `None` as a predicted category means the rater gave no category, handled by `abstain`:

- "exclude": only items both raters categorised are compared (the same items for both κs);
- "disagree": "no category" is a label of its own that the gold never uses, so an abstention counts against the
  rater on every item (a rater cannot gain by abstaining on hard items).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel

from judge.core.taxonomy import CATEGORY_CODES
from judge.evaluate.metrics import check_codes, kappa_from_confusion

Abstain = Literal["exclude", "disagree"]
_BOOT_CELLS = 2_000_000


class KappaDifference(BaseModel):
    """κ of rater B minus κ of rater A on the same items, with a paired bootstrap interval."""

    n: int
    """Items compared."""
    kappa_a: float | None
    """κ of rater A (the reference) on those items; None when undefined."""
    kappa_b: float | None
    """κ of rater B on those items; None when undefined."""
    difference: float | None
    """kappa_b - kappa_a; None when either is undefined."""
    ci: tuple[float | None, float | None]
    """Percentile paired-bootstrap interval of the difference (1 - alpha)."""
    abstain: Abstain
    """How items without a category were treated (see module doc)."""
    n_boot: int
    """Bootstrap resamples drawn."""

    @property
    def b_better(self) -> bool:
        """B's κ is higher than A's beyond the interval: its lower bound is above 0."""
        return self.ci[0] is not None and self.ci[0] > 0

    @property
    def b_worse(self) -> bool:
        """B's κ is lower than A's beyond the interval: its upper bound is below 0."""
        return self.ci[1] is not None and self.ci[1] < 0


def _none_if_nan(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def paired_kappa_difference(y_true: Sequence[str], pred_a: Sequence[str | None], pred_b: Sequence[str | None],
                            *, abstain: Abstain = "exclude", n_boot: int = 1000, alpha: float = 0.05,
                            seed: int = 0) -> KappaDifference:
    """κ(pred_b) - κ(pred_a) against `y_true` on the same items, with a paired percentile bootstrap interval.

    Resamples in which either κ is undefined are left out of the percentiles. Deterministic for a given seed.
    """
    if not len(y_true) == len(pred_a) == len(pred_b):
        raise ValueError(f"need aligned lists; got {len(y_true)}, {len(pred_a)} and {len(pred_b)} items")
    if abstain not in ("exclude", "disagree"):
        raise ValueError(f"abstain must be 'exclude' or 'disagree', not {abstain!r}")
    if n_boot < 1 or not 0 < alpha < 1:
        raise ValueError("need n_boot >= 1 and 0 < alpha < 1")
    check_codes(y_true, "y_true")
    check_codes(pred_a, "pred_a", allow_none=True)
    check_codes(pred_b, "pred_b", allow_none=True)
    labels: list[str | None] = [*CATEGORY_CODES, None]
    index = {c: i for i, c in enumerate(labels)}
    keep = [abstain == "disagree" or (a is not None and b is not None) for a, b in zip(pred_a, pred_b, strict=True)]
    t = np.array([index[v] for v, k in zip(y_true, keep, strict=True) if k], dtype=np.int64)
    a = np.array([index[v] for v, k in zip(pred_a, keep, strict=True) if k], dtype=np.int64)
    b = np.array([index[v] for v, k in zip(pred_b, keep, strict=True) if k], dtype=np.int64)
    n, k = len(t), len(labels)
    if n == 0:
        return KappaDifference(n=0, kappa_a=None, kappa_b=None, difference=None, ci=(None, None), abstain=abstain,
                               n_boot=n_boot)

    def kappas(pairs: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """κ of each resample (rows of item indices) for one rater's (gold, pred) cell codes."""
        b_ = rows.shape[0]
        cells = pairs[rows] + (np.arange(b_, dtype=np.int64) * k * k)[:, None]
        return kappa_from_confusion(np.bincount(cells.ravel(), minlength=b_ * k * k).reshape(b_, k, k))

    pa, pb = t * k + a, t * k + b
    whole = np.arange(n, dtype=np.int64)[None, :]
    ka, kb = float(kappas(pa, whole)[0]), float(kappas(pb, whole)[0])
    rng = np.random.default_rng(seed)
    chunk = max(1, _BOOT_CELLS // n)
    diffs = []
    for start in range(0, n_boot, chunk):
        rows = rng.integers(0, n, size=(min(chunk, n_boot - start), n))
        diffs.append(kappas(pb, rows) - kappas(pa, rows))
    values = np.concatenate(diffs)
    values = values[~np.isnan(values)]
    lo, hi = (np.quantile(values, [alpha / 2, 1 - alpha / 2]) if values.size else (math.nan, math.nan))
    diff = kb - ka
    return KappaDifference(n=n, kappa_a=_none_if_nan(ka), kappa_b=_none_if_nan(kb), difference=_none_if_nan(diff),
                           ci=(_none_if_nan(float(lo)), _none_if_nan(float(hi))), abstain=abstain, n_boot=n_boot)
