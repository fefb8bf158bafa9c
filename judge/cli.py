"""The medjudge command line: argument parsing only; every command calls the Python API."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import typer  # noqa: E402

from judge.exceptions import MedjudgeError  # noqa: E402

app = typer.Typer(help="medjudge: classify why medical LLM answers are wrong, store verdicts in DuckDB, "
                       "and measure agreement with physicians.", no_args_is_help=True,
                  context_settings={"help_option_names": ["-h", "--help"]}, pretty_exceptions_enable=False)

DbOpt = Annotated[Path, typer.Option("--db", help="DuckDB file (created if missing).")]
ModelOpt = Annotated[str, typer.Option("--model", "-m", help="'offline' (rules + baseline, no network), 'rules', "
                                       "'baseline', 'local' (llama.cpp), a litellm model string such as "
                                       "openai/gpt-4o-mini, or 'cascade:<model>' (offline first, the LLM for the rest).")]
ApiBaseOpt = Annotated[str | None, typer.Option("--api-base", help="Base URL of an OpenAI-compatible server.")]
ApiKeyOpt = Annotated[str | None, typer.Option("--api-key", envvar="MEDJUDGE_API_KEY", show_default=False,
                                               help="API key (or set MEDJUDGE_API_KEY / the provider's own variable). "
                                                    "Never stored.")]
TransportOpt = Annotated[str, typer.Option(
    "--transport", help="How LLM calls travel: 'direct' (a pooled HTTP client for an OpenAI-compatible --api-base "
                        "such as vLLM or llama.cpp; several times less client CPU), 'litellm' (any provider), or "
                        "'auto': direct for openai/... models with --api-base, litellm otherwise.")]
PromptOpt = Annotated[str | None, typer.Option("--prompt", help="Prompt template file (default prompts/judge_v1.md).")]


def _fail(e: Exception) -> None:
    from judge.console import err_console

    err_console.print(f"[red]error:[/] {e}", highlight=False)
    raise typer.Exit(2)


@app.command()
def label(
    input: Annotated[Path | None, typer.Argument(help="Items: .jsonl, .csv or .parquet. Omit with --only-wrong to "
                                                      "label wrong items already scored in the DB.")] = None,
    db: DbOpt = Path("medjudge.duckdb"),
    model: ModelOpt = "offline",
    api_base: ApiBaseOpt = None,
    api_key: ApiKeyOpt = None,
    prompt: PromptOpt = None,
    transport: TransportOpt = "auto",
    concurrency: Annotated[int, typer.Option(help="Concurrent judge calls.", min=1)] = 8,
    processes: Annotated[int, typer.Option(help="Worker processes judging in parallel (for a CPU-bound client, "
                                                "e.g. a fast self-hosted endpoint); concurrency and rpm are "
                                                "split between them.", min=1)] = 1,
    rpm: Annotated[float | None, typer.Option(help="Requests-per-minute limit.")] = None,
    limit: Annotated[int | None, typer.Option(help="Judge at most N new items.")] = None,
    only_wrong: Annotated[bool, typer.Option("--only-wrong", help="Only items scored wrong by 'medjudge score'.")] = False,
    column: Annotated[list[str] | None, typer.Option("--column", "-c", help="Column mapping SOURCE=field, "
                                                     "e.g. -c answer=response (repeatable).")] = None,
    max_retries: Annotated[int, typer.Option(help="Re-asks after invalid judge output.")] = 2,
    timeout: Annotated[float, typer.Option(help="Per-request timeout (s).")] = 60.0,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Label wrong responses with the judge and store one verdict per item (resumes; never duplicates)."""
    from judge.api import label_file
    from judge.console import console, print_input_errors, summary_table

    try:
        s = label_file(input, db=db, model=model, api_base=api_base, api_key=api_key, prompt=prompt,
                       concurrency=concurrency, rpm=rpm, limit=limit, only_wrong=only_wrong, columns=column,
                       max_retries=max_retries, timeout_s=timeout, progress=progress, transport=transport,
                       processes=processes)
    except (MedjudgeError, FileNotFoundError, ValueError) as e:
        _fail(e)
    print_input_errors(s.input_errors)
    console.print(summary_table(s))


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="A SELECT statement, e.g. \"SELECT * FROM error_distribution\".")],
    db: DbOpt = Path("medjudge.duckdb"),
    format: Annotated[str, typer.Option("--format", "-f", help="table, csv or json.")] = "table",
) -> None:
    """Run read-only SQL over the verdict store (tables items, runs, verdicts, calibration_runs; views)."""
    from judge.api import run_sql
    from judge.console import console, format_rows

    if format not in ("table", "csv", "json"):
        _fail(ValueError("--format must be table, csv or json"))
    try:
        cols, rows = run_sql(db, query)
    except Exception as e:  # noqa: BLE001 - SQL errors are user errors here
        _fail(e)
    out = format_rows(cols, rows, format)
    if isinstance(out, str):
        typer.echo(out, nl=not out.endswith("\n"))
    else:
        console.print(out)


def main() -> None:
    """Console-script entry point."""
    from judge.commands import register

    register(app)
    app()


@app.command("demo")
def demo_cmd(
    db: DbOpt = Path("medjudge-demo.duckdb"),
    model: ModelOpt = "offline",
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Label the bundled demo answers (fully offline by default) and print the error distribution."""
    from judge.api import demo
    from judge.console import console, format_rows, summary_table

    try:
        summary, (cols, rows) = demo(db, model=model, progress=progress)
    except (MedjudgeError, FileNotFoundError, ValueError) as e:
        _fail(e)
    console.print(summary_table(summary))
    console.print(format_rows(cols, rows, "table"))
    console.print(f"verdicts are in {db}; try: medjudge sql --db {db} \"SELECT * FROM error_distribution\"")
