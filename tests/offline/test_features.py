"""Hand-made features and the frame the baseline pipeline reads."""

from __future__ import annotations

import math
import random

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


def _string_bigrams(text: str) -> set[str]:
    return {text[i : i + 2] for i in range(len(text) - 1)}


def test_character_pair_numbers_stand_for_the_bigrams_exactly():
    from judge.offline.features import _among, _distinct_pair_codes, _pair_codes

    rng = random.Random(5)
    alphabet = ["a", "b", "\x00", "\x01", "字", "符", "，", "\ud800", "\U0001f600", "\U0010ffff", " "]
    for _ in range(3000):
        prompt = "".join(rng.choices(alphabet, k=rng.randint(0, 30)))
        response = "".join(rng.choices(alphabet, k=rng.randint(0, 12)))
        codes = _distinct_pair_codes(response)
        assert len(codes) == len(_string_bigrams(response))
        assert len(_pair_codes(prompt)) == max(0, len(prompt) - 1)
        hits = int(_among(codes, _pair_codes(prompt)).sum())
        assert hits == sum(b in prompt for b in _string_bigrams(response))


def test_bigram_features_count_response_bigrams_found_in_prompt_and_reference():
    feats = item_features(Item(item_id="b", question="患者发热三天", reference_answer="给予退热治疗",
                               response="发热给予治疗"))
    # bigrams of the response: 发热 热给 给予 予治 治疗; in the question: 发热; in the reference: 给予 治疗
    assert feats["bigrams_in_question"] == 1 / 5
    assert feats["bigrams_in_reference"] == 2 / 5
    assert feats["bigrams_novel"] == 1.0 - 3 / 5


def test_cjk_share_counts_the_unified_ideographs():
    import re

    from judge.offline.register import cjk_share

    for text in ("", "abc", "患者男，45岁", "一\u9fff\u4e00\u4dff\ua000\U00020000", "\ud800字"):
        expected = len(re.findall(r"[\u4e00-\u9fff]", text)) / max(len(text), 1)
        assert cjk_share.__wrapped__(text) == expected
