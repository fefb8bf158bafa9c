"""Stratified, deterministic train/dev/test splits of the gold set."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from judge.gold.gold_set import GoldItem, GoldLabel
from judge.gold.splits import allocate, load_splits, make_splits, save_splits, select_split


def _items(counts: dict[str | None, int]) -> list[GoldItem]:
    items = []
    for category, n in counts.items():
        for k in range(n):
            labels = [GoldLabel(annotator="a", category=category)] if category else []
            items.append(GoldItem(item_id=f"{category or 'none'}-{k:03d}", question="q", response="r", labels=labels))
    return items


def test_allocate_largest_remainder_by_hand() -> None:
    # 1 -> quotas .5/.2/.3: floors 0/0/0, one left to the largest remainder (.5, train)
    assert allocate(1, (0.5, 0.2, 0.3)) == [1, 0, 0]
    # 2 -> 1.0/.4/.6: floors 1/0/0, one left -> test (.6)
    assert allocate(2, (0.5, 0.2, 0.3)) == [1, 0, 1]
    # 3 -> 1.5/.6/.9: floors 1/0/0, two left -> test (.9), dev (.6)
    assert allocate(3, (0.5, 0.2, 0.3)) == [1, 1, 1]
    # 5 -> 2.5/1/1.5: floors 2/1/1, one left, remainders .5 (train) = .5 (test) -> tie goes to train
    assert allocate(5, (0.5, 0.2, 0.3)) == [3, 1, 1]
    assert allocate(40, (0.5, 0.2, 0.3)) == [20, 8, 12]
    assert allocate(0, (0.5, 0.2, 0.3)) == [0, 0, 0]


def test_splits_are_stratified() -> None:
    items = _items({"omission": 40, "hallucination": 30, "format_mismatch": 20, "unanswered": 10, None: 5})
    splits = make_splits(items)
    assert set(splits) == {i.item_id for i in items}
    per = Counter((i.consensus, splits[i.item_id]) for i in items)
    # each stratum is split 50/20/30 on its own
    assert [per[("omission", s)] for s in ("train", "dev", "test")] == [20, 8, 12]
    assert [per[("hallucination", s)] for s in ("train", "dev", "test")] == [15, 6, 9]
    assert [per[("format_mismatch", s)] for s in ("train", "dev", "test")] == [10, 4, 6]
    assert [per[("unanswered", s)] for s in ("train", "dev", "test")] == [5, 2, 3]
    assert [per[(None, s)] for s in ("train", "dev", "test")] == [3, 1, 1]


def test_splits_are_deterministic_and_stable() -> None:
    items = _items({"omission": 20, "hallucination": 10})
    first = make_splits(items, seed=13)
    assert make_splits(list(reversed(items)), seed=13) == first  # input order does not matter
    assert make_splits(items, seed=14) != first
    # adding items of another category leaves existing assignments untouched
    grown = make_splits(items + _items({"output_error": 7}), seed=13)
    assert {k: grown[k] for k in first} == first


def test_custom_ratios_and_bad_ratios() -> None:
    items = _items({"omission": 10})
    assert Counter(make_splits(items, ratios=(0.8, 0.0, 0.2)).values()) == {"train": 8, "test": 2}
    with pytest.raises(ValueError, match="summing to 1"):
        make_splits(items, ratios=(0.5, 0.5, 0.5))


def test_save_load_select(tmp_path: Path) -> None:
    items = _items({"omission": 6, "hallucination": 4})
    splits = make_splits(items, seed=5)
    path = tmp_path / "gold_labels" / "splits.json"
    save_splits(splits, path, seed=5, ratios=(0.5, 0.2, 0.3))
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert set(raw) == {"seed", "ratios", "splits"} and raw["seed"] == 5 and raw["ratios"] == [0.5, 0.2, 0.3]
    loaded = load_splits(path)
    assert loaded.splits == splits and loaded.seed == 5
    test = select_split(items, loaded.splits, "test")
    assert {i.item_id for i in test} == {k for k, v in splits.items() if v == "test"}
    extra = GoldItem(item_id="new", question="q", response="r")
    assert extra not in select_split([*items, extra], splits, "train")
    with pytest.raises(ValueError):
        select_split(items, splits, "validation")  # type: ignore[arg-type]


def test_extend_splits_never_moves_an_item_and_approaches_the_ratios():
    from judge.gold.splits import extend_splits

    def item(i: int, code: str) -> GoldItem:
        return GoldItem(item_id=f"r{i:03d}", question="q", response="r", labels=[GoldLabel(annotator="a", category=code)])

    existing = {"r000": "test", "r001": "test"}  # both omission, both in test
    items = [item(0, "omission"), item(1, "omission")]
    grown = dict(existing)
    for batch in range(10):  # ten review rounds of 2 omission + 1 hallucination item each
        items += [item(10 + 3 * batch + k, "omission" if k < 2 else "hallucination") for k in range(3)]
        nxt = extend_splits(grown, items, (0.5, 0.2, 0.3), seed=1)
        assert all(nxt[i] == s for i, s in grown.items())  # nothing already assigned moves
        assert set(nxt) == {g.item_id for g in items}
        grown = nxt
    omission = Counter(grown[g.item_id] for g in items if g.consensus == "omission")
    hallucination = Counter(grown[g.item_id] for g in items if g.consensus == "hallucination")
    assert omission == {"train": 11, "dev": 4, "test": 7}  # 22 items: 0.5/0.2/0.3 of 22 = 11/4.4/6.6
    assert hallucination == {"train": 5, "dev": 2, "test": 3}
    assert extend_splits(grown, items, (0.5, 0.2, 0.3), seed=1) == grown
