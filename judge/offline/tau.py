"""Choosing the cascade threshold τ on labelled dev items: the baseline decides an item when its confidence is ≥ τ.

`tau_curve` scores the cascade at every candidate τ (coverage and κ of the items decided offline, and with LLM
labels the κ of the whole cascade); `select_tau` picks one by a stated rule; `choose_tau` does both on gold items
with a fitted baseline, `choose_tau_from_probs` with precomputed (e.g. out-of-fold) baseline probabilities.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, Field

from judge.evaluate.metrics import agreement_report
from judge.gold.gold_set import GoldItem
from judge.offline.rules_judge import RulesJudge

if TYPE_CHECKING:
    from judge.offline.baseline import BaselineJudge


class TauPoint(BaseModel):
    """The cascade on a labelled split at one threshold."""

    tau: float
    """Threshold."""
    coverage: float
    """Share of items decided offline (a rule fired, or baseline confidence >= tau)."""
    n_decided: int
    """Items decided offline."""
    kappa_decided: float | None
    """Kappa of the offline decisions against gold on the decided items."""
    accuracy_decided: float | None
    """Accuracy of the offline decisions on the decided items."""
    kappa_cascade: float | None = None
    """Kappa over all items with LLM labels for the rest (only when LLM labels are given)."""


class TauChoice(BaseModel):
    """The chosen threshold and why."""

    tau: float
    """Chosen threshold."""
    rule: str
    """`max_kappa_decided_at_min_coverage` or `max_kappa_cascade` (see choose_tau)."""
    min_coverage: float
    """Least offline coverage allowed."""
    point: TauPoint
    """Scores at the chosen tau."""
    curve: list[TauPoint] = Field(default_factory=list)
    """Scores at every candidate tau."""


def _kappa(y_true: Sequence[str], y_pred: Sequence[str]) -> tuple[float | None, float | None]:
    if not y_true:
        return None, None
    rep = agreement_report(list(y_true), list(y_pred), n_boot=1)
    return rep.kappa, rep.accuracy


def tau_curve(gold: Sequence[str], rule_pred: Sequence[str | None], base_pred: Sequence[str],
              base_conf: Sequence[float], llm_pred: Mapping[int, str] | None = None) -> list[TauPoint]:
    """Score the cascade at every distinct baseline confidence (and 0) as tau; inputs are aligned per item."""
    conf = np.asarray(base_conf, dtype=float)
    ruled = np.array([r is not None for r in rule_pred])
    candidates = sorted({0.0, *(round(float(c), 6) for c in conf[~ruled])})
    offline = [r if r is not None else b for r, b in zip(rule_pred, base_pred, strict=True)]
    points = []
    for tau in candidates:
        decided = ruled | (conf >= tau - 1e-12)
        idx = np.flatnonzero(decided)
        kappa, acc = _kappa([gold[i] for i in idx], [offline[i] for i in idx])
        point = TauPoint(tau=tau, coverage=float(decided.mean()) if len(gold) else 0.0, n_decided=int(decided.sum()),
                         kappa_decided=kappa, accuracy_decided=acc)
        if llm_pred is not None:
            pairs = [(gold[i], offline[i] if decided[i] else llm_pred.get(i)) for i in range(len(gold))]
            pairs = [(t, p) for t, p in pairs if p is not None]
            point.kappa_cascade = _kappa([t for t, _ in pairs], [p for _, p in pairs])[0]
        points.append(point)
    return points


def select_tau(curve: Sequence[TauPoint], min_coverage: float = 0.5, use_llm: bool = False) -> TauChoice:
    """Pick tau from a curve.

    With LLM labels (`use_llm`): the tau with the highest cascade kappa over all items, ties -> the lower tau
    (more items decided offline, more LLM calls saved). Without: the tau with the highest kappa on the items
    decided offline among those whose coverage is at least `min_coverage`, ties -> the lower tau. Kappa on the
    decided items tends to rise with tau, so this is usually the highest tau that still keeps `min_coverage`.
    """
    if not curve:
        raise ValueError("empty tau curve")
    rule = "max_kappa_cascade" if use_llm else "max_kappa_decided_at_min_coverage"

    def score(p: TauPoint) -> float:
        value = p.kappa_cascade if use_llm else p.kappa_decided
        return -2.0 if value is None else value

    eligible = list(curve) if use_llm else [p for p in curve if p.coverage >= min_coverage] or [curve[0]]
    best = max(eligible, key=lambda p: (round(score(p), 6), -p.tau))
    return TauChoice(tau=best.tau, rule=rule, min_coverage=min_coverage, point=best, curve=list(curve))


def choose_tau(dev: Sequence[GoldItem], rules: RulesJudge, baseline: BaselineJudge, *, min_coverage: float = 0.5,
               llm_labels: Mapping[str, str] | None = None) -> TauChoice:
    """Choose tau on labelled dev items (consensus required); `llm_labels` = {item_id: LLM category} if known."""
    dev = [g for g in dev if g.consensus is not None]
    items = [g.to_item() for g in dev]
    rule_pred = [v.category if v.status == "ok" else None for v in (rules.judge(it) for it in items)]
    base = baseline.verdicts(items)
    llm_pred = None
    if llm_labels is not None:
        llm_pred = {i: llm_labels[g.item_id] for i, g in enumerate(dev) if g.item_id in llm_labels}
    curve = tau_curve([g.consensus or "" for g in dev], rule_pred, [v.category or "" for v in base],
                      [v.confidence or 0.0 for v in base], llm_pred)
    return select_tau(curve, min_coverage, use_llm=llm_labels is not None)


def choose_tau_from_probs(gold: Sequence[str], rule_pred: Sequence[str | None], probs: np.ndarray,
                          classes: Sequence[str], *, min_coverage: float = 0.5) -> TauChoice:
    """Choose tau from given baseline class probabilities (rows aligned with `gold` and `rule_pred`, columns in
    `classes` order), e.g. out-of-fold probabilities of a model whose training data includes these items."""
    probs = np.asarray(probs, dtype=float)
    base_pred = [str(classes[i]) for i in np.argmax(probs, axis=1)]
    curve = tau_curve(list(gold), list(rule_pred), base_pred, [float(c) for c in probs.max(axis=1)])
    return select_tau(curve, min_coverage)
