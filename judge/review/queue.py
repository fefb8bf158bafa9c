"""What to review: selectors over a judge's verdicts, as pure functions over rows the store returns.

A selector names a reason to show an item to physicians:

| selector | items |
|---|---|
| `needs_review` | the judge's verdicts that failed validation (status needs_review) |
| `low-confidence:T` | ok verdicts whose confidence is below T (verdicts without a confidence are not selected) |
| `disagreement:A,B` | items that judges A and B both categorised, differently |
| `sample:N` | N ok verdicts drawn at random, stratified by the judge's category (proportional allocation, so the sample's κ estimates the judge's κ on everything it labelled) |

Selectors combine by union: `needs_review+low-confidence:0.6`, or the option given several times. Every queued
item carries the reasons it was selected for and the verdicts to show as pre-annotations.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, Field

from judge.core.models import Item, Verdict

SelectorKind = Literal["needs_review", "low-confidence", "disagreement", "sample"]


class Selector(BaseModel):
    """One reason to put items in the review queue."""

    kind: SelectorKind
    """Which rule selects the items."""
    threshold: float | None = None
    """low-confidence: verdicts with confidence below this are selected."""
    judges: tuple[str, str] | None = None
    """disagreement: the two judge ids compared."""
    n: int | None = None
    """sample: how many items to draw."""

    @property
    def label(self) -> str:
        """The selector as written on the command line (recorded on each task)."""
        if self.kind == "low-confidence":
            return f"low-confidence:{self.threshold:g}"
        if self.kind == "disagreement" and self.judges:
            return f"disagreement:{self.judges[0]},{self.judges[1]}"
        if self.kind == "sample":
            return f"sample:{self.n}"
        return self.kind


class QueueEntry(BaseModel):
    """One item to review: its material, why it was selected, and the judges' verdicts on it."""

    item: Item
    """The judged material."""
    reasons: list[str]
    """Selector labels that chose it, in the order given."""
    verdicts: list[Verdict] = Field(default_factory=list)
    """The verdicts shown as pre-annotations (ok verdicts of the judges involved)."""


def parse_selectors(texts: str | Sequence[str]) -> list[Selector]:
    """Selectors from `--select` values (each may join several with '+'); ValueError names the bad one."""
    parts = [p.strip() for t in ([texts] if isinstance(texts, str) else texts) for p in t.split("+") if p.strip()]
    if not parts:
        raise ValueError("give a selector: needs_review, low-confidence:T, disagreement:JUDGE_A,JUDGE_B or sample:N")
    return [_parse(p) for p in parts]


def _parse(text: str) -> Selector:
    name, _, arg = text.partition(":")
    name = name.strip().replace("_", "-")
    try:
        if name == "needs-review" and not arg:
            return Selector(kind="needs_review")
        if name == "low-confidence":
            t = float(arg)
            if not 0 < t <= 1:
                raise ValueError
            return Selector(kind="low-confidence", threshold=t)
        if name == "disagreement":
            a, sep, b = arg.partition(",")
            if not sep or not a.strip() or not b.strip() or a.strip() == b.strip():
                raise ValueError
            return Selector(kind="disagreement", judges=(a.strip(), b.strip()))
        if name == "sample":
            n = int(arg)
            if n < 1:
                raise ValueError
            return Selector(kind="sample", n=n)
    except ValueError:
        pass
    raise ValueError(f"bad selector {text!r}: use needs_review, low-confidence:T (0 < T <= 1), "
                     "disagreement:JUDGE_A,JUDGE_B (two different judge ids) or sample:N (N >= 1)")


def judges_needed(selectors: Iterable[Selector], judge_id: str | None) -> list[str]:
    """The judge ids whose verdicts the selectors read, the main judge first."""
    out = [judge_id] if judge_id and any(s.kind != "disagreement" for s in selectors) else []
    for s in selectors:
        for j in s.judges or ():
            if j not in out:
                out.append(j)
    return out


