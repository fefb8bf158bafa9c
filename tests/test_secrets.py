"""A planted API key is used for the calls but never stored, logged or printed; `medjudge sql` never writes."""

from __future__ import annotations

import inspect
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from judge.cli.app import app
from judge.core.exceptions import EndpointConfigError
from judge.run.factory import make_judge
from judge.run.runner import label
from judge.testing import Fault, verdict_json
from tests.conftest import FIXTURES, REPO, load_items

KEY = "sk-PLANTED-SECRET-123"
NEEDLES = (KEY, "PLANTED-SECRET")
LITELLM_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy")


def assert_clean(what: str, text: str | bytes) -> None:
    for needle in NEEDLES:
        found = needle.encode() in text if isinstance(text, bytes) else needle in text
        assert not found, f"the API key leaked into {what}"


def every_table_text(db: Path) -> str:
    con = duckdb.connect(str(db), read_only=True)
    try:
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()]
        parts = []
        for name in names:
            parts.append(json.dumps(con.execute(f'SELECT * FROM "{name}"').fetchall(), default=str, ensure_ascii=False))
    finally:
        con.close()
    assert {"items", "verdicts", "runs", "judges"} <= set(names)
    return "\n".join(parts)


def db_bytes(db: Path) -> bytes:
    wal = Path(f"{db}.wal")
    return db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


