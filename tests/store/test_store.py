"""The DuckDB store: schema from migrations, idempotent open, upserts, read-only SQL."""

from __future__ import annotations

import duckdb
import pytest

from judge.core.exceptions import ReadOnlyError
from judge.core.models import Item, Verdict
from judge.store.migrations import MIGRATIONS
from judge.store.store import Store

VERDICT_COLUMNS = [
    "item_id", "judge_id", "run_id", "status", "category", "rationale", "evidence", "confidence", "secondary", "error",
    "source", "model", "prompt_version", "prompt_hash", "latency_ms", "prompt_tokens", "completion_tokens", "cost_usd",
    "attempts", "flags", "created_at",
]
ITEM_COLUMNS = ["item_id", "dimension", "task", "question", "options", "reference_answer", "model", "response", "meta",
                "added_at", "correct", "score", "extracted", "score_method"]
RUN_COLUMNS = ["run_id", "kind", "judge_id", "input", "started_at", "finished_at", "n_input", "n_skipped", "n_ok",
               "n_needs_review", "n_failed", "prompt_tokens", "completion_tokens", "cost_usd", "wall_s", "settings",
               "status", "error"]


def columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
        [table]).fetchall()]


def test_fresh_db_has_exact_columns(tmp_path):
    with Store(tmp_path / "a.duckdb") as st:
        assert columns(st.con, "verdicts") == VERDICT_COLUMNS
        assert columns(st.con, "runs") == RUN_COLUMNS
        assert columns(st.con, "items")[: len(ITEM_COLUMNS)] == ITEM_COLUMNS
        assert columns(st.con, "error_distribution") == ["dimension", "model", "judge_id", "category", "n", "share"]
        applied = st.con.execute("SELECT version, name FROM _migrations ORDER BY version").fetchall()
        assert [n for _, n in applied][:3] == ["m001_initial", "m002_scoring", "m003_calibration_runs"]
        assert len(applied) == len(MIGRATIONS)


def test_reopen_is_idempotent_and_upgrades_old_files(tmp_path):
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE _migrations (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)")
    MIGRATIONS[0](con)
    con.execute("INSERT INTO _migrations VALUES (1, 'm001_initial', now())")
    con.close()
    with Store(path) as st:  # an old file gets the later migrations
        assert "correct" in columns(st.con, "items")
    with Store(path) as st:
        n = st.con.execute("SELECT count(*) FROM _migrations").fetchone()[0]
    assert n == len(MIGRATIONS)


def test_old_input_error_rows_move_to_ingest_problems_and_calibration_items_get_their_origin(tmp_path):
    """A database written before m005: input errors were failed verdicts on placeholder items, calibration items
    looked like benchmark items. Opening it moves the errors into ingest_problems and marks the gold items."""
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE _migrations (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)")
    for version, fn in enumerate(MIGRATIONS[:4], start=1):
        fn(con)
        con.execute("INSERT INTO _migrations VALUES (?, ?, now())", [version, fn.__name__])
    con.execute("INSERT INTO items (item_id, question, response, model, dimension, meta) VALUES "
                "('input-error:other.csv:1', '', '', NULL, NULL, "
                "'{\"source_file\": \"other.csv\", \"line\": 1, \"input_error\": \"no question column\"}'), "
                "('b1', 'q', 'r', 'm', 'knowledge_qa', '{}'), ('MJG-1', 'q', 'r', 'gold-model', 'knowledge_qa', '{}')")
    con.execute("INSERT INTO runs (run_id, kind, judge_id, input, started_at, finished_at) VALUES "
                "('r1', 'label', 'j', 'other.csv', now(), now()), ('r2', 'label', 'j', 'gold:g.jsonl:test', now(), now())")
    con.execute("INSERT INTO verdicts (item_id, judge_id, run_id, status, category, error, source) VALUES "
                "('input-error:other.csv:1', 'j', 'r1', 'failed', NULL, 'other.csv:1: no question column', 'input'), "
                "('b1', 'j', 'r1', 'ok', 'omission', NULL, 'llm'), ('MJG-1', 'j', 'r2', 'ok', 'hallucination', NULL, 'llm')")
    con.close()
    with Store(path) as st:
        assert st.query("SELECT source_file, line, kind, message FROM ingest_problems")[1] == [
            ("other.csv", 1, "input_error", "other.csv:1: no question column")]
        assert st.query("SELECT item_id FROM verdicts ORDER BY item_id")[1] == [("MJG-1",), ("b1",)]
        assert st.query("SELECT item_id, origin FROM items ORDER BY item_id")[1] == [("MJG-1", "gold"), ("b1", None)]
        assert st.query("SELECT model, category FROM error_distribution")[1] == [("m", "omission")]
        assert st.query("SELECT DISTINCT status FROM runs")[1] == [("finished",)]


