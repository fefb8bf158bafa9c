"""Options shared by several commands, the exit codes, and the one way a command reports an error."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

EXIT_OK = 0
"""The command did its job."""
EXIT_INCOMPLETE = 1
"""The command ran but could not finish its job; what it did is stored and re-running it continues."""
EXIT_USAGE = 2
"""A usage, input or configuration error: nothing (or nothing more) was done; the message says what to fix."""

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
ConcurrencyOpt = Annotated[int, typer.Option(min=1, help="Concurrent judge calls.")]

USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, FileNotFoundError, IsADirectoryError, NotADirectoryError)
"""Besides MedjudgeError: errors whose message is for the user, shown without a traceback."""


def fail(e: BaseException | str, code: int = EXIT_USAGE) -> NoReturn:
    """Print `error: <message>` on stderr and exit with `code`."""
    from rich.markup import escape

    from judge.cli.console import err_console

    err_console.print(f"[red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)  # text, not markup
    raise typer.Exit(code)


def user_errors() -> tuple[type[BaseException], ...]:
    """The exception types a command turns into `fail(...)`: medjudge's own errors and `USER_ERRORS`."""
    from judge.core.exceptions import MedjudgeError

    return (MedjudgeError, *USER_ERRORS)
