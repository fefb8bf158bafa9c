"""Pull reviewed tasks from Label Studio into the gold set: labels with reviewer identity, consensus, splits, κ.

Each completed (not skipped) annotation becomes a gold label of its reviewer; a reviewer's newer annotation of
the same task replaces the older one, and labels the gold file already has from other annotators stay. New items
are added with the material shown in the task. Consensus is the gold set's rule (majority; a tie waits for an
adjudication, which is a label whose note starts with "adjudication:"). New items get a split without moving
any existing one. The pulled labels' inter-annotator agreement (pairwise Cohen's κ, Fleiss' κ, Krippendorff's
α) is returned for the caller to print and store.
"""

from __future__ import annotations

import math
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from judge.core.exceptions import MedjudgeError
from judge.gold.agreement import PairKappa, fleiss_kappa, krippendorff_alpha_nominal, pairwise_cohen
from judge.gold.gold_set import GoldItem, GoldLabel, load_gold, save_gold
from judge.gold.splits import (
    DEFAULT_RATIOS,
    DEFAULT_SEED,
    default_splits_path,
    extend_splits,
    load_splits,
    save_splits,
)
from judge.review.tasks import PulledLabel, category_names, read_annotation

_ITEM_KEYS = ("dimension", "task", "question", "options", "reference_answer", "model", "response")


class Agreement(BaseModel):
    """Inter-annotator agreement of the pulled labels."""

    annotators: list[str]
    """Reviewers with at least one label, sorted."""
    n_items: int
    """Items with at least one pulled label."""
    n_multi: int
    """Items with labels from two or more reviewers."""
    pairwise: list[PairKappa]
    """Cohen's κ of every pair of reviewers on the items both labelled."""
    fleiss_kappa: float | None
    """Fleiss' κ over the items with the most common number (>= 2) of labels; None when undefined."""
    fleiss_n: int
    """Items Fleiss' κ was computed on."""
    krippendorff_alpha: float | None
    """Krippendorff's α (nominal) over every item with two or more labels; None when undefined."""


class PullResult(BaseModel):
    """What a pull did."""

    pull_id: str
    """Id of the review_pulls row."""
    project: str
    """Project title."""
    project_id: int
    """Label Studio project id."""
    gold: str
    """Gold file written."""
    splits: str
    """Splits file written."""
    n_tasks: int
    """Annotated tasks exported by Label Studio."""
    n_labels: int
    """Labels pulled (one per reviewer and task)."""
    n_skipped: int
    """Annotations skipped by their reviewer (cancelled)."""
    new_items: list[str] = Field(default_factory=list)
    """Items added to the gold set."""
    updated_items: list[str] = Field(default_factory=list)
    """Items already in the gold set whose labels changed."""
    ties: list[str] = Field(default_factory=list)
    """Pulled items whose labels tie: marked for adjudication (no consensus until then)."""
    new_splits: dict[str, str] = Field(default_factory=dict)
    """Split of each new item."""
    agreement: Agreement
    """Inter-annotator agreement of the pulled labels."""
    problems: list[str] = Field(default_factory=list)
    """Tasks or annotations that could not be read, each with the reason (nothing was taken from them)."""


