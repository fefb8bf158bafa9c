"""Calibration runs: judge the gold set, measure agreement with the physicians' consensus, store the run."""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from judge.core.exceptions import ConfigError
from judge.core.hashing import content_version
from judge.core.protocol import Judge, batch_judge_of
from judge.evaluate.abstention import AbstentionPoint, AbstentionSummary, abstention_curve, summarise
from judge.evaluate.metrics import AgreementReport, agreement_report, cohen_kappa
from judge.evaluate.order_robustness import all_orders_identical_share, flip_rate
from judge.evaluate.paired import KappaDifference, paired_kappa_difference
from judge.gold.agreement import krippendorff_alpha_nominal, pairwise_cohen
from judge.gold.gold_set import GoldItem, annotations_by_annotator, load_gold
from judge.gold.splits import default_splits_path, load_splits, select_split
from judge.run.runner import alabel
from judge.store import Store

GOLD_ORIGIN = "gold"
"""The origin calibration runs store their gold items with: they stay out of the benchmark's views and counts."""


class CalibrationResult(BaseModel):
    """One calibration run of a judge against the gold consensus."""

    calibration_id: str
    """Id of the calibration_runs row."""
    judge_id: str
    """Judge that was calibrated."""
    model: str
    """Judge model string."""
    split: str | None
    """Gold split used (None = all)."""
    n: int
    """Gold items with a consensus that were judged."""
    n_excluded: int
    """Items left out because they have no consensus (ties awaiting adjudication)."""
    kappa: float | None
    """Cohen's kappa judge vs consensus on covered items."""
    kappa_ci: tuple[float | None, float | None]
    """Bootstrap 95% CI of kappa."""
    macro_f1: float | None
    """Macro-F1 on covered items."""
    coverage: float | None
    """Share of items with an ok verdict (needs_review/failed excluded from kappa)."""
    report: AgreementReport
    """Full agreement report (per-category metrics, confusion matrix, calibration bins)."""
    per_annotator_kappa: dict[str, float | None] = Field(default_factory=dict)
    """Kappa of the judge against each individual annotator."""
    human_ceiling: dict[str, Any] = Field(default_factory=dict)
    """Inter-annotator agreement (Krippendorff's alpha, pairwise kappa) when >= 2 annotators."""
    robustness: dict[str, Any] | None = None
    """Category-order probe: orders, flip_rate, all_orders_identical; with the renaming probe also `renamed`
    (flip_rate and all_orders_identical against the verdicts with codes, n_unmapped, judge_ids)."""
    compare_to: str | None = None
    """The judge this run was compared with (`comparison`), if any."""
    comparison: KappaDifference | None = None
    """κ of this judge minus κ of `compare_to` on the gold items both categorised, with a paired bootstrap CI."""
    sources: dict[str, int] = Field(default_factory=dict)
    """Which stage produced the verdicts (llm, rules, baseline)."""
    llm_calls_saved: float | None = None
    """Share of items decided without the LLM (cascade judges)."""
    prompt_tokens: int = 0
    """Prompt tokens spent in this run."""
    completion_tokens: int = 0
    """Completion tokens spent in this run."""
    cost_usd: float = 0.0
    """Known cost."""
    wall_s: float = 0.0
    """Wall time."""
    abstention: AbstentionSummary | None = None
    """κ and coverage over the confidence threshold τ on this split, and the --min-confidence recommended on dev
    (offline judges: on out-of-fold verdicts, cross-validated on train+dev)."""


def _nan_to_none(x: float | None) -> float | None:
    return None if x is None or x != x else float(x)


def gold_version(path: Path) -> str:
    """Content hash of a gold file."""
    return content_version(path.read_bytes())


def load_gold_split(gold: str | Path, split: str | None, splits_path: str | Path | None = None) -> list[GoldItem]:
    """Gold items of one split (splits file defaults to splits.json next to the gold file)."""
    gold = Path(gold)
    items = load_gold(gold)
    if split is None:
        return items
    sp = Path(splits_path) if splits_path else default_splits_path(gold)
    return select_split(items, load_splits(sp).splits, split)  # type: ignore[arg-type]


