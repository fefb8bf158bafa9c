"""Run each deterministic rule separately over the MedBench public-sample outputs and count the flags.

Usage:
    python evals/rules_on_medbench.py [--data DIR] [--sample N] [--seed S] [--check NAME] [--model NAME]

Reads DIR/outputs/<model>/<task>.jsonl (OpenCompass-style lines with question, options, answer=model
output). Lines that are not JSON objects (e.g. git merge-conflict markers) are skipped and counted.
Prints, per model and task, how many responses each check flags (and how many run_rules flags
with the first hit in decision order); with --sample N, prints N random
flagged examples per check (response excerpt + evidence) for reading.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter, defaultdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a plain script from a checkout
    sys.path.insert(0, str(REPO))

from judge.core.models import Item  # noqa: E402
from judge.offline.rules import CHECKS, RULE_NAMES, RuleHit, run_rules  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "medbench_public_sample"


def read_items(path: Path, model: str, task: str) -> tuple[list[Item], int]:
    """Items of one outputs file and the number of lines that were not JSON objects."""
    items: list[Item] = []
    bad = 0
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            bad += 1
            continue
        if not isinstance(row, dict) or not isinstance(row.get("question"), str):
            bad += 1
            continue
        answer = row.get("answer")
        options = row.get("options")
        items.append(Item(
            item_id=f"{model}/{task}/{n}",
            task=task,
            model=model,
            question=row["question"],
            options=[str(o) for o in options] if isinstance(options, list) else None,
            response=answer if isinstance(answer, str) else "",
            meta={"source": str(path), "line": n, "other": row.get("other")},
        ))
    return items, bad


def excerpt(text: str, limit: int = 300) -> str:
    """A one-paragraph excerpt of a response for reading."""
    flat = text.replace("\n", "⏎")
    return flat if len(flat) <= limit else flat[: limit // 2] + " … " + flat[-limit // 2 :]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="medbench_public_sample folder")
    parser.add_argument("--sample", type=int, default=0, help="print N random flagged examples per check")
    parser.add_argument("--seed", type=int, default=0, help="random seed for --sample")
    parser.add_argument("--check", choices=RULE_NAMES, action="append", help="only these checks (repeatable)")
    parser.add_argument("--model", action="append", help="only these models (repeatable)")
    args = parser.parse_args(argv)
    checks = args.check or list(RULE_NAMES)
    console = Console(width=None if Console().is_terminal else 140)

    outputs = args.data / "outputs"
    if not outputs.is_dir():
        parser.error(f"no outputs/ folder under {args.data}")
    counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    flagged: dict[str, list[tuple[Item, RuleHit]]] = defaultdict(list)
    for model_dir in sorted(p for p in outputs.iterdir() if p.is_dir()):
        if args.model and model_dir.name not in args.model:
            continue
        for path in sorted(model_dir.glob("*.jsonl")):
            items, bad = read_items(path, model_dir.name, path.stem)
            key = (model_dir.name, path.stem)
            counts[key]["n"] += len(items)
            counts[key]["bad_lines"] += bad
            for item in items:
                for name in checks:
                    hit = CHECKS[name](item)
                    if hit is not None:
                        counts[key][name] += 1
                        flagged[name].append((item, hit))
                counts[key]["run_rules"] += run_rules(item, checks) is not None

    table = Table(title="Responses flagged per check (each check run separately)")
    columns = (*checks, "run_rules")
    for col in ("model", "task", "n", "bad lines", *columns):
        table.add_column(col, justify="left" if col in ("model", "task") else "right")
    totals: dict[str, Counter[str]] = defaultdict(Counter)
    rows = sorted(counts.items())
    for i, ((model, task), c) in enumerate(rows):
        table.add_row(model, task, str(c["n"]), str(c["bad_lines"]), *(str(c[k]) for k in columns),
                      end_section=i == len(rows) - 1)
        totals[model].update(c)
    for model, c in sorted(totals.items()):
        table.add_row(model, "ALL", str(c["n"]), str(c["bad_lines"]), *(str(c[k]) for k in columns), style="bold")
    console.print(table)

    if args.sample > 0:
        rng = random.Random(args.seed)
        for name in checks:
            pool = flagged[name]
            console.rule(f"{name}: {min(args.sample, len(pool))} of {len(pool)} flags")
            for item, hit in rng.sample(pool, min(args.sample, len(pool))):
                console.print(f"{item.item_id} conf={hit.confidence:.2f} {hit.rationale}", markup=False)
                console.print(f"  response: {excerpt(item.response)}", markup=False)
                console.print(f"  evidence: {excerpt(hit.evidence, 160)}", markup=False)


if __name__ == "__main__":
    main()
