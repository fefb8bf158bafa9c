"""Flip rate and all-orders-identical share, checked by hand."""

from __future__ import annotations

import math

import pytest

from judge.evaluate.order_robustness import all_orders_identical_share, flip_rate

ORDERS = [
    ["a", "b", "c", None],  # order 0 = reference
    ["a", "c", "c", "a"],
    ["b", "b", None, "a"],
]


def test_flip_rate_ignoring_missing() -> None:
    # order 1 vs 0: item0 same, item1 b->c flip, item2 same, item3 ref None skipped -> 1 flip / 3
    # order 2 vs 0: item0 a->b flip, item1 same, item2 None skipped, item3 skipped -> 1 flip / 2
    assert flip_rate(ORDERS) == pytest.approx(2 / 5)


def test_flip_rate_missing_as_value() -> None:
    # order 1: item1 flip, item3 None->a flip -> 2/4; order 2: item0, item2 (c->None), item3 flip -> 3/4
    assert flip_rate(ORDERS, ignore_missing=False) == pytest.approx(5 / 8)


def test_all_orders_identical_share() -> None:
    # non-None categories: item0 a,a,b no; item1 b,c,b no; item2 c,c yes; item3 a,a yes -> 2/4
    assert all_orders_identical_share(ORDERS) == pytest.approx(0.5)
    # with None as a value items 2 and 3 differ too -> 0/4
    assert all_orders_identical_share(ORDERS, ignore_missing=False) == 0.0


def test_degenerate_inputs() -> None:
    assert math.isnan(flip_rate([["a", "b"]]))
    assert math.isnan(all_orders_identical_share([["a", "b"]]))
    assert flip_rate([["a", "b"], ["a", "b"]]) == 0.0
    with pytest.raises(ValueError, match="same items"):
        flip_rate([["a", "b"], ["a"]])
    with pytest.raises(ValueError):
        flip_rate([])
