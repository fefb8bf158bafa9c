"""Abstention curve: κ and coverage of a judge's verdicts when those below a confidence threshold τ are held back.

`abstention_curve` scores one split at every τ of a grid: the verdicts kept (status ok and confidence ≥ τ), their
share of the items (coverage), and κ and accuracy of the kept verdicts against the gold consensus.
`recommend_tau` picks the threshold on a curve measured on the **dev** split (for the offline judges: on the
out-of-fold verdicts of the baseline, cross-validated on train+dev, since dev is in its training data): the smallest τ whose κ on the kept
items reaches the target (default 0.80) with at least `min_kept` items kept; when no τ reaches it, the τ with the
highest κ. `AbstentionSummary` holds the calibrated split's curve, the dev curve and the recommendation, and is
stored with the calibration run.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field

from judge.evaluate.metrics import agreement_report

DEFAULT_TAUS: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(20))
"""The thresholds scored: 0.00, 0.05, …, 0.95."""
TARGET_KAPPA = 0.80
"""κ the recommended τ should reach on the dev items it keeps."""


class AbstentionPoint(BaseModel):
    """A split's verdicts at one threshold."""

    tau: float
    """Confidence threshold: verdicts below it are held back for review."""
    coverage: float
    """Share of the split's items with a kept verdict (ok and confidence >= tau)."""
    n_kept: int
    """Items with a kept verdict."""
    kappa: float | None
    """Cohen's κ of the kept verdicts against the gold consensus (None when fewer than two items are kept)."""
    accuracy: float | None
    """Accuracy of the kept verdicts."""


class AbstentionSummary(BaseModel):
    """κ and coverage over τ on the calibrated split, and the τ recommended on dev (or out of fold, `dev_label`)."""

    curve: list[AbstentionPoint] = Field(default_factory=list)
    """The calibrated split's curve."""
    dev_curve: list[AbstentionPoint] = Field(default_factory=list)
    """The curve the recommendation was chosen on (empty when not available): dev verdicts, or the out-of-fold
    verdicts stored with an offline judge's baseline (see `dev_label`)."""
    dev_label: str = "dev"
    """What `dev_curve` was measured on: `dev`, or `cross-validated on train+dev` (out-of-fold verdicts)."""
    target_kappa: float = TARGET_KAPPA
    """κ the recommendation aims for on `dev_curve`."""
    recommended_tau: float | None = None
    """The recommended --min-confidence, chosen on `dev_curve`; None without it."""
    rule: str = ""
    """How it was chosen: `smallest_tau_reaching_target` or `max_kappa` (the target was not reached)."""
    at_recommended: AbstentionPoint | None = None
    """The calibrated split at the recommended τ."""
    dev_at_recommended: AbstentionPoint | None = None
    """`dev_curve` at the recommended τ."""
    note: str = ""
    """Why no recommendation was made, when none was; or what the recommendation was chosen on."""

    @property
    def basis(self) -> str:
        """Where the recommendation was chosen, for display."""
        return "dev" if self.dev_label == "dev" else f"out-of-fold verdicts ({self.dev_label})"


def abstention_curve(y_true: Sequence[str], y_pred: Sequence[str | None], confidences: Sequence[float | None],
                     taus: Sequence[float] = DEFAULT_TAUS) -> list[AbstentionPoint]:
    """Score the verdicts at every τ; `y_pred[i]` is None for an item without an ok verdict."""
    n = len(y_true)
    points = []
    for tau in taus:
        kept = [i for i in range(n) if y_pred[i] is not None and (confidences[i] or 0.0) >= tau - 1e-12]
        kappa = accuracy = None
        if len(kept) >= 2:
            rep = agreement_report([y_true[i] for i in kept], [y_pred[i] for i in kept], n_boot=1)
            kappa, accuracy = rep.kappa, rep.accuracy
        elif kept:
            accuracy = float(y_true[kept[0]] == y_pred[kept[0]])
        points.append(AbstentionPoint(tau=float(tau), coverage=len(kept) / n if n else 0.0, n_kept=len(kept),
                                      kappa=kappa, accuracy=accuracy))
    return points


def recommend_tau(dev_curve: Sequence[AbstentionPoint], target_kappa: float = TARGET_KAPPA,
                  min_kept: int = 10) -> tuple[float | None, str]:
    """The smallest τ reaching `target_kappa` on dev with at least `min_kept` items kept, else the τ of highest κ."""
    usable = [p for p in dev_curve if p.kappa is not None and p.n_kept >= min_kept]
    if not usable:
        return None, ""
    reaching = [p for p in usable if p.kappa is not None and p.kappa >= target_kappa]
    if reaching:
        return min(p.tau for p in reaching), "smallest_tau_reaching_target"
    best = max(usable, key=lambda p: (round(p.kappa or -1.0, 6), -p.tau))
    return best.tau, "max_kappa"


def point_at(curve: Sequence[AbstentionPoint], tau: float | None) -> AbstentionPoint | None:
    """The curve's point at `tau` (None when absent)."""
    return next((p for p in curve if tau is not None and abs(p.tau - tau) < 1e-9), None)


def summarise(curve: list[AbstentionPoint], dev_curve: list[AbstentionPoint] | None,
              target_kappa: float = TARGET_KAPPA, note: str = "", dev_label: str = "dev") -> AbstentionSummary:
    """Build the stored summary: the split's curve, the dev (or cross-validated) curve and the τ recommended on it."""
    if not dev_curve:
        return AbstentionSummary(curve=curve, target_kappa=target_kappa,
                                 note=note or "no dev verdicts of this judge: no τ recommended")
    tau, rule = recommend_tau(dev_curve, target_kappa)
    return AbstentionSummary(curve=curve, dev_curve=dev_curve, dev_label=dev_label, target_kappa=target_kappa,
                             recommended_tau=tau,
                             rule=rule, at_recommended=point_at(curve, tau), dev_at_recommended=point_at(dev_curve, tau),
                             note=note if tau is not None else (note or "too few dev verdicts for a recommendation"))
