"""The abstention curve (κ and coverage over τ) and the τ recommended on dev."""

from __future__ import annotations

import pytest

from judge.evaluate.abstention import AbstentionSummary, abstention_curve, recommend_tau, summarise

a, b, c = "omission", "hallucination", "unanswered"
Y = [a, b, c, a, b, c, a, b, c, a, b, c]


def test_curve_keeps_confident_verdicts_and_scores_them():
    pred = [a, b, c, a, b, c, b, c, a, a, b, None]
    conf = [0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.3, 0.3, 0.3, 0.7, 0.7, 0.99]
    curve = abstention_curve(Y, pred, conf, taus=(0.0, 0.5, 0.95))
    assert [p.n_kept for p in curve] == [11, 8, 0]
    assert curve[0].coverage == pytest.approx(11 / 12) and curve[1].coverage == pytest.approx(8 / 12)
    assert curve[1].kappa == pytest.approx(1.0) and curve[0].kappa < 0.8
    assert curve[2].kappa is None


def test_recommendation_is_the_smallest_tau_reaching_the_target_with_enough_items():
    pred = [a, b, c, a, b, c, b, c, a, a, b, c]
    conf = [0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.3, 0.3, 0.3, 0.7, 0.7, 0.7]
    curve = abstention_curve(Y, pred, conf, taus=(0.0, 0.2, 0.5, 0.75, 0.85))
    assert recommend_tau(curve, 0.8, min_kept=5) == (0.5, "smallest_tau_reaching_target")
    assert recommend_tau(curve, 0.8, min_kept=10)[1] == "max_kappa"  # 9 items at most reach it
    assert recommend_tau(curve, 0.8, min_kept=50) == (None, "")


def test_summary_without_dev_curve_recommends_nothing():
    curve = abstention_curve(Y, Y, [0.9] * 12)
    s = summarise(curve, None)
    assert s.recommended_tau is None and s.note
    s = summarise(curve, curve)
    assert s.recommended_tau == 0.0 and s.at_recommended is not None and s.at_recommended.kappa == pytest.approx(1.0)


def test_summary_names_what_the_recommendation_was_chosen_on():
    curve = abstention_curve(Y, Y, [0.9] * 12)
    assert summarise(curve, curve).basis == "dev"
    s = summarise(curve, curve, note="out of fold", dev_label="cross-validated on train+dev")
    assert s.basis == "out-of-fold verdicts (cross-validated on train+dev)" and s.note == "out of fold"
    assert AbstentionSummary.model_validate_json(s.model_dump_json()).dev_label == "cross-validated on train+dev"
    assert AbstentionSummary.model_validate({"curve": []}).dev_label == "dev"  # runs stored before the label
