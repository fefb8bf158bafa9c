"""`medjudge label`, `sql` and `demo`: bulk labelling, read-only SQL, and the offline demo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from judge.cli.options import (
    EXIT_FAILED_ITEMS,
    ApiBaseOpt,
    ApiKeyOpt,
    DbOpt,
    MinConfidenceOpt,
    ModelOpt,
    ProgressOpt,
    PromptOpt,
    ReadDbOpt,
    TransportOpt,
    fail,
    user_errors,
)


def label_cmd(
    input: Annotated[Path | None, typer.Argument(help="Items: a .jsonl, .csv or .parquet file, or a folder of "
                                                      "them. Omit with --only-wrong to label wrong items already "
                                                      "scored in the DB.")] = None,
    db: DbOpt = Path("medjudge.duckdb"),
    model: ModelOpt = "offline",
    api_base: ApiBaseOpt = None,
    api_key: ApiKeyOpt = None,
    prompt: PromptOpt = None,
    transport: TransportOpt = "auto",
    concurrency: Annotated[int, typer.Option(help="Concurrent judge calls.", min=1)] = 8,
    processes: Annotated[int | None, typer.Option(
        help="Processes judging in parallel. Offline judges (offline, rules, baseline): each batch is shared out over "
             "this many forked processes (default: every available CPU; MEDJUDGE_OFFLINE_WORKERS also caps it). "
             "Other judges: worker processes for a CPU-bound client, e.g. a fast self-hosted endpoint; concurrency "
             "and rpm are split between them (default 1). Local engine only.", min=1)] = None,
    engine: Annotated[str, typer.Option(help="Where to judge: 'local' (this process, or --processes workers) or "
                                             "'ray' (Ray Data actors on this machine or a cluster; needs "
                                             "medjudge[ray]).")] = "local",
    ray_address: Annotated[str | None, typer.Option(
        "--ray-address", help="With --engine ray: a running Ray cluster, e.g. 'auto' or ray://head:10001 "
                              "(default: RAY_ADDRESS, else Ray starts on this machine).")] = None,
    workers: Annotated[int | None, typer.Option(help="With --engine ray: judge actors (default: one per CPU of "
                                                     "the cluster), each with --concurrency calls in flight; rpm "
                                                     "is split between them.", min=1)] = None,
    shards: Annotated[Path | None, typer.Option(help="With --engine ray: folder for the Parquet verdict shards "
                                                     "(default: <db>.shards/); 'medjudge sql --shards' reads it "
                                                     "during the run, the run merges it into --db at its end.")] = None,
    rpm: Annotated[float | None, typer.Option(help="Requests-per-minute limit.")] = None,
    limit: Annotated[int | None, typer.Option(help="Judge at most N new items.")] = None,
    only_wrong: Annotated[bool, typer.Option("--only-wrong", help="Only items scored wrong by 'medjudge score'.")] = False,
    column: Annotated[list[str] | None, typer.Option("--column", "-c", help="Column mapping SOURCE=field, "
                                                     "e.g. -c answer=response (repeatable).")] = None,
    max_retries: Annotated[int, typer.Option(help="Re-asks after invalid judge output.")] = 2,
    retries: Annotated[int, typer.Option("--retries", min=0, help="Retries after HTTP 429/5xx, timeouts, broken "
                                         "connections and garbled replies (with doubling backoff, honouring "
                                         "Retry-After); configuration errors are never retried.")] = 4,
    timeout: Annotated[float, typer.Option(help="Per-request timeout (s).")] = 60.0,
    max_field_chars: Annotated[int, typer.Option("--max-field-chars", min=1000, help="Longest question, options, "
                                                 "reference or response sent to the judge, in characters; longer "
                                                 "ones are cut with a note and the verdict flagged "
                                                 "input_truncated.")] = 32_000,
    min_confidence: MinConfidenceOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Label wrong responses with the judge and store one verdict per item (resumes; never duplicates).

    Exit codes: 0 done; 2 usage, input or configuration error (e.g. a refused API key: nothing was judged after
    it); 3 finished, but some items failed (errors listed; re-running retries them); 4 the database is in use;
    130 interrupted (re-running resumes).
    """
    from judge.api import label_file
    from judge.cli.console import print_run_summary

    try:
        s = label_file(input, db=db, model=model, api_base=api_base, api_key=api_key, prompt=prompt,
                       concurrency=concurrency, rpm=rpm, limit=limit, only_wrong=only_wrong, columns=column,
                       max_retries=max_retries, timeout_s=timeout, progress=progress, transport=transport,
                       processes=processes, max_field_chars=max_field_chars, transport_retries=retries,
                       engine=engine, ray_address=ray_address, workers=workers, shards=shards,
                       min_confidence=min_confidence)
    except user_errors() as e:
        fail(e)
    print_run_summary(s)
    if s.engine_error:
        fail(f"the {s.engine} engine stopped before judging every item ({s.engine_error}); those items are stored "
             "as failed and the same command retries them", EXIT_FAILED_ITEMS)
    if s.status_counts.get("failed"):
        raise typer.Exit(EXIT_FAILED_ITEMS)


def sql_cmd(
    query: Annotated[str, typer.Argument(help="A SELECT statement, e.g. \"SELECT * FROM error_distribution\".")],
    db: ReadDbOpt = Path("medjudge.duckdb"),
    shards: Annotated[Path | None, typer.Option(help="Query this folder of Parquet verdict shards (a run with "
                                                     "--engine ray in progress) instead of --db: view verdicts "
                                                     "(newest row per item and judge) and verdict_shards (every "
                                                     "row, with its file).")] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="table, csv or json.")] = "table",
) -> None:
    """Run read-only SQL over the verdict store (tables items, runs, verdicts, calibration_runs; views), or over
    the verdict shards of a Ray run with --shards."""
    from judge.api import run_sql
    from judge.cli.console import print_rows

    if format not in ("table", "csv", "json"):
        fail("--format must be table, csv or json")
    try:
        cols, rows = run_sql(db, query, shards=shards)
    except Exception as e:  # noqa: BLE001 - SQL errors are user errors here
        fail(e)
    print_rows(cols, rows, format)


def demo_cmd(
    db: DbOpt = Path("medjudge-demo.duckdb"),
    model: ModelOpt = "offline",
    progress: ProgressOpt = True,
) -> None:
    """Label the bundled demo answers (fully offline by default) and print the error distribution."""
    from judge.api import demo
    from judge.cli.console import console, print_rows, print_run_summary

    try:
        summary, (cols, rows) = demo(db, model=model, progress=progress)
    except user_errors() as e:
        fail(e)
    print_run_summary(summary)
    print_rows(cols, rows, "table")
    console.print("try:")
    console.print(f'  medjudge sql --db {db} "SELECT * FROM error_distribution"', highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add label, sql and demo."""
    app.command("label")(label_cmd)
    app.command("sql")(sql_cmd)
    app.command("demo")(demo_cmd)
