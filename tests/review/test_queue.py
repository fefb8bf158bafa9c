"""Review queue selectors: parsing, each rule, unions, and the stratified sample."""

from __future__ import annotations

from collections import Counter

import pytest

from judge.core.models import Item, Verdict
from judge.review.queue import build_queue, judges_needed, largest_remainder, parse_selectors, stratified_sample


def rows(judge: str, spec: list[tuple[str, str | None, float | None]]) -> list[tuple[Item, Verdict]]:
    """(item_id, category or status, confidence) -> (item, verdict) rows; category None = needs_review."""
    out = []
    for item_id, cat, conf in spec:
        v = (Verdict(item_id=item_id, judge_id=judge, status="ok", category=cat, confidence=conf) if cat
             else Verdict(item_id=item_id, judge_id=judge, status="needs_review", error="bad"))
        out.append((Item(item_id=item_id, question=f"问{item_id}", response="答"), v))
    return out


A = rows("A", [("i1", None, None), ("i2", "omission", 0.3), ("i3", "omission", 0.9), ("i4", "hallucination", 0.59),
               ("i5", "hallucination", None), ("i6", "unanswered", 0.95)])
B = rows("B", [("i2", "omission", 0.8), ("i3", "hallucination", 0.7), ("i4", "hallucination", 0.7),
               ("i6", "omission", 0.5), ("i7", "omission", 0.5)])


def test_parse_selectors():
    sel = parse_selectors(["needs_review+low-confidence:0.6", "disagreement:A,B", "sample:5"])
    assert [s.label for s in sel] == ["needs_review", "low-confidence:0.6", "disagreement:A,B", "sample:5"]
    assert parse_selectors("low_confidence:0.5")[0].threshold == 0.5
    for bad in ("low-confidence:1.5", "low-confidence:x", "disagreement:A", "disagreement:A,A", "sample:0",
                "sample:-1", "everything", "needs_review:3"):
        with pytest.raises(ValueError, match="bad selector"):
            parse_selectors(bad)
    with pytest.raises(ValueError, match="give a selector"):
        parse_selectors(" + ")
    assert judges_needed(parse_selectors("disagreement:A,B"), "C") == ["A", "B"]
    assert judges_needed(parse_selectors("needs_review+disagreement:B,C"), "A") == ["A", "B", "C"]


def test_each_selector_and_their_union():
    data = {"A": A, "B": B}
    ids = lambda text: [e.item.item_id for e in build_queue(parse_selectors(text), data, "A")]  # noqa: E731
    assert ids("needs_review") == ["i1"]
    assert ids("low-confidence:0.6") == ["i2", "i4"]  # i5 has no confidence: not selected
    assert ids("disagreement:A,B") == ["i3", "i6"]  # i1 not ok for A, i7 not judged by A
    q = build_queue(parse_selectors("needs_review+low-confidence:0.6+disagreement:A,B"), data, "A")
    assert [(e.item.item_id, e.reasons) for e in q] == [
        ("i1", ["needs_review"]), ("i2", ["low-confidence:0.6"]), ("i3", ["disagreement:A,B"]),
        ("i4", ["low-confidence:0.6"]), ("i6", ["disagreement:A,B"])]
    by_id = {e.item.item_id: e for e in q}
    assert by_id["i1"].verdicts == []  # a needs_review verdict is never a pre-annotation
    assert [(v.judge_id, v.category) for v in by_id["i6"].verdicts] == [("A", "unanswered"), ("B", "omission")]
    assert [v.judge_id for v in by_id["i2"].verdicts] == ["A"]
    with pytest.raises(ValueError, match="needs a judge"):
        build_queue(parse_selectors("needs_review"), {}, None)


def test_largest_remainder_and_stratified_sample():
    assert largest_remainder({"a": 50, "b": 30, "c": 20}, 10) == {"a": 5, "b": 3, "c": 2}
    assert largest_remainder({"a": 2, "b": 1}, 2) == {"a": 1, "b": 1}  # quotas 1.33 / 0.67: b has the larger remainder
    assert sum(largest_remainder({"a": 7, "b": 5, "c": 1}, 6).values()) == 6
    assert largest_remainder({"a": 3}, 10) == {"a": 3}  # never more than there are
    spec = [(f"o{i}", "omission", 0.9) for i in range(60)] + [(f"h{i}", "hallucination", 0.9) for i in range(30)]
    spec += [(f"u{i}", "unanswered", 0.9) for i in range(10)] + [("nr", None, None)]
    r = rows("A", spec)
    picked = stratified_sample(r, 20, seed=3)
    cats = Counter(i[0] for i in picked)
    assert cats == {"o": 12, "h": 6, "u": 2} and "nr" not in picked
    assert picked == stratified_sample(r, 20, seed=3) and picked != stratified_sample(r, 20, seed=4)
    assert len(stratified_sample(r, 500)) == 100
