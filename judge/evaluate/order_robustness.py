"""Robustness of the judge to presentation order: how often its category changes when the input is reordered.

Input: `verdicts_by_order[k][i]` is the category given to item i under presentation order k; order 0 is the
reference order. `None` means no category (needs_review / failed).

- flip rate = (number of pairs (item i, order k >= 1) whose category differs from the item's order-0 category)
  / (number of such pairs compared).
- all-orders-identical share = (items whose category is the same under every order) / (items compared).

With `ignore_missing=True` (default) a None never counts as a flip: pairs where the order-0 or the order-k
category is None are not compared, and an item is compared for the identical share over its non-None categories
only, provided it has at least two. With `ignore_missing=False`, None is compared like a category (a failure in
one order but not another is a flip). Both return nan when nothing is compared (e.g. a single order).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Orders = Sequence[Sequence[str | None]]


def _check(verdicts_by_order: Orders) -> int:
    if not verdicts_by_order:
        raise ValueError("need at least one presentation order")
    n = len(verdicts_by_order[0])
    lengths = {len(v) for v in verdicts_by_order}
    if lengths != {n}:
        raise ValueError(f"every order must list the same items; got lengths {sorted(lengths)}")
    return n


def flip_rate(verdicts_by_order: Orders, ignore_missing: bool = True) -> float:
    """Share of (item, non-reference order) pairs whose category differs from the reference order 0."""
    n = _check(verdicts_by_order)
    reference = verdicts_by_order[0]
    compared = flips = 0
    for other in verdicts_by_order[1:]:
        for i in range(n):
            a, b = reference[i], other[i]
            if ignore_missing and (a is None or b is None):
                continue
            compared += 1
            flips += a != b
    return flips / compared if compared else math.nan


def all_orders_identical_share(verdicts_by_order: Orders, ignore_missing: bool = True) -> float:
    """Share of items whose category is the same under all presentation orders."""
    n = _check(verdicts_by_order)
    compared = identical = 0
    for i in range(n):
        cats = [order[i] for order in verdicts_by_order]
        if ignore_missing:
            cats = [c for c in cats if c is not None]
        if len(cats) < 2:
            continue
        compared += 1
        identical += len(set(cats)) == 1
    return identical / compared if compared else math.nan