@pytest.fixture
def debug_logging(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Everything at DEBUG, litellm's own loggers included; restored afterwards."""
    import litellm

    levels = {name: logging.getLogger(name).level for name in LITELLM_LOGGERS}
    verbose = litellm.set_verbose
    caplog.set_level(logging.DEBUG)
    litellm._turn_on_debug()
    litellm.set_verbose = True
    try:
        yield caplog
    finally:
        litellm.set_verbose = verbose
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


class KeyCheckingResponder:
    """Answers like a provider: verdicts for the planted key, and faults to exercise the error paths."""

    def __init__(self) -> None:
        self.n = 0
        self.lock = threading.Lock()

    def __call__(self, body: dict) -> Fault | str:
        with self.lock:
            self.n += 1
            n = self.n
        if n % 5 == 0:
            return Fault(500, body='{"error": {"message": "upstream failed", "type": "server_error"}}')
        if n % 7 == 0:
            return "not json at all"
        return verdict_json("omission", 0.7)


def test_api_key_is_used_but_never_stored_logged_or_printed(stub_server, tmp_path, debug_logging, capfd, transport):
    server = stub_server(KeyCheckingResponder())
    db = tmp_path / "secret.duckdb"
    judge = make_judge("openai/stub", api_base=server.base_url, api_key=KEY, backoff_s=0.01, backoff_max_s=0.02,
                       transport_retries=1, max_retries=1, transport=transport)
    summary = label(load_items(), store=db, judge=judge, concurrency=3, progress=True)
    assert sum(summary.status_counts.values()) == len(load_items())

    auth = {next((v for k, v in h.items() if k.lower() == "authorization"), None) for h in server.headers}
    assert auth == {f"Bearer {KEY}"}, "every request carried the key"

    # an authentication failure is where providers and clients like to echo credentials
    server.responder = lambda body: Fault(401, body='{"error": {"message": "Incorrect API key provided", '
                                                    '"type": "invalid_request_error"}}')
    with pytest.raises(EndpointConfigError) as denied:
        label(load_items(), store=db, judge=make_judge("openai/stub", api_base=server.base_url, api_key=KEY,
                                                       temperature=0.5, transport=transport), progress=False)
    assert_clean("the configuration error", str(denied.value))
    assert "Incorrect API key provided" in str(denied.value)

    assert debug_logging.records, "debug logging was captured"
    out, err = capfd.readouterr()
    assert_clean("the captured log records", debug_logging.text)
    assert_clean("the captured log records", "\n".join(str(r.__dict__) for r in debug_logging.records))
    assert_clean("stdout", out)
    assert_clean("stderr", err)
    assert_clean("the tables", every_table_text(db))
    assert_clean("the DuckDB file", db_bytes(db))
    assert_clean("the judge identity", json.dumps(judge.identity()))
    assert_clean("the judge repr", repr(judge.settings))
    assert_clean("the transport repr", repr(judge.transport))


def test_cli_label_does_not_print_or_store_the_key(stub_server, tmp_path):
    server = stub_server(lambda body: verdict_json("hallucination", 0.8) if "t3" not in str(body) else Fault(503))
    db = tmp_path / "cli.duckdb"
    env = {**os.environ, "LITELLM_LOG": "DEBUG", "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONPATH": str(REPO)}
    env.pop("MEDJUDGE_API_KEY", None)
    proc = subprocess.run(
        [sys.executable, "-c", "from judge.cli.app import main; main()", "label", str(FIXTURES / "items_small.jsonl"),
         "--db", str(db), "--model", "openai/stub", "--api-base", server.base_url, "--api-key", KEY,
         "--no-progress", "--timeout", "5"],
        capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "status ok" in proc.stdout
    assert {h.get("authorization") for h in server.headers} == {f"Bearer {KEY}"}
    assert_clean("the CLI's stdout", proc.stdout)
    assert_clean("the CLI's stderr", proc.stderr)
    assert_clean("the tables", every_table_text(db))
    assert_clean("the DuckDB file", db_bytes(db))


def test_report_does_not_contain_the_key(stub_server, tmp_path):
    report = pytest.importorskip("judge.report.build")
    build_report = getattr(report, "build_report", None)
    if build_report is None:
        pytest.skip("judge.report.build has no build_report")
    params = list(inspect.signature(build_report).parameters)
    if params[:2] != ["db", "out"]:
        pytest.skip(f"unexpected build_report signature {params}")
    server = stub_server(lambda body: verdict_json("omission", 0.7))
    db = tmp_path / "report.duckdb"
    label(load_items(), store=db, judge=make_judge("openai/stub", api_base=server.base_url, api_key=KEY),
          progress=False)
    for fmt in ("html", "md"):
        out = Path(build_report(db, tmp_path / f"report.{fmt}", fmt=fmt))
        assert out.stat().st_size > 0
        assert_clean(f"the {fmt} report", out.read_bytes())
    for extra in tmp_path.glob("report_*"):
        assert_clean(f"report file {extra.name}", extra.read_bytes())


# -- medjudge sql is read-only --------------------------------------------------------------------------
WRITES = [
    "DELETE FROM verdicts",
    "UPDATE verdicts SET category = 'omission'",
    "INSERT INTO judges (judge_id) VALUES ('x')",
    "CREATE TABLE stolen AS SELECT * FROM verdicts",
    "DROP TABLE verdicts",
    "ALTER TABLE verdicts ADD COLUMN x INTEGER",
    "COPY verdicts TO '{tmp}/out.csv'",
    "COPY (SELECT * FROM items) TO '{tmp}/out.parquet' (FORMAT parquet)",
    "ATTACH '{tmp}/other.duckdb' AS other",
    "SELECT 1; DELETE FROM verdicts",
    "SELECT count(*) FROM verdicts; UPDATE verdicts SET status = 'ok'",
    "INSTALL httpfs",
    "SET enable_external_access = true",
    "CHECKPOINT",
    "EXPORT DATABASE '{tmp}/dump'",
]


@pytest.fixture
def labelled_db(stub_server, tmp_path) -> Path:
    server = stub_server(lambda body: verdict_json("omission", 0.7))
    db = tmp_path / "ro.duckdb"
    label(load_items(), store=db, judge=make_judge("openai/stub", api_base=server.base_url), progress=False)
    return db


@pytest.mark.parametrize("statement", WRITES)
def test_sql_command_refuses_writes(statement, labelled_db, tmp_path):
    before = db_bytes(labelled_db)
    sql = statement.format(tmp=tmp_path)
    result = CliRunner().invoke(app, ["sql", sql, "--db", str(labelled_db)])
    assert result.exit_code != 0, result.output
    message = result.output.lower()
    assert "error" in message and ("refused" in message or "read-only" in message or "read only" in message), message
    assert db_bytes(labelled_db) == before
    assert not any(p.name.startswith(("out.", "other.", "dump")) for p in tmp_path.iterdir())


def test_sql_command_still_reads(labelled_db):
    result = CliRunner().invoke(app, ["sql", "SELECT count(*) AS n FROM verdicts", "--db", str(labelled_db),
                                      "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["n", str(len(load_items()))]
