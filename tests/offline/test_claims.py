"""Claims of a response that neither the question nor the reference contains (baseline features)."""

from __future__ import annotations

from judge.offline.claims import claim_features, extraction_claims, quantity_claims, term_claims


def test_a_restated_case_value_conflicts_and_a_repeated_one_does_not():
    q = "检验报告里血钠为125 mmol/L代表什么意思？"
    ref = "血钠正常约135~145 mmol/L，125 mmol/L为中度低钠血症。"
    wrong = quantity_claims(q, ref, "正常范围135~145 mmol/L。您的血钠为155 mmol/L，属于高钠血症。")
    right = quantity_claims(q, ref, "正常范围135~145 mmol/L。您的血钠为125 mmol/L，属于低钠血症。")
    assert wrong["case_value_conflict"] > 0 and wrong["new_quantities"] > 0
    assert right["case_value_conflict"] == 0 and right["new_quantities"] == 0


def test_a_dose_in_another_unit_than_the_reference_is_new():
    ref = "甲氨蝶呤单次肌注50 mg/m²。"
    assert quantity_claims("可选择何种治疗？", ref, "甲氨蝶呤50 mg/kg单次肌注。")["ref_value_conflict"] > 0
    assert quantity_claims("可选择何种治疗？", ref, "甲氨蝶呤50 mg/m²单次肌注。")["new_quantities"] == 0


def test_citations_conditions_and_drugs_absent_from_question_and_reference():
    q, ref = "医师发现患者涉嫌伤害事件时应当如何？", "应按照有关规定向有关部门报告。"
    cited = term_claims(q, ref, "根据《中华人民共和国医师法》第五十八条规定，2015年起须先征得同意。")
    assert cited["new_citations"] > 0
    assert term_claims(q, ref, "应按照有关规定向有关部门报告。")["new_citations"] == 0
    hist = term_claims("母亲有糖尿病。", "家族史：母亲糖尿病。", "家族史：母亲患糖尿病，父亲有结直肠癌病史。")
    assert hist["new_conditions"] > 0
    assert term_claims("还没吃药", "", "曾自行口服头孢克洛。")["new_drugs_vs_case"] > 0
    assert term_claims("服用头孢克洛后", "", "继续口服头孢克洛。")["new_drugs_vs_case"] == 0
    assert term_claims("", "", "全程接种后可获得终身免疫，不用再打疫苗。")["absolute_marks"] > 0


def test_extracted_values_missing_from_the_text():
    q = "医学文本：患者因反复上腹痛2年就诊，胃镜提示十二指肠球部溃疡，幽门螺杆菌检测阳性。\n实体识别："
    made_up = extraction_claims(q, "药物：奥美拉唑\n微生物类：幽门螺杆菌\n症状和体征：上腹痛, 黑便")
    faithful = extraction_claims(q, "药物：\n微生物类：幽门螺杆菌\n症状和体征：上腹痛\n疾病：十二指肠球部溃疡")
    assert made_up["unsupported_values"] > 0 and made_up["unsupported_value_share"] > 0.3
    assert faithful["unsupported_values"] == 0


def test_every_item_gets_the_same_keys():
    assert set(claim_features("", None, "")) == set(claim_features("问", "答", "很长的回答：药物：阿司匹林，100 mg"))


def test_terms_searched_near_their_endings_are_those_of_a_full_scan():
    import random
    import re

    from judge.offline import claims, features
    from judge.offline.rules.text import matches_near

    cases = [(claims._DRUG, claims._DRUG_ENDS, claims._DRUG_REACH), (features._DRUG, features._DRUG_ENDS,
             features._DRUG_REACH), (claims._CONDITION, claims._CONDITION_ENDS, claims._TERM_REACH)]
    for pattern, key, reach in cases:
        endings = [e for e in re.sub(r"\[[^\]]*\]\{[^}]*\}", "", pattern.pattern.split("(?:", 1)[1]).rstrip(")").split("|")]
        pieces = [*endings, "拉", "唑", "头孢", "格列", "患", "者", "使", "用", "a", "1", "，", "。", " "]
        rng = random.Random(3)
        for _ in range(4000):
            text = "".join(rng.choices(pieces, k=rng.randint(0, 16)))
            assert [m.span() for m in matches_near(pattern, key, text, reach)] == [
                m.span() for m in pattern.finditer(text)], text
        # one character less reach misses a match where the key sits furthest from the start
        if reach == 7:
            text = "甲乙丙丁戊己拉唑"
            assert [m.group(0) for m in pattern.finditer(text)] == [text]
            assert [m.group(0) for m in matches_near(pattern, key, text, reach - 1)] != [text]