def _rank(seed: int, item_id: str) -> str:
    return hashlib.sha256(f"{seed}:{item_id}".encode()).hexdigest()


def largest_remainder(sizes: Mapping[str, int], total: int) -> dict[str, int]:
    """Split `total` over strata proportionally to `sizes` (largest remainder; ties to the larger, then by name)."""
    n = sum(sizes.values())
    if n == 0 or total <= 0:
        return dict.fromkeys(sizes, 0)
    total = min(total, n)
    quotas = {k: total * v / n for k, v in sizes.items()}
    counts = {k: math.floor(q) for k, q in quotas.items()}
    order = sorted(sizes, key=lambda k: (-(quotas[k] - counts[k]), -sizes[k], k))
    for k in order[: total - sum(counts.values())]:
        counts[k] += 1
    return counts


def stratified_sample(rows: Sequence[tuple[Item, Verdict]], n: int, seed: int = 0) -> list[str]:
    """Item ids of `n` ok verdicts drawn at random within each category, proportionally to its size."""
    strata: dict[str, list[str]] = {}
    for item, v in rows:
        if v.status == "ok" and v.category:
            strata.setdefault(v.category, []).append(item.item_id)
    alloc = largest_remainder({k: len(v) for k, v in strata.items()}, n)
    out: list[str] = []
    for cat in sorted(strata):
        out += sorted(strata[cat], key=lambda i: (_rank(seed, i), i))[: alloc[cat]]
    return out


def build_queue(selectors: Sequence[Selector], rows: Mapping[str, Sequence[tuple[Item, Verdict]]],
                judge_id: str | None, seed: int = 0) -> list[QueueEntry]:
    """The review queue: items chosen by any selector, each with its reasons and the involved judges' ok verdicts.

    `rows` maps a judge id to that judge's (item, verdict) rows; `judge_id` is the judge the non-disagreement
    selectors read. Entries come in item-id order.
    """
    chosen: dict[str, list[str]] = {}
    shown: dict[str, list[str]] = {}
    items: dict[str, Item] = {}
    by_judge = {j: {item.item_id: (item, v) for item, v in rs} for j, rs in rows.items()}

    def add(item_id: str, reason: str, judges: Sequence[str]) -> None:
        if reason not in chosen.setdefault(item_id, []):
            chosen[item_id].append(reason)
        for j in judges:
            if j not in shown.setdefault(item_id, []):
                shown[item_id].append(j)

    for s in selectors:
        if s.kind == "disagreement":
            a, b = s.judges or ("", "")
            va, vb = by_judge.get(a, {}), by_judge.get(b, {})
            for item_id in sorted(set(va) & set(vb)):
                ca, cb = va[item_id][1], vb[item_id][1]
                if ca.status == cb.status == "ok" and ca.category != cb.category:
                    items[item_id] = va[item_id][0]
                    add(item_id, s.label, [a, b])
            continue
        if judge_id is None:
            raise ValueError(f"selector {s.label} needs a judge (no verdicts in the database)")
        own = rows.get(judge_id, [])
        if s.kind == "needs_review":
            picked = [item.item_id for item, v in own if v.status == "needs_review"]
        elif s.kind == "low-confidence":
            picked = [item.item_id for item, v in own if v.status == "ok" and v.confidence is not None
                      and v.confidence < (s.threshold or 0)]
        else:
            picked = stratified_sample(own, s.n or 0, seed)
        for item_id in picked:
            items[item_id] = by_judge[judge_id][item_id][0]
            add(item_id, s.label, [judge_id])
    out = []
    for item_id in sorted(chosen):
        verdicts = [by_judge[j][item_id][1] for j in shown.get(item_id, [])
                    if item_id in by_judge.get(j, {}) and by_judge[j][item_id][1].status == "ok"]
        out.append(QueueEntry(item=items[item_id], reasons=chosen[item_id], verdicts=verdicts))
    return out
