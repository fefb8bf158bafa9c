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


def test_age_group_conflict():
    from judge.offline.case_signals import age_group_conflict

    assert age_group_conflict("男童，3岁，呛咳后喘鸣。", "患者为中年男性，有长期吸烟史。") == 1.0
    assert age_group_conflict("患者，女，42岁，具有完全民事行为能力。", "本例患者为未成年人。") == 1.0
    assert age_group_conflict("患者75岁，糖尿病。", "老年人容易肌肉流失。") == 0.0
    assert age_group_conflict("头痛3天。", "中年男性多见。") == 0.0  # the case states no age


def test_history_and_stated_contraindication():
    from judge.offline.case_signals import contraindication_conflict, hepatic_risk, history_conflict

    assert history_conflict("患者：还没结婚，也没怀过孕，没有性生活", "婚育史：已婚，G1P1。") == 1.0
    assert history_conflict("患者：就喝了点温水，还没吃药", "曾自行口服头孢克洛治疗1天。") == 1.0
    assert history_conflict("患者：就喝了点温水，还没吃药", "多饮水，口服对乙酰氨基酚。") == 0.0
    assert contraindication_conflict("重症肌无力病史3年，现需抗感染治疗。", "首选庆大霉素。") == 1.0
    assert contraindication_conflict("重症肌无力病史3年，现需抗感染治疗。", "首选头孢曲松。") == 0.0
    assert contraindication_conflict("该患者禁用阿司匹林。", "予阿司匹林100 mg口服。") == 1.0
    assert hepatic_risk("乙肝肝硬化失代偿期。", "可长期口服酮康唑。") == 1.0
    assert hepatic_risk("肝功能正常。", "可长期口服酮康唑。") == 0.0


def test_chosen_option_is_checked_against_the_case():
    from judge.offline.case_signals import chosen_option_text, option_case_signals

    q = ("请回答单项选择题，答案放在<>里。\n题目：\n男，16岁。转移性右下腹痛8小时。最可能的诊断是：\n"
         "A. 急性阑尾炎\nB. 异位妊娠破裂\nC. 右侧输尿管结石\n答：")
    assert chosen_option_text(q, None, "<B>") == "异位妊娠破裂"
    assert option_case_signals(q, None, "<B>")["option_case_conflict"] == 1.0
    assert option_case_signals(q, None, "<A>")["option_case_conflict"] == 0.0
    ckd = "男，70岁，慢性肾脏病4期，eGFR 20。最适宜选用的是：\nA. 二甲双胍\nB. 利格列汀"
    assert option_case_signals(ckd, None, "<A>")["option_case_conflict"] == 1.0
    assert option_case_signals(ckd, None, "<B>")["option_case_conflict"] == 0.0
    assert option_case_signals(ckd, None, "不确定")["option_case_conflict"] == 0.0


def test_allergens_found_near_each_mention_are_those_of_a_full_scan():
    import random

    from judge.offline.case_signals import _ALLERGEN, _allergens

    rng = random.Random(4)
    pieces = ["过敏", "过", "敏", "类", "药物", "青霉素", "头孢", "a", "B", "，", "。", "患者", "否认", " "]
    for _ in range(5000):
        text = "".join(rng.choices(pieces, k=rng.randint(0, 25)))
        assert [m.span() for m in _allergens(text)] == [m.span() for m in _ALLERGEN.finditer(text)], text
