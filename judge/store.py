"""The DuckDB verdict store: schema on open, batched transactional writes, resume, read-only SQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from judge.exceptions import ReadOnlyError
from judge.migrations import MIGRATIONS
from judge.models import Item, Verdict
from judge.taxonomy import CATEGORY_CODES

_DONE = ("ok", "needs_review")
_READ_TYPES = {"SELECT", "EXPLAIN", "PRAGMA"}
_VERDICT_COLS = [
    "item_id", "judge_id", "run_id", "status", "category", "rationale", "evidence", "confidence", "secondary",
    "error", "source", "model", "prompt_version", "prompt_hash", "latency_ms", "prompt_tokens",
    "completion_tokens", "cost_usd", "attempts", "flags",
]
_ITEM_COLS = ["item_id", "dimension", "task", "question", "options", "reference_answer", "model", "response", "meta"]


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def migrate(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply pending migrations; return the names applied (idempotent)."""
    con.execute("CREATE TABLE IF NOT EXISTS _migrations (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)")
    done = {r[0] for r in con.execute("SELECT version FROM _migrations").fetchall()}
    applied = []
    for version, fn in enumerate(MIGRATIONS, start=1):
        if version in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            fn(con)
            con.execute("INSERT INTO _migrations VALUES (?, ?, ?)", [version, fn.__name__, _now()])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        applied.append(fn.__name__)
    return applied


def check_verdict_table(data: pa.Table) -> None:
    """Raise ValueError unless every row is a valid verdict row (checked column-wise)."""
    unknown = set(data.column_names) - set(_VERDICT_COLS)
    if unknown:
        raise ValueError(f"unknown verdict column(s): {sorted(unknown)}")
    for c in ("item_id", "judge_id", "status"):
        if c not in data.column_names or data.column(c).null_count:
            raise ValueError(f"column {c!r} is required and may not be null")
    status = data.column("status")
    bad = pc.invert(pc.is_in(status, value_set=pa.array(["ok", "needs_review", "failed"])))
    if pc.any(bad).as_py():
        raise ValueError("status must be ok, needs_review or failed")
    category = data.column("category") if "category" in data.column_names else pa.nulls(data.num_rows, pa.string())
    is_ok = pc.equal(status, "ok")
    if pc.any(pc.and_(is_ok, pc.is_null(category))).as_py():
        raise ValueError("ok rows need a category")
    if pc.any(pc.and_(pc.invert(is_ok), pc.is_valid(category))).as_py():
        raise ValueError("only ok rows may carry a category")
    if pc.any(pc.and_(pc.is_valid(category), pc.invert(pc.is_in(category, value_set=pa.array(CATEGORY_CODES))))).as_py():
        raise ValueError(f"category must be one of {list(CATEGORY_CODES)}")