def per_annotator_kappa(items: list[GoldItem], preds: dict[str, str | None]) -> dict[str, float | None]:
    """Kappa of the predictions against each annotator, on the items both labelled."""
    out: dict[str, float | None] = {}
    for annotator, labels in annotations_by_annotator(items).items():
        pairs = [(c, preds[i]) for i, c in labels.items() if preds.get(i) is not None]
        out[annotator] = _nan_to_none(cohen_kappa([a for a, _ in pairs], [b for _, b in pairs])) if pairs else None
    return out


def human_ceiling(items: list[GoldItem]) -> dict[str, Any]:
    """Inter-annotator agreement of the gold labels (the ceiling a judge can be expected to reach)."""
    ann = annotations_by_annotator(items)
    if len(ann) < 2:
        return {}
    names = sorted(ann)
    ratings = [[ann[a].get(it.item_id) for a in names] for it in items]
    return {
        "annotators": names,
        "krippendorff_alpha": _nan_to_none(krippendorff_alpha_nominal(ratings)),
        "pairwise_kappa": [p.model_dump() for p in pairwise_cohen(ann)],
    }


def probe_orders(codes: list[str], n: int, seed: int = 0) -> list[list[str]]:
    """n presentation orders of the categories: the original first, then seeded shuffles."""
    rng = random.Random(seed)
    orders = [list(codes)]
    while len(orders) < n:
        o = list(codes)
        rng.shuffle(o)
        if o not in orders:
            orders.append(o)
    return orders


CV_LABEL = "cross-validated on train+dev"
"""How the curve of an offline judge's out-of-fold verdicts is labelled."""
CV_NOTE = ("τ recommended on out-of-fold verdicts of the baseline, cross-validated on train+dev: the baseline is "
           "trained on dev, so judging dev with it would be in-sample")
"""The stored note of a recommendation made on out-of-fold verdicts."""


def _dev_curve(gold: str | Path, split: str | None, splits_path: str | Path | None, judge: Judge, store: Store,
               own_curve: list[AbstentionPoint]) -> tuple[list[AbstentionPoint] | None, str, str]:
    """The abstention curve to recommend τ on, with a note and its label: for the offline judges built on a baseline
    artifact (`offline`, `baseline`), the curve of out-of-fold verdicts stored with it; else this run's own curve
    for split dev; the verdicts of an offline (batch) judge computed here, without storing them; else this judge's
    stored dev verdicts (from `calibrate --split dev`), when every dev item has one."""
    cv = getattr(judge, "cv_abstention", None)
    cv_curve = cv() if callable(cv) else None
    if cv_curve:
        return list(cv_curve), CV_NOTE, CV_LABEL
    curve, note = _split_dev_curve(gold, split, splits_path, judge, store, own_curve)
    return curve, note, "dev"


def _split_dev_curve(gold: str | Path, split: str | None, splits_path: str | Path | None, judge: Judge, store: Store,
                     own_curve: list[AbstentionPoint]) -> tuple[list[AbstentionPoint] | None, str]:
    """The judge's abstention curve on the dev split (see `_dev_curve`)."""
    if split == "dev":
        return own_curve, ""
    try:
        dev = [g for g in load_gold_split(gold, "dev", splits_path) if g.consensus is not None]
    except (FileNotFoundError, ValueError) as e:
        return None, f"no dev split to recommend τ on ({e})"
    if not dev:
        return None, "the dev split is empty: no τ recommended"
    ids = [g.item_id for g in dev]
    batcher = batch_judge_of(judge)
    if batcher is not None:
        verdicts = dict(zip(ids, batcher.judge_batch([g.to_item() for g in dev]), strict=True))
    else:
        verdicts = store.verdicts_for(judge.judge_id, ids)
        if len(verdicts) < len(ids):
            return None, "no dev verdicts of this judge: run calibrate --split dev first for a recommended τ"
    pred = [verdicts[i].category if verdicts[i].status == "ok" else None for i in ids]
    return abstention_curve([g.consensus or "" for g in dev], pred, [verdicts[i].confidence for i in ids]), ""


