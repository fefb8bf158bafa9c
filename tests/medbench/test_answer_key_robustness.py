"""Accuracy against a key, option-shuffle robustness, and offline answer-point recall."""

from __future__ import annotations

import json

import pytest

from judge.core.exceptions import InputError
from judge.core.models import Item
from judge.medbench.answer_key import load_answer_key, score_choice
from judge.medbench.extract import Extraction, extract_choice, extract_items
from judge.medbench.outputs import read_medbench
from judge.medbench.recall import BigramRecallJudge, RecallJudge, is_wrong_open, recall_offline, split_points
from judge.medbench.robustness import consistency, robustness_groups, robustness_report, strict
from tests.conftest import FIXTURES, MEDBENCH_PUBLIC

FIX = FIXTURES / "medbench"
REAL = MEDBENCH_PUBLIC

# One question under three option orders; content 主动脉夹层 is B, A, C respectively.
P0 = ["A. 心肌梗死", "B. 主动脉夹层", "C. 肺栓塞"]
P1 = ["A. 主动脉夹层", "B. 肺栓塞", "C. 心肌梗死"]
P2 = ["A. 肺栓塞", "B. 心肌梗死", "C. 主动脉夹层"]


def _item(model: str, options: list[str], response: str, perm_index: int, rid: str = "1") -> Item:
    return Item(item_id=f"{model}/Med-Exam/{rid}/{perm_index}", task="Med-Exam", model=model, question="q",
                options=options, response=response, dimension="knowledge_qa",
                meta={"record_id": rid, "other_id": int(rid), "perm_key": f"p{perm_index}", "perm_index": perm_index,
                      "task_type": "single_choice"})


def _ex(items: list[Item]) -> dict[str, Extraction]:
    return {it.item_id: extract_choice(it.response, it.options, False) for it in items}


def test_groups_and_consistency_hand_built() -> None:
    steady = [_item("m1", P0, "<B>", 0), _item("m1", P1, "答：A", 1), _item("m1", P2, "正确答案是C", 2)]
    by_letter = [_item("m2", P0, "<B>", 0), _item("m2", P1, "<B>", 1), _item("m2", P2, "<B>", 2)]
    broken = [_item("m3", P0, "<B>", 0), _item("m3", P1, "", 1), _item("m3", P2, "<C>", 2)]
    lone = [_item("m1", ["A. 甲", "B. 乙"], "<A>", 0, rid="2")]
    groups = robustness_groups(steady + by_letter + broken + lone)
    assert sorted((g.model, len(g.items)) for g in groups) == [("m1", 3), ("m2", 3), ("m3", 3)]  # lone record left out
    ex = _ex(steady + by_letter + broken)
    verdict = {g.model: consistency(g, ex) for g in groups}
    # m1 picks 主动脉夹层 every time; m2 always says "B", i.e. three different contents; m3 has an empty answer.
    assert verdict == {"m1": True, "m2": False, "m3": False}


def test_different_option_sets_under_one_id_are_separate_groups() -> None:
    a = [_item("m", P0, "<B>", 0), _item("m", P1, "<A>", 1)]
    b = [_item("m", ["A. 甲", "B. 乙"], "<A>", 2), _item("m", ["A. 乙", "B. 甲"], "<B>", 3)]
    groups = robustness_groups(a + b)
    assert sorted(len(g.items) for g in groups) == [2, 2]
    assert all(consistency(g, _ex(a + b)) for g in groups)


def test_strict_and_score_with_letter_key_of_first_order() -> None:
    key = {("Med-Exam", "1"): "B"}  # B in the first-listed order P0 = 主动脉夹层
    right = [_item("m1", P0, "<B>", 0), _item("m1", P1, "<A>", 1), _item("m1", P2, "<C>", 2)]
    wrong_once = [_item("m2", P0, "<B>", 0), _item("m2", P1, "<A>", 1), _item("m2", P2, "<A>", 2)]
    ex = _ex(right + wrong_once)
    g1, g2 = sorted(robustness_groups(right + wrong_once), key=lambda g: g.model)
    assert strict(g1, ex, key) is True
    assert strict(g2, ex, key) is False
    # score_choice alone on a shuffled record needs the reference order for an id-level letter key
    assert score_choice(right[1], ex[right[1].item_id], key, ref_options=P0) is True
    assert score_choice(right[1], ex[right[1].item_id], key) is False  # "B" read in P1's own order = 肺栓塞
    assert strict(g1, ex, {}) is None


def test_record_level_and_text_keys() -> None:
    it = _item("m", P1, "<A>", 1)
    ex = extract_choice(it.response, it.options, False)
    assert score_choice(it, ex, {("Med-Exam", "1/p1"): "A"}) is True   # letter in this record's order
    assert score_choice(it, ex, {("Med-Exam", "1/p1"): "B"}) is False
    assert score_choice(it, ex, {("Med-Exam", "1"): "主动脉夹层"}) is True  # option text
    assert score_choice(it, ex, {("Med-Exam", "9"): "A"}) is None
    assert score_choice(it, Extraction(), {("Med-Exam", "1"): "主动脉夹层"}) is False


