"""The rules judge: a category when a deterministic rule fires, needs_review (never a silent category) otherwise."""

from __future__ import annotations

import asyncio

import pytest

from judge.core.exceptions import ConfigError
from judge.core.models import Item
from judge.core.protocol import Judge
from judge.offline.rules_judge import NO_RULE_FIRED, RulesJudge, rules_version

BRACKET_Q = "任务：请回答单项选择题，要求只输出选项，不输出解释，答案放在<>里。\n题目：哪项正确？\nA. 甲\nB. 乙\n答: "


def item(response: str, question: str = "请简述高血压的一线治疗药物。", item_id: str = "i1") -> Item:
    return Item(item_id=item_id, question=question, response=response)


def test_is_a_judge_with_stable_id():
    a, b = RulesJudge(), RulesJudge()
    assert isinstance(a, Judge)
    assert a.judge_id == b.judge_id and a.model == "rules"
    assert a.identity()["rules_version"] == rules_version()
    assert RulesJudge(["unanswered"]).judge_id != a.judge_id


def test_empty_response_is_unanswered_with_rule_provenance():
    v = asyncio.run(RulesJudge().ajudge(item("   ")))
    assert v.status == "ok" and v.category == "unanswered" and v.source == "rules"
    assert v.confidence == pytest.approx(0.99) and v.rationale.startswith("rule unanswered:")
    assert v.judge_id == RulesJudge().judge_id and v.error is None


def test_leaked_special_token_is_output_error_with_verbatim_evidence():
    text = "患者应首先进行降压治疗。<|im_end|>"
    v = RulesJudge().judge(item(text))
    assert v.status == "ok" and v.category == "output_error"
    assert v.evidence and v.evidence in text


def test_explanation_against_only_option_is_format_mismatch():
    text = "正确答案是A，因为甲的说法符合教材中关于该病的定义，而乙的说法不对。"
    v = RulesJudge().judge(item(text, BRACKET_Q))
    assert v.status == "ok" and v.category == "format_mismatch" and v.evidence in text


def test_no_rule_gives_needs_review_not_a_category():
    v = RulesJudge().judge(item("一线药物包括ACEI、ARB、钙通道阻滞剂、噻嗪类利尿剂，需根据合并症选择。"))
    assert v.status == "needs_review" and v.category is None and v.confidence is None
    assert v.error == NO_RULE_FIRED and v.source == "rules"


def test_disabled_rule_does_not_fire():
    judge = RulesJudge(["format_mismatch"])
    v = judge.judge(item(""))
    assert v.status == "needs_review" and v.category is None
    assert judge.identity()["enabled"] == ["format_mismatch"]


def test_unknown_rule_name_is_a_config_error():
    with pytest.raises(ConfigError, match="no_such_rule"):
        RulesJudge(["unanswered", "no_such_rule"])
