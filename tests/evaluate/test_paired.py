"""The paired bootstrap of a κ difference between two raters on the same items."""

from __future__ import annotations

import random

import pytest
from sklearn.metrics import cohen_kappa_score

from judge.core.taxonomy import CATEGORY_CODES
from judge.evaluate.paired import paired_kappa_difference


def raters(n: int = 120, wrong_a: float = 0.4, wrong_b: float = 0.1, seed: int = 0):  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    truth = [rng.choice(CATEGORY_CODES) for _ in range(n)]

    def rater(p: float) -> list[str]:
        return [rng.choice([c for c in CATEGORY_CODES if c != t]) if rng.random() < p else t for t in truth]

    return truth, rater(wrong_a), rater(wrong_b)


def test_difference_is_that_of_the_two_kappas_and_the_ci_brackets_it():
    truth, a, b = raters()
    d = paired_kappa_difference(truth, a, b, n_boot=500, seed=1)
    labels = list(CATEGORY_CODES)
    ka, kb = cohen_kappa_score(truth, a, labels=labels), cohen_kappa_score(truth, b, labels=labels)
    assert d.n == 120 and d.kappa_a == pytest.approx(ka) and d.kappa_b == pytest.approx(kb)
    assert d.difference == pytest.approx(kb - ka) and d.ci[0] < d.difference < d.ci[1]
    assert d.b_better and not d.b_worse
    flipped = paired_kappa_difference(truth, b, a, n_boot=500, seed=1)
    assert flipped.b_worse and flipped.ci == pytest.approx((-d.ci[1], -d.ci[0]))
    assert paired_kappa_difference(truth, a, b, n_boot=500, seed=1) == d  # deterministic for a seed


def test_same_rater_gives_zero_and_close_raters_are_not_separated():
    truth, a, _ = raters(n=60)
    same = paired_kappa_difference(truth, a, list(a), n_boot=200)
    assert same.difference == 0 and same.ci == (0.0, 0.0) and not same.b_better and not same.b_worse
    truth, a, b = raters(n=40, wrong_a=0.3, wrong_b=0.28, seed=5)
    close = paired_kappa_difference(truth, a, b, n_boot=500)
    assert close.ci[0] < 0 < close.ci[1] and not close.b_better


def test_abstentions_excluded_or_counted_as_disagreement():
    truth = ["omission", "hallucination", "unanswered", "omission"] * 5
    a = list(truth)
    b = [None if i % 4 == 1 else t for i, t in enumerate(truth)]  # b abstains on every hallucination item
    excl = paired_kappa_difference(truth, a, b, abstain="exclude", n_boot=100)
    assert excl.n == 15 and excl.kappa_b == pytest.approx(1.0) and excl.difference == pytest.approx(0.0)
    dis = paired_kappa_difference(truth, a, b, abstain="disagree", n_boot=100)
    assert dis.n == 20 and dis.kappa_b < 1.0 and dis.difference < 0
    with pytest.raises(ValueError, match="aligned"):
        paired_kappa_difference(truth, a, b[:-1])
    with pytest.raises(ValueError, match="not a category code"):
        paired_kappa_difference(truth, a, ["x"] * 20)
    empty = paired_kappa_difference(["omission"], [None], ["omission"])
    assert empty.n == 0 and empty.difference is None and empty.ci == (None, None)
