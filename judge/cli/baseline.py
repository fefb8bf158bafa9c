"""`medjudge baseline train|info`: retrain the offline classifier on the gold set, or show the shipped one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from judge.cli.options import GoldOpt, SplitsOpt, fail, user_errors

baseline_app = typer.Typer(help="The offline baseline classifier: retrain it on the gold set, or show its metadata.",
                           no_args_is_help=True)


@baseline_app.command("train")
def train(gold: GoldOpt = Path("gold_labels/gold.jsonl"),
          splits: SplitsOpt = None,
          out: Annotated[Path | None, typer.Option(help="Artifact folder (default: the package's shipped models "
                                                   "folder).")] = None,
          min_coverage: Annotated[float, typer.Option("--min-coverage", min=0.0, max=1.0,
                                                      help="Cascade threshold τ: least share of the train+dev items "
                                                           "decided offline, out of fold.")] = 0.5,
          keep_old: Annotated[bool, typer.Option("--keep-old", help="Keep other baseline artifacts in the "
                                                 "folder.")] = False) -> None:
    """Pool the gold train and dev splits, choose hyperparameters by repeated 5-fold cross-validation on them, refit
    on both, choose τ on out-of-fold probabilities, save a versioned artifact."""
    from judge.offline.baseline import train_baseline_file

    try:
        model = train_baseline_file(gold, splits, out_dir=out, min_coverage=min_coverage, keep_old=keep_old)
    except user_errors() as e:
        fail(e)
    typer.echo(f"saved {model.path}")
    typer.echo(json.dumps(model.meta.model_dump(exclude={"grid"}), ensure_ascii=False, indent=1))


@baseline_app.command("info")
def info(model: Annotated[Path | None, typer.Option(help="Artifact file or folder (default: the shipped "
                                                    "one).")] = None) -> None:
    """Print the metadata of the shipped (or given) baseline artifact."""
    from judge.offline.baseline import baseline_info

    try:
        meta = baseline_info(model)
    except user_errors() as e:
        fail(e)
    typer.echo(json.dumps(meta, ensure_ascii=False, indent=1))


def register(app: typer.Typer) -> None:
    """Add the baseline command group."""
    app.add_typer(baseline_app, name="baseline")
