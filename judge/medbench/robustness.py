"""Robustness to option shuffling: do a model's answers to the permutations of one question agree?

Records of one model, task and `other.id` whose options are permutations of each other (same multiset of option
contents once the "A. " labels are stripped) form a `Group`. A group is consistent when the same option
content(s) were chosen under every permutation; an unextractable answer breaks consistency. Groups of a single
record are not robustness tests and are left out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Literal

from pydantic import BaseModel

from judge.core.models import Item
from judge.medbench.answer_key import AnswerKey, chosen_contents, normalized_contents, score_choice
from judge.medbench.extract import Extraction


class Group(BaseModel):
    """Records of one question whose option lists are permutations of each other, for one model."""

    model: str
    """Model that answered."""
    task: str
    """Task name."""
    record_id: str
    """Question id (`other.id`)."""
    dimension: str | None = None
    """MedBench dimension of the task."""
    items: list[Item]
    """The permuted records, the one listed first for the id first."""

    @property
    def item_ids(self) -> list[str]:
        """Ids of the member items."""
        return [it.item_id for it in self.items]


def robustness_groups(items: Iterable[Item]) -> list[Group]:
    """Group choice items by (model, task, id) and option-content multiset; keep groups of 2+ records."""
    buckets: dict[tuple[str, str, str, tuple[str, ...]], list[Item]] = defaultdict(list)
    for it in items:
        if not it.options:
            continue
        rid = str(it.meta.get("record_id", it.meta.get("other_id")))
        buckets[(it.model or "", it.task or "", rid, tuple(sorted(normalized_contents(it.options))))].append(it)
    groups = []
    for (model, task, rid, _), members in buckets.items():
        if len(members) > 1:
            members = sorted(members, key=lambda i: i.meta.get("perm_index", 0))
            groups.append(Group(model=model, task=task, record_id=rid, dimension=members[0].dimension, items=members))
    return groups


def consistency(group: Group, extractions: Mapping[str, Extraction]) -> bool:
    """True when the same option content(s) were chosen under every permutation of the group."""
    picks = set()
    for it in group.items:
        ex = extractions.get(it.item_id)
        chosen = chosen_contents(it, ex) if ex is not None else None
        if chosen is None:
            return False
        picks.add(chosen)
    return len(picks) == 1


def strict(group: Group, extractions: Mapping[str, Extraction], key: AnswerKey) -> bool | None:
    """True when every permutation was answered correctly; None when the key lacks the question."""
    ref = group.items[0].options
    scores = [score_choice(it, extractions.get(it.item_id, Extraction()), key, ref) for it in group.items]
    if any(s is None for s in scores):
        return None
    return all(scores)


class RobustnessRow(BaseModel):
    """Option-shuffle robustness of one model on one task, one dimension, or everything."""

    model: str
    """Model name."""
    level: Literal["task", "dimension", "all"]
    """What `name` is."""
    name: str
    """Task or dimension name; "all" for the model overall."""
    n_groups: int
    """Permutation groups tested."""
    n_consistent: int
    """Groups answered with the same option content(s) under every permutation."""
    consistency: float
    """n_consistent / n_groups."""
    n_unextractable: int
    """Groups with at least one answer that could not be extracted."""
    n_keyed: int = 0
    """Groups the answer key covers."""
    strict: float | None = None
    """Share of keyed groups answered correctly under every permutation; None without a key."""


def robustness_report(
    groups: list[Group], extractions: Mapping[str, Extraction], key: AnswerKey | None = None
) -> list[RobustnessRow]:
    """Consistency (and strict accuracy with a key) per model x task, model x dimension and model overall."""
    cells: dict[tuple[str, str, str], list[Group]] = defaultdict(list)
    for g in groups:
        cells[(g.model, "task", g.task)].append(g)
        cells[(g.model, "dimension", g.dimension or "unknown")].append(g)
        cells[(g.model, "all", "all")].append(g)
    rows = []
    for (model, level, name), gs in sorted(cells.items()):
        n_ok = sum(consistency(g, extractions) for g in gs)
        unext = sum(any(extractions.get(i, Extraction()).status != "ok" for i in g.item_ids) for g in gs)
        stricts = [s for g in gs if key is not None and (s := strict(g, extractions, key)) is not None]
        rows.append(RobustnessRow(model=model, level=level, name=name, n_groups=len(gs), n_consistent=n_ok,
                                  consistency=n_ok / len(gs), n_unextractable=unext, n_keyed=len(stricts),
                                  strict=sum(stricts) / len(stricts) if stricts else None))
    return rows


