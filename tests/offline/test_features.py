"""Hand-made features and the frame the baseline pipeline reads."""

from __future__ import annotations

import math

from judge.core.models import Item
from judge.offline.features import NUMERIC_COLUMNS, item_features, items_frame, make_preprocessor, repetition_ratio
from tests.conftest import load_items


def test_every_item_has_the_same_finite_features():
    items = load_items()
    for it in items:
        feats = item_features(it)
        assert tuple(feats) == NUMERIC_COLUMNS
        assert all(math.isfinite(v) for v in feats.values())


def test_new_doses_and_reference_coverage():
    q = "社区获得性肺炎，如何治疗？"
    ref = "1. 左氧氟沙星0.5 g每日1次；2. 疗程7~10天。"
    invented = item_features(Item(item_id="a", question=q, reference_answer=ref, response="左氧氟沙星2 g静脉滴注，每日1次。"))
    faithful = item_features(Item(item_id="b", question=q, reference_answer=ref, response="左氧氟沙星0.5 g每日1次，疗程7~10天。"))
    assert invented["new_doses"] > 0 and faithful["new_doses"] == 0
    assert faithful["ref_recall"] == 1.0 and invented["ref_recall"] < 1.0


def test_rule_outputs_are_features():
    empty = item_features(Item(item_id="e", question="请回答。", response=""))
    assert empty["rule_unanswered"] > 0.9 and empty["rule_output_error"] == 0.0


def test_repetition_ratio():
    assert repetition_ratio("进行" * 30) > 0.9
    assert repetition_ratio("一二三四五六七八") == 0.0
    assert repetition_ratio("短") == 0.0


def test_frame_and_preprocessor_shapes():
    items = load_items()
    frame = items_frame(items)
    assert len(frame) == len(items) and set(NUMERIC_COLUMNS) <= set(frame.columns)
    assert (frame["task"] != "").all()
    matrix = make_preprocessor(min_df=1, use_instruction=True).fit_transform(frame)
    assert matrix.shape[0] == len(items) and matrix.shape[1] > len(NUMERIC_COLUMNS)
