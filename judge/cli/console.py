"""Render API results for the terminal (tables, CSV, JSON). Presentation only."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:  # pragma: no cover
    from judge.core.models import RunSummary
    from judge.medbench.scoring_run import ScoreSummary

console = Console()
err_console = Console(stderr=True)


def format_rows(cols: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str) -> str | Table:
    """Format query results as a rich table, CSV text or JSON text."""
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(cols)
        w.writerows(rows)
        return buf.getvalue()
    if fmt == "json":
        return json.dumps([dict(zip(cols, r, strict=True)) for r in rows], ensure_ascii=False, default=str, indent=1)
    table = Table(*cols, show_lines=False)
    for r in rows:
        table.add_row(*("" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v)) for v in r))
    return table


def print_rows(cols: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str) -> None:
    """Print query results in `fmt` (table, csv or json) to stdout."""
    out = format_rows(cols, rows, fmt)
    if isinstance(out, str):
        console.file.write(out if out.endswith("\n") else out + "\n")
    else:
        console.print(out)


def summary_table(s: RunSummary) -> Table:
    """A run summary as a two-column table."""
    t = Table("run", s.run_id, show_header=True)
    t.add_row("judge_id", s.judge_id)
    t.add_row("input items", str(s.n_input))
    t.add_row("already done (resumed)", str(s.n_skipped))
    for k in ("ok", "needs_review", "failed"):
        t.add_row(f"status {k}", str(s.status_counts.get(k, 0)))
    for k, n in sorted(s.category_counts.items(), key=lambda kv: -kv[1]):
        t.add_row(f"  {k}", str(n))
    t.add_row("tokens (prompt/completion)", f"{s.prompt_tokens}/{s.completion_tokens}")
    t.add_row("cost (USD, when known)", f"{s.cost_usd:.4f}")
    t.add_row("wall time (s)", f"{s.wall_s:.2f}")
    return t


def print_input_errors(errors: Sequence[str], most: int = 20) -> None:
    """Print line-numbered input errors to stderr."""
    for e in errors[:most]:
        err_console.print(f"[yellow]input error[/] {e}", markup=True, highlight=False)
    if len(errors) > most:
        err_console.print(f"... and {len(errors) - most} more (all stored as failed verdicts)")


def calibration_table(r: Any) -> Table:
    """A calibration result as a readable table (overall numbers, then per category)."""
    def f(x: float | None, p: str = ".3f") -> str:
        return "—" if x is None else format(x, p)

    t = Table(title=f"calibration {r.calibration_id}  judge {r.judge_id}  ({r.model}, split {r.split or 'all'})")
    t.add_column("metric")
    t.add_column("value", justify="right")
    t.add_row("items judged (excluded: no consensus)", f"{r.n} ({r.n_excluded})")
    t.add_row("coverage (ok verdicts)", f(r.coverage))
    t.add_row("Cohen's κ [95% CI]", f"{f(r.kappa)} [{f(r.kappa_ci[0])}, {f(r.kappa_ci[1])}]")
    t.add_row("accuracy", f(r.report.accuracy))
    t.add_row("macro-F1", f(r.macro_f1))
    t.add_row("ECE (confidence calibration)", f(r.report.ece))
    for a, k in sorted(r.per_annotator_kappa.items()):
        t.add_row(f"κ vs annotator {a}", f(k))
    if r.human_ceiling:
        t.add_row("human ceiling: Krippendorff's α", f(r.human_ceiling.get("krippendorff_alpha")))
    if r.robustness:
        t.add_row(f"order probe: flip rate ({len(r.robustness['orders'])} orders)", f(r.robustness["flip_rate"]))
        t.add_row("order probe: identical across orders", f(r.robustness["all_orders_identical"]))
        renamed = r.robustness.get("renamed")
        if renamed:
            t.add_row("renaming probe (A–H): flip rate", f(renamed["flip_rate"]))
            t.add_row("renaming probe: identical to the codes", f(renamed["all_orders_identical"]))
            t.add_row("renaming probe: answers not mapped (needs_review)", str(renamed["n_unmapped"]))
    cmp = getattr(r, "comparison", None)
    if cmp is not None:
        d = cmp.difference
        t.add_row(f"Δκ vs {r.compare_to} (same {cmp.n} items, paired bootstrap)",
                  f"{f(d, '+.3f')} [{f(cmp.ci[0], '+.3f')}, {f(cmp.ci[1], '+.3f')}]")
        t.add_row(f"κ of {r.compare_to} on those items", f(cmp.kappa_a))
    if r.llm_calls_saved is not None:
        t.add_row("LLM calls saved", f(r.llm_calls_saved))
    t.add_row("tokens (prompt/completion)", f"{r.prompt_tokens}/{r.completion_tokens}")
    t.add_row("wall time (s)", f"{r.wall_s:.1f}")
    per = Table(title="per category (one-vs-rest)")
    for c in ("category", "support", "predicted", "precision", "recall", "f1", "κ"):
        per.add_column(c, justify="right" if c != "category" else "left")
    for code, m in r.report.per_category.items():
        per.add_row(code, str(m.support), str(m.predicted), f(m.precision), f(m.recall), f(m.f1), f(m.kappa_ovr))
    grid = Table.grid()
    grid.add_row(t)
    grid.add_row(per)
    return grid


_LINES_SHOWN = 12


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.1f} %"


def line_list(lines: list[int]) -> str:
    """Line numbers as compact ranges, e.g. "1, 4, 104-203" (at most a dozen ranges)."""
    runs: list[list[int]] = []
    for n in sorted(lines):
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    shown = [f"{a}" if a == b else f"{a}-{b}" for a, b in runs[:_LINES_SHOWN]]
    return ", ".join(shown) + (", ..." if len(runs) > _LINES_SHOWN else "")


def print_problems(problems: Sequence[Any]) -> None:
    """Skipped input lines grouped by file and kind, with their line numbers, on stderr."""
    groups: dict[tuple[str, str], list[int]] = {}
    for p in problems:
        groups.setdefault((p.source_file, p.kind), []).append(p.line)
    for (source, kind), lines in sorted(groups.items()):
        err_console.print(f"[yellow]skipped[/] {source}: {len(lines)} {kind} (lines {line_list(lines)})",
                          highlight=False, soft_wrap=True)


def score_tables(summary: ScoreSummary) -> list[Table]:
    """Correctness per model x task, and robustness per model x task and dimension."""
    t = Table("model", "task", "dimension", "items", "correct", "wrong", "unknown", "graded", "accuracy", "choice",
              "unextractable", title="Scores per model and task")
    for r in summary.tasks:
        t.add_row(r.model, r.task, r.dimension or "unknown", str(r.n), str(r.n_correct), str(r.n_wrong),
                  str(r.n_unknown), str(r.n_graded), _pct(r.accuracy), str(r.n_choice), _pct(r.unextractable_share))
    rob = Table("model", "level", "name", "groups", "consistent", "consistency", "strict",
                title="Robustness to option shuffling")
    for r in summary.robustness:
        rob.add_row(r.model, r.level, r.name, str(r.n_groups), str(r.n_consistent), f"{r.consistency:.3f}",
                    "—" if r.strict is None else f"{r.strict:.3f}")
    return [t, rob]


def print_score_summary(s: ScoreSummary) -> None:
    """Skipped lines (stderr), the score tables and the one-line totals of a scoring run."""
    print_problems(s.problems)
    for table in score_tables(s):
        console.print(table)
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(s.problem_counts.items())) or "none"
    console.print(f"{s.n_ingested} items from {s.n_files} files into {s.db} (run {s.run_id}, {s.wall_s:.1f} s): "
                  f"{s.n_correct} correct, {s.n_wrong} wrong, {s.n_unknown} unknown; skipped lines: {kinds} "
                  "(all in the ingest_problems table)", highlight=False)
    if s.n_recall_fallback:
        err_console.print(f"[yellow]warning:[/] the recall model failed on {s.n_recall_fallback} open answer(s); "
                          "they were scored by the offline recall (score_method open:recall:offline_fallback, "
                          "error in meta.score_note)", highlight=False)


def review_agreement_table(a: Any) -> Table:
    """The reviewers' agreement after a pull: pairwise Cohen's κ, Fleiss' κ, Krippendorff's α."""
    def f(x: float | None) -> str:
        return "—" if x is None else f"{x:.3f}"

    t = Table(title=f"agreement of the pulled labels ({len(a.annotators)} reviewer(s), {a.n_items} item(s), "
                    f"{a.n_multi} with 2+ labels)")
    t.add_column("measure")
    t.add_column("items", justify="right")
    t.add_column("value", justify="right")
    for p in a.pairwise:
        t.add_row(f"Cohen's κ {p.annotator_a} vs {p.annotator_b}", str(p.n), f(p.kappa))
    t.add_row("Fleiss' κ", str(a.fleiss_n), f(a.fleiss_kappa))
    t.add_row("Krippendorff's α", str(a.n_multi), f(a.krippendorff_alpha))
    return t
