"""`medjudge review push|pull`: the human review loop with a Label Studio server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from judge.cli.options import fail, user_errors

review_app = typer.Typer(help="Human review with Label Studio: push a queue of verdicts to review, pull the "
                              "reviewed labels into the gold set.", no_args_is_help=True)

UrlOpt = Annotated[str, typer.Option("--label-studio", envvar="LABEL_STUDIO_URL",
                                     help="Label Studio base URL, e.g. http://localhost:8080 (or LABEL_STUDIO_URL).")]
ProjectOpt = Annotated[str, typer.Option("--project", help="Label Studio project title (created on first push).")]
KeyOpt = Annotated[str | None, typer.Option("--api-key", envvar="LABEL_STUDIO_API_KEY", show_default=False,
                                            help="Label Studio API key: a legacy token or a personal access token "
                                                 "(or LABEL_STUDIO_API_KEY). Never stored.")]


@review_app.command("push")
def push(
    db: Annotated[Path, typer.Option("--db", help="An existing DuckDB file written by medjudge.")],
    select: Annotated[list[str], typer.Option(
        "--select", help="What to review: needs_review, low-confidence:T, disagreement:JUDGE_A,JUDGE_B, sample:N; "
                         "join with '+' or repeat the option for the union.")],
    label_studio: UrlOpt,
    project: ProjectOpt,
    api_key: KeyOpt = None,
    judge: Annotated[str | None, typer.Option("--judge", help="Judge id whose verdicts needs_review, "
                                              "low-confidence and sample read (default: the newest).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of sample:N.")] = 0,
) -> None:
    """Push the verdicts to review to a Label Studio project, with the judge's verdict pre-selected."""
    from judge.api import review_push
    from judge.cli.console import console, err_console

    try:
        r = review_push(db, select, label_studio=label_studio, project=project, api_key=api_key, judge_id=judge,
                        seed=seed)
    except user_errors() as e:
        fail(e)
    state = "created" if r.project_created else ("interface updated" if r.config_updated else "existing")
    console.print(f"project {r.project!r} (id {r.project_id}, {state}): {r.n_selected} queued, {r.n_created} new "
                  f"task(s), {r.n_existing} already there, {r.n_predictions_added} prediction(s) added",
                  highlight=False)
    for reason, n in r.by_reason.items():
        console.print(f"  {reason}: {n}", highlight=False)
    if not r.n_selected:
        err_console.print(f"warning: no item matches {' + '.join(select)} (judge {r.judge_id}); nothing was pushed",
                          highlight=False)
    if r.duplicate_tasks:
        err_console.print(f"warning: {len(r.duplicate_tasks)} item(s) have several tasks in the project: "
                          f"{', '.join(r.duplicate_tasks[:10])}", highlight=False)


@review_app.command("pull")
def pull(
    label_studio: UrlOpt,
    project: ProjectOpt,
    gold: Annotated[Path, typer.Option("--gold", help="Gold JSONL to merge the reviewed labels into (created if "
                                       "missing).")],
    api_key: KeyOpt = None,
    splits: Annotated[Path | None, typer.Option("--splits", help="Splits file (default: splits.json beside the "
                                                "gold file); new items are added, none moved.")] = None,
    db: Annotated[Path | None, typer.Option("--db", help="DuckDB file to record the pull and its agreement "
                                            "in (table review_pulls).")] = None,
) -> None:
    """Import completed annotations as gold labels; print the reviewers' agreement and items to adjudicate."""
    from judge.api import review_pull
    from judge.cli.console import console, err_console, review_agreement_table

    try:
        r = review_pull(label_studio=label_studio, project=project, api_key=api_key, gold=gold, splits=splits, db=db)
    except user_errors() as e:
        fail(e)
    console.print(f"pulled {r.n_labels} label(s) from {r.n_tasks} annotated task(s) of {r.project!r} "
                  f"({r.n_skipped} skipped): {len(r.new_items)} new item(s), {len(r.updated_items)} updated, "
                  f"wrote {r.gold} and {r.splits}", highlight=False)
    console.print(review_agreement_table(r.agreement))
    if r.ties:
        err_console.print(f"{len(r.ties)} item(s) tie and need adjudication (a label whose note starts with "
                          f"'adjudication:'): {', '.join(r.ties)}", highlight=False)
    for p in r.problems:
        err_console.print(f"[yellow]not imported:[/] {p}", highlight=False)
    if r.problems:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the review command group."""
    app.add_typer(review_app, name="review")