class Store:
    """A medjudge DuckDB file. Open with `Store(path)` (read-write, migrated) or `Store.readonly(path)`."""

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        if read_only:
            if not self.path.exists():
                raise FileNotFoundError(f"no database at {self.path}")
            self.con = duckdb.connect(str(self.path), read_only=True, config={"enable_external_access": False})
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.con = duckdb.connect(str(self.path))
            migrate(self.con)

    @classmethod
    def readonly(cls, path: str | Path) -> Store:
        """Open an existing database read-only; statements that write are refused."""
        return cls(path, read_only=True)

    def close(self) -> None:
        """Close the connection."""
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- queries -------------------------------------------------------------------------------
    def query(self, sql: str, params: Sequence[Any] | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run SQL and return (column names, rows). On a read-only store only reads are allowed."""
        if self.read_only:
            for stmt in self.con.extract_statements(sql):
                kind = stmt.type.name
                if kind not in _READ_TYPES:
                    raise ReadOnlyError(f"refused: {kind} statement on a read-only database (only SELECT is allowed)")
        try:
            cur = self.con.execute(sql, params or [])
        except duckdb.Error as e:
            if self.read_only and ("read-only" in str(e).lower() or "read only" in str(e).lower()):
                raise ReadOnlyError(str(e)) from e
            raise
        cols = [d[0] for d in cur.description] if cur.description else []
        return cols, cur.fetchall()

    def done_item_ids(self, judge_id: str) -> set[str]:
        """Item ids this judge already finished (ok or needs_review)."""
        rows = self.con.execute(
            "SELECT item_id FROM verdicts WHERE judge_id = ? AND status IN ('ok', 'needs_review')", [judge_id]
        ).fetchall()
        return {r[0] for r in rows}

    # -- writes --------------------------------------------------------------------------------
    def run_with_batch(self, data: pa.Table | dict[str, list[Any]], statements: Sequence[str],
                       params: Sequence[Sequence[Any]] | None = None) -> None:
        """Run `statements` in one transaction with `data` registered as the table `_batch`."""
        self.con.register("_batch", data if isinstance(data, pa.Table) else pa.table(data))
        try:
            self.con.execute("BEGIN TRANSACTION")
            for i, sql in enumerate(statements):
                self.con.execute(sql, list(params[i]) if params else [])
            self.con.execute("COMMIT")
        except Exception:
            self.con.execute("ROLLBACK")
            raise
        finally:
            self.con.unregister("_batch")

    def _insert_arrow(self, table: str, cols: list[str], data: pa.Table | dict[str, list[Any]], conflict: str) -> None:
        if not isinstance(data, pa.Table):
            data = pa.table({c: data[c] for c in cols})
        if data.num_rows == 0:
            return
        self.run_with_batch(data, [f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(cols)} FROM _batch "
                                   f"{conflict}"])

    def upsert_items(self, items: Iterable[Item]) -> None:
        """Insert items; an existing item_id keeps its row but gets the new content."""
        rows = []
        seen: set[str] = set()
        for it in items:
            if it.item_id in seen:
                continue
            seen.add(it.item_id)
            rows.append({
                "item_id": it.item_id, "dimension": it.dimension, "task": it.task, "question": it.question,
                "options": json.dumps(it.options, ensure_ascii=False) if it.options is not None else None,
                "reference_answer": it.reference_answer, "model": it.model, "response": it.response,
                "meta": json.dumps(it.meta, ensure_ascii=False, default=str),
            })
        updates = ", ".join(f"{c} = excluded.{c}" for c in _ITEM_COLS if c != "item_id")
        for i in range(0, len(rows), 50_000):
            chunk = rows[i:i + 50_000]
            self._insert_arrow("items", _ITEM_COLS, {c: [r[c] for r in chunk] for c in _ITEM_COLS},
                               f"ON CONFLICT (item_id) DO UPDATE SET {updates}")

    def write_verdicts(self, verdicts: Sequence[Verdict], run_id: str | None = None) -> None:
        """Write a batch of verdicts in one transaction; (item_id, judge_id) is replaced, never duplicated."""
        plain = [c for c in _VERDICT_COLS if c not in ("run_id", "secondary", "flags")]
        columns: dict[str, list[Any]] = {c: [getattr(v, c) for v in verdicts] for c in plain}
        columns["run_id"] = [run_id] * len(verdicts)
        columns["secondary"] = [json.dumps(v.secondary) for v in verdicts]
        columns["flags"] = [json.dumps(v.flags) for v in verdicts]
        self._upsert_verdicts(columns)

    def write_verdict_table(self, table: pa.Table | pd.DataFrame, run_id: str | None = None) -> int:
        """Bulk-write verdict rows given as columns (Arrow or pandas, `_VERDICT_COLS` names; missing ones are null).

        The fast path for imports and large copies: rows are checked column-wise (required ids and status,
        category only on ok rows and always a taxonomy code) instead of one Verdict object per row.
        Returns the number of rows written.
        """
        data = pa.Table.from_pandas(table, preserve_index=False) if isinstance(table, pd.DataFrame) else table
        check_verdict_table(data)
        n = data.num_rows
        columns = {c: data.column(c) if c in data.column_names else pa.nulls(n, pa.string()) for c in _VERDICT_COLS}
        if run_id is not None:
            columns["run_id"] = pa.array([run_id] * n, pa.string())
        for c, default in (("secondary", "[]"), ("flags", "[]"), ("source", "llm")):
            if c not in data.column_names:
                columns[c] = pa.array([default] * n, pa.string())
        if "attempts" not in data.column_names:
            columns["attempts"] = pa.array([1] * n, pa.int32())
        self._upsert_verdicts(pa.table(columns))
        return n

    def _upsert_verdicts(self, data: pa.Table | dict[str, list[Any]]) -> None:
        updates = ", ".join(f"{c} = excluded.{c}" for c in _VERDICT_COLS if c not in ("item_id", "judge_id"))
        self._insert_arrow(
            "verdicts", _VERDICT_COLS, data,
            f"ON CONFLICT (item_id, judge_id) DO UPDATE SET {updates}, created_at = now()",
        )

    def register_judge(self, judge_id: str, identity: dict[str, Any]) -> None:
        """Record a judge's identity (model, prompt version, taxonomy version, settings)."""
        self.con.execute(
            "INSERT INTO judges (judge_id, model, prompt_version, taxonomy_version, identity) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (judge_id) DO NOTHING",
            [judge_id, identity.get("model"), identity.get("prompt_version"), identity.get("taxonomy_version"),
             json.dumps(identity, ensure_ascii=False, default=str)],
        )

    def start_run(self, kind: str, judge_id: str, input_desc: str, settings: dict[str, Any]) -> str:
        """Create a run row and return its id."""
        run_id = uuid.uuid4().hex[:16]
        self.con.execute(
            "INSERT INTO runs (run_id, kind, judge_id, input, started_at, settings) VALUES (?, ?, ?, ?, ?, ?)",
            [run_id, kind, judge_id, input_desc, _now(), json.dumps(settings, ensure_ascii=False, default=str)],
        )
        return run_id

    def finish_run(self, run_id: str, **fields: Any) -> None:
        """Fill a run row's counters and finish time."""
        fields["finished_at"] = _now()
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.con.execute(f"UPDATE runs SET {sets} WHERE run_id = ?", [*fields.values(), run_id])

    # -- reads used by pipelines ---------------------------------------------------------------
    def load_items(self, where: str = "TRUE", params: Sequence[Any] | None = None) -> list[Item]:
        """Items stored in the DB matching a SQL condition on the items table."""
        rows = self.con.execute(f"SELECT {', '.join(_ITEM_COLS)} FROM items WHERE {where} ORDER BY item_id",
                                params or []).fetchall()
        out = []
        for r in rows:
            d = dict(zip(_ITEM_COLS, r, strict=True))
            d["options"] = json.loads(d["options"]) if d["options"] else None
            d["meta"] = json.loads(d["meta"]) if d["meta"] else {}
            out.append(Item(**d))
        return out
