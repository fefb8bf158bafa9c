"""Agreement between the judge and physicians: Cohen's kappa with a bootstrap CI, per-category scores and coverage.

Conventions shared by every function here:
- Category codes are checked against the 8 `CATEGORY_CODES`; the confusion matrix always has that fixed shape.
- A kappa is *undefined* when chance agreement is 1, i.e. both raters gave every item one and the same category
  (or there are no items). Undefined kappas are returned as `nan` by the functions and stored as `None` in the
  pydantic reports (so reports serialise to plain JSON). They are never silently turned into 0 or 1.
- `None` as a predicted category means the judge gave no category (verdict status needs_review or failed).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import cohen_kappa_score, confusion_matrix, f1_score, precision_recall_fscore_support

from judge.core.taxonomy import CATEGORY_CODES
from judge.evaluate.order_robustness import all_orders_identical_share, flip_rate
from judge.evaluate.reliability import ReliabilityBin, expected_calibration_error, reliability_bins
from judge.gold.agreement import (
    PairKappa,
    annotation_matrix,
    fleiss_kappa,
    krippendorff_alpha_nominal,
    pairwise_cohen,
)

# judge.evaluate.metrics is the one place to import agreement metrics from; calibration, inter-annotator agreement and
# order robustness live in their own modules and are re-exported here.
__all__ = [
    "AgreementReport",
    "CategoryAgreement",
    "CoverageReport",
    "PairKappa",
    "ReliabilityBin",
    "agreement_report",
    "all_orders_identical_share",
    "annotation_matrix",
    "bootstrap_kappa_ci",
    "check_codes",
    "cohen_kappa",
    "coverage_report",
    "expected_calibration_error",
    "fleiss_kappa",
    "flip_rate",
    "kappa_from_confusion",
    "krippendorff_alpha_nominal",
    "pairwise_cohen",
    "reliability_bins",
]

_INDEX = {code: i for i, code in enumerate(CATEGORY_CODES)}
_BOOT_CELLS = 2_000_000
"""Upper bound on resampled indices held in memory at once by the bootstrap."""


class CategoryAgreement(BaseModel):
    """Judge-vs-gold scores for one category, one-vs-rest."""

    kappa_ovr: float | None
    """Cohen's kappa on the binary indicator "is this category"; None when undefined (category absent from both)."""
    precision: float
    """Share of the judge's picks of this category that the gold agrees with (0 when never picked)."""
    recall: float
    """Share of gold items of this category the judge found (0 when absent from gold)."""
    f1: float
    """Harmonic mean of precision and recall (0 when both are 0)."""
    support: int
    """Gold items of this category."""
    predicted: int
    """Items the judge put in this category."""


class AgreementReport(BaseModel):
    """How well a judge's categories agree with gold categories."""

    n_total: int
    """Items given, including those the judge abstained on or that `covered_mask` left out."""
    n: int
    """Items scored: the judge gave a category and the mask (if any) kept them."""
    coverage: float | None
    """n / n_total; None when no items were given."""
    kappa: float | None
    """Cohen's kappa on the scored items; None when undefined."""
    kappa_ci: tuple[float | None, float | None]
    """Percentile bootstrap interval of kappa (lo, hi); None when undefined."""
    accuracy: float | None
    """Share of scored items with the gold category; None when n is 0."""
    macro_f1: float | None
    """Unweighted mean F1 over the categories that occur in gold or judge output; None when n is 0."""
    labels: list[str]
    """Category codes in the order of the confusion matrix rows and columns."""
    confusion: list[list[int]]
    """Counts, rows = gold category, columns = judge category."""
    per_category: dict[str, CategoryAgreement]
    """One-vs-rest scores for each of the 8 codes."""
    ece: float | None = None
    """Expected calibration error of the judge's confidences on scored items; None without confidences."""
    reliability: list[ReliabilityBin] = []
    """Reliability diagram bins behind `ece`; empty without confidences."""


