"""The medjudge command line: the Typer app and its commands, each a thin layer over one `judge.api` function."""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from typing import Annotated  # noqa: E402

import typer  # noqa: E402

from judge.cli import baseline, calibrate, gold, label, optimize, review, score, serve  # noqa: E402

app = typer.Typer(help="medjudge: classify why medical LLM answers are wrong, store verdicts in DuckDB, "
                       "and measure agreement with physicians.", no_args_is_help=True,
                  context_settings={"help_option_names": ["-h", "--help"]}, pretty_exceptions_enable=False)


def _version(value: bool) -> None:
    if value:
        from judge import __version__

        typer.echo(f"medjudge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Print the version and exit.")] = False) -> None:
    """medjudge: classify why medical LLM answers are wrong, store verdicts in DuckDB, and measure agreement with
    physicians."""


for module in (label, calibrate, gold, review, score, optimize, serve, baseline):
    module.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
