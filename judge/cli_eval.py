"""CLI commands for calibration runs and the gold set (thin layer over judge.calibrate / judge.gold*)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from judge.cli import ApiBaseOpt, ApiKeyOpt, DbOpt, ModelOpt, PromptOpt, TransportOpt, _fail
from judge.exceptions import MedjudgeError

gold_app = typer.Typer(help="Gold set tools: summary, splits, CSV / Label Studio import and export.",
                       no_args_is_help=True)


def calibrate_cmd(
    gold: Annotated[Path, typer.Option("--gold", help="Gold JSONL (gold_labels/gold.jsonl).")] = Path(
        "gold_labels/gold.jsonl"),
    split: Annotated[str, typer.Option(help="train, dev, test or all.")] = "test",
    splits: Annotated[Path | None, typer.Option(help="Splits file (default: splits.json beside the gold file).")] = None,
    model: ModelOpt = "offline",
    api_base: ApiBaseOpt = None,
    api_key: ApiKeyOpt = None,
    prompt: PromptOpt = None,
    transport: TransportOpt = "auto",
    probe_order: Annotated[int, typer.Option("--probe-order", help="Also run the judge with the category list in N "
                                             "orders and report the flip rate (LLM judges).")] = 0,
    db: DbOpt = Path("medjudge.duckdb"),
    concurrency: Annotated[int, typer.Option(min=1)] = 8,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Run the judge on the gold items and store a calibration run (κ with CI, macro-F1, confusion, ECE, probe)."""
    from judge.calibrate import calibrate
    from judge.console import calibration_table, console
    from judge.factory import make_judge

    try:
        judge = make_judge(model, api_base=api_base, api_key=api_key, prompt=prompt, transport=transport)
        res = calibrate(gold, judge=judge, db=db, split=None if split == "all" else split, splits_path=splits,
                        probe_orders=probe_order, concurrency=concurrency, progress=progress)
    except (MedjudgeError, FileNotFoundError, ValueError) as e:
        _fail(e)
    console.print(calibration_table(res))


@gold_app.command("summary")
def gold_summary(gold: Annotated[Path, typer.Argument(help="Gold JSONL.")] = Path("gold_labels/gold.jsonl"),
                 splits: Annotated[Path | None, typer.Option(help="Splits file.")] = None) -> None:
    """Counts by category, dimension, split, annotator; items awaiting adjudication."""
    import json

    from judge.gold import load_gold, summarize_gold
    from judge.gold_splits import load_splits

    try:
        items = load_gold(gold)
        sp = splits or gold.parent / "splits.json"
        summary = summarize_gold(items, load_splits(sp).splits if sp.exists() else None)
    except (MedjudgeError, FileNotFoundError) as e:
        _fail(e)
    typer.echo(json.dumps(summary.model_dump(mode="json"), ensure_ascii=False, indent=1))


@gold_app.command("split")
def gold_split(gold: Annotated[Path, typer.Argument(help="Gold JSONL.")] = Path("gold_labels/gold.jsonl"),
               out: Annotated[Path | None, typer.Option(help="Splits file to write.")] = None,
               seed: Annotated[int, typer.Option()] = 13) -> None:
    """Write a stratified train/dev/test split (50/20/30) for the gold file."""
    from judge.gold import load_gold
    from judge.gold_splits import DEFAULT_RATIOS, make_splits, save_splits

    items = load_gold(gold)
    path = out or gold.parent / "splits.json"
    save_splits(make_splits(items, DEFAULT_RATIOS, seed), path, seed=seed, ratios=DEFAULT_RATIOS)
    typer.echo(f"wrote {path}")


@gold_app.command("import")
def gold_import(src: Annotated[Path, typer.Argument(help="CSV (one row per label) or Label Studio JSON export.")],
                out: Annotated[Path, typer.Option(help="Gold JSONL to write.")]) -> None:
    """Convert a CSV or Label Studio export into the gold JSONL interchange format."""
    from judge.gold import save_gold
    from judge.gold_io import import_csv, import_label_studio

    try:
        items = import_csv(src) if src.suffix.lower() == ".csv" else import_label_studio(src)
    except (MedjudgeError, FileNotFoundError) as e:
        _fail(e)
    save_gold(items, out)
    typer.echo(f"wrote {len(items)} items to {out}")


@gold_app.command("export")
def gold_export(gold: Annotated[Path, typer.Argument(help="Gold JSONL.")],
                out: Annotated[Path, typer.Option(help="Label Studio tasks JSON (or .csv) to write.")],
                annotations: Annotated[bool, typer.Option(help="Include existing labels as annotations.")] = True
                ) -> None:
    """Write Label Studio tasks (or the long CSV) from the gold JSONL; prints the labeling config."""
    from judge.gold import load_gold
    from judge.gold_io import export_csv, export_label_studio, label_studio_config

    items = load_gold(gold)
    if out.suffix.lower() == ".csv":
        export_csv(items, out)
    else:
        export_label_studio(items, out, include_annotations=annotations)
        typer.echo(label_studio_config())
    typer.echo(f"wrote {len(items)} items to {out}")


def register(app: typer.Typer) -> None:
    """Add calibrate and gold commands."""
    app.command("calibrate")(calibrate_cmd)
    app.add_typer(gold_app, name="gold")
