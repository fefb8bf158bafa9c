"""Reading Label Studio exports and merging reviewed labels into the gold set (pure functions, no server)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from sklearn.metrics import cohen_kappa_score

from judge.core.taxonomy import CATEGORY_CODES
from judge.gold.gold_set import GoldItem, GoldLabel
from judge.review.pull import agreement_of, merge_labels, read_export
from judge.review.tasks import PulledLabel, choice_results, note_result, review_config

USERS = {1: {"id": 1, "email": "a@x"}, 2: {"id": 2, "email": "", "username": "bee"}, 3: {"id": 3}}


def ann(user: int, result: list, updated: str = "2026-01-01T00:00:00Z", cancelled: bool = False) -> dict:
    return {"id": user, "completed_by": user, "result": result, "updated_at": updated, "was_cancelled": cancelled}


def test_review_config_lists_every_category_twice_with_codes():
    root = ET.fromstring(review_config())
    for name, kind in (("category", "single"), ("secondary", "multiple")):
        choices = root.find(f".//Choices[@name='{name}']")
        assert choices.get("choice") == kind
        assert [c.get("alias") for c in choices] == list(CATEGORY_CODES)
    assert root.find(".//Choices[@name='category']")[0].get("value") == "omission · 遗漏 · Omission"
    texts = {t.get("name"): t.get("value") for t in root.iter("Text")}
    assert texts["question"] == "$question" and texts["response"] == "$response"
    assert root.find(".//TextArea[@name='note']") is not None


def test_read_export_newest_label_wins_and_problems_are_reported():
    tasks = [
        {"id": 10, "data": {"item_id": "x1", "question": "问", "response": "答"}, "annotations": [
            ann(1, choice_results("omission"), "2026-01-01T00:00:00Z"),
            ann(1, choice_results("hallucination", ["omission", "hallucination"]) + [note_result("改")],
                "2026-01-02T00:00:00Z"),
            ann(2, choice_results("omission"), cancelled=True),
            ann(3, [note_result("no category")]),
            ann(2, [{"from_name": "category", "type": "choices", "value": {"choices": ["nonsense"]}}]),
        ]},
        {"id": 11, "data": {"question": "no id"}, "annotations": []},
    ]
    material, labels, skipped, problems = read_export(tasks, USERS)
    assert set(material) == {"x1"} and skipped == 1
    assert labels == [PulledLabel(item_id="x1", annotator="a@x", category="hallucination", secondary=["omission"],
                                  note="改", updated_at="2026-01-02T00:00:00Z")]
    assert labels[0].gold_note() == "改\nsecondary: omission"
    assert len(problems) == 3
    assert "task 10 (item x1): annotation 3 by 3 has 0 primary categories" in problems[0]
    assert "'nonsense' is not a category" in problems[1] and "task 11: no data.item_id" in problems[2]


def test_merge_replaces_a_reviewers_label_and_keeps_the_others():
    old = GoldItem(item_id="g1", question="q", response="r", labels=[
        GoldLabel(annotator="dr_x", category="omission"), GoldLabel(annotator="a@x", category="omission")])
    pulled = [PulledLabel(item_id="g1", annotator="a@x", category="hallucination"),
              PulledLabel(item_id="n1", annotator="a@x", category="unanswered"),
              PulledLabel(item_id="n1", annotator="bee", category="unanswered", note="adjudication: agreed"),
              PulledLabel(item_id="n2", annotator="a@x", category="omission")]
    material = {"n1": {"question": "新问题", "response": "回答", "dimension": "knowledge_qa", "options": ["A. x"],
                       "reference_answer": "(not provided)"}, "n2": {"question": "q2", "dimension": "not-a-dim"}}
    items, new, updated, problems = merge_labels([old], material, pulled)
    by = {g.item_id: g for g in items}
    assert updated == ["g1"] and new == ["n1"]
    assert [(lab.annotator, lab.category) for lab in by["g1"].labels] == [("dr_x", "omission"),
                                                                          ("a@x", "hallucination")]
    assert by["g1"].consensus is None and by["g1"].consensus_status == "tie"
    assert by["n1"].consensus_status == "adjudicated" and by["n1"].reference_answer is None
    assert by["n1"].options == ["A. x"] and by["n1"].question == "新问题"
    assert len(problems) == 1 and problems[0].startswith("item n2: cannot be added")
    again, new2, updated2, _ = merge_labels(items, material, pulled[:3])
    assert new2 == [] and updated2 == [] and again == items  # pulling the same labels twice changes nothing


def test_agreement_matches_sklearn_and_fleiss_uses_the_modal_label_count():
    a = ["omission", "omission", "hallucination", "unanswered", "omission", "hallucination"]
    b = ["omission", "hallucination", "hallucination", "unanswered", "omission", "omission"]
    labels = [PulledLabel(item_id=f"i{k}", annotator="a", category=c) for k, c in enumerate(a)]
    labels += [PulledLabel(item_id=f"i{k}", annotator="b", category=c) for k, c in enumerate(b)]
    labels += [PulledLabel(item_id="i0", annotator="c", category="omission"),
               PulledLabel(item_id="solo", annotator="c", category="omission")]
    g = agreement_of(labels)
    assert g.annotators == ["a", "b", "c"] and g.n_items == 7 and g.n_multi == 6
    ab = next(p for p in g.pairwise if (p.annotator_a, p.annotator_b) == ("a", "b"))
    assert ab.n == 6 and ab.kappa == pytest.approx(cohen_kappa_score(a, b))
    assert g.fleiss_n == 5  # the 5 items with exactly two labels (the modal count); i0 has three
    assert g.krippendorff_alpha is not None and -1 <= g.krippendorff_alpha <= 1
    assert agreement_of(labels[:1]).fleiss_kappa is None
