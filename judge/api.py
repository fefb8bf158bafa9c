"""High-level Python API: the functions the CLI calls, usable directly from Python."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from judge.factory import make_judge
from judge.models import RunSummary
from judge.reader import parse_column_map
from judge.runner import label
from judge.store import Store


def label_file(input: str | Path | None, *, db: str | Path, model: str = "offline", api_base: str | None = None,
               api_key: str | None = None, prompt: str | None = None, concurrency: int = 8, rpm: float | None = None,
               limit: int | None = None, only_wrong: bool = False, columns: list[str] | None = None,
               progress: bool = True, processes: int = 1, **settings: Any) -> RunSummary:
    """Label a file (or, with only_wrong, the wrong items already scored in the DB) into the store at `db`.

    `processes` > 1 judges in that many worker processes; `settings` go to the judge (e.g. transport="direct").
    """
    judge = make_judge(model, api_base=api_base, api_key=api_key, prompt=prompt, **settings)
    with Store(db) as store:
        if input is None:
            if not only_wrong:
                raise ValueError("give an INPUT file, or --only-wrong to label the wrong items stored in the DB")
            source: Any = store.load_items("correct = FALSE")
            desc = f"{db} (correct = FALSE)"
        elif only_wrong:
            raise ValueError("--only-wrong labels the items already scored in the DB; run 'medjudge score' first "
                             "and omit INPUT")
        else:
            source, desc = Path(input), str(input)
        return label(source, store=store, judge=judge, concurrency=concurrency, rpm=rpm, limit=limit,
                     progress=progress, column_map=parse_column_map(columns), input_desc=desc,
                     store_items=input is not None, processes=processes)


def run_sql(db: str | Path, query: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run a read-only query against the store; writes raise ReadOnlyError."""
    with Store.readonly(db) as store:
        return store.query(query)


def error_distribution(db: str | Path, judge_id: str | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Share of each category per dimension for one judge (default: the judge of the latest run)."""
    with Store.readonly(db) as store:
        if judge_id is None:
            latest = store.query("SELECT judge_id FROM runs ORDER BY started_at DESC LIMIT 1")[1]
            if not latest:
                return [], []
            judge_id = latest[0][0]
        return store.query(
            "WITH d AS (SELECT coalesce(dimension, '(none)') AS dimension, category, sum(n)::INT AS n "
            "FROM error_distribution WHERE judge_id = ? GROUP BY 1, 2) "
            "SELECT dimension, category, n, round(n / sum(n) OVER (PARTITION BY dimension), 3) AS share "
            "FROM d ORDER BY dimension, n DESC, category", [judge_id])


def demo(db: str | Path = "medjudge-demo.duckdb", model: str = "offline", progress: bool = True
         ) -> tuple[RunSummary, tuple[list[str], list[tuple[Any, ...]]]]:
    """Label the bundled demo file (offline by default) and return the run summary and error distribution."""
    from judge.demo import DEMO_FILE

    summary = label_file(DEMO_FILE, db=db, model=model, progress=progress)
    return summary, error_distribution(db, summary.judge_id)
