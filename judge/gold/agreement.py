"""Agreement among human annotators: Fleiss' kappa, Krippendorff's alpha (nominal) and pairwise Cohen's kappa.

Ratings are an items x annotators table of labels, `None` where an annotator gave no label. Labels can be any
strings (not only category codes). As everywhere in medjudge, a coefficient whose chance term makes it undefined
(only one label value used at all) is returned as nan.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from itertools import combinations

import numpy as np
from pydantic import BaseModel
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import cohen_kappa_score

Ratings = Sequence[Sequence[str | None]]


class PairKappa(BaseModel):
    """Cohen's kappa between two annotators on the items both labelled."""

    annotator_a: str
    """First annotator (alphabetically)."""
    annotator_b: str
    """Second annotator."""
    n: int
    """Items labelled by both."""
    kappa: float | None
    """Cohen's kappa on those items; None when undefined (no common items or a single label value)."""


def _counts(ratings: Ratings) -> tuple[list[str], np.ndarray]:
    """Label values (sorted) and an items x values count matrix."""
    rows = [Counter(v for v in row if v is not None) for row in ratings]
    values = sorted({v for row in rows for v in row})
    return values, np.array([[row[v] for v in values] for row in rows], dtype=np.int64).reshape(len(rows), len(values))


def fleiss_kappa(ratings: Ratings) -> float:
    """Fleiss' kappa for items that each carry the same number m >= 2 of labels (raters may differ per item).

    P_i = (sum_j n_ij^2 - m) / (m (m - 1)), P_bar = mean P_i, p_j = sum_i n_ij / (N m), P_e = sum_j p_j^2,
    kappa = (P_bar - P_e) / (1 - P_e). Raises ValueError when items have different numbers of labels (use
    `krippendorff_alpha_nominal` for incomplete data); nan for no items or a single label value.
    """
    values, counts = _counts(ratings)
    if counts.shape[0] == 0:
        return math.nan
    per_item = counts.sum(axis=1)
    m = int(per_item[0])
    if (per_item != m).any() or m < 2:
        raise ValueError(
            f"Fleiss' kappa needs the same number (>= 2) of labels per item, got {sorted(set(per_item.tolist()))}; "
            "use krippendorff_alpha_nominal for missing labels"
        )
    if len(values) < 2:
        return math.nan
    n_items = counts.shape[0]
    p_item = ((counts**2).sum(axis=1) - m) / (m * (m - 1))
    p_value = counts.sum(axis=0) / (n_items * m)
    p_bar, p_e = p_item.mean(), float((p_value**2).sum())
    return float((p_bar - p_e) / (1 - p_e))


def krippendorff_alpha_nominal(ratings: Ratings) -> float:
    """Krippendorff's alpha for nominal labels; missing labels (None) and any number of annotators per item.

    Items with fewer than 2 labels are not pairable and are ignored. With the coincidence matrix
    o_ck = sum over items of (number of ordered pairs of labels (c, k) from different annotators) / (m_u - 1),
    n_c = sum_k o_ck and n = sum_c n_c: alpha = 1 - (n - 1) * (n - sum_c o_cc) / (n^2 - sum_c n_c^2).
    nan when no item is pairable or only one label value occurs.
    """
    _, counts = _counts(ratings)
    m = counts.sum(axis=1)
    counts, m = counts[m >= 2], m[m >= 2]
    if counts.shape[0] == 0:
        return math.nan
    weights = 1.0 / (m - 1)
    # per item: ordered pairs (c, k) with c != k number n_c n_k, pairs (c, c) from different annotators n_c (n_c - 1)
    coincidence = np.einsum("u,uc,uk->ck", weights, counts, counts) - np.diag((weights[:, None] * counts).sum(axis=0))
    n_c = coincidence.sum(axis=1)
    n = n_c.sum()
    expected = n * n - (n_c**2).sum()
    if expected <= 1e-12 * n * n:
        return math.nan
    return float(1 - (n - 1) * (n - np.trace(coincidence)) / expected)


def annotation_matrix(
    annotations: Mapping[str, Mapping[str, str]],
) -> tuple[list[str], list[str], list[list[str | None]]]:
    """Turn {annotator: {item_id: label}} into (item_ids, annotators, items x annotators ratings), both sorted."""
    annotators = sorted(annotations)
    item_ids = sorted({i for labels in annotations.values() for i in labels})
    return item_ids, annotators, [[annotations[a].get(i) for a in annotators] for i in item_ids]


def pairwise_cohen(annotations: Mapping[str, Mapping[str, str]]) -> list[PairKappa]:
    """Cohen's kappa for every pair of annotators on the items both labelled (pairs sorted by name)."""
    out = []
    for a, b in combinations(sorted(annotations), 2):
        common = sorted(set(annotations[a]) & set(annotations[b]))
        ya = [annotations[a][i] for i in common]
        yb = [annotations[b][i] for i in common]
        kappa = math.nan
        if common:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UndefinedMetricWarning)
                kappa = float(cohen_kappa_score(ya, yb, labels=sorted(set(ya) | set(yb))))
        out.append(PairKappa(annotator_a=a, annotator_b=b, n=len(common), kappa=None if math.isnan(kappa) else kappa))
    return out
