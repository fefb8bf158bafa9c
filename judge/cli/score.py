"""`medjudge score` and `medjudge report`: benchmark outputs scored into the store, and the report from it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from judge.cli.options import ApiKeyOpt, DbOpt, ProgressOpt, ReadDbOpt, fail, user_errors


def score_cmd(
    inputs: Annotated[list[Path], typer.Argument(help="Model output folders (<model>/ holding <task>.jsonl), a "
                                                      "folder of model folders (outputs/), or single "
                                                      "<model>/<task>.jsonl files.", show_default=False)],
    db: DbOpt = Path("medjudge.duckdb"),
    prompts: Annotated[Path | None, typer.Option("--prompts", help="MedBench prompts folder (<task>.jsonl): checks "
                                                 "coverage and fixes the option order letter keys refer to.")] = None,
    key: Annotated[str | None, typer.Option("--key", help="Answer key, CSV or JSONL with task, id, answer; or "
                                            "'consensus' for a silver key from the models in the store (shown as "
                                            "'silver (k of n models agree)', never as gold). Without it choice "
                                            "answers are unknown unless unreadable (= wrong).",
                                            show_default=False)] = None,
    silver_min_agreement: Annotated[float, typer.Option("--silver-min-agreement", min=0.01, max=1.0,
                                                        help="With --key consensus: share of the models that "
                                                             "answered a question that must agree on it (at least "
                                                             "two models; ties never key).")] = 0.6,
    recall_threshold: Annotated[float, typer.Option("--recall-threshold", min=0.0, max=1.0,
                                                    help="Open answers with a reference are wrong below this "
                                                         "answer-point recall.")] = 0.6,
    recall_model: Annotated[str | None, typer.Option("--recall-model", help="litellm model that judges which "
                                                     "reference answer points an open answer covers (e.g. "
                                                     "openai/gpt-4o-mini); without it the offline recall is used.",
                                                     show_default=False)] = None,
    api_base: Annotated[str | None, typer.Option("--api-base", help="Base URL of an OpenAI-compatible server for "
                                                 "--recall-model.", show_default=False)] = None,
    api_key: ApiKeyOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Score benchmark outputs: mark each answer correct / wrong / unknown, measure option-shuffle robustness.

    Reads the older MedBench layout and the current (v4) one (options in the question text). Bad input lines
    (merge-conflict markers, duplicates, invalid JSON) are skipped and listed with file:line; lines of tasks
    that could not be mapped are listed as warnings. Prints coverage per model and task. Re-running on the
    same inputs gives the same database. Then: medjudge label --only-wrong --db DB.
    """
    from judge.api import score
    from judge.cli.console import print_score_summary

    try:
        s = score(inputs, db=db, prompts=prompts, key=key, recall_threshold=recall_threshold,
                  recall_model=recall_model, api_base=api_base, api_key=api_key, progress=progress,
                  silver_min_agreement=silver_min_agreement)
    except user_errors() as e:
        fail(e)
    print_score_summary(s)


def report_cmd(
    db: ReadDbOpt = Path("medjudge.duckdb"),
    out: Annotated[Path, typer.Option("--out", "-o", help="Report file to write.")] = Path("report.html"),
    format: Annotated[str, typer.Option("--format", "-f", help="html (one self-contained file) or md (Markdown "
                                        "with PNG files next to it).")] = "html",
    judge_id: Annotated[str | None, typer.Option("--judge-id", help="Judge whose verdicts make the error "
                                                 "distribution (default: the newest).")] = None,
) -> None:
    """Write the benchmark report: accuracy, robustness, error distribution, calibration, failure signatures."""
    from judge.api import report
    from judge.cli.console import console

    if format not in ("html", "md"):
        fail("--format must be html or md")
    try:
        path = report(db, out, fmt=format, judge_id=judge_id)
    except user_errors() as e:
        fail(e)
    console.print(f"report written to {path}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add score and report."""
    app.command("score")(score_cmd)
    app.command("report")(report_cmd)
