"""Drift of κ over calibration runs: the warning rule, and the report section built from real calibration runs."""

from __future__ import annotations

import math

import pytest

from judge.evaluate.drift import Z95, DriftPoint, drift_warnings


def point(cid: str, when: str, kappa: float, lo: float, hi: float, split: str = "test") -> DriftPoint:
    return DriftPoint(calibration_id=cid, judge_id=f"j{cid}", model="m", prompt_version="p", split=split,
                      created_at=when, n=80, kappa=kappa, kappa_lo=lo, kappa_hi=hi)


def test_warns_only_when_the_drop_exceeds_what_the_cis_allow():
    old = point("1", "2026-01-01 10:00:00", 0.80, 0.70, 0.90)
    # se of each = 0.1 / 1.96; allowed drop = 1.96 * sqrt(2) * 0.1 / 1.96 = 0.1414
    small = point("2", "2026-02-01 10:00:00", 0.67, 0.57, 0.77)
    big = point("3", "2026-02-01 10:00:00", 0.65, 0.55, 0.75)
    assert drift_warnings([old, small]) == []
    (w,) = drift_warnings([big, old])  # order of the input does not matter: time decides
    assert w.newest == big and w.previous == old and w.drop == pytest.approx(0.15)
    assert w.allowed == pytest.approx(math.sqrt(2) * 0.1) and Z95 == pytest.approx(1.96, abs=1e-3)


def test_compares_within_a_split_and_only_the_newest_pair():
    a = point("1", "2026-01-01 00:00:00", 0.9, 0.85, 0.95, split="dev")
    b = point("2", "2026-01-02 00:00:00", 0.3, 0.25, 0.35, split="test")  # alone on its split
    c = point("3", "2026-01-03 00:00:00", 0.2, 0.15, 0.25, split="dev")
    d = point("4", "2026-01-04 00:00:00", 0.9, 0.85, 0.95, split="dev")  # recovered: newest pair is fine
    assert [w.split for w in drift_warnings([a, b, c])] == ["dev"]
    assert drift_warnings([a, b, c, d]) == []
    no_ci = DriftPoint(**{**c.model_dump(), "kappa_lo": None, "kappa_hi": None})
    assert drift_warnings([a, no_ci]) == []  # no CI: shown, never flagged
