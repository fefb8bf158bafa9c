"""Verdict shards: Parquet files of verdict rows that a distributed run writes, queried in place and merged into the store.

A shard holds the columns of the verdicts table (`VERDICT_COLUMNS`, plus `created_at`: when the row was made) in
one fixed Arrow schema, so shards of any batch read together. Writes are atomic: a shard is written under a hidden
temporary name in the same folder and renamed, so readers see whole shards or none. A shard's name derives from
its judge and its items, so a batch written twice (a retried batch) replaces its file instead of adding one; readers
still keep only the newest row per (item_id, judge_id).

`query_shards` runs read-only SQL over a folder (views `verdicts` and `verdict_shards`) on an in-memory DuckDB that
may read that folder and nothing else. `ShardsMixin.merge_verdict_shards` copies a folder's rows into the store
through the checked bulk path, then deletes the shards it merged: the store stays their single writer.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from judge.store.guard import refuse_writes
from judge.store.verdicts import VERDICT_COLUMNS

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from judge.core.models import Verdict
    from judge.store import Store

SHARD_SUFFIX = ".parquet"
"""Shard files end with this; temporaries being written start with a dot and end with `.tmp`."""
SHARD_COLUMNS = [*VERDICT_COLUMNS, "created_at"]
"""Columns of a shard, in order."""
_INT_COLUMNS = {"prompt_tokens", "completion_tokens", "attempts"}
_FLOAT_COLUMNS = {"confidence", "latency_ms", "cost_usd"}


def shard_schema() -> pa.Schema:
    """The Arrow schema of every shard: strings, except numbers for scores, tokens and times (secondary and flags
    are JSON text, as in the verdicts table)."""
    import pyarrow as pa

    def kind(c: str) -> pa.DataType:
        if c in _INT_COLUMNS:
            return pa.int64()
        if c in _FLOAT_COLUMNS:
            return pa.float64()
        if c == "created_at":
            return pa.timestamp("us")
        return pa.string()

    return pa.schema([pa.field(c, kind(c), nullable=c not in ("item_id", "judge_id", "status")) for c in SHARD_COLUMNS])


def verdict_rows(verdicts: Sequence[Verdict], run_id: str | None) -> pa.Table:
    """Verdicts as shard rows (created_at: now, UTC)."""
    import pyarrow as pa

    from judge.store.runs import now

    created = now()
    plain = [c for c in VERDICT_COLUMNS if c not in ("run_id", "secondary", "flags")]
    columns: dict[str, list[Any]] = {c: [getattr(v, c) for v in verdicts] for c in plain}
    columns["run_id"] = [run_id] * len(verdicts)
    columns["secondary"] = [json.dumps(v.secondary) for v in verdicts]
    columns["flags"] = [json.dumps(v.flags) for v in verdicts]
    columns["created_at"] = [created] * len(verdicts)
    return pa.table({c: columns[c] for c in SHARD_COLUMNS}, schema=shard_schema())


def shard_name(table: pa.Table) -> str:
    """The file name of a shard: its first judge_id and a hash of its (judge_id, item_id) pairs."""
    judges = table.column("judge_id").to_pylist()
    keys = sorted(zip(judges, table.column("item_id").to_pylist(), strict=True))
    digest = hashlib.sha256("\n".join(f"{j}\t{i}" for j, i in keys).encode()).hexdigest()[:20]
    return f"verdicts-{judges[0] if judges else 'none'}-{digest}{SHARD_SUFFIX}"


def write_shard(folder: str | Path, table: pa.Table) -> Path | None:
    """Write `table` (shard rows) to `folder` atomically; returns the shard's path (None for an empty table)."""
    import pyarrow.parquet as pq

    if table.num_rows == 0:
        return None
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    table = table.select(SHARD_COLUMNS).cast(shard_schema())
    final = folder / shard_name(table)
    tmp = folder / f".{final.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return final


