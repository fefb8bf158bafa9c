"""CLI start-up: wall time of short `medjudge` commands, against the bare interpreter started the same way."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class StartupRow:
    """Median wall time of one command over several runs."""

    command: str
    median_s: float
    min_s: float
    runs: int


def _time(argv: list[str], runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, timeout=120)
        times.append(time.perf_counter() - t0)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode()[-300:]}")
    return statistics.median(times), min(times)


def bench_startup(workdir: Path, runs: int = 7) -> list[StartupRow]:
    """Time the interpreter alone, `import typer`, and the light commands (`--help`, `--version`, `sql`)."""
    from judge.store import Store

    db = workdir / "startup.duckdb"
    Store(db).close()
    cli = [sys.executable, "-m", "judge"]
    commands = {
        "baseline: python -c pass": [sys.executable, "-c", "pass"],
        "baseline: python -c 'import typer'": [sys.executable, "-c", "import typer"],
        "medjudge --help": [*cli, "--help"],
        "medjudge --version": [*cli, "--version"],
        "medjudge label --help": [*cli, "label", "--help"],
        "medjudge sql --db DB 'SELECT count(*) FROM verdicts'": [*cli, "sql", "--db", str(db),
                                                                 "SELECT count(*) FROM verdicts"],
    }
    rows = []
    for name, argv in commands.items():
        median, best = _time(argv, runs)
        rows.append(StartupRow(name, median, best, runs))
    return rows