def test_load_answer_key_csv_and_jsonl(tmp_path) -> None:
    assert load_answer_key(FIX / "answer_key.csv") == {("Med-Exam", "1"): "B", ("Med-Exam", "2"): "丙硫氧嘧啶"}
    p = tmp_path / "key.jsonl"
    p.write_text(json.dumps({"task": "DrugCA", "id": 3, "answer": "A"}) + "\n\n", encoding="utf-8")
    assert load_answer_key(p) == {("DrugCA", "3"): "A"}
    bad = tmp_path / "bad.csv"
    bad.write_text("task,answer\nMed-Exam,B\n", encoding="utf-8")
    with pytest.raises(InputError, match="id"):
        load_answer_key(bad)
    bad2 = tmp_path / "bad.jsonl"
    bad2.write_text('{"task": "T", "id": 1, "answer": "A"}\n{"task": "T", "id": 2}\n', encoding="utf-8")
    with pytest.raises(InputError) as e:
        load_answer_key(bad2)
    assert e.value.line == 2


def test_fixture_end_to_end() -> None:
    res = read_medbench(FIX / "prompts", [FIX / "outputs" / "model-a", FIX / "outputs" / "model-b"])
    ex = extract_items(res.items)
    key = load_answer_key(FIX / "answer_key.csv")
    rows = {(r.model, r.level, r.name): r for r in robustness_report(robustness_groups(res.items), ex, key)}
    a, b = rows[("model-a", "task", "Med-Exam")], rows[("model-b", "task", "Med-Exam")]
    assert (a.n_groups, a.n_consistent, a.strict) == (1, 0, 0.0)  # 主动脉夹层, 肺栓塞, 主动脉夹层
    assert (b.n_groups, b.n_consistent, b.strict) == (1, 1, 1.0)  # 主动脉夹层 three times, in prose once
    assert rows[("model-b", "dimension", "knowledge_qa")].consistency == 1.0
    # id 2 is keyed by text: model-a answered B = 丙硫氧嘧啶 after a <think> block
    a2 = next(it for it in res.items if it.model == "model-a" and it.meta["other_id"] == 2)
    assert score_choice(a2, ex[a2.item_id], key) is True


# --- open-ended recall ---------------------------------------------------------------------------

def test_split_points() -> None:
    ref = "1. 控制血压；2. 降糖治疗。(3)戒烟\n- 低盐饮食\n①规律运动②定期随访，给予阿司匹林2.5 mg"
    assert split_points(ref) == ["控制血压", "降糖治疗", "戒烟", "低盐饮食", "规律运动", "定期随访,给予阿司匹林2.5 mg"]
    assert split_points("治疗原则：一、止血，二、降颅压") == ["治疗原则", "止血", "降颅压"]
    assert split_points("") == []


def test_recall_offline() -> None:
    points = ["控制血压", "降糖治疗", "戒烟限酒", "低盐饮食"]
    # covers two points verbatim, one partly (戒烟 = 1 of 3 bigrams of 戒烟限酒), misses 低盐饮食
    response = "应积极控制血压，并给予降糖治疗，建议戒烟。"
    assert recall_offline(points, response) == pytest.approx(2 / 4)
    assert recall_offline(points, response, point_threshold=0.3) == pytest.approx(3 / 4)
    assert recall_offline(points, "控制血压 降糖治疗 戒烟限酒 低盐饮食") == 1.0
    assert recall_offline(points, "多喝热水") == 0.0
    assert recall_offline(["钙"], "补钙") == 1.0  # one-character point uses the character itself
    with pytest.raises(ValueError):
        recall_offline([], "x")


def test_recall_judge_protocol_and_threshold() -> None:
    judge: RecallJudge = BigramRecallJudge(point_threshold=0.5)
    r = judge.recall(["控制血压", "低盐饮食"], "控制血压即可")
    assert r == pytest.approx(0.5)
    assert is_wrong_open(r) is True
    assert is_wrong_open(0.6) is False
    assert is_wrong_open(r, threshold=0.5) is False


# --- the real shared sample ----------------------------------------------------------------------

@pytest.mark.skipif(not (REAL / "outputs").is_dir(), reason="shared MedBench sample not available")
def test_real_robustness_groups_and_consistency() -> None:
    models = ("gpt40", "deepseek-32b", "baichun-m1")
    res = read_medbench(None, [REAL / "outputs" / m for m in models])
    ex = extract_items(res.items)
    rows = {(r.model, r.name): r for r in robustness_report(robustness_groups(res.items), ex) if r.level == "task"}
    # Group counts from the prompts: ids with 2+ records are 149 (Med-Exam), 49 (MedSafety), 162 (DrugCA);
    # DDx items have no id and so no groups.
    for m in models:
        assert [rows[(m, t)].n_groups for t in ("Med-Exam", "MedSafety", "DrugCA")] == [149, 49, 162]
        assert (m, "DDx-basic") not in rows
    # Cross-check with a separate, deliberately simple extractor (last "<X>", a lone letter, or "答案：X";
    # option contents by stripping the first letter and non-word characters): it gives the same consistent
    # counts where it can read every answer (all gpt40 answers use <X>), and at most a few fewer elsewhere
    # because it cannot read "<否>" or an option restated without a letter.
    simple = {
        ("gpt40", "Med-Exam"): 124, ("gpt40", "MedSafety"): 37, ("gpt40", "DrugCA"): 157,
        ("deepseek-32b", "Med-Exam"): 105, ("deepseek-32b", "MedSafety"): 41, ("deepseek-32b", "DrugCA"): 112,
        ("baichun-m1", "Med-Exam"): 98, ("baichun-m1", "MedSafety"): 33, ("baichun-m1", "DrugCA"): 122,
    }
    for cell, n in simple.items():
        assert n <= rows[cell].n_consistent <= n + 3, cell
    assert {m: rows[(m, "Med-Exam")].n_consistent for m in ("gpt40", "deepseek-32b")} == {
        "gpt40": 124, "deepseek-32b": 105}
