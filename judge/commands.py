"""Attach the command groups defined outside judge.cli to the Typer app."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Register the command modules (each a thin layer over the API)."""
    from judge import cli_eval, cli_local, cli_optimize, cli_score

    for mod in (cli_eval, cli_local, cli_score, cli_optimize):
        mod.register(app)
