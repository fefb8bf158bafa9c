"""Render API results for the terminal (tables, CSV, JSON). Presentation only."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from judge.models import RunSummary

console = Console()
err_console = Console(stderr=True)


def format_rows(cols: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str) -> str | Table:
    """Format query results as a rich table, CSV text or JSON text."""
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(cols)
        w.writerows(rows)
        return buf.getvalue()
    if fmt == "json":
        return json.dumps([dict(zip(cols, r, strict=True)) for r in rows], ensure_ascii=False, default=str, indent=1)
    table = Table(*cols, show_lines=False)
    for r in rows:
        table.add_row(*("" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v)) for v in r))
    return table


def summary_table(s: RunSummary) -> Table:
    """A run summary as a two-column table."""
    t = Table("run", s.run_id, show_header=True)
    t.add_row("judge_id", s.judge_id)
    t.add_row("input items", str(s.n_input))
    t.add_row("already done (resumed)", str(s.n_skipped))
    for k in ("ok", "needs_review", "failed"):
        t.add_row(f"status {k}", str(s.status_counts.get(k, 0)))
    for k, n in sorted(s.category_counts.items(), key=lambda kv: -kv[1]):
        t.add_row(f"  {k}", str(n))
    t.add_row("tokens (prompt/completion)", f"{s.prompt_tokens}/{s.completion_tokens}")
    t.add_row("cost (USD, when known)", f"{s.cost_usd:.4f}")
    t.add_row("wall time (s)", f"{s.wall_s:.2f}")
    return t


def print_input_errors(errors: Sequence[str], most: int = 20) -> None:
    """Print line-numbered input errors to stderr."""
    for e in errors[:most]:
        err_console.print(f"[yellow]input error[/] {e}", markup=True, highlight=False)
    if len(errors) > most:
        err_console.print(f"... and {len(errors) - most} more (all stored as failed verdicts)")
