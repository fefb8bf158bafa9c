"""Both record layouts: options in the question text, `other` as a Python literal, versioned and renamed sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from judge.medbench.layout import LayoutError, options_in_text, parse_options_field, parse_other, read_layout
from judge.medbench.outputs import read_medbench
from judge.medbench.tasks import load_task_table
from tests.conftest import FIXTURES

V4 = FIXTURES / "medbench_v4"


def test_options_from_question_text_take_the_last_block_after_the_worked_example() -> None:
    q = ("## 任务示例：题目：\n胸外按压频率是:\nA.60-80次/分\nB.100-120次/分\n\n答：<B>\n\n"
         "## 题目：下列哪一项不是老年病的临床特点 A. 临床表现不典型\nB. 疾病发展缓慢\nC. 多病共存\nD. 单一病种")
    assert options_in_text(q) == ["A. 临床表现不典型", "B. 疾病发展缓慢", "C. 多病共存", "D. 单一病种"]
    # a worked example's options are never taken for the item's when the item has none
    assert options_in_text("## 任务示例：\nA.甲\nB.乙\n\n## 问题\n请简述高血压的分级。") is None


@pytest.mark.parametrize(("text", "expected"), [
    ("## 问题\n常用的抗氧剂有()\nA.维生素CB.亚硫酸氢钠C.碳酸氢钠D.硫代硫酸钠\n",
     ["A. 维生素C", "B. 亚硫酸氢钠", "C. 碳酸氢钠", "D. 硫代硫酸钠"]),
    ("## 问题\n用法正确的是()\nA.200mg,bidB.100mg,qdC.50mg,tid\n", ["A. 200mg,bid", "B. 100mg,qd", "C. 50mg,tid"]),
    ("## 问题\n哪项正确\nA、甲状腺\nB、甲状旁腺\n\n答：", ["A. 甲状腺", "B. 甲状旁腺"]),
    ("## 问题\n哪项正确\nＡ．甲\nＢ．乙\nＣ．丙", ["A. 甲", "B. 乙", "C. 丙"]),
    ("## 问题\n哪项正确\n(A) 甲\n(B) 乙", ["A. 甲", "B. 乙"]),
    ("## 问题\nB超提示胆囊结石，DX检查示L3横突骨折，最可能是\nA. 胆囊炎\nB. 胆管炎", ["A. 胆囊炎", "B. 胆管炎"]),
])
def test_option_label_styles(text: str, expected: list[str]) -> None:
    assert options_in_text(text) == expected


def test_other_and_options_fields_are_read_safely() -> None:
    assert parse_other("{'id': 3, 'source': 'MedExam_V4'}") == {"id": 3, "source": "MedExam_V4"}
    assert parse_other('{"id": 3}') == {"id": 3}
    assert parse_other(None) == {} and parse_other("None") == {}
    for bad in ("{'id': 2, 'source': ", "__import__('os').system('true')", "[1, 2]", 5):
        with pytest.raises(LayoutError) as e:
            parse_other(bad)
        assert e.value.kind == "invalid_record" and "`other`" in e.value.message
    assert parse_options_field("None") is None and parse_options_field([]) is None and parse_options_field(None) is None
    assert parse_options_field("['A. 甲', 'B. 乙']") == ["A. 甲", "B. 乙"]
    assert parse_options_field({"A": "甲", "B": "乙"}) == ["A. 甲", "B. 乙"]
    assert parse_options_field("A. 甲\nB. 乙") == ["A. 甲", "B. 乙"]
    for bad in (42, [1, 2], "随便写的", {"A": 1}):
        with pytest.raises(LayoutError, match="`options`"):
            parse_options_field(bad)


def test_open_tasks_never_get_options_from_their_text() -> None:
    table = load_task_table()
    rec = {"question": "## 问题\n请比较两种方案：\nA. 手术\nB. 保守治疗", "answer": "x",
           "other": {"id": 1, "source": "MedHC_V4"}}
    layout = read_layout(rec, Path("MedHC.jsonl"), table)
    assert (layout.task, layout.options, layout.options_from, layout.warnings) == ("MedHC", None, "none", [])


def test_v4_fixture_is_read_into_tasks_groups_and_coverage() -> None:
    res = read_medbench(V4 / "prompts", [V4 / "outputs" / "model-x", V4 / "outputs" / "model-y"])
    assert res.problems == []
    tasks = {(it.model, it.task) for it in res.items}
    assert {t for _, t in tasks} == {"MedExam", "MedRxCheck_MSQ", "MedHC", "MedReportQC"}
    exam = [it for it in res.items if it.model == "model-x" and it.task == "MedExam"]
    assert len(exam) == 6 and all(it.options and it.meta["options_from"] == "question" for it in exam)
    assert [it.item_id.split("/", 2)[2].split("/")[0] for it in exam] == ["1", "1", "1", "1", "2", "2"]
    assert sum(it.item_id.endswith("~2") for it in exam) == 1  # the repeated order is kept as its own variant
    msq = next(it for it in res.items if it.task == "MedRxCheck_MSQ")
    assert msq.options == ["A. 维生素C", "B. 亚硫酸氢钠", "C. 碳酸氢钠", "D. 硫代硫酸钠"]
    assert msq.meta["task_type"] == "multi_choice" and msq.dimension == "safety_ethics"
    cov = {(c.model, c.task): c for c in res.coverage}
    assert (cov[("model-y", "MedHC")].n_missing, cov[("model-x", "MedHC")].n_empty) == (1, 1)
    assert cov[("model-x", "MedExam")].n_prompts == 6 and not cov[("model-x", "MedExam")].incomplete


def test_a_changed_layout_is_reported_line_by_line() -> None:
    res = read_medbench(V4 / "prompts", [V4 / "changed" / "model-z"])
    got = sorted((Path(p.source_file).name, p.line, p.kind, p.skipped) for p in res.problems)
    assert got == [("MedExam.jsonl", 1, "unknown_source", False), ("MedExam.jsonl", 2, "options_conflict", False),
                   ("MedExam.jsonl", 4, "invalid_record", True), ("MedExam.jsonl", 5, "invalid_record", True),
                   ("MedNewTask.jsonl", 1, "unknown_task", False)]
    msgs = {p.kind: p.message for p in res.problems}
    assert "MedExamination_V5" in msgs["unknown_source"] and "'MedExam'" in msgs["unknown_source"]
    assert "MedNewTask" in msgs["unknown_task"] and "task_dimensions.toml" in msgs["unknown_task"]
    by_line = {it.meta["line"]: it for it in res.items if it.meta["source_file"].endswith("MedExam.jsonl")}
    assert sorted(by_line) == [1, 2, 3]
    assert by_line[1].task == "MedExam" and by_line[2].options == ["A. 主动脉夹层", "B. 肺栓塞", "C. 心肌梗死"]
    assert by_line[3].options == ["A. 甲巯咪唑", "B. 丙硫氧嘧啶", "C. 碘化钾", "D. 普萘洛尔"]
    new = next(it for it in res.items if it.task == "MedNewTask")
    assert new.dimension is None and new.meta["task_type"] == "open"