async def _renaming_probe(judge: Any, judged: list[Any], ids: list[str], reference: list[str | None],
                          orders: list[list[str]], store: Store, concurrency: int, progress: bool,
                          desc: str) -> dict[str, Any]:
    """Judge the items with the categories shown as A–H in each order; flips are against the verdicts with codes."""
    by_order: list[list[str | None]] = [reference]
    unmapped = 0
    judge_ids = []
    for order in orders:
        variant = judge.with_category_order(order, letters=True)
        judge_ids.append(variant.judge_id)
        await alabel(judged, store=store, judge=variant, concurrency=concurrency, progress=progress, input_desc=desc)
        vs = store.verdicts_for(variant.judge_id, ids)
        unmapped += sum(1 for i in ids if i in vs and vs[i].status == "needs_review")
        by_order.append([vs[i].category if i in vs and vs[i].status == "ok" else None for i in ids])
    return {"orders": orders, "judge_ids": judge_ids, "flip_rate": _nan_to_none(flip_rate(by_order)),
            "all_orders_identical": _nan_to_none(all_orders_identical_share(by_order)), "n_unmapped": unmapped}


async def acalibrate(gold: str | Path, *, judge: Judge, db: str | Path | Store, split: str | None = "test",
                     splits_path: str | Path | None = None, probe_orders_n: int = 0, concurrency: int = 8,
                     progress: bool = True, n_boot: int = 1000, seed: int = 0, probe_rename: bool = False,
                     compare_to: str | None = None) -> CalibrationResult:
    """Judge the gold items of `split`, compute agreement with the consensus, store a calibration_runs row.

    `probe_rename` adds the label-renaming probe (categories shown as A–H, in each probe order, or in the original
    order without `probe_orders_n`); `compare_to` compares κ with another judge's stored verdicts on the same items.
    """
    t0 = time.perf_counter()
    all_items = load_gold_split(gold, split, splits_path)
    items = [g for g in all_items if g.consensus is not None]
    excluded = len(all_items) - len(items)
    own = not isinstance(db, Store)
    store = Store(db) if own else db
    try:
        if compare_to is not None and not store.verdicts_for(compare_to, [g.item_id for g in items]):
            raise ValueError(f"judge {compare_to} has no verdicts on the {len(items)} gold items of split "
                             f"{split or 'all'} in {store.path}; calibrate it on the same split first (judges with "
                             f"verdicts: {', '.join(store.judges_with_verdicts()) or 'none'})")
        if probe_rename and not hasattr(judge, "with_category_order"):
            raise ValueError(f"the renaming probe needs an LLM judge; {judge.model} does not show categories")
        judged = [g.to_item() for g in items]
        ids = [g.item_id for g in items]
        clash = sorted(i for i, origin in store.origins_of(ids).items() if origin != GOLD_ORIGIN)
        if clash:
            raise ConfigError(f"{len(clash)} gold item id(s) are benchmark items in {store.path} (e.g. {clash[0]!r}); "
                              "calibrate into another database (--db) so gold and benchmark answers stay apart")
        summary = await alabel(judged, store=store, judge=judge, concurrency=concurrency, progress=progress,
                               input_desc=f"gold:{gold}:{split}", kind="calibration", origin=GOLD_ORIGIN,
                               progress_label="calibrating")
        verdicts = store.verdicts_for(judge.judge_id, ids)
        preds = {i: (v.category if v.status == "ok" else None) for i, v in verdicts.items()}
        y_true = [g.consensus for g in items]
        y_pred = [preds.get(i) for i in ids]
        conf = [verdicts[i].confidence if i in verdicts else None for i in ids]
        report = agreement_report(y_true, y_pred, confidences=conf, n_boot=n_boot, seed=seed)  # type: ignore[arg-type]
        sources = Counter(v.source for v in verdicts.values())
        robustness = None
        if probe_orders_n > 1 and hasattr(judge, "with_category_order"):
            orders = probe_orders(judge.taxonomy.codes, probe_orders_n, seed)  # type: ignore[attr-defined]
            by_order = [y_pred]
            for n, order in enumerate(orders[1:], start=2):
                variant = judge.with_category_order(order)  # type: ignore[attr-defined]
                await alabel(judged, store=store, judge=variant, concurrency=concurrency, progress=progress,
                             input_desc=f"probe:{gold}:{split}", kind="calibration", origin=GOLD_ORIGIN,
                             progress_label=f"order probe {n}/{len(orders)}")
                vs = store.verdicts_for(variant.judge_id, ids)
                by_order.append([vs[i].category if i in vs and vs[i].status == "ok" else None for i in ids])
            robustness = {"orders": orders, "flip_rate": _nan_to_none(flip_rate(by_order)),
                          "all_orders_identical": _nan_to_none(all_orders_identical_share(by_order))}
        if probe_rename:
            orders = probe_orders(judge.taxonomy.codes, max(probe_orders_n, 1), seed)  # type: ignore[attr-defined]
            renamed = await _renaming_probe(judge, judged, ids, y_pred, orders, store, concurrency, progress,
                                            f"rename:{gold}:{split}")
            robustness = {**(robustness or {"orders": orders, "flip_rate": None, "all_orders_identical": None}),
                          "renamed": renamed}
        comparison = None
        if compare_to is not None:
            other = store.verdicts_for(compare_to, ids)
            pred_other = [other[i].category if i in other and other[i].status == "ok" else None for i in ids]
            comparison = paired_kappa_difference(y_true, pred_other, y_pred, abstain="exclude",  # type: ignore[arg-type]
                                                 n_boot=n_boot, seed=seed)
        curve = abstention_curve(y_true, y_pred, conf)  # type: ignore[arg-type]
        dev_curve, note, dev_label = _dev_curve(gold, split, splits_path, judge, store, curve)
        uses_llm = bool(judge.identity().get("llm"))
        result = CalibrationResult(
            calibration_id=uuid.uuid4().hex[:16], judge_id=judge.judge_id, model=judge.model, split=split,
            n=len(items), n_excluded=excluded, kappa=report.kappa, kappa_ci=report.kappa_ci, macro_f1=report.macro_f1,
            coverage=report.coverage, report=report, per_annotator_kappa=per_annotator_kappa(items, preds),
            human_ceiling=human_ceiling(items), robustness=robustness, sources=dict(sources), compare_to=compare_to,
            comparison=comparison,
            llm_calls_saved=(1 - sources.get("llm", 0) / max(1, len(verdicts))) if uses_llm else None,
            prompt_tokens=summary.prompt_tokens, completion_tokens=summary.completion_tokens,
            cost_usd=summary.cost_usd, wall_s=time.perf_counter() - t0,
            abstention=summarise(curve, dev_curve, note=note, dev_label=dev_label),
        )
        store.insert_calibration(result, run_id=summary.run_id, gold_path=str(gold), gold_version=gold_version(Path(gold)))
        return result
    finally:
        if own:
            store.close()


def calibrate(gold: str | Path, *, judge: Judge, db: str | Path | Store, split: str | None = "test",
              splits_path: str | Path | None = None, probe_orders: int = 0, concurrency: int = 8,
              progress: bool = True, n_boot: int = 1000, seed: int = 0, probe_rename: bool = False,
              compare_to: str | None = None) -> CalibrationResult:
    """Synchronous calibration run (see `acalibrate`)."""
    import asyncio

    return asyncio.run(acalibrate(gold, judge=judge, db=db, split=split, splits_path=splits_path,
                                  probe_orders_n=probe_orders, concurrency=concurrency, progress=progress,
                                  n_boot=n_boot, seed=seed, probe_rename=probe_rename, compare_to=compare_to))
