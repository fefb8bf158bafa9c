"""CSV and Label Studio importers/exporters of the gold set."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from judge.core.exceptions import InputError
from judge.core.taxonomy import CATEGORY_CODES
from judge.gold.gold_set import GoldItem, GoldLabel, load_gold
from judge.gold.interchange import (
    CSV_COLUMNS,
    export_csv,
    export_label_studio,
    import_csv,
    import_label_studio,
    label_studio_config,
)
from tests.conftest import FIXTURES, MEDBENCH_PUBLIC

GOLD_FIX = FIXTURES / "gold"
DATA = MEDBENCH_PUBLIC


def lab(annotator: str, category: str, note: str = "") -> GoldLabel:
    return GoldLabel(annotator=annotator, category=category, note=note)


def test_import_csv_fixture() -> None:
    items = {i.item_id: i for i in import_csv(GOLD_FIX / "labels_long.csv")}
    assert list(items) == ["c1", "c2", "c3", "c4"]
    c1 = items["c1"]
    assert c1.options == ["A. 阿司匹林", "B. 阿替普酶", "C. 华法林"]  # "|"-separated
    assert c1.labels == [lab("dr_li", "format_mismatch", "未使用<>"), lab("dr_zhang", "format_mismatch")]
    assert (c1.consensus, c1.consensus_status, c1.dimension, c1.reference_answer) == (
        "format_mismatch",
        "unanimous",
        "knowledge_qa",
        "B",
    )
    c2 = items["c2"]
    assert c2.question == "男，65岁，突发胸痛2小时。\n请给出诊断。"  # quoted multi-line cell
    assert c2.options == ["A. 前壁心梗", "B. 下壁心梗"]  # JSON list
    assert (c2.consensus, c2.consensus_status) == ("omission", "majority")
    c3 = items["c3"]
    assert c3.labels == [] and c3.consensus is None and c3.response == ""
    assert (c3.dimension, c3.task, c3.options, c3.model) == (None, None, None, None)
    c4 = items["c4"]
    assert (c4.consensus, c4.consensus_status) == ("contextual_inconsistency", "adjudicated")
    assert c4.labels[-1].is_adjudication()


def test_csv_round_trip(tmp_path: Path) -> None:
    items = import_csv(GOLD_FIX / "labels_long.csv")
    out = tmp_path / "out.csv"
    export_csv(items, out)
    assert import_csv(out) == items
    with out.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == CSV_COLUMNS
    # one row per label, one row for the unlabelled item: 2 + 3 + 1 + 3
    assert len(rows) == 9
    assert rows[0]["options"] == '["A. 阿司匹林", "B. 阿替普酶", "C. 华法林"]'
    c3 = next(r for r in rows if r["item_id"] == "c3")
    assert (c3["annotator"], c3["category"], c3["note"], c3["options"]) == ("", "", "", "")


def test_gold_jsonl_to_csv_and_back(tmp_path: Path) -> None:
    items = load_gold(GOLD_FIX / "good.jsonl")
    export_csv(items, tmp_path / "g.csv")
    back = import_csv(tmp_path / "g.csv")
    # reference_answer/model/task None stay None; g3's tie stays unresolved
    assert back == items


def test_import_csv_column_map(tmp_path: Path) -> None:
    path = tmp_path / "renamed.csv"
    path.write_text("id,prompt,answer,rater,label\nq1,问题,回答,dr_li,unanswered\n", encoding="utf-8")
    items = import_csv(
        path,
        column_map={
            "id": "item_id",
            "prompt": "question",
            "answer": "response",
            "rater": "annotator",
            "label": "category",
        },
    )
    assert items == [GoldItem(item_id="q1", question="问题", response="回答", labels=[lab("dr_li", "unanswered")])]
    with pytest.raises(InputError, match="missing column"):
        import_csv(path)


def test_import_csv_reports_bad_rows() -> None:
    with pytest.raises(InputError) as info:
        import_csv(GOLD_FIX / "labels_bad.csv")
    msg = info.value.message
    lines = [m for m in msg.splitlines() if m.startswith("line ")]
    assert lines[0].startswith("line 3: item 'x1': fields ['question'] differ from line 2")
    assert lines[1].startswith("line 4: category") and "'not_a_code'" in lines[1]
    assert lines[2] == "line 5: empty item_id"
    assert lines[3].startswith("line 6: category")  # annotator without category
    assert lines[4].startswith("line 7: item 'x5'") and "more than once" in lines[4]
    assert len(lines) == 5


def test_label_studio_round_trip(tmp_path: Path) -> None:
    items = load_gold(GOLD_FIX / "good.jsonl")
    path = tmp_path / "ls.json"
    export_label_studio(items, path, predictions={"g1": "omission"})
    assert import_label_studio(path) == items
    tasks = json.loads(path.read_text(encoding="utf-8"))
    assert tasks[0]["data"]["options_text"] == "A. 阿司匹林\nB. 阿替普酶\nC. 华法林\nD. 肝素"
    assert tasks[0]["predictions"][0]["result"][0]["value"] == {"choices": ["omission"]}
    assert "predictions" not in tasks[1]
    assert len(tasks[3]["annotations"]) == 3  # the adjudication travels as an annotation with its note
    export_label_studio(items, path, include_annotations=False)
    assert all(not i.labels for i in import_label_studio(path))


def test_import_label_studio_export_fixture() -> None:
    items = import_label_studio(GOLD_FIX / "label_studio_export.json")
    assert [i.item_id for i in items] == ["ls1", "ls2"]
    ls1, ls2 = items
    # int completed_by -> "3"; object -> its email; zh name 格式不符 -> format_mismatch; cancelled one skipped;
    # the prediction (hallucination) is not a label
    assert ls1.labels == [lab("3", "format_mismatch", "未使用<>"), lab("wang@example.org", "format_mismatch")]
    assert ls1.consensus == "format_mismatch"
    assert ls1.options == ["A. 阿司匹林", "B. 阿替普酶"] and ls1.dimension == "knowledge_qa"
    # an annotation without a category result is no label
    assert ls2.labels == [] and ls2.consensus is None and ls2.options is None


def test_import_label_studio_errors(tmp_path: Path) -> None:
    bad = [
        {"data": {"question": "q", "response": "r"}},
        {
            "data": {"item_id": "a", "question": "q", "response": "r"},
            "annotations": [
                {
                    "completed_by": 1,
                    "result": [{"from_name": "category", "type": "choices", "value": {"choices": ["nonsense"]}}],
                }
            ],
        },
        {
            "data": {"item_id": "b", "question": "q", "response": "r"},
            "annotations": [
                {
                    "completed_by": 1,
                    "result": [
                        {
                            "from_name": "category",
                            "type": "choices",
                            "value": {"choices": ["omission", "hallucination"]},
                        }
                    ],
                }
            ],
        },
        {"data": {"item_id": "b", "question": "q", "response": "r"}},
    ]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad), encoding="utf-8")
    with pytest.raises(InputError) as info:
        import_label_studio(path)
    msg = info.value.message
    assert "task 1: no data.item_id" in msg
    assert "task 2 (item 'a'): choice 'nonsense' is not a category" in msg
    assert "task 3 (item 'b'): several categories" in msg
    assert "task 4: duplicate item_id 'b'" in msg


def test_label_studio_config_lists_the_eight_codes() -> None:
    root = ET.fromstring(label_studio_config())
    choices = root.find("Choices")
    assert choices is not None and choices.get("name") == "category" and choices.get("choice") == "single"
    assert [c.get("alias") for c in choices.findall("Choice")] == list(CATEGORY_CODES)
    # every $variable the config shows is a key of exported task data
    variables = {t.get("value", "")[1:] for t in root.iter("Text")}
    assert variables == {"question", "options_text", "reference_answer", "response"}
    assert root.find("TextArea").get("name") == "note"


@pytest.mark.skipif(not DATA.exists(), reason="MedBench public sample not available")
def test_label_studio_round_trip_on_real_outputs(tmp_path: Path) -> None:
    items = []
    for path in sorted((DATA / "outputs" / "gpt40").glob("*.jsonl"))[:3]:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()[:5]):
            rec = json.loads(line)
            items.append(
                GoldItem(
                    item_id=f"{path.stem}-{n}",
                    task=path.stem,
                    question=rec["question"],
                    options=rec.get("options") or None,
                    model="gpt40",
                    response=rec["answer"] or "",
                    labels=[lab("dr_li", "omission"), lab("dr_zhang", "hallucination")],
                )
            )
    assert items
    export_label_studio(items, tmp_path / "real.json")
    assert import_label_studio(tmp_path / "real.json") == items
    export_csv(items, tmp_path / "real.csv")
    assert import_csv(tmp_path / "real.csv") == items
