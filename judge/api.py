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
               progress: bool = True, **settings: Any) -> RunSummary:
    """Label a file (or, with only_wrong, the wrong items already scored in the DB) into the store at `db`."""
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
                     store_items=input is not None)


def run_sql(db: str | Path, query: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run a read-only query against the store; writes raise ReadOnlyError."""
    with Store.readonly(db) as store:
        return store.query(query)