def shard_files(folder: str | Path) -> list[Path]:
    """The finished shards in `folder` (none when it does not exist), oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    files = [p for p in folder.iterdir() if p.name.endswith(SHARD_SUFFIX) and not p.name.startswith(".")]
    return sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.name))


def clear_partial(folder: str | Path) -> int:
    """Delete temporaries left by writers that stopped mid-write; returns how many (call with no writer running)."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    partial = [p for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")]
    for p in partial:
        p.unlink(missing_ok=True)
    return len(partial)


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


_NEWEST = ("SELECT {cols} FROM read_parquet({files}, union_by_name = true) "
           "QUALIFY row_number() OVER (PARTITION BY item_id, judge_id ORDER BY created_at DESC) = 1")


def _arrow_batches(rel: Any, rows: int) -> Iterable[pa.RecordBatch]:
    reader = rel.to_arrow_reader(rows) if hasattr(rel, "to_arrow_reader") else rel.fetch_arrow_reader(rows)
    yield from reader


def query_shards(folder: str | Path, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run read-only SQL over the shards of `folder`: view `verdicts` (the newest row per item and judge, the
    verdicts table's columns) and `verdict_shards` (every row, with the file it came from).

    The query runs on an in-memory DuckDB that may read `folder` only: external access is off outside it, the
    configuration is locked, and statements other than SELECT, EXPLAIN and PRAGMA are refused.
    """
    import duckdb

    path = Path(folder)
    if not path.is_dir():
        raise FileNotFoundError(f"no shard folder at {path}")
    root = str(path.resolve())
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET allowed_directories = ?", [[root + os.sep]])
        if shard_files(path):
            glob = _sql_text(os.path.join(root, "*" + SHARD_SUFFIX))
            con.execute(f"CREATE VIEW verdict_shards AS SELECT * FROM read_parquet({glob}, union_by_name = true, "
                        "filename = true)")
            con.execute(f"CREATE VIEW verdicts AS {_NEWEST.format(cols=', '.join(SHARD_COLUMNS), files=glob)}")
        else:
            empty = shard_schema().empty_table()
            con.register("_empty", empty)
            con.execute("CREATE TABLE verdicts AS SELECT * FROM _empty")
            con.execute("CREATE TABLE verdict_shards AS SELECT *, NULL::VARCHAR AS filename FROM _empty")
            con.unregister("_empty")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        refuse_writes(con, sql)
        cur = con.execute(sql)
        cols = [d[0] for d in cur.description] if cur.description else []
        return cols, cur.fetchall()
    finally:
        con.close()


class ShardsMixin:
    """Store methods that bring verdict shards into the verdicts table."""

    def merge_verdict_shards(self: Store, folder: str | Path, on_rows: Callable[[pa.Table], None] | None = None,
                             chunk_rows: int = 100_000) -> int:
        """Merge the shards of `folder` into the verdicts table and delete them; returns the rows written.

        The newest row per (item_id, judge_id) across the shards is written through `write_verdict_table` (its
        column checks apply; an existing row of the same item and judge is replaced), `chunk_rows` rows per
        transaction; `on_rows` sees each chunk written. Shards are deleted only after every chunk is written, so
        a merge that stops part-way is simply done again (the writes replace, never duplicate).
        """
        files = shard_files(folder)
        if not files:
            return 0
        listed = "[" + ", ".join(_sql_text(str(p)) for p in files) + "]"
        cols = [c for c in SHARD_COLUMNS if c != "created_at"]
        reader = self.con.cursor()  # a second connection to the same database: it streams while self.con writes
        written = 0
        try:
            for batch in _arrow_batches(reader.sql(_NEWEST.format(cols=", ".join(cols), files=listed)), chunk_rows):
                import pyarrow as pa

                table = pa.Table.from_batches([batch])
                written += self.write_verdict_table(table)
                if on_rows is not None:
                    on_rows(table)
        finally:
            reader.close()
        for p in files:
            p.unlink(missing_ok=True)
        return written
