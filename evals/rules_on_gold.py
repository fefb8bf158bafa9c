"""Precision and recall of each deterministic rule against the gold consensus (all splits: the rules are not trained).

Usage:
    python evals/rules_on_gold.py [--gold gold_labels/gold.jsonl] [--splits gold_labels/splits.json] [--split NAME]

For every rule: run alone on every item (`alone`), and as the first hit in decision order as the rules judge
applies them (`judge`). A hit counts as correct when the gold consensus is the rule's category; recall is over
the gold items of that category. Items without consensus are left out. With --split, only that split is scored.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a plain script from a checkout
    sys.path.insert(0, str(REPO))

from judge.gold.gold_set import load_gold  # noqa: E402
from judge.gold.splits import load_splits  # noqa: E402
from judge.offline.rules import CHECKS, RULE_NAMES, run_rules  # noqa: E402


def _ratio(a: int, b: int) -> str:
    return f"{a / b:.2f}" if b else "-"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gold", default=str(REPO / "gold_labels" / "gold.jsonl"))
    ap.add_argument("--splits", default=str(REPO / "gold_labels" / "splits.json"))
    ap.add_argument("--split", choices=["train", "dev", "test"], default=None, help="score one split only")
    args = ap.parse_args()
    gold = [g for g in load_gold(args.gold) if g.consensus is not None]
    if args.split:
        splits = load_splits(args.splits).splits
        gold = [g for g in gold if splits.get(g.item_id) == args.split]
    support = Counter(g.consensus for g in gold)
    first = {g.item_id: run_rules(g.to_item()) for g in gold}
    table = Table(title=f"rules on {Path(args.gold).name} ({args.split or 'all splits'}, n={len(gold)})")
    for col in ("rule", "mode", "fired", "correct", "support", "precision", "recall", "wrong hits by gold category"):
        table.add_column(col, justify="left" if col in ("rule", "mode", "wrong hits by gold category") else "right")
    for name in RULE_NAMES:
        for mode in ("alone", "judge"):
            fired = []
            for g in gold:
                hit = CHECKS[name](g.to_item()) if mode == "alone" else first[g.item_id]
                if hit is not None and hit.rule == name:
                    fired.append(g.consensus)
            ok = sum(c == name for c in fired)
            wrong = Counter(c for c in fired if c != name)
            table.add_row(name, mode, str(len(fired)), str(ok), str(support[name]), _ratio(ok, len(fired)),
                          _ratio(ok, support[name]), ", ".join(f"{c} {n}" for c, n in wrong.most_common()))
    Console(width=170).print(table)
    fired_any = [g for g in gold if first[g.item_id] is not None]
    correct = sum(first[g.item_id].category == g.consensus for g in fired_any)  # type: ignore[union-attr]
    print(f"rules judge: coverage {len(fired_any)}/{len(gold)} = {_ratio(len(fired_any), len(gold))}, "
          f"accuracy on covered {correct}/{len(fired_any)} = {_ratio(correct, len(fired_any))}")


if __name__ == "__main__":
    main()
