"""Gold JSONL format, consensus rules, line-numbered errors and the summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from judge.core.exceptions import InputError
from judge.core.models import Item
from judge.evaluate.metrics import cohen_kappa, pairwise_cohen
from judge.gold.gold_set import (
    GOLD_KEYS,
    GoldItem,
    GoldLabel,
    annotations_by_annotator,
    compute_consensus,
    consensus_labels,
    items_needing_adjudication,
    load_gold,
    save_gold,
    summarize_gold,
)
from tests.conftest import FIXTURES

GOLD_FIX = FIXTURES / "gold"


def lab(annotator: str, category: str, note: str = "") -> GoldLabel:
    return GoldLabel(annotator=annotator, category=category, note=note)


def test_consensus_unanimous_majority_tie_unlabelled() -> None:
    unanimous = compute_consensus([lab("a", "omission"), lab("b", "omission")])
    assert (unanimous.category, unanimous.status) == ("omission", "unanimous")
    single = compute_consensus([lab("a", "unanswered")])
    assert (single.category, single.status) == ("unanswered", "unanimous")
    majority = compute_consensus([lab("a", "omission"), lab("b", "hallucination"), lab("c", "omission")])
    assert (majority.category, majority.status) == ("omission", "majority")
    assert majority.votes == {"hallucination": 1, "omission": 2}
    plurality = compute_consensus(
        [lab("a", "omission"), lab("b", "omission"), lab("c", "hallucination"), lab("d", "output_error")]
    )
    assert (plurality.category, plurality.status) == ("omission", "majority")
    tie = compute_consensus([lab("a", "omission"), lab("b", "hallucination")])
    assert (tie.category, tie.status) == (None, "tie")
    two_two = compute_consensus(
        [lab("a", "omission"), lab("b", "hallucination"), lab("c", "omission"), lab("d", "hallucination")]
    )
    assert (two_two.category, two_two.status) == (None, "tie")
    assert compute_consensus([]).status == "unlabelled" and compute_consensus([]).category is None


def test_adjudication_decides() -> None:
    tie = [lab("a", "omission"), lab("b", "hallucination")]
    resolved = compute_consensus([*tie, GoldLabel.adjudication("chief", "hallucination", "fabricated dose")])
    assert (resolved.category, resolved.status) == ("hallucination", "adjudicated")
    # the adjudication vote does not count as a vote
    assert resolved.votes == {"hallucination": 1, "omission": 1}
    # an adjudication also overrides a majority, and the last adjudication wins
    over = compute_consensus(
        [
            lab("a", "omission"),
            lab("b", "omission"),
            lab("c", "hallucination", "adjudication: first"),
            lab("d", "output_error", "adjudication: final"),
        ]
    )
    assert (over.category, over.status) == ("output_error", "adjudicated")
    # a custom prefix
    custom = compute_consensus([*tie, lab("chief", "omission", "ADJ decided")], adjudicator_prefix="ADJ")
    assert (custom.category, custom.status) == ("omission", "adjudicated")
    assert GoldLabel.adjudication("chief", "omission").note == "adjudication:"


def test_gold_item_fills_and_checks_consensus() -> None:
    base = {"item_id": "i1", "question": "q", "response": "r"}
    filled = GoldItem(**base, labels=[lab("a", "omission"), lab("b", "omission")])
    assert filled.consensus == "omission" and filled.consensus_status == "unanimous"
    with pytest.raises(ValidationError, match="disagrees with the labels"):
        GoldItem(**base, labels=[lab("a", "omission")], consensus="hallucination")
    with pytest.raises(ValidationError, match="disagrees"):
        GoldItem(**base, consensus="omission")  # a consensus needs labels behind it
    with pytest.raises(ValidationError, match="more than once"):
        GoldItem(**base, labels=[lab("a", "omission"), lab("a", "hallucination")])
    # an adjudicator may also have voted
    both = GoldItem(
        **base,
        labels=[
            lab("a", "omission"),
            lab("b", "hallucination"),
            lab("a", "omission", "adjudication: b missed the second drug"),
        ],
    )
    assert both.consensus == "omission" and both.consensus_status == "adjudicated"
    with pytest.raises(ValidationError):
        GoldItem(**base, unknown_key=1)


def test_load_fixture_and_to_item() -> None:
    items = load_gold(GOLD_FIX / "good.jsonl")
    assert [i.item_id for i in items] == ["g1", "g2", "g3", "g4", "g5"]
    by_id = {i.item_id: i for i in items}
    assert [by_id[k].consensus_status for k in ("g1", "g2", "g3", "g4", "g5")] == [
        "unanimous",
        "majority",
        "tie",
        "adjudicated",
        "unlabelled",
    ]
    item = by_id["g1"].to_item()
    assert isinstance(item, Item)
    assert item.item_id == "g1" and item.task == "Med-Exam" and item.options[1] == "B. 阿替普酶"
    assert item.reference_answer == "B" and item.model == "demo-model" and item.dimension == "knowledge_qa"
    assert by_id["g5"].to_item().response == ""


def test_save_load_round_trip(tmp_path: Path) -> None:
    items = load_gold(GOLD_FIX / "good.jsonl")
    out = tmp_path / "sub" / "gold.jsonl"
    save_gold(items, out)
    assert load_gold(out) == items
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 5
    first = json.loads(lines[0])
    assert tuple(first) == GOLD_KEYS
    assert set(first["labels"][0]) == {"annotator", "category", "note"}
    assert "阿替普酶" in lines[0]  # Chinese kept readable, not \u-escaped
    # the original fixture lines and the written lines carry the same data
    original = [json.loads(x) for x in (GOLD_FIX / "good.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [json.loads(x) for x in lines] == original


def test_save_rejects_stale_consensus_and_duplicates(tmp_path: Path) -> None:
    item = GoldItem(item_id="i1", question="q", response="r", labels=[lab("a", "omission")])
    item.labels.append(lab("b", "hallucination"))  # now a tie, but consensus still says omission
    with pytest.raises(ValidationError):
        save_gold([item], tmp_path / "g.jsonl")
    ok = GoldItem(item_id="i1", question="q", response="r")
    with pytest.raises(ValueError, match="duplicate"):
        save_gold([ok, ok], tmp_path / "g.jsonl")


def test_load_reports_every_bad_line_with_its_number() -> None:
    with pytest.raises(InputError) as info:
        load_gold(GOLD_FIX / "bad.jsonl")
    err = info.value
    assert err.line == 2
    msg = err.message
    problems = [line for line in msg.splitlines() if line.startswith("line ")]
    assert [p.split(":")[0] for p in problems] == [
        "line 2",
        "line 3",
        "line 4",
        "line 5",
        "line 6",
        "line 8",
        "line 9",
        "line 10",
    ]
    assert "invalid JSON" in problems[0]
    assert "missing ['consensus']" in problems[1]
    assert "labels.0.category" in problems[2] and "'wrong_code'" in problems[2]
    assert "duplicate item_id 'b1' (first on line 1)" in problems[3]
    assert "disagrees" in problems[4]
    assert "JSON object" in problems[5]
    assert "unknown ['split']" in problems[6]
    assert "labels.0" in problems[7] and "note" in problems[7]
    assert str(err).startswith(f"{GOLD_FIX / 'bad.jsonl'}:2: 8 problem(s)")


def test_summary_and_helpers() -> None:
    items = load_gold(GOLD_FIX / "good.jsonl")
    s = summarize_gold(items, splits={"g1": "train", "g2": "test", "g3": "test"})
    assert (s.n_items, s.n_with_consensus, s.n_excluded, s.n_labels) == (5, 3, 2, 10)
    assert s.by_status == {"adjudicated": 1, "majority": 1, "tie": 1, "unanimous": 1, "unlabelled": 1}
    assert s.by_category == {"contextual_inconsistency": 1, "format_mismatch": 1, "hallucination": 1}
    assert s.by_dimension == {"complex_reasoning": 1, "knowledge_qa": 2, "language_generation": 1, "unknown": 1}
    assert s.by_split == {"test": 2, "train": 1, "unsplit": 2}
    assert s.labels_per_annotator == {"dr_li": 4, "dr_wang": 1, "dr_zhang": 4}
    assert s.adjudications_per_adjudicator == {"dr_chen": 1}
    assert summarize_gold(items).by_split is None
    assert [i.item_id for i in items_needing_adjudication(items)] == ["g3"]
    assert consensus_labels(items) == {"g1": "format_mismatch", "g2": "hallucination", "g4": "contextual_inconsistency"}
    ann = annotations_by_annotator(items)
    assert ann["dr_li"] == {
        "g1": "format_mismatch",
        "g2": "hallucination",
        "g3": "medical_language_generation_deficiency",
        "g4": "hallucination",
    }
    assert "dr_chen" not in ann


def test_gold_feeds_metrics() -> None:
    items = load_gold(GOLD_FIX / "good.jsonl")
    gold = consensus_labels(items)
    judge = {"g1": "format_mismatch", "g2": "hallucination", "g4": "hallucination"}
    ids = sorted(gold)
    # gold (f, h, c) vs judge (f, h, h): p_o 2/3; p_e = 1/3*1/3 + 1/3*2/3 = 1/3; kappa = (1/3)/(2/3) = 1/2
    assert cohen_kappa([gold[i] for i in ids], [judge[i] for i in ids]) == pytest.approx(0.5)
    pairs = {(p.annotator_a, p.annotator_b): p for p in pairwise_cohen(annotations_by_annotator(items))}
    # dr_li vs dr_zhang on g1..g4: (f,f) (h,h) (m,o) (h,c): p_o = 1/2
    # li: f 1/4, h 2/4, m 1/4; zhang: f 1/4, h 1/4, o 1/4, c 1/4; p_e = 1/16 + 2/16 = 3/16
    # kappa = (1/2 - 3/16) / (13/16) = 5/13
    assert pairs[("dr_li", "dr_zhang")].kappa == pytest.approx(5 / 13)


def test_a_missing_gold_file_says_where_it_was_looked_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"no gold file at gold_labels/gold.jsonl \(a relative path is read "
                                                r"from the current folder, .*\); give the gold JSONL's path"):
        load_gold("gold_labels/gold.jsonl")
