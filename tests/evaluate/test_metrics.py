"""Judge-vs-gold agreement metrics, checked against hand-computed values and against sklearn."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from judge.core.taxonomy import CATEGORY_CODES
from judge.evaluate.metrics import (
    agreement_report,
    bootstrap_kappa_ci,
    cohen_kappa,
    coverage_report,
    kappa_from_confusion,
)

OM, HA, FM = "omission", "hallucination", "format_mismatch"


def _textbook_pair() -> tuple[list[str], list[str]]:
    # 50 items, two raters, "yes" = omission, "no" = hallucination:
    #   both yes 20, A yes / B no 5, A no / B yes 10, both no 15.
    a = [OM] * 20 + [OM] * 5 + [HA] * 10 + [HA] * 15
    b = [OM] * 20 + [HA] * 5 + [OM] * 10 + [HA] * 15
    return a, b


def test_cohen_kappa_textbook_2x2() -> None:
    a, b = _textbook_pair()
    # p_o = (20 + 15) / 50 = 0.7; A says yes 25/50 = 0.5, B says yes 30/50 = 0.6
    # p_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.5; kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4
    assert cohen_kappa(a, b) == pytest.approx(0.4)


def test_cohen_kappa_perfect_and_undefined() -> None:
    assert cohen_kappa([OM, HA, FM], [OM, HA, FM]) == pytest.approx(1.0)
    # one category for every item in both: p_e = 1, kappa undefined -> nan (not 1, not 0)
    assert math.isnan(cohen_kappa([OM, OM, OM], [OM, OM, OM]))
    assert math.isnan(cohen_kappa([], []))


def test_cohen_kappa_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="not a category code"):
        cohen_kappa([OM, "wrong"], [OM, OM])
    with pytest.raises(ValueError, match="2 items"):
        cohen_kappa([OM, OM], [OM])


def test_cohen_kappa_matches_sklearn_on_random_predictions() -> None:
    rng = random.Random(7)
    for n in (5, 40, 300):
        t = [rng.choice(CATEGORY_CODES) for _ in range(n)]
        p = [x if rng.random() < 0.5 else rng.choice(CATEGORY_CODES) for x in t]
        expected = cohen_kappa_score(t, p)  # sklearn with labels inferred from the data
        assert cohen_kappa(t, p) == pytest.approx(expected)
        cm = np.zeros((8, 8), dtype=int)
        for a, b in zip(t, p, strict=True):
            cm[CATEGORY_CODES.index(a), CATEGORY_CODES.index(b)] += 1
        assert float(kappa_from_confusion(cm)) == pytest.approx(expected)


def test_kappa_from_confusion_stack_and_undefined() -> None:
    textbook = np.array([[20, 5], [10, 15]])
    single = np.array([[7, 0], [0, 0]])
    out = kappa_from_confusion(np.stack([textbook, single]))
    assert out[0] == pytest.approx(0.4)
    assert math.isnan(out[1])


def test_bootstrap_ci_deterministic_and_contains_estimate() -> None:
    a, b = _textbook_pair()
    ci1 = bootstrap_kappa_ci(a, b, n_boot=500, seed=3)
    ci2 = bootstrap_kappa_ci(a, b, n_boot=500, seed=3)
    ci3 = bootstrap_kappa_ci(a, b, n_boot=500, seed=4)
    assert ci1 == ci2
    assert ci1 != ci3
    lo, hi = ci1
    assert lo < 0.4 < hi
    # a 95% interval for n=50 is wide but well inside [-1, 1]
    assert 0.1 < hi - lo < 0.8


def test_bootstrap_ci_equals_naive_percentile_bootstrap() -> None:
    rng = random.Random(1)
    t = [rng.choice(CATEGORY_CODES[:3]) for _ in range(30)]
    p = [x if rng.random() < 0.6 else rng.choice(CATEGORY_CODES[:3]) for x in t]
    # same draws as the implementation: one (n_boot, n) block of indices from default_rng(seed)
    idx = np.random.default_rng(11).integers(0, 30, size=(200, 30))
    kappas = []
    for row in idx:
        k = cohen_kappa([t[i] for i in row], [p[i] for i in row])
        if not math.isnan(k):
            kappas.append(k)
    lo, hi = np.quantile(kappas, [0.05, 0.95])
    assert bootstrap_kappa_ci(t, p, n_boot=200, alpha=0.1, seed=11) == pytest.approx((lo, hi))


def test_bootstrap_ci_undefined_cases() -> None:
    assert all(math.isnan(x) for x in bootstrap_kappa_ci([], []))
    assert all(math.isnan(x) for x in bootstrap_kappa_ci([OM, OM], [OM, OM]))
    with pytest.raises(ValueError):
        bootstrap_kappa_ci([OM], [OM], alpha=1.5)


def test_agreement_report_by_hand() -> None:
    y_true = [OM, OM, HA, HA, FM]
    y_pred = [OM, HA, HA, HA, None]  # the judge abstained on the last item
    conf = [0.9, 0.8, 0.6, 0.7, 0.99]
    r = agreement_report(y_true, y_pred, confidences=conf, n_boot=200)
    # scored: (OM,OM) (OM,HA) (HA,HA) (HA,HA); coverage 4/5
    assert (r.n_total, r.n, r.coverage) == (5, 4, pytest.approx(0.8))
    assert r.accuracy == pytest.approx(0.75)
    # p_o = 3/4; gold OM 1/2, HA 1/2; judge OM 1/4, HA 3/4; p_e = 1/2*1/4 + 1/2*3/4 = 1/2; kappa = (3/4-1/2)/(1/2) = 1/2
    assert r.kappa == pytest.approx(0.5)
    lo, hi = r.kappa_ci
    assert lo is not None and hi is not None and lo <= 0.5 <= hi
    # omission: tp 1, fp 0, fn 1 -> P 1, R 1/2, F1 2/3; hallucination: tp 2, fp 1, fn 0 -> P 2/3, R 1, F1 4/5
    # macro F1 over the categories present (omission, hallucination) = (2/3 + 4/5) / 2 = 11/15
    assert r.macro_f1 == pytest.approx(11 / 15)
    om, ha = r.per_category[OM], r.per_category[HA]
    assert (om.precision, om.recall, om.f1, om.support, om.predicted) == pytest.approx((1, 0.5, 2 / 3, 2, 1))
    assert (ha.precision, ha.recall, ha.f1, ha.support, ha.predicted) == pytest.approx((2 / 3, 1, 0.8, 2, 3))
    # one-vs-rest omission: 2x2 [[tn 2, fp 0], [fn 1, tp 1]]: p_o 3/4, p_e = 1/2*3/4 + 1/2*1/4 = 1/2 -> 1/2
    assert om.kappa_ovr == pytest.approx(0.5)
    assert om.kappa_ovr == pytest.approx(
        cohen_kappa_score([t == OM for t in y_true[:4]], [p == OM for p in y_pred[:4]])
    )
    assert ha.kappa_ovr == pytest.approx(0.5)
    # format_mismatch was only on the abstained item: absent from both -> undefined
    assert r.per_category[FM].kappa_ovr is None and r.per_category[FM].support == 0
    assert r.labels == list(CATEGORY_CODES)
    assert len(r.confusion) == 8 and all(len(row) == 8 for row in r.confusion)
    assert r.confusion[0][:2] == [1, 1] and r.confusion[1][:2] == [0, 2]
    assert sum(map(sum, r.confusion)) == 4
    # calibration on scored items, one per bin: |1-.9| + |0-.8| + |1-.6| + |1-.7| = 1.6, / 4 = 0.4
    assert r.ece == pytest.approx(0.4)
    assert sum(b.count for b in r.reliability) == 4
    assert r.model_dump_json()  # serialisable (no nan)


def test_agreement_report_mask_and_empty() -> None:
    r = agreement_report([OM, HA, OM], [OM, HA, HA], covered_mask=[True, True, False], n_boot=50)
    assert (r.n, r.coverage, r.accuracy, r.kappa) == (2, pytest.approx(2 / 3), 1.0, pytest.approx(1.0))
    empty = agreement_report([OM], [None], n_boot=50)
    assert (empty.n, empty.kappa, empty.accuracy, empty.macro_f1, empty.ece) == (0, None, None, None, None)
    assert empty.kappa_ci == (None, None)
    with pytest.raises(ValueError, match="confidences"):
        agreement_report([OM], [OM], confidences=[0.5, 0.5])


def test_coverage_report_by_hand() -> None:
    r = coverage_report([OM, HA, FM, OM], [OM, None, FM, HA])
    # covered pairs (OM,OM) (FM,FM) (OM,HA): p_o = 2/3; gold OM 2/3, FM 1/3; judge OM, FM, HA 1/3 each
    # p_e = 2/3*1/3 + 1/3*1/3 = 1/3; kappa = (2/3 - 1/3) / (2/3) = 1/2
    assert (r.n, r.n_covered) == (4, 3)
    assert r.coverage == pytest.approx(0.75)
    assert r.accuracy == pytest.approx(2 / 3)
    assert r.kappa == pytest.approx(0.5)
    nothing = coverage_report([OM, HA], [None, None])
    assert (nothing.coverage, nothing.kappa, nothing.accuracy) == (0.0, None, None)
