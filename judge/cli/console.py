"""Render API results for the terminal (tables, CSV, JSON). Presentation only."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len
from rich.console import Console, Group
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:  # pragma: no cover
    from judge.core.models import RunSummary
    from judge.medbench.scoring_run import ScoreSummary

class _Console(Console):
    """A rich Console that reads COLUMNS when it prints, not only when it is made (the CLI's consoles are made at
    import; a caller may set COLUMNS later, e.g. a test running at 80 columns)."""

    @property
    def width(self) -> int:
        columns = os.environ.get("COLUMNS", "")
        return int(columns) if columns.isdigit() and int(columns) > 0 else Console.width.fget(self)  # type: ignore[attr-defined]

    @width.setter
    def width(self, value: int) -> None:
        Console.width.fset(self, value)  # type: ignore[attr-defined]


console = _Console()
err_console = _Console(stderr=True)


def cell(v: Any) -> str:
    """One value as table text (floats to 4 significant digits, None empty)."""
    return "" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))


def fits(cols: Sequence[str], rows: Sequence[Sequence[Any]], width: int) -> bool:
    """Whether a table of `rows` fits `width` terminal columns without cutting any cell (CJK counts double)."""
    widths = [max([cell_len(str(c)), *(max((cell_len(x) for x in cell(r[i]).splitlines()), default=0)
                                       for r in rows)]) for i, c in enumerate(cols)]
    return sum(widths) + 3 * len(cols) + 1 <= width


def records(cols: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> Group:
    """Rows one block each (column name, value), for tables too wide for the terminal; long values wrap."""
    parts: list[Any] = [Text(title, style="italic")] if title else []
    for n, r in enumerate(rows, start=1):
        block = Table.grid(padding=(0, 2))
        block.add_column(style="bold", no_wrap=True)
        block.add_column(overflow="fold")
        for c, v in zip(cols, r, strict=True):
            block.add_row(str(c), cell(v))
        parts += [Rule(f"{n}", align="left", style="dim"), block]
    return Group(*parts)


def table(cols: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None,
          width: int | None = None) -> Table | Group:
    """A table when it fits the terminal, else one block per row (`records`), so no cell is ever cut."""
    if fits(cols, rows, width or console.width):
        t = Table(*cols, title=title, show_lines=False)
        for r in rows:
            t.add_row(*(cell(v) for v in r))
        return t
    return records(cols, rows, title)


def format_rows(cols: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str) -> str | Table | Group:
    """Format query results as a table (blocks when too wide for the terminal), CSV text or JSON text."""
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(cols)
        w.writerows(rows)
        return buf.getvalue()
    if fmt == "json":
        return json.dumps([dict(zip(cols, r, strict=True)) for r in rows], ensure_ascii=False, default=str, indent=1)
    return table(cols, rows)


def print_rows(cols: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str) -> None:
    """Print query results in `fmt` (table, csv or json) to stdout."""
    out = format_rows(cols, rows, fmt)
    if isinstance(out, str):
        console.file.write(out if out.endswith("\n") else out + "\n")
        return
    console.print(out)
    if isinstance(out, Group):
        err_console.print(f"(a block per row: too wide for {console.width} columns; --format csv gives a table)",
                          style="dim", highlight=False, soft_wrap=True)


def summary_table(s: RunSummary) -> Table:
    """A run summary as a two-column table."""
    t = Table("run", s.run_id, show_header=True)
    t.add_row("judge_id", s.judge_id)
    if s.engine != "local" or s.workers > 1:
        t.add_row("engine (workers)", f"{s.engine} ({s.workers})")
    t.add_row("input items", str(s.n_input))
    t.add_row("already done (resumed)", str(s.n_skipped))
    for k in ("ok", "needs_review", "failed"):
        t.add_row(f"status {k}", str(s.status_counts.get(k, 0)))
    for k, n in sorted(s.category_counts.items(), key=lambda kv: -kv[1]):
        t.add_row(f"  {k}", str(n))
    for k, n in s.flag_counts.items():
        t.add_row(f"flag {k}", str(n))
    t.add_row("input problems (not judged)", str(len(s.input_errors)))
    t.add_row("tokens (prompt/completion)", f"{s.prompt_tokens}/{s.completion_tokens}")
    t.add_row("cost (USD, when known)", f"{s.cost_usd:.4f}")
    t.add_row("wall time (s)", f"{s.wall_s:.2f}")
    return t


def print_input_errors(errors: Sequence[str], most: int = 20) -> None:
    """Print line-numbered input errors to stderr."""
    for e in errors[:most]:
        err_console.print(f"[yellow]input error[/] {e}", markup=True, highlight=False, soft_wrap=True)
    if len(errors) > most:
        err_console.print(f"... and {len(errors) - most} more (all in the ingest_problems table)")


def print_run_summary(s: RunSummary, most: int = 5) -> None:
    """Input errors (stderr), the summary table, where the verdicts are, and the most common errors (stderr)."""
    print_input_errors(s.input_errors)
    console.print(summary_table(s))
    if s.db:
        console.print(f"verdicts are in {s.db}", highlight=False, soft_wrap=True)
    if s.error_counts:
        failed, review = s.status_counts.get("failed", 0), s.status_counts.get("needs_review", 0)
        err_console.print(f"[yellow]{failed} failed and {review} needs_review verdict(s); most common errors:[/]",
                          highlight=False)
        for error, n in list(s.error_counts.items())[:most]:
            err_console.print(f"  {n:>5} × {error}", highlight=False, soft_wrap=True)
        if failed:
            err_console.print("re-run the same command to retry the failed items; all errors: medjudge sql --db "
                              f"{s.db} \"SELECT status, error FROM verdicts WHERE run_id = '{s.run_id}' AND status "
                              "<> 'ok'\"", highlight=False, soft_wrap=True)


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
    if getattr(r, "abstention", None) is not None:
        grid.add_row(abstention_table(r.abstention, r.split))
    return grid


def abstention_table(a: Any, split: str | None) -> Table:
    """κ and coverage over the threshold τ (this split, and dev or the cross-validated curve where the recommendation
    was chosen)."""
    def f(x: float | None) -> str:
        return "—" if x is None else f"{x:.3f}"

    short = "dev" if a.dev_label == "dev" else "cv"
    if a.recommended_tau is not None:
        title = (f"abstention: --min-confidence {a.recommended_tau:.2f} recommended on {a.basis} ({a.rule}, target κ "
                 f"{a.target_kappa:.2f})")
    else:
        title = f"abstention: no τ recommended ({a.note})"
    t = Table(title=title, caption=a.note if a.recommended_tau is not None and a.note else None)
    dev = {round(p.tau, 6): p for p in a.dev_curve}
    for c in ("τ", f"coverage ({split or 'all'})", f"κ ({split or 'all'})", f"coverage ({short})", f"κ ({short})"):
        t.add_column(c, justify="right")
    for p in a.curve:
        d = dev.get(round(p.tau, 6))
        mark = " ◀" if a.recommended_tau is not None and abs(p.tau - a.recommended_tau) < 1e-9 else ""
        t.add_row(f"{p.tau:.2f}{mark}", f(p.coverage), f(p.kappa), f(d.coverage) if d else "—",
                  f(d.kappa) if d else "—")
    return t


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
    """Input problems grouped by file and kind, with their line numbers, on stderr: skipped lines, then warnings."""
    groups: dict[tuple[bool, str, str], list[Any]] = {}
    for p in problems:
        groups.setdefault((not getattr(p, "skipped", True), p.source_file, p.kind), []).append(p)
    for (warning, source, kind), ps in sorted(groups.items()):
        lines = line_list([p.line for p in ps])
        if warning:
            err_console.print(f"[yellow]warning[/] {source}: {len(ps)} {kind} (lines {lines}): {ps[0].message}",
                              highlight=False, soft_wrap=True)
        else:
            err_console.print(f"[yellow]skipped[/] {source}: {len(ps)} {kind} (lines {lines})",
                              highlight=False, soft_wrap=True)


def coverage_rows(summary: ScoreSummary) -> list[list[Any]]:
    """Coverage per model (totals) and every incomplete model x task cell, flagged."""
    out: list[list[Any]] = []
    for model in sorted({c.model for c in summary.coverage}):
        rows = [c for c in summary.coverage if c.model == model]
        bad = [c for c in rows if c.incomplete]
        out.append([model, f"all {len(rows)} tasks" + (f" ({len(bad)} incomplete) ⚠" if bad else ""),
                    sum(c.n_expected for c in rows), sum(c.n_answered for c in rows), sum(c.n_empty for c in rows),
                    sum(c.n_missing for c in rows), sum(c.n_unexpected for c in rows)])
        out += [["", f"{c.task} ⚠", c.n_expected, c.n_answered, c.n_empty, c.n_missing, c.n_unexpected] for c in bad]
    return out


_SCORE_COLS = ["model", "task", "dimension", "items", "correct", "wrong", "unknown", "graded", "accuracy", "choice",
               "unextractable"]
_NARROW_COLS = ["task", "n", "ok", "wrong", "unk", "acc", "unext"]


def score_tables(summary: ScoreSummary, width: int | None = None) -> list[Table | Group]:
    """Correctness per model x task (with the silver key's columns when one was used), robustness per model x task
    and dimension, and coverage. When the full table is wider than the terminal, one narrower table per model
    (task, items, correct, wrong, unknown, accuracy, unextractable); tables that still do not fit become blocks."""
    width = width or console.width
    silver = summary.silver is not None
    cols = _SCORE_COLS + (["silver-keyed", "silver accuracy"] if silver else [])
    rows = [[r.model, r.task, r.dimension or "unknown ⚠", r.n, r.n_correct, r.n_wrong, r.n_unknown, r.n_graded,
             _pct(r.accuracy), r.n_choice, _pct(r.unextractable_share)]
            + ([r.n_silver, f"{_pct(r.silver_accuracy)} {r.silver_label}" if r.silver_label else "—"] if silver else [])
            for r in summary.tasks]
    title = "Scores per model and task" + (" (silver = the models' consensus, not a gold key)" if silver else "")
    if fits(cols, rows, width):
        out: list[Table | Group] = [table(cols, rows, title, width)]
    else:
        narrow = _NARROW_COLS + (["silver"] if silver else [])
        out = [table(narrow, [[r[1], r[3], r[4], r[5], r[6], r[8], r[10]] + ([r[12]] if silver else [])
                              for r in rows if r[0] == m],
                     f"Scores of {m} (n items, ok correct, unk unknown, acc accuracy, unext unextractable)", width)
               for m in dict.fromkeys(r[0] for r in rows)]
    rob = [[r.model, r.level, r.name, r.n_groups, r.n_consistent, f"{r.consistency:.3f}",
            "—" if r.strict is None else f"{r.strict:.3f}"] for r in summary.robustness]
    out.append(table(["model", "level", "name", "groups", "consistent", "consistency", "strict"], rob,
                     "Robustness to option shuffling", width))
    out.append(table(["model", "task", "expected", "answered", "empty", "missing", "unexpected"],
                     coverage_rows(summary), "Coverage (expected = prompt records with --prompts, else the most any "
                     "model answered)", width))
    return out


def print_score_summary(s: ScoreSummary) -> None:
    """Skipped lines (stderr), the score tables and the one-line totals of a scoring run."""
    print_problems(s.problems)
    tables = score_tables(s)
    for shown in tables:
        console.print(shown)
    if len(tables) > 3 or any(isinstance(x, Group) for x in tables):
        err_console.print(f"(narrow terminal: some columns are left out or shown per row; every column: medjudge sql "
                          f"--db {s.db} \"SELECT * FROM items\" --format csv)", style="dim", highlight=False,
                          soft_wrap=True)
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(s.problem_counts.items())) or "none"
    console.print(f"{s.n_ingested} items from {s.n_files} files into {s.db} (run {s.run_id}, {s.wall_s:.1f} s): "
                  f"{s.n_correct} correct, {s.n_wrong} wrong, {s.n_unknown} unknown"
                  + (f", {s.n_silver} against the {s.silver.label} key ({s.n_silver_correct} agree, "
                     f"{s.n_silver - s.n_silver_correct} disagree)" if s.silver is not None else "")
                  + f"; input problems: {kinds} "
                  f"({len(s.skipped)} lines skipped, {len(s.warnings)} read with a warning; all in the "
                  "ingest_problems table)", highlight=False)
    if s.silver is not None:
        console.print(f"silver key: {s.silver.n_keyed} of {s.silver.n_questions} choice questions keyed by "
                      f"{s.silver.n_models} model(s), minimum agreement {s.silver.min_agreement:g} — "
                      f"{s.silver.label}; accuracy against it is never a gold accuracy (SQL: silver_accuracy)",
                      highlight=False)
    if s.unmapped_tasks:
        err_console.print(f"[yellow]warning:[/] {len(s.unmapped_tasks)} task(s) are not in the task table and have "
                          f"no dimension: {', '.join(s.unmapped_tasks)} (add them to prompts/task_dimensions.toml)",
                          highlight=False)
    if s.unshuffled_choice_tasks:
        err_console.print(f"[yellow]note:[/] choice task(s) whose questions were each asked under one option order, "
                          f"so no shuffle consistency is measured: {', '.join(s.unshuffled_choice_tasks)}",
                          highlight=False)
    incomplete = [c for c in s.coverage if c.incomplete]
    if incomplete:
        err_console.print(f"[yellow]warning:[/] {len(incomplete)} model x task cell(s) miss or leave empty some "
                          "answers (coverage table, SQL: SELECT * FROM coverage WHERE incomplete)", highlight=False)
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
