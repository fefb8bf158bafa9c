"""Parquet verdict shards: atomic, idempotent writes; read-only SQL over a folder; merging into the store."""

from __future__ import annotations

import time

import pytest

from judge.core.exceptions import ReadOnlyError
from judge.core.models import Verdict
from judge.store import Store
from judge.store.shards import SHARD_COLUMNS, clear_partial, query_shards, shard_files, verdict_rows, write_shard
from judge.store.verdicts import VERDICT_COLUMNS
from tests.conftest import db_rows


def verdicts(ids: list[str], category: str = "omission", judge_id: str = "j1", **kw) -> list[Verdict]:
    return [Verdict(item_id=i, judge_id=judge_id, status="ok", category=category, confidence=0.7, model="m",
                    secondary=["hallucination"], flags=["prompt_injection_suspected"], **kw) for i in ids]


def test_a_shard_has_the_verdict_columns_and_the_same_batch_writes_the_same_file(tmp_path):
    table = verdict_rows(verdicts(["a", "b"]) + [Verdict(item_id="c", judge_id="j1", status="failed", error="boom")],
                         "run-1")
    assert table.column_names == SHARD_COLUMNS == [*VERDICT_COLUMNS, "created_at"]
    first = write_shard(tmp_path, table)
    again = write_shard(tmp_path, verdict_rows(verdicts(["b", "a"], category="unanswered") +
                                               [Verdict(item_id="c", judge_id="j1", status="failed", error="x")],
                                               "run-2"))
    assert first == again and shard_files(tmp_path) == [first], "a retried batch replaces its shard"
    assert write_shard(tmp_path, verdict_rows([], "run-3")) is None
    assert not list(tmp_path.glob(".*"))


def test_sql_over_shards_keeps_the_newest_row_per_item_and_judge(tmp_path):
    write_shard(tmp_path, verdict_rows(verdicts(["a", "b"], category="omission"), "r1"))
    time.sleep(0.01)
    write_shard(tmp_path, verdict_rows(verdicts(["b"], category="hallucination"), "r2"))
    write_shard(tmp_path, verdict_rows(verdicts(["a"], category="unanswered", judge_id="j2"), "r3"))
    (tmp_path / ".verdicts-half.parquet.99.tmp").write_bytes(b"not parquet yet")
    cols, rows = query_shards(tmp_path, "SELECT item_id, judge_id, category, run_id, secondary, flags FROM verdicts "
                                        "ORDER BY 1, 2")
    assert cols == ["item_id", "judge_id", "category", "run_id", "secondary", "flags"]
    assert rows == [("a", "j1", "omission", "r1", '["hallucination"]', '["prompt_injection_suspected"]'),
                    ("a", "j2", "unanswered", "r3", '["hallucination"]', '["prompt_injection_suspected"]'),
                    ("b", "j1", "hallucination", "r2", '["hallucination"]', '["prompt_injection_suspected"]')]
    _, raw = query_shards(tmp_path, "SELECT count(*), count(DISTINCT filename) FROM verdict_shards")
    assert raw == [(4, 3)]


def test_sql_over_shards_reads_nothing_else_and_writes_nothing(tmp_path):
    folder = tmp_path / "shards"
    write_shard(folder, verdict_rows(verdicts(["a"]), "r1"))
    (tmp_path / "secret.csv").write_text("k\nsk-123\n", encoding="utf-8")
    refused = [f"SELECT * FROM read_csv('{tmp_path / 'secret.csv'}')",
               f"SELECT * FROM read_parquet('{folder}/../secret.csv')",
               "SELECT * FROM glob('/etc/*')"]
    for sql in refused:
        with pytest.raises(Exception, match="disabled by configuration|Permission"):
            query_shards(folder, sql)
    for sql in (f"COPY (SELECT 1) TO '{folder}/x.parquet'", "CREATE TABLE t AS SELECT 1",
                f"ATTACH '{tmp_path / 'x.duckdb'}'", "SET enable_external_access = true", "INSTALL httpfs"):
        with pytest.raises(ReadOnlyError):
            query_shards(folder, sql)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret.csv", "shards"]
    assert len(list(folder.iterdir())) == 1


def test_an_empty_or_missing_shard_folder(tmp_path):
    assert query_shards(tmp_path, "SELECT count(*) FROM verdicts") == (["count_star()"], [(0,)])
    cols, _ = query_shards(tmp_path, "SELECT * FROM verdicts")
    assert cols == SHARD_COLUMNS
    with pytest.raises(FileNotFoundError, match="no shard folder"):
        query_shards(tmp_path / "absent", "SELECT 1")


def test_merge_writes_the_newest_rows_once_then_deletes_the_shards(tmp_path):
    folder, db = tmp_path / "shards", tmp_path / "s.duckdb"
    write_shard(folder, verdict_rows(verdicts(["a", "b"]), "r1"))
    time.sleep(0.01)
    write_shard(folder, verdict_rows(verdicts(["a"], category="unanswered"), "r2"))
    write_shard(folder, verdict_rows([Verdict(item_id="c", judge_id="j1", status="failed", error="HTTP 500")], "r2"))
    (folder / ".verdicts-x.parquet.1.tmp").write_bytes(b"")
    seen: list[int] = []
    with Store(db) as st:
        st.write_verdicts(verdicts(["b"], category="hallucination"), "older")
        assert st.merge_verdict_shards(folder, on_rows=lambda t: seen.append(t.num_rows), chunk_rows=2) == 3
        assert st.merge_verdict_shards(folder) == 0
    assert sum(seen) == 3 and len(seen) == 2, "rows arrive in chunks of chunk_rows"
    assert db_rows(db, "SELECT item_id, status, category, run_id, error, json(secondary) FROM verdicts ORDER BY 1") == [
        ("a", "ok", "unanswered", "r2", None, '["hallucination"]'),
        ("b", "ok", "omission", "r1", None, '["hallucination"]'),
        ("c", "failed", None, "r2", "HTTP 500", "[]")]
    assert shard_files(folder) == []
    assert clear_partial(folder) == 1 and list(folder.iterdir()) == []


def test_a_shard_with_invalid_rows_is_refused_and_kept(tmp_path):
    import pyarrow as pa

    folder = tmp_path / "shards"
    table = verdict_rows([Verdict(item_id="a", judge_id="j1", status="failed", error="x")], "r1")
    bad = table.set_column(table.column_names.index("category"), "category", pa.array(["omission"], pa.string()))
    write_shard(folder, bad)
    with Store(tmp_path / "s.duckdb") as st, pytest.raises(ValueError, match="only ok rows may carry a category"):
        st.merge_verdict_shards(folder)
    assert len(shard_files(folder)) == 1
    assert db_rows(tmp_path / "s.duckdb", "SELECT count(*) FROM verdicts") == [(0,)]
