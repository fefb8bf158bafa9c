"""Attach the command groups defined outside judge.cli to the Typer app."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Register optional command modules (each a thin layer over the API)."""
    import importlib

    for name in ("judge.cli_eval", "judge.cli_bench", "judge.cli_local", "judge.cli_score", "judge.cli_optimize"):
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:
                continue
            raise
        mod.register(app)
