"""Agreement of the shipped baseline and the offline cascade with the gold consensus, per split.

Usage:
    python evals/offline_on_gold.py [--gold gold_labels/gold.jsonl] [--splits gold_labels/splits.json]
                                    [--model judge/_models] [--splits-to-score dev test]

Prints, per split: the baseline alone (kappa with 95% bootstrap CI, accuracy, macro F1, ECE), and the offline
cascade (rules -> baseline) with the tau stored in the artifact: kappa over all items, kappa on the items
decided by rules or by the baseline at confidence >= tau, items per stage, and the share of LLM calls a
rules -> baseline -> LLM cascade would save against an LLM-only judge. The shipped model is fitted on train+dev
(configuration and tau chosen by cross-validation on them), so dev numbers are in-sample; test numbers are for
reporting only and must not drive any choice.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a plain script from a checkout
    sys.path.insert(0, str(REPO))

from judge.evaluate.metrics import AgreementReport, agreement_report  # noqa: E402
from judge.gold.gold_set import load_gold  # noqa: E402
from judge.gold.splits import load_splits, select_split  # noqa: E402
from judge.offline.artifact import MODELS_DIR  # noqa: E402
from judge.offline.baseline import BaselineJudge  # noqa: E402
from judge.offline.cascade import CascadeJudge, evaluate_cascade  # noqa: E402
from judge.offline.rules_judge import RulesJudge  # noqa: E402


def _fmt(rep: AgreementReport) -> str:
    lo, hi = rep.kappa_ci
    ci = f"[{lo:.2f}, {hi:.2f}]" if lo is not None and hi is not None else "[-]"
    kappa = f"{rep.kappa:.3f}" if rep.kappa is not None else "-"
    acc = f"{rep.accuracy:.3f}" if rep.accuracy is not None else "-"
    f1 = f"{rep.macro_f1:.3f}" if rep.macro_f1 is not None else "-"
    ece = f", ECE {rep.ece:.3f}" if rep.ece is not None else ""
    return f"n={rep.n:3d} kappa {kappa} {ci}  acc {acc}  macro-F1 {f1}{ece}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gold", default=str(REPO / "gold_labels" / "gold.jsonl"))
    ap.add_argument("--splits", default=str(REPO / "gold_labels" / "splits.json"))
    ap.add_argument("--model", default=str(MODELS_DIR), help="baseline artifact file or folder")
    ap.add_argument("--splits-to-score", nargs="+", default=["dev", "test"], choices=["train", "dev", "test"])
    args = ap.parse_args()
    gold = [g for g in load_gold(args.gold) if g.consensus is not None]
    splits = load_splits(args.splits).splits
    baseline = BaselineJudge(where=args.model)
    meta = baseline.baseline.meta
    cascade = CascadeJudge(RulesJudge(), baseline)
    print(f"baseline {meta.version} (trained {meta.trained_at} on {meta.n_train} train + {meta.n_dev} dev items, config {meta.config}); "
          f"tau {cascade.tau:.3f} ({meta.tau_choice.get('rule')}, min coverage {meta.tau_choice.get('min_coverage')})")
    for split in args.splits_to_score:
        items = select_split(gold, splits, split)
        verdicts = baseline.verdicts([g.to_item() for g in items])
        y = [g.consensus or "" for g in items]
        alone = agreement_report(y, [v.category for v in verdicts], confidences=[v.confidence for v in verdicts])
        rep = evaluate_cascade(cascade, items)
        print(f"\n[{split}]{'  (reported only; never used for choices)' if split == 'test' else ''}")
        print(f"  baseline alone          {_fmt(alone)}")
        print(f"  offline cascade, all    {_fmt(rep.overall)}")
        print(f"  decided (rules+>=tau)   {_fmt(rep.decided)}")
        for stage, r in sorted(rep.per_stage.items()):
            print(f"    stage {stage:<16s}{_fmt(r)}")
        print(f"  items per stage {rep.by_stage}; coverage {rep.coverage:.2f} = LLM calls saved vs LLM-only judge")


if __name__ == "__main__":
    main()
