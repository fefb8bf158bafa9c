"""Fleiss' kappa, Krippendorff's alpha and pairwise Cohen's kappa on published and hand-computed examples."""

from __future__ import annotations

import math

import pytest

from judge.evaluate.metrics import fleiss_kappa as fleiss_from_metrics
from judge.gold.agreement import annotation_matrix, fleiss_kappa, krippendorff_alpha_nominal, pairwise_cohen


def _expand(counts: list[list[int]]) -> list[list[str]]:
    """Rows of per-category counts -> rows of labels ("1".."5")."""
    return [[str(j + 1) for j, c in enumerate(row) for _ in range(c)] for row in counts]


def test_fleiss_wikipedia_example() -> None:
    # 10 items, 14 raters, 5 categories (the worked example of the Wikipedia article on Fleiss' kappa):
    # P_bar = 0.378, P_e = 0.213, kappa = (0.378 - 0.213) / (1 - 0.213) = 0.210
    counts = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
    assert fleiss_kappa(_expand(counts)) == pytest.approx(0.210, abs=5e-4)
    assert fleiss_from_metrics is fleiss_kappa


def test_fleiss_small_by_hand() -> None:
    # item 1 (a, a): P_1 = (2^2 - 2) / (2 * 1) = 1; item 2 (a, b): P_2 = (1 + 1 - 2) / 2 = 0; P_bar = 1/2
    # p_a = 3/4, p_b = 1/4, P_e = 9/16 + 1/16 = 5/8; kappa = (1/2 - 5/8) / (3/8) = -1/3
    assert fleiss_kappa([["a", "a"], ["a", "b"]]) == pytest.approx(-1 / 3)
    # None is allowed as long as every item keeps the same number of labels
    assert fleiss_kappa([["a", None, "a"], [None, "a", "b"]]) == pytest.approx(-1 / 3)
    with pytest.raises(ValueError, match="same number"):
        fleiss_kappa([["a", "a"], ["a", None]])
    assert math.isnan(fleiss_kappa([["a", "a"], ["a", "a"]]))


def test_krippendorff_two_coders_by_hand() -> None:
    ratings = [["a", "a"], ["a", "b"], ["b", "b"], ["b", "b"], ["a", None]]
    # the last unit has one value and is not pairable. Coincidences (each unit weight 1/(2-1) = 1):
    # o_aa = 2, o_ab = o_ba = 1, o_bb = 4; n_a = 3, n_b = 5, n = 8
    # alpha = 1 - (n - 1) * (o_ab + o_ba) / (n^2 - n_a^2 - n_b^2) = 1 - 7 * 2 / (64 - 9 - 25) = 1 - 14/30 = 8/15
    assert krippendorff_alpha_nominal(ratings) == pytest.approx(8 / 15)


def test_krippendorff_three_coders_by_hand() -> None:
    # unit 1 (a, a, b), weight 1/(3-1): ordered pairs aa 2, ab 2, ba 2 -> o_aa 1, o_ab 1, o_ba 1
    # unit 2 (b, b), weight 1: bb 2 -> o_bb 2.  n_a = 2, n_b = 3, n = 5
    # alpha = 1 - 4 * 2 / (25 - 4 - 9) = 1 - 8/12 = 1/3
    assert krippendorff_alpha_nominal([["a", "a", "b"], ["b", None, "b"]]) == pytest.approx(1 / 3)


def test_krippendorff_published_example() -> None:
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability": 4 observers, 12 units, missing values;
    # nominal alpha = 0.743
    A = ["1", "2", "3", "3", "2", "1", "4", "1", "2", None, None, None]
    B = ["1", "2", "3", "3", "2", "2", "4", "1", "2", "5", None, "3"]
    C = [None, "3", "3", "3", "2", "3", "4", "2", "2", "5", "1", None]
    D = ["1", "2", "3", "3", "2", "4", "4", "1", "2", "5", "1", None]
    ratings = [list(unit) for unit in zip(A, B, C, D, strict=True)]
    assert krippendorff_alpha_nominal(ratings) == pytest.approx(0.743, abs=5e-4)


def test_krippendorff_agrees_with_fleiss_scale_and_degenerate() -> None:
    assert krippendorff_alpha_nominal([["a", "a"], ["b", "b"]]) == pytest.approx(1.0)
    assert math.isnan(krippendorff_alpha_nominal([["a", "a"], ["a", "a"]]))
    assert math.isnan(krippendorff_alpha_nominal([["a", None], [None, "b"]]))


def test_pairwise_cohen_and_matrix() -> None:
    ann = {
        "B": {"1": "omission", "2": "omission", "3": "omission", "4": "hallucination"},
        "A": {"1": "omission", "2": "hallucination", "3": "omission"},
        "C": {},
    }
    pairs = {(p.annotator_a, p.annotator_b): p for p in pairwise_cohen(ann)}
    assert set(pairs) == {("A", "B"), ("A", "C"), ("B", "C")}
    ab = pairs[("A", "B")]
    # common items 1-3: A (o, h, o), B (o, o, o): p_o = 2/3; p_e = 2/3 * 1 + 1/3 * 0 = 2/3 -> kappa 0
    assert ab.n == 3 and ab.kappa == pytest.approx(0.0)
    assert pairs[("A", "C")].n == 0 and pairs[("A", "C")].kappa is None
    items, annotators, matrix = annotation_matrix(ann)
    assert items == ["1", "2", "3", "4"] and annotators == ["A", "B", "C"]
    assert matrix[1] == ["hallucination", "omission", None]
    assert matrix[3] == [None, "hallucination", None]
