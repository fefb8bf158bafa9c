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


def _prompts_with_examples() -> list[str]:
    from evals.bench.offline_speed import real_items
    from tests.conftest import FIXTURES

    prompts = [it.question for it in load_items() + real_items(400, FIXTURES / "medbench")
               + real_items(400, FIXTURES / "medbench_v4")]
    head = "请回答下列问题。\n任务示例：\n题目：患者男，45岁，发热3天。\n答：<A>\n"
    # digits, a dot, fullwidth forms and a combining mark on both sides of the seam
    for left, right in (("12", "34mg"), ("1.", "5"), ("12", ".5"), ("剂量3", "x"), ("ｘ", "\u0301a"), ("", "")):
        prompts.append(f"{head.replace('发热3天', '发热' + left)}题目：{right}岁\n答：")
        prompts.append(f"{head[:-1]}{left}\n{right}\n答：")
    return prompts


def test_prompt_facts_from_shared_head_and_query_equal_those_of_the_whole_prompt():
    from judge.offline.features import _known, _known_alone
    from judge.offline.rules.text import query_offset

    prompts = _prompts_with_examples()
    assert sum(query_offset(p) > 0 for p in prompts) >= 20  # the split is really taken
    assert all(query_offset(p) > 0 for p in prompts[-12:])  # the seam cases among them
    for p in prompts:
        _known.cache_clear()
        split, whole = _known(p), _known_alone(p)
        assert (split.norm, split.numbers) == (whole.norm, whole.numbers), repr(p)
        assert split.pairs.tolist() == whole.pairs.tolist()


def test_nfkc_of_text_that_meets_after_a_line_break_is_that_of_each_part():
    from judge.offline.rules.text import nfkc

    pieces = ["\u0301", "\u0308", "\u1161", "\u11a8", "\u1100", "e", "ﬁ", "①", "ｶ", "ﾞ", "\u3099", "字", "，", "1", " "]
    rng = random.Random(2)
    for _ in range(20_000):
        a = "".join(rng.choices(pieces, k=rng.randint(0, 5))) + "\n"
        b = "".join(rng.choices(pieces, k=rng.randint(0, 5)))
        assert nfkc(a + b) == nfkc(a) + nfkc(b), repr(a + b)


def test_clear_memos_empties_every_memo_of_the_offline_judge():
    """A memo left warm would flatter the bench's fresh-process rows and hide a per-text cost."""
    import functools
    import importlib
    import pkgutil

    import judge.offline
    from judge.offline.cascade import CascadeJudge
    from judge.offline.features import clear_memos
    from judge.offline.rules_judge import RulesJudge

    names = ["judge.llm.injection", "judge.medbench.recall"] + [
        m.name for m in pkgutil.walk_packages(judge.offline.__path__, "judge.offline.")]
    memos = [(name, attr, fn) for name in names for attr, fn in vars(importlib.import_module(name)).items()
             if isinstance(fn, functools._lru_cache_wrapper)]
    assert len(memos) > 30
    from judge.offline.baseline import BaselineJudge

    CascadeJudge(RulesJudge(), BaselineJudge()).judge_batch(load_items())
    assert sum(fn.cache_info().currsize > 0 for _, _, fn in memos) > 20  # the run filled them
    clear_memos()
    assert [f"{name}.{attr}" for name, attr, fn in memos if fn.cache_info().currsize] == []
