"""Case-consistency and option-letter signals used as baseline features."""

from __future__ import annotations

from judge.offline.case_signals import (
    allergy_conflict,
    case_signals,
    choice_signals,
    final_letters,
    negation_conflict,
    pregnancy_risk,
    reference_letters,
    renal_risk,
    sex_conflict,
    side_conflict,
)


def test_sex_conflict():
    assert sex_conflict("患者女，45岁，腹痛2天。", "该男性患者考虑急性阑尾炎。") == 1.0
    assert sex_conflict("患者男，60岁，排尿困难。", "考虑子宫肌瘤。") == 1.0
    assert sex_conflict("患者男，60岁，排尿困难。", "考虑前列腺增生。") == 0.0
    assert sex_conflict("患者，60岁，排尿困难。", "该男性患者考虑前列腺增生。") == 0.0  # case states no sex


def test_side_conflict_measures_the_swap():
    q = "左侧肢体无力，左上肢肌力2级，左侧巴宾斯基征阳性。"
    assert side_conflict(q, "右侧偏瘫，右侧病理征阳性。") == 1.0
    assert side_conflict(q, "左侧偏瘫。") == 0.0
    assert side_conflict("头痛3天。", "右侧头痛。") == 0.0


def test_allergy_pregnancy_and_renal_signals():
    assert allergy_conflict("患者有青霉素过敏史。", "首选阿莫西林口服。") == 1.0
    assert allergy_conflict("患者否认药物过敏史，青霉素皮试阴性。", "首选阿莫西林口服。") == 0.0
    assert pregnancy_risk("孕12周，血压升高。", "给予卡托普利降压。") == 1.0
    assert pregnancy_risk("男，50岁，血压升高。", "给予卡托普利降压。") == 0.0
    assert renal_risk("慢性肾衰竭，eGFR 20。", "继续二甲双胍。") == 1.0


def test_negation_conflict():
    assert negation_conflict("患者咳嗽，否认胸痛，无咯血。", "主体词：胸痛，发生状态：''") == 1.0
    assert negation_conflict("患者咳嗽，否认胸痛，无咯血。", "否认胸痛，无咯血。") == 0.0


def test_final_and_reference_letters():
    assert final_letters("分析……答案：<A,C,E>") == frozenset("ACE")
    assert final_letters("B") == frozenset("B")
    assert final_letters("正确答案是D，因为……") == frozenset("D")
    assert final_letters("无法判断") is None
    assert reference_letters("<A,B,D>") == frozenset("ABD")
    assert reference_letters("<不合理>。呋塞米……") is None


def test_choice_signals():
    miss = choice_signals("<A>", "<A,B>")
    assert miss["choice_subset"] == 1.0 and miss["choice_correct"] == 0.0 and miss["choice_disjoint"] == 0.0
    extra = choice_signals("<A,B,C>", "<A,B>")
    assert extra["choice_superset"] == 1.0
    assert choice_signals("<B>", "<A>")["choice_disjoint"] == 1.0
    assert choice_signals("<A>", "<A>")["choice_correct"] == 1.0
    conflict = choice_signals("C：必定在数日内消失，C错误。D正确。所以答案是<A,B,C,D>", "<A,B,D>")
    assert conflict["choice_self_conflict"] == 1.0
    consistent = choice_signals("C错误。A正确。所以答案是<A>", "<A>")
    assert consistent["choice_self_conflict"] == 0.0


def test_case_signals_has_fixed_keys():
    a = case_signals("", None, "")
    b = case_signals("患者女，左侧。", "<A>", "<B>")
    assert list(a) == list(b) and all(isinstance(v, float) for v in b.values())
