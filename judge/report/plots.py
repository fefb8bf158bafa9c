"""Report figures as PNG bytes (matplotlib, Agg backend): confusion-matrix heatmap, reliability diagram, abstention
curve, error mix.

Labels are the ASCII category codes and dimension names, so no CJK font is needed.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from judge.evaluate.abstention import AbstentionSummary  # noqa: E402
from judge.evaluate.reliability import ReliabilityBin  # noqa: E402


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def confusion_png(labels: Sequence[str], confusion: Sequence[Sequence[int]]) -> bytes:
    """Heatmap of a confusion matrix (rows = gold, columns = judge) with the count in every cell."""
    cm = np.asarray(confusion, dtype=int)
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    im = ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels=labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels=labels, fontsize=8)
    ax.set_xlabel("judge category")
    ax.set_ylabel("gold category (physicians)")
    ax.set_title("Confusion matrix")
    top = cm.max() if cm.size else 0
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if cm[i, j] > top / 2 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return _png(fig)


def abstention_png(summary: AbstentionSummary, split: str | None) -> bytes:
    """κ of the kept verdicts and coverage against the threshold τ, for the calibrated split (solid) and the curve
    the recommendation was chosen on (dashed: dev, or cross-validated on train+dev), with the recommended τ marked."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    name = split or "all"
    for curve, style, label in ((summary.curve, "-", name), (summary.dev_curve, "--", summary.dev_label)):
        if not curve:
            continue
        taus = [p.tau for p in curve]
        ax.plot(taus, [p.kappa if p.kappa is not None else np.nan for p in curve], style, color="#4c72b0",
                marker="o", markersize=3, label=f"κ of kept verdicts ({label})")
        ax.plot(taus, [p.coverage for p in curve], style, color="#dd8452", marker="s", markersize=3,
                label=f"coverage ({label})")
    ax.axhline(summary.target_kappa, color="grey", linestyle=":", linewidth=1, label=f"target κ {summary.target_kappa:.2f}")
    if summary.recommended_tau is not None:
        ax.axvline(summary.recommended_tau, color="#55a868", linewidth=1.5,
                   label=f"recommended τ {summary.recommended_tau:.2f} ({summary.dev_label})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("τ (--min-confidence): verdicts below it are held back for review")
    ax.set_ylabel("κ / coverage")
    ax.set_title("Abstention: κ and coverage vs τ")
    ax.legend(fontsize=7, loc="lower left")
    return _png(fig)


def reliability_png(bins: Sequence[ReliabilityBin]) -> bytes:
    """Reliability diagram: accuracy per confidence bin (bars) and the bin's mean confidence (marks), against the
    diagonal, with item counts on the bars."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    filled = [b for b in bins if b.count and b.accuracy is not None]
    if filled:
        bars = ax.bar([(b.lo + b.hi) / 2 for b in filled], [b.accuracy for b in filled],
                      width=[(b.hi - b.lo) * 0.9 for b in filled], color="#4c72b0", alpha=0.8, label="accuracy")
        # the mean confidence of each bin as a mark at that height over the bar: the gap to the bar's top is the
        # bin's miscalibration (on the diagonal's x, a calibrated judge's mark would sit on the bar's top)
        ax.plot([(b.lo + b.hi) / 2 for b in filled], [b.mean_confidence for b in filled], linestyle="none",
                marker="_", markersize=16, markeredgewidth=2.5, color="#dd8452", label="mean confidence in the bin")
        for bar, b in zip(bars, filled, strict=True):
            ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height() + 0.01, str(b.count), ha="center", fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.08)
    ax.set_xlabel("judge confidence")
    ax.set_ylabel("share correct")
    ax.set_title("Reliability diagram")
    ax.legend(loc="upper left", fontsize=8)
    return _png(fig)


def distribution_png(rows: Sequence[tuple[str, dict[str, float]]], codes: Sequence[str]) -> bytes:
    """Stacked horizontal bars: the share of each category (codes) per row label (e.g. dimension)."""
    fig, ax = plt.subplots(figsize=(9, 0.6 * max(len(rows), 1) + 1.6))
    colors = plt.get_cmap("tab10").colors
    left = np.zeros(len(rows))
    names = [r[0] for r in rows]
    for k, code in enumerate(codes):
        vals = np.array([r[1].get(code, 0.0) for r in rows])
        ax.barh(names, vals, left=left, color=colors[k % len(colors)], label=code)
        left += vals
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set_xlabel("share of wrong answers")
    ax.set_title("Error distribution per dimension")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=3, fontsize=8, frameon=False)
    return _png(fig)


def drift_png(points: Sequence[tuple[str, str, float, float | None, float | None]]) -> bytes:
    """κ over time with its CI as error bars: one line per series, points given as (series, time, κ, lo, hi)."""
    from datetime import datetime

    fig, ax = plt.subplots(figsize=(9, 4.5))
    series: dict[str, list[tuple[datetime, float, float | None, float | None]]] = {}
    for name, when, kappa, lo, hi in points:
        series.setdefault(name, []).append((datetime.fromisoformat(when), kappa, lo, hi))
    for k, (name, pts) in enumerate(sorted(series.items())):
        pts.sort()
        xs = [p[0] for p in pts]
        ys = [p[1] for p in pts]
        err = np.array([[y - (lo if lo is not None else y) for _, y, lo, _ in pts],
                        [(hi if hi is not None else y) - y for _, y, _, hi in pts]])
        ax.errorbar(xs, ys, yerr=err, marker="o", capsize=4, label=name, color=plt.get_cmap("tab10").colors[k % 10])
    ax.set_ylim(min(-0.05, ax.get_ylim()[0]), 1.02)
    ax.set_ylabel("Cohen's κ vs physicians (95 % CI)")
    ax.set_xlabel("calibration run (UTC)")
    ax.set_title("Judge agreement over time")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=8, frameon=False)
    fig.autofmt_xdate()
    return _png(fig)