def _nan_none(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def agreement_of(labels: Sequence[PulledLabel]) -> Agreement:
    """Pairwise Cohen's κ, Fleiss' κ and Krippendorff's α of reviewers' labels."""
    by_annotator: dict[str, dict[str, str]] = {}
    by_item: dict[str, list[str]] = {}
    for lab in labels:
        by_annotator.setdefault(lab.annotator, {})[lab.item_id] = lab.category
        by_item.setdefault(lab.item_id, []).append(lab.category)
    multi = {i: cats for i, cats in by_item.items() if len(cats) >= 2}
    names = sorted(by_annotator)
    fleiss, fleiss_n = math.nan, 0
    if multi:
        m = Counter(len(c) for c in multi.values()).most_common(1)[0][0]
        rows = [[*cats] for cats in multi.values() if len(cats) == m]
        fleiss, fleiss_n = fleiss_kappa(rows), len(rows)
    ratings = [[by_annotator[a].get(i) for a in names] for i in sorted(by_item)]
    return Agreement(annotators=names, n_items=len(by_item), n_multi=len(multi), pairwise=pairwise_cohen(by_annotator),
                     fleiss_kappa=_nan_none(fleiss), fleiss_n=fleiss_n,
                     krippendorff_alpha=_nan_none(krippendorff_alpha_nominal(ratings)) if multi else None)


def read_export(tasks: Iterable[Mapping[str, Any]], users: Mapping[int, Mapping[str, Any]]
                ) -> tuple[dict[str, dict[str, Any]], list[PulledLabel], int, list[str]]:
    """From Label Studio's JSON export: item material by id, the labels (newest per reviewer and item),
    the number of skipped annotations, and the problems found."""
    names = category_names()
    material: dict[str, dict[str, Any]] = {}
    latest: dict[tuple[str, str], PulledLabel] = {}
    skipped = 0
    problems: list[str] = []
    for n, task in enumerate(tasks, start=1):
        data = task.get("data") or {}
        item_id = str(data.get("item_id") or "")
        if not item_id:
            problems.append(f"task {task.get('id', n)}: no data.item_id (not a medjudge review task)")
            continue
        material[item_id] = {k: data.get(k) for k in _ITEM_KEYS}
        for ann in task.get("annotations") or []:
            try:
                lab = read_annotation(item_id, ann, users, names)
            except ValueError as e:
                problems.append(f"task {task.get('id', n)} (item {item_id}): {e}")
                continue
            if lab is None:
                skipped += 1
                continue
            key = (item_id, lab.annotator)
            if key not in latest or lab.updated_at >= latest[key].updated_at:
                latest[key] = lab
    return material, list(latest.values()), skipped, problems


def _material(item_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
    d = {k: data.get(k) for k in _ITEM_KEYS}
    if d["reference_answer"] == "(not provided)":
        d["reference_answer"] = None
    d["question"], d["response"] = str(d["question"] or ""), str(d["response"] or "")
    return {"item_id": item_id, **d}


def merge_labels(gold: Sequence[GoldItem], material: Mapping[str, Mapping[str, Any]],
                 labels: Sequence[PulledLabel]) -> tuple[list[GoldItem], list[str], list[str], list[str]]:
    """The gold items with the pulled labels merged in: (items, new ids, updated ids, problems)."""
    by_item: dict[str, list[PulledLabel]] = {}
    for lab in labels:
        by_item.setdefault(lab.item_id, []).append(lab)
    out: list[GoldItem] = []
    known = {g.item_id for g in gold}
    updated: list[str] = []
    problems: list[str] = []
    for g in gold:
        pulled = by_item.get(g.item_id)
        if not pulled:
            out.append(g)
            continue
        mine = {lab.annotator for lab in pulled}
        labels_new = [lab for lab in g.labels if lab.annotator not in mine]
        labels_new += [GoldLabel(annotator=lab.annotator, category=lab.category, note=lab.gold_note())
                       for lab in sorted(pulled, key=lambda x: x.annotator)]
        merged = GoldItem(**{**g.model_dump(exclude={"labels", "consensus"}), "labels": labels_new})
        if merged.labels != g.labels:
            updated.append(g.item_id)
        out.append(merged)
    new: list[str] = []
    for item_id in sorted(set(by_item) - known):
        try:
            item = GoldItem(**_material(item_id, material.get(item_id, {})), labels=[
                GoldLabel(annotator=lab.annotator, category=lab.category, note=lab.gold_note())
                for lab in sorted(by_item[item_id], key=lambda x: x.annotator)])
        except ValueError as e:
            problems.append(f"item {item_id}: cannot be added to the gold set: {e}")
            continue
        out.append(item)
        new.append(item_id)
    return out, new, updated, problems


def pull_into_gold(tasks: list[dict[str, Any]], users: Mapping[int, Mapping[str, Any]], gold: str | Path,
                   splits: str | Path | None, *, project: str, project_id: int) -> PullResult:
    """Merge an export's labels into the gold file and its splits (both written); see the module doc."""
    gold = Path(gold)
    current = load_gold(gold) if gold.exists() else []
    material, labels, skipped, problems = read_export(tasks, users)
    items, new, updated, more = merge_labels(current, material, labels)
    problems += more
    splits_path = Path(splits) if splits else default_splits_path(gold)
    if splits_path.exists():
        sf = load_splits(splits_path)
        old, ratios, seed = sf.splits, sf.ratios, sf.seed
    else:
        old, ratios, seed = {}, DEFAULT_RATIOS, DEFAULT_SEED
    if not labels and not current:
        raise MedjudgeError(f"project {project!r} has no completed annotations yet and {gold} does not exist: "
                            "nothing to write")
    save_gold(items, gold)
    split_map = extend_splits(old, items, ratios, seed)
    save_splits(split_map, splits_path, seed=seed, ratios=ratios)
    pulled_ids = {lab.item_id for lab in labels}
    ties = sorted(g.item_id for g in items if g.item_id in pulled_ids and g.consensus_status == "tie")
    return PullResult(pull_id=uuid.uuid4().hex[:16], project=project, project_id=project_id, gold=str(gold),
                      splits=str(splits_path), n_tasks=len(tasks), n_labels=len(labels), n_skipped=skipped,
                      new_items=new, updated_items=updated, ties=ties,
                      new_splits={i: split_map[i] for i in new}, agreement=agreement_of(labels), problems=problems)