class CoverageReport(BaseModel):
    """What abstention costs: how many items got a category and how good those are."""

    n: int
    """Items given."""
    n_covered: int
    """Items the judge gave a category."""
    coverage: float | None
    """n_covered / n; None when n is 0."""
    kappa: float | None
    """Cohen's kappa on the covered items; None when undefined."""
    accuracy: float | None
    """Accuracy on the covered items; None when nothing is covered."""


def check_codes(values: Sequence[str | None], name: str, allow_none: bool = False) -> None:
    """Raise ValueError naming the first value that is not a category code (or None when allowed)."""
    for i, v in enumerate(values):
        if v is None and allow_none:
            continue
        if v not in _INDEX:
            raise ValueError(f"{name}[{i}] = {v!r} is not a category code; expected one of {CATEGORY_CODES}")


def _check_pair(y_true: Sequence[str], y_pred: Sequence[str | None], allow_none: bool = False) -> None:
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} items but y_pred has {len(y_pred)}")
    check_codes(y_true, "y_true")
    check_codes(y_pred, "y_pred", allow_none=allow_none)


def _none_if_nan(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def kappa_from_confusion(cm: np.ndarray) -> np.ndarray:
    """Cohen's kappa of one (K, K) or a stack (..., K, K) of integer confusion matrices; nan where undefined.

    kappa = (p_o - p_e) / (1 - p_e) = (n * trace - sum_k r_k c_k) / (n^2 - sum_k r_k c_k), with row sums r and
    column sums c, computed in integers so that the undefined case p_e = 1 is detected exactly.
    """
    cm = np.asarray(cm, dtype=np.int64)
    n = cm.sum(axis=(-2, -1))
    trace = np.trace(cm, axis1=-2, axis2=-1)
    chance = (cm.sum(axis=-1) * cm.sum(axis=-2)).sum(axis=-1)
    num = (n * trace - chance).astype(float)
    den = (n * n - chance).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den == 0, np.nan, num / np.where(den == 0, 1.0, den))