def test_verdicts_unique_per_item_and_judge(tmp_path):
    with Store(tmp_path / "a.duckdb") as st:
        st.upsert_items([Item(item_id="x", question="q", response="r", dimension="knowledge_qa", model="m")])
        st.write_verdicts([Verdict(item_id="x", judge_id="j1", status="failed", error="boom")], "r1")
        st.write_verdicts([Verdict(item_id="x", judge_id="j1", status="ok", category="omission")], "r2")
        st.write_verdicts([Verdict(item_id="x", judge_id="j2", status="ok", category="hallucination")], "r3")
        rows = st.query("SELECT judge_id, status, category, run_id FROM verdicts ORDER BY judge_id")[1]
        assert rows == [("j1", "ok", "omission", "r2"), ("j2", "ok", "hallucination", "r3")]
        assert st.done_item_ids("j1") == {"x"}
        dist = st.query("SELECT judge_id, category, n, share FROM error_distribution ORDER BY judge_id")[1]
        assert dist == [("j1", "omission", 1, 1.0), ("j2", "hallucination", 1, 1.0)]


def test_error_distribution_shares(tmp_path):
    with Store(tmp_path / "a.duckdb") as st:
        st.upsert_items([Item(item_id=str(i), question="q", response="r", dimension="safety_ethics", model="m")
                         for i in range(4)])
        cats = ["omission", "omission", "hallucination", None]
        st.write_verdicts([Verdict(item_id=str(i), judge_id="j", status="ok" if c else "needs_review", category=c)
                           for i, c in enumerate(cats)])
        rows = dict(st.query("SELECT category, share FROM error_distribution")[1])
        assert rows == {"omission": pytest.approx(2 / 3), "hallucination": pytest.approx(1 / 3)}


@pytest.mark.parametrize("sql", [
    "DELETE FROM verdicts", "UPDATE verdicts SET status = 'ok'", "CREATE TABLE t (x INT)", "DROP TABLE items",
    "INSERT INTO items (item_id) VALUES ('z')", "COPY verdicts TO 'out.csv'", "ATTACH 'other.duckdb' AS o",
    "SELECT 1; DELETE FROM verdicts",
])
def test_readonly_refuses_writes(tmp_path, sql):
    path = tmp_path / "a.duckdb"
    with Store(path) as st:
        st.write_verdicts([Verdict(item_id="x", judge_id="j", status="ok", category="omission")])
    with Store.readonly(path) as ro, pytest.raises(ReadOnlyError):
        ro.query(sql)
    with Store.readonly(path) as ro:
        assert ro.query("SELECT count(*) FROM verdicts")[1] == [(1,)]


def test_readonly_blocks_file_access_and_missing_db(tmp_path):
    path = tmp_path / "a.duckdb"
    Store(path).close()
    with Store.readonly(path) as ro, pytest.raises(duckdb.Error):
        ro.query("SELECT * FROM read_csv('/etc/hostname')")
    with pytest.raises(FileNotFoundError):
        Store.readonly(tmp_path / "missing.duckdb")


def test_m005_upgrades_a_scored_file_and_keeps_its_problems(tmp_path):
    """A database scored before coverage and the silver key existed gets both; its old problems count as skipped."""
    path = tmp_path / "m004.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE _migrations (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)")
    for version, fn in enumerate(MIGRATIONS[:4], start=1):
        fn(con)
        con.execute("INSERT INTO _migrations VALUES (?, ?, now())", [version, fn.__name__])
    con.execute("INSERT INTO ingest_problems (source_file, line, kind, message) VALUES ('f.jsonl', 3, 'duplicate', 'x')")
    con.close()
    with Store(path) as st:
        assert columns(st.con, "coverage")[:3] == ["model", "task", "dimension"]
        assert "support" in columns(st.con, "silver_key") and "key_label" in columns(st.con, "silver_accuracy")
        assert st.con.execute("SELECT kind, skipped FROM ingest_problems").fetchall() == [("duplicate", True)]
        assert st.problem_groups()[0]["skipped"] is True
        assert st.silver_rows(by_task=False) == [] and st.coverage_rows() == []


def test_a_batch_that_partly_clashes_replaces_the_clashing_rows_and_adds_the_rest(tmp_path):
    with Store(tmp_path / "a.duckdb") as st:
        st.write_verdicts([Verdict(item_id=f"x{i}", judge_id="j", status="ok", category="omission") for i in range(3)],
                          "r1")
        # x2 clashes with the table and comes after two new rows: the plain INSERT fails, the upsert writes all four
        st.write_verdicts([Verdict(item_id=i, judge_id="j", status="ok", category="hallucination")
                           for i in ("x3", "x4", "x2", "x5")], "r2")
        rows = st.query("SELECT item_id, category, run_id FROM verdicts ORDER BY item_id")[1]
        assert rows == [("x0", "omission", "r1"), ("x1", "omission", "r1"), ("x2", "hallucination", "r2"),
                        ("x3", "hallucination", "r2"), ("x4", "hallucination", "r2"), ("x5", "hallucination", "r2")]
