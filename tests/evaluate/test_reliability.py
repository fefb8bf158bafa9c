"""Reliability bins and ECE, checked by hand."""

from __future__ import annotations

import math

import pytest

from judge.evaluate.reliability import expected_calibration_error, reliability_bins


def test_ece_four_items_by_hand() -> None:
    conf = [0.9, 0.9, 0.3, 0.35]
    correct = [True, False, False, False]
    # bin [0.9, 1.0]: 2 items, mean conf 0.9, accuracy 1/2 -> 2/4 * |0.5 - 0.9| = 0.2
    # bin [0.3, 0.4): 2 items, mean conf 0.325, accuracy 0 -> 2/4 * 0.325 = 0.1625
    assert expected_calibration_error(conf, correct) == pytest.approx(0.3625)
    bins = reliability_bins(conf, correct)
    assert len(bins) == 10
    assert [b.count for b in bins] == [0, 0, 0, 2, 0, 0, 0, 0, 0, 2]
    assert (bins[3].lo, bins[3].hi) == pytest.approx((0.3, 0.4))
    assert bins[3].mean_confidence == pytest.approx(0.325) and bins[3].accuracy == 0.0
    assert bins[9].accuracy == pytest.approx(0.5)
    assert bins[0].mean_confidence is None and bins[0].accuracy is None


def test_bin_edges() -> None:
    # 0.0 -> first bin, 1.0 -> last bin, an exact edge 0.3 -> the bin starting at 0.3
    bins = reliability_bins([0.0, 1.0, 0.3, 0.6], [True, True, True, True])
    assert [b.count for b in bins] == [1, 0, 0, 1, 0, 0, 1, 0, 0, 1]
    two = reliability_bins([0.5, 0.49], [True, False], n_bins=2)
    assert [b.count for b in two] == [1, 1]


def test_perfectly_calibrated_and_errors() -> None:
    # four items at 0.75 with 3 correct: accuracy equals confidence -> ECE 0
    assert expected_calibration_error([0.75] * 4, [True, True, True, False]) == pytest.approx(0.0)
    assert math.isnan(expected_calibration_error([], []))
    with pytest.raises(ValueError):
        expected_calibration_error([1.2], [True])
    with pytest.raises(ValueError):
        reliability_bins([0.5], [True, False])