def cohen_kappa(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    """Cohen's kappa of two category sequences (sklearn, labels = the 8 codes); nan when undefined (see module doc)."""
    _check_pair(y_true, y_pred)
    if not y_true:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return float(cohen_kappa_score(list(y_true), list(y_pred), labels=list(CATEGORY_CODES)))


def bootstrap_kappa_ci(
    y_true: Sequence[str], y_pred: Sequence[str], n_boot: int = 1000, alpha: float = 0.05, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap (1 - alpha) interval of Cohen's kappa, resampling items with replacement.

    Resamples whose kappa is undefined (all items one category in both) are left out of the percentiles;
    returns (nan, nan) when there are no items or every resample is undefined. Deterministic for a given seed.
    """
    _check_pair(y_true, y_pred)
    if n_boot < 1 or not 0 < alpha < 1:
        raise ValueError("need n_boot >= 1 and 0 < alpha < 1")
    n, k = len(y_true), len(CATEGORY_CODES)
    if n == 0:
        return math.nan, math.nan
    pair = np.array([_INDEX[t] * k + _INDEX[p] for t, p in zip(y_true, y_pred, strict=True)], dtype=np.int64)
    rng = np.random.default_rng(seed)
    chunk = max(1, _BOOT_CELLS // n)
    kappas = []
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        cells = pair[rng.integers(0, n, size=(b, n))] + (np.arange(b, dtype=np.int64) * k * k)[:, None]
        cms = np.bincount(cells.ravel(), minlength=b * k * k).reshape(b, k, k)
        kappas.append(kappa_from_confusion(cms))
    values = np.concatenate(kappas)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return math.nan, math.nan
    lo, hi = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def _per_category(cm: np.ndarray, y_true: list[str], y_pred: list[str]) -> dict[str, CategoryAgreement]:
    zeros = np.zeros(len(CATEGORY_CODES))
    precision, recall, f1, support = (
        precision_recall_fscore_support(y_true, y_pred, labels=list(CATEGORY_CODES), average=None, zero_division=0)
        if y_true
        else (zeros, zeros, zeros, zeros)
    )
    n = int(cm.sum())
    out = {}
    for i, code in enumerate(CATEGORY_CODES):
        tp = int(cm[i, i])
        fn, fp = int(cm[i, :].sum()) - tp, int(cm[:, i].sum()) - tp
        binary = np.array([[n - tp - fn - fp, fp], [fn, tp]])  # rows: gold not/is code; cols: judge not/is code
        out[code] = CategoryAgreement(
            kappa_ovr=_none_if_nan(float(kappa_from_confusion(binary))),
            precision=float(precision[i]),
            recall=float(recall[i]),
            f1=float(f1[i]),
            support=int(support[i]),
            predicted=int(cm[:, i].sum()),
        )
    return out


def agreement_report(
    y_true: Sequence[str],
    y_pred: Sequence[str | None],
    confidences: Sequence[float | None] | None = None,
    covered_mask: Sequence[bool] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> AgreementReport:
    """Score judge categories `y_pred` against gold `y_true` (aligned lists of codes).

    Items are scored when the judge gave a category (not None) and `covered_mask` (if given) is True for them;
    every metric uses scored items only and `coverage` says how many that is. Macro F1 averages over the
    categories occurring in the scored gold or judge categories, so categories absent from this sample do not
    pull it down. With `confidences` (aligned with `y_pred`, None allowed), ECE and reliability bins are computed
    on scored items that have a confidence, "correct" meaning judge category == gold category.
    """
    _check_pair(y_true, y_pred, allow_none=True)
    for name, seq in (("confidences", confidences), ("covered_mask", covered_mask)):
        if seq is not None and len(seq) != len(y_true):
            raise ValueError(f"{name} has {len(seq)} entries but there are {len(y_true)} items")
    keep = [p is not None and (covered_mask is None or bool(covered_mask[i])) for i, p in enumerate(y_pred)]
    t = [v for v, k in zip(y_true, keep, strict=True) if k]
    p = [v for v, k in zip(y_pred, keep, strict=True) if k]
    labels = list(CATEGORY_CODES)
    cm = confusion_matrix(t, p, labels=labels) if t else np.zeros((len(labels), len(labels)), dtype=int)
    present = [c for c in labels if c in set(t) | set(p)]
    macro = float(f1_score(t, p, labels=present, average="macro", zero_division=0)) if t else None
    lo, hi = bootstrap_kappa_ci(t, p, n_boot=n_boot, seed=seed)
    ece, bins = None, []
    if confidences is not None:
        scored = [(c, tv == pv) for c, tv, pv, k in zip(confidences, y_true, y_pred, keep, strict=True) if k]
        conf = [c for c, _ in scored if c is not None]
        correct = [ok for c, ok in scored if c is not None]
        if conf:
            ece = expected_calibration_error(conf, correct)
            bins = reliability_bins(conf, correct)
    return AgreementReport(
        n_total=len(y_true),
        n=len(t),
        coverage=len(t) / len(y_true) if y_true else None,
        kappa=_none_if_nan(cohen_kappa(t, p)),
        kappa_ci=(_none_if_nan(lo), _none_if_nan(hi)),
        accuracy=float(np.trace(cm)) / len(t) if t else None,
        macro_f1=macro,
        labels=labels,
        confusion=cm.astype(int).tolist(),
        per_category=_per_category(cm, t, p),
        ece=ece,
        reliability=bins,
    )


def coverage_report(y_true: Sequence[str], y_pred_or_none: Sequence[str | None]) -> CoverageReport:
    """Coverage of a judge that may abstain (None) and its kappa/accuracy on the items it did categorise."""
    _check_pair(y_true, y_pred_or_none, allow_none=True)
    pairs = [(t, p) for t, p in zip(y_true, y_pred_or_none, strict=True) if p is not None]
    t = [a for a, _ in pairs]
    p = [b for _, b in pairs]
    return CoverageReport(
        n=len(y_true),
        n_covered=len(pairs),
        coverage=len(pairs) / len(y_true) if y_true else None,
        kappa=_none_if_nan(cohen_kappa(t, p)),
        accuracy=sum(a == b for a, b in pairs) / len(pairs) if pairs else None,
    )
