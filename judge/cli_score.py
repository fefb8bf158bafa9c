"""CLI commands `medjudge score` and `medjudge report` (thin layer over judge.score and judge.report)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from judge.exceptions import MedjudgeError

_LINES_SHOWN = 12


def _fail(e: Exception) -> None:
    from judge.console import err_console

    err_console.print(f"[red]error:[/] {e}", highlight=False)
    raise typer.Exit(2)


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.1f} %"


def _line_list(lines: list[int]) -> str:
    """Line numbers as compact ranges, e.g. "1, 4, 104-203" (at most a dozen ranges)."""
    runs: list[list[int]] = []
    for n in sorted(lines):
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    shown = [f"{a}" if a == b else f"{a}-{b}" for a, b in runs[:_LINES_SHOWN]]
    return ", ".join(shown) + (", ..." if len(runs) > _LINES_SHOWN else "")


def _print_problems(problems) -> None:  # type: ignore[no-untyped-def]
    """Skipped lines grouped by file and kind, with their line numbers."""
    from collections import defaultdict

    from judge.console import err_console

    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for p in problems:
        groups[(p.source_file, p.kind)].append(p.line)
    for (source, kind), lines in sorted(groups.items()):
        err_console.print(f"[yellow]skipped[/] {source}: {len(lines)} {kind} (lines {_line_list(lines)})",
                          highlight=False, soft_wrap=True)


def _tables(summary) -> list[Table]:  # type: ignore[no-untyped-def]
    """Rich tables for a ScoreSummary: correctness per model x task, robustness per model x task and dimension."""
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


def score_cmd(
    inputs: Annotated[list[Path], typer.Argument(help="Model output folders (<model>/ holding <task>.jsonl) or "
                                                      "single <model>/<task>.jsonl files.", show_default=False)],
    db: Annotated[Path, typer.Option("--db", help="DuckDB file (created if missing).")] = Path("medjudge.duckdb"),
    prompts: Annotated[Path | None, typer.Option("--prompts", help="MedBench prompts folder (<task>.jsonl): checks "
                                                 "coverage and fixes the option order letter keys refer to.")] = None,
    key: Annotated[Path | None, typer.Option("--key", help="Answer key, CSV or JSONL with task, id, answer. Without "
                                             "it choice answers are unknown unless unextractable (= wrong).")] = None,
    recall_threshold: Annotated[float, typer.Option("--recall-threshold", min=0.0, max=1.0,
                                                    help="Open answers with a reference are wrong below this "
                                                         "answer-point recall.")] = 0.6,
    recall_model: Annotated[str | None, typer.Option("--recall-model", help="litellm model that judges which "
                                                     "reference answer points an open answer covers (e.g. "
                                                     "openai/gpt-4o-mini); without it the offline recall is used.",
                                                     show_default=False)] = None,
    api_base: Annotated[str | None, typer.Option("--api-base", help="Base URL of an OpenAI-compatible server for "
                                                 "--recall-model.", show_default=False)] = None,
    api_key: Annotated[str | None, typer.Option("--api-key", envvar="MEDJUDGE_API_KEY", help="API key for "
                                                "--recall-model (never stored).", show_default=False)] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Score benchmark outputs: mark each answer correct / wrong / unknown, measure option-shuffle robustness.

    Bad input lines (merge-conflict markers, duplicates, invalid JSON) are skipped and listed with file:line.
    Re-running on the same inputs gives the same database. Then: medjudge label --only-wrong --db DB.
    """
    from judge.console import console
    from judge.score import score_outputs

    try:
        recall_judge = None
        if recall_model:
            from judge.recall_judge import LLMRecallJudge
            from judge.settings import JudgeSettings

            recall_judge = LLMRecallJudge(JudgeSettings(model=recall_model, api_base=api_base, api_key=api_key))
        s = score_outputs(inputs, db=db, prompts=prompts, key=key, recall_threshold=recall_threshold,
                          recall_judge=recall_judge, progress=progress)
    except (MedjudgeError, FileNotFoundError, ValueError) as e:
        _fail(e)
    _print_problems(s.problems)
    for table in _tables(s):
        console.print(table)
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(s.problem_counts.items())) or "none"
    console.print(f"{s.n_ingested} items from {s.n_files} files into {s.db} (run {s.run_id}, {s.wall_s:.1f} s): "
                  f"{s.n_correct} correct, {s.n_wrong} wrong, {s.n_unknown} unknown; skipped lines: {kinds} "
                  "(all in the ingest_problems table)",
                  highlight=False)
    if s.n_recall_fallback:
        from judge.console import err_console

        err_console.print(f"[yellow]warning:[/] the recall model failed on {s.n_recall_fallback} open answer(s); "
                          "they were scored by the offline recall (score_method open:recall:offline_fallback, "
                          "error in meta.score_note)", highlight=False)


def report_cmd(
    db: Annotated[Path, typer.Option("--db", help="DuckDB file written by score / label / calibrate.")] = Path(
        "medjudge.duckdb"),
    out: Annotated[Path, typer.Option("--out", "-o", help="Report file to write.")] = Path("report.html"),
    format: Annotated[str, typer.Option("--format", "-f", help="html (one self-contained file) or md (Markdown "
                                        "with PNG files next to it).")] = "html",
    judge_id: Annotated[str | None, typer.Option("--judge-id", help="Judge whose verdicts make the error "
                                                 "distribution (default: the newest).")] = None,
) -> None:
    """Write the benchmark report: accuracy, robustness, error distribution, calibration, failure signatures."""
    from judge.console import console
    from judge.report import build_report

    if format not in ("html", "md"):
        _fail(ValueError("--format must be html or md"))
    try:
        path = build_report(db, out, fmt=format, judge_id=judge_id)  # type: ignore[arg-type]
    except (MedjudgeError, FileNotFoundError, ValueError) as e:
        _fail(e)
    console.print(f"report written to {path}", highlight=False)


def register(app: typer.Typer) -> None:
    """Attach `score` and `report` to the medjudge app."""
    app.command("score")(score_cmd)
    app.command("report")(report_cmd)
