"""Scorecard of the offline judges on the gold set: κ with CI, per-class F1, rules precision/recall, abstention.

Usage:
    python evals/offline_scorecard.py [--gold gold_labels/gold.jsonl] [--splits gold_labels/splits.json]
                                      [--target-kappa 0.8] [--min-kept 10]

Uses only APIs that older checkouts have too (load_gold, make_offline_judge, agreement_report, run_rules), so the
same script scores an earlier release in the same way: copy it into that checkout's evals/ and run it there.
Prints, for the `offline` judge (rules -> baseline) on dev and test: Cohen's κ with its 95 % bootstrap CI,
accuracy, macro-F1 and per-class F1; the rules' precision and recall as a judge on all items (the rules are not
trained); and abstention: the τ chosen by the rule of `medjudge calibrate` (the smallest τ whose κ on the kept
verdicts reaches the target with at least --min-kept kept, else the τ of highest κ) on the curve the shipped
baseline recorded on its out-of-fold verdicts (cross-validated on train+dev), or, for a baseline of the earlier
protocol that has no such curve, on dev; with κ and coverage on dev and test at that τ, and the cascade τ stored in
the artifact with κ of the decided items and coverage on dev and test. The test split only reports; nothing is
chosen on it. Dev is part of the training data of a cross-validated baseline: its numbers are in-sample.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a plain script from a checkout
    sys.path.insert(0, str(REPO))

from judge.evaluate.metrics import agreement_report  # noqa: E402
from judge.gold.gold_set import load_gold  # noqa: E402
from judge.gold.splits import load_splits  # noqa: E402
from judge.offline.factory import make_offline_judge  # noqa: E402
from judge.offline.rules import run_rules  # noqa: E402

TAUS = [round(0.05 * i, 2) for i in range(20)]


def kept_scores(y: list[str], pred: list[str | None], conf: list[float], tau: float) -> tuple[float, float | None, int]:
    keep = [i for i in range(len(y)) if pred[i] is not None and conf[i] >= tau - 1e-12]
    if len(keep) < 2:
        return len(keep) / len(y), None, len(keep)
    rep = agreement_report([y[i] for i in keep], [pred[i] for i in keep], n_boot=1)
    return len(keep) / len(y), rep.kappa, len(keep)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gold", default=str(REPO / "gold_labels" / "gold.jsonl"))
    ap.add_argument("--splits", default=str(REPO / "gold_labels" / "splits.json"))
    ap.add_argument("--target-kappa", type=float, default=0.8)
    ap.add_argument("--min-kept", type=int, default=10)
    args = ap.parse_args()
    gold = [g for g in load_gold(args.gold) if g.consensus is not None]
    splits = load_splits(args.splits).splits
    judge = make_offline_judge("offline")
    print(f"offline judge {judge.judge_id} (baseline {judge.baseline.baseline.meta.version})")  # type: ignore[attr-defined]
    scored = {}
    decided = {}
    for split in ("dev", "test"):
        items = [g for g in gold if splits.get(g.item_id) == split]
        verdicts = judge.judge_batch([g.to_item() for g in items])  # type: ignore[attr-defined]
        y = [g.consensus or "" for g in items]
        pred = [v.category if v.status == "ok" else None for v in verdicts]
        conf = [v.confidence or 0.0 for v in verdicts]
        rep = agreement_report(y, pred, confidences=conf, n_boot=2000, seed=0)
        scored[split] = (y, pred, conf)
        decided[split] = ["below_tau" not in v.flags for v in verdicts]
        lo, hi = rep.kappa_ci
        print(f"\n[{split}] n={rep.n} kappa {rep.kappa:.3f} [{lo:.2f}, {hi:.2f}] acc {rep.accuracy:.3f} "
              f"macro-F1 {rep.macro_f1:.3f}")
        for code, m in rep.per_category.items():
            f1 = "-" if m.f1 is None else f"{m.f1:.2f}"
            print(f"    F1 {code:<40s} {f1}  (support {m.support}, predicted {m.predicted})")
    hits = [(g, run_rules(g.to_item())) for g in gold]
    fired = [(g, h) for g, h in hits if h is not None]
    correct = sum(g.consensus == h.category for g, h in fired)
    in_scope = sum(g.consensus in ("unanswered", "output_error", "format_mismatch") for g in gold)
    print(f"\n[rules as a judge, all {len(gold)} items] fired {len(fired)}, correct {correct}: precision "
          f"{correct / max(1, len(fired)):.3f}, recall over their 3 categories {correct / max(1, in_scope):.3f}")
    meta = judge.baseline.baseline.meta  # type: ignore[attr-defined]
    cv_curve = (getattr(meta, "oof_abstention", None) or {}).get("offline")
    if cv_curve:
        curve = [(p.tau, p.coverage, p.kappa, p.n_kept) for p in cv_curve]
        basis = "out-of-fold verdicts, cross-validated on train+dev"
    else:
        y, pred, conf = scored["dev"]
        curve = [(tau, *kept_scores(y, pred, conf, tau)) for tau in TAUS]
        basis = "dev"
    usable = [c for c in curve if c[2] is not None and c[3] >= args.min_kept]
    reaching = [c for c in usable if c[2] >= args.target_kappa]
    tau = min(c[0] for c in reaching) if reaching else max(usable, key=lambda c: (round(c[2], 6), -c[0]))[0]
    rule = "smallest tau reaching the target" if reaching else "highest kappa"
    print(f"\n[abstention] tau {tau:.2f} chosen on {basis} ({rule}, target {args.target_kappa})")
    if cv_curve:
        at = next(c for c in curve if abs(c[0] - tau) < 1e-9)
        print(f"    cross-validated: kappa of kept verdicts {at[2]:.3f} on {at[3]} items, coverage {at[1]:.3f}")
    for split in ("dev", "test"):
        cov, kappa, n_kept = kept_scores(*scored[split], tau)
        print(f"    {split}: kappa of kept verdicts {kappa:.3f} on {n_kept} items, coverage {cov:.3f}")
    cascade_tau = judge.tau  # type: ignore[attr-defined]
    print(f"\n[cascade] tau {cascade_tau:.3f} of the artifact (kappa of the items decided offline, coverage)")
    point = getattr(meta, "tau_choice", {}).get("point")
    if cv_curve and point:
        print(f"    cross-validated: kappa {point['kappa_decided']:.3f} on {point['n_decided']} items, "
              f"coverage {point['coverage']:.3f}")
    for split in ("dev", "test"):
        y, pred, conf = scored[split]
        flags = decided[split]
        keep = [i for i in range(len(y)) if flags[i]]
        rep = agreement_report([y[i] for i in keep], [pred[i] for i in keep], n_boot=2000, seed=0)
        lo, hi = rep.kappa_ci
        print(f"    {split}: kappa {rep.kappa:.3f} [{lo:.2f}, {hi:.2f}] on {len(keep)} items, coverage "
              f"{len(keep) / len(y):.3f}")


if __name__ == "__main__":
    main()
