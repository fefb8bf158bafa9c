"""`medjudge calibrate`: run a judge on the gold set and store its agreement with the physicians."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from judge.cli.options import (
    ApiBaseOpt,
    ApiKeyOpt,
    ConcurrencyOpt,
    DbOpt,
    GoldOpt,
    MinConfidenceOpt,
    ModelOpt,
    ProgressOpt,
    PromptOpt,
    SplitsOpt,
    TransportOpt,
    fail,
    user_errors,
)


def calibrate_cmd(
    gold: GoldOpt = Path("gold_labels/gold.jsonl"),
    split: Annotated[str, typer.Option(help="train, dev, test or all.")] = "test",
    splits: SplitsOpt = None,
    model: ModelOpt = "offline",
    api_base: ApiBaseOpt = None,
    api_key: ApiKeyOpt = None,
    prompt: PromptOpt = None,
    transport: TransportOpt = "auto",
    probe_order: Annotated[int, typer.Option("--probe-order", help="Also run the judge with the category list in N "
                                             "orders and report the flip rate (LLM judges).")] = 0,
    probe_rename: Annotated[bool, typer.Option("--probe-rename", help="Also show the categories as the letters A–H "
                                               "(in each probe order) and report how often the verdict changes "
                                               "(LLM judges).")] = False,
    compare_to: Annotated[str | None, typer.Option("--compare-to", help="A judge id calibrated on the same items in "
                                                   "--db: print the κ difference with a paired bootstrap CI.")] = None,
    db: DbOpt = Path("medjudge.duckdb"),
    concurrency: ConcurrencyOpt = 8,
    min_confidence: MinConfidenceOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Run the judge on the gold items and store a calibration run (κ with CI, macro-F1, confusion, ECE, probe)."""
    from judge.api import calibrate_model
    from judge.cli.console import calibration_table, console

    try:
        res = calibrate_model(gold, model=model, db=db, split=None if split == "all" else split, splits=splits,
                              api_base=api_base, api_key=api_key, prompt=prompt, transport=transport,
                              probe_orders=probe_order, concurrency=concurrency, progress=progress,
                              probe_rename=probe_rename, compare_to=compare_to, min_confidence=min_confidence)
    except user_errors() as e:
        fail(e)
    console.print(calibration_table(res))


def register(app: typer.Typer) -> None:
    """Add the calibrate command."""
    app.command("calibrate")(calibrate_cmd)
