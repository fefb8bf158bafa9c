"""`medjudge gold ...`: gold-set summary, stratified split, CSV / Label Studio import and export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from judge.cli.options import fail, user_errors

gold_app = typer.Typer(help="Gold set tools: summary, splits, CSV / Label Studio import and export.",
                       no_args_is_help=True)
GoldArg = Annotated[Path, typer.Argument(help="Gold JSONL.")]


@gold_app.command("summary")
def gold_summary(gold: GoldArg = Path("gold_labels/gold.jsonl"),
                 splits: Annotated[Path | None, typer.Option(help="Splits file (default: splits.json beside the "
                                                             "gold file).")] = None) -> None:
    """Counts by category, dimension, split, annotator; items awaiting adjudication."""
    from judge.api import gold_summary as summary

    try:
        s = summary(gold, splits)
    except user_errors() as e:
        fail(e)
    typer.echo(json.dumps(s.model_dump(mode="json"), ensure_ascii=False, indent=1))


@gold_app.command("split")
def gold_split(gold: GoldArg = Path("gold_labels/gold.jsonl"),
               out: Annotated[Path | None, typer.Option(help="Splits file to write (default: splits.json beside "
                                                        "the gold file).")] = None,
               seed: Annotated[int, typer.Option(help="Seed of the stratified assignment (the same seed gives the "
                                                 "same split).")] = 13) -> None:
    """Write a stratified train/dev/test split (50/20/30) for the gold file."""
    from judge.api import split_gold

    try:
        path = split_gold(gold, out, seed)
    except user_errors() as e:
        fail(e)
    typer.echo(f"wrote {path}")


@gold_app.command("import")
def gold_import(src: Annotated[Path, typer.Argument(help="CSV (one row per label) or Label Studio JSON export.")],
                out: Annotated[Path, typer.Option(help="Gold JSONL to write.")]) -> None:
    """Convert a CSV or Label Studio export into the gold JSONL interchange format."""
    from judge.api import import_gold

    try:
        n = import_gold(src, out)
    except user_errors() as e:
        fail(e)
    typer.echo(f"wrote {n} items to {out}")


@gold_app.command("export")
def gold_export(gold: GoldArg,
                out: Annotated[Path, typer.Option(help="Label Studio tasks JSON (or .csv) to write.")],
                annotations: Annotated[bool, typer.Option(help="Include existing labels as annotations.")] = True
                ) -> None:
    """Write Label Studio tasks (or the long CSV) from the gold JSONL; prints the labeling config."""
    from judge.api import export_gold

    try:
        n, config = export_gold(gold, out, annotations)
    except user_errors() as e:
        fail(e)
    if config is not None:
        typer.echo(config)
    typer.echo(f"wrote {n} items to {out}")


def register(app: typer.Typer) -> None:
    """Add the gold command group."""
    app.add_typer(gold_app, name="gold")
