"""Options shared by several commands, the exit codes, and the one way a command reports an error."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

EXIT_OK = 0
"""The command did its job."""
EXIT_USAGE = 2
"""A usage, input or configuration error: nothing (or nothing more) was done; the message says what to fix."""
EXIT_FAILED_ITEMS = 3
"""The run finished, but some items got no verdict (status failed): the summary lists the errors; re-running
retries them."""
EXIT_NOT_BETTER = 3
"""`optimize`: the optimised prompt is not better than the base prompt on dev beyond the bootstrap CI (nothing
written; --force writes it)."""
EXIT_BUSY = 4
"""The database is in use by another process."""
EXIT_INTERRUPTED = 130
"""Stopped with Ctrl-C; what was judged is saved and re-running resumes."""

DbOpt = Annotated[Path, typer.Option("--db", help="DuckDB file (created if missing).")]
ReadDbOpt = Annotated[Path, typer.Option("--db", help="An existing DuckDB file written by medjudge.")]
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
GoldOpt = Annotated[Path, typer.Option("--gold", help="Gold JSONL (physician labels).")]
SplitsOpt = Annotated[Path | None, typer.Option("--splits", help="Splits file (default: splits.json beside the "
                                                "gold file).")]
ProgressOpt = Annotated[bool, typer.Option(help="Show a progress bar.")]
MinConfidenceOpt = Annotated[float | None, typer.Option(
    "--min-confidence", min=0.0, max=1.0, help="Store verdicts whose confidence is below this as needs_review, with "
    "the category they would have had in the rationale (flag below_min_confidence); 'medjudge calibrate' prints the "
    "value recommended on dev (offline judges: out of fold on train+dev).")]
ConcurrencyOpt = Annotated[int, typer.Option(min=1, help="Concurrent judge calls.")]

USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, FileNotFoundError, IsADirectoryError, NotADirectoryError)
"""Besides MedjudgeError: errors whose message is for the user, shown without a traceback."""


def exit_code(e: BaseException | str) -> int:
    """The documented exit code for an error: busy database, interrupted, else a usage/config/input error."""
    from judge.core.exceptions import RunInterrupted, StoreBusyError

    if isinstance(e, StoreBusyError):
        return EXIT_BUSY
    if isinstance(e, RunInterrupted):
        return EXIT_INTERRUPTED
    return EXIT_USAGE


def fail(e: BaseException | str, code: int | None = None) -> NoReturn:
    """Print `error: <message>` (or `interrupted: ...`) on stderr and exit with `code` (default: `exit_code(e)`)."""
    from rich.markup import escape

    from judge.cli.console import err_console
    from judge.core.exceptions import RunInterrupted

    text = escape(str(e))  # a message is text, not markup ("medjudge[ray]" must print as written)
    if isinstance(e, RunInterrupted):
        err_console.print(f"[yellow]{text}[/]", highlight=False, soft_wrap=True)
    else:
        err_console.print(f"[red]error:[/] {text}", highlight=False, soft_wrap=True)
    raise typer.Exit(exit_code(e) if code is None else code)


def user_errors() -> tuple[type[BaseException], ...]:
    """The exception types a command turns into `fail(...)`: medjudge's own errors and `USER_ERRORS`."""
    from judge.core.exceptions import MedjudgeError

    return (MedjudgeError, *USER_ERRORS)
