"""Errors a user can see and act on, through the CLI: exit codes, messages, and what the database holds after."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from judge.cli.app import app
from judge.cli.options import EXIT_BUSY, EXIT_FAILED_ITEMS, EXIT_INTERRUPTED, EXIT_USAGE
from judge.testing import Fault, verdict_json
from tests.conftest import FIXTURES, REPO, db_rows

runner = CliRunner()
ITEMS = FIXTURES / "items_small.jsonl"
KEY_VARS = ("OPENAI_API_KEY", "MEDJUDGE_API_KEY", "DEEPSEEK_API_KEY", "OPENAI_API_BASE", "OPENAI_BASE_URL")


@pytest.fixture
def no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in KEY_VARS:
        monkeypatch.delenv(var, raising=False)


def invoke(*args: str, **env: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "120", **env})


# --- configuration errors stop at once -----------------------------------------------------------------------------

def test_missing_key_stops_before_anything_is_written(tmp_path, no_keys):
    db = tmp_path / "v.duckdb"
    t0 = time.perf_counter()
    res = invoke("label", ITEMS, "--db", db, "--model", "openai/gpt-4o-mini", "--no-progress")
    assert res.exit_code == EXIT_USAGE, res.output
    assert "no API key for openai/gpt-4o-mini" in res.output and "OPENAI_API_KEY" in res.output
    assert "--api-key" in res.output and "Traceback" not in res.output
    assert not db.exists(), "nothing was judged, so no database was created"
    assert time.perf_counter() - t0 < 30  # no retries with backoff: it stops at once (generous bound)


def test_unknown_provider_stops(tmp_path, no_keys):
    res = invoke("label", ITEMS, "--db", tmp_path / "v.duckdb", "--model", "nosuchprovider/model-x", "--no-progress")
    assert res.exit_code == EXIT_USAGE and "unknown provider" in res.output, res.output


@pytest.mark.parametrize("transport", ["litellm", "direct"])
@pytest.mark.parametrize(("status", "says"), [(401, "the API key was refused"), (404, "model or endpoint not found")])
def test_refused_key_or_unknown_model_stops_the_run_with_no_failed_rows(stub_server, tmp_path, no_keys, transport,
                                                                        status, says):
    server = stub_server(lambda body: Fault(status, body='{"error": {"message": "rejected by the server"}}'))
    db = tmp_path / "v.duckdb"
    res = invoke("label", ITEMS, "--db", db, "--model", "openai/stub", "--api-base", server.base_url,
                 "--api-key", "sk-wrong", "--transport", transport, "--concurrency", "2", "--no-progress")
    assert res.exit_code == EXIT_USAGE, res.output
    assert says in res.output and "rejected by the server" in res.output
    assert server.count <= 2, "no retries, no further items sent once the first answer came back"
    assert db_rows(db, "SELECT count(*) FROM verdicts") == [(0,)], "items never judged leave no failed rows"
    assert db_rows(db, "SELECT status, error IS NOT NULL FROM runs") == [("aborted", True)]


# --- a run that ends with failed items ------------------------------------------------------------------------------

def test_failed_items_exit_3_and_the_common_errors_are_listed(stub_server, tmp_path):
    def respond(body):  # type: ignore[no-untyped-def]
        user = body["messages"][-1]["content"]
        failing = "二甲双胍控制血糖" in user or "阿莫西林0.5 g" in user
        return Fault(503, body='{"error": {"message": "overloaded"}}') if failing else verdict_json("omission")

    server = stub_server(respond)
    items = tmp_path / "items.jsonl"
    lines = ITEMS.read_text(encoding="utf-8").splitlines()
    items.write_text("\n".join(lines) + "\n", encoding="utf-8")
    db = tmp_path / "v.duckdb"
    res = invoke("label", items, "--db", db, "--model", "openai/stub", "--api-base", server.base_url, "--retries", "0",
                 "--no-progress")
    failed = db_rows(db, "SELECT count(*) FROM verdicts WHERE status = 'failed'")[0][0]
    assert failed == 2
    assert res.exit_code == EXIT_FAILED_ITEMS, res.output
    assert "most common errors" in res.output and f"{failed:>5} × " in res.output and "HTTP 503" in res.output
    assert f"verdicts are in {db}" in res.output


# --- input problems -------------------------------------------------------------------------------------------------

def test_bad_header_is_an_input_problem_not_a_verdict_and_is_gone_once_fixed(tmp_path):
    csv = tmp_path / "other.csv"
    csv.write_text("id,prompt,answer\nx1,高血压的一线药物有哪些？,利尿剂。\n", encoding="utf-8")
    db = tmp_path / "v.duckdb"
    res = invoke("label", csv, "--db", db, "--no-progress")
    assert res.exit_code == EXIT_USAGE, res.output
    assert f"{csv}:1" in res.output and "-c SOURCE=field" in res.output and "no usable line" in res.output
    assert db_rows(db, "SELECT count(*) FROM verdicts") == [(0,)]
    assert db_rows(db, "SELECT line, kind FROM ingest_problems") == [(1, "input_error")]
    ok = invoke("label", csv, "--db", db, "-c", "prompt=question", "-c", "answer=response", "--no-progress")
    assert ok.exit_code == 0, ok.output
    assert db_rows(db, "SELECT count(*) FROM ingest_problems") == [(0,)], "the fixed input left no problem behind"
    assert db_rows(db, "SELECT status FROM verdicts") == [("ok",)]


def test_wrong_paths_create_no_database(tmp_path):
    db = tmp_path / "v.duckdb"
    res = invoke("label", tmp_path / "nope.jsonl", "--db", db)
    assert res.exit_code == EXIT_USAGE and "input file not found" in res.output and not db.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    res = invoke("label", empty, "--db", db)
    assert res.exit_code == EXIT_USAGE and "holds no .jsonl" in res.output and not db.exists()
    res = invoke("label", "--only-wrong", "--db", db)
    assert res.exit_code == EXIT_USAGE and "no database at" in res.output and not db.exists()
    for cmd in (["report", "--db", db, "--out", tmp_path / "r.html"], ["sql", "--db", db, "SELECT 1"]):
        res = invoke(*cmd)
        assert res.exit_code == EXIT_USAGE and "no database at" in res.output and not db.exists(), cmd


def test_a_folder_of_inputs_is_read_file_by_file(tmp_path):
    folder = tmp_path / "answers"
    folder.mkdir()
    lines = ITEMS.read_text(encoding="utf-8").splitlines()
    (folder / "a.jsonl").write_text("\n".join(lines[:3]) + "\n", encoding="utf-8")
    (folder / "b.jsonl").write_text("\n".join(lines[3:]) + "\n{broken\n", encoding="utf-8")
    (folder / "notes.txt").write_text("not an input", encoding="utf-8")
    db = tmp_path / "v.duckdb"
    res = invoke("label", folder, "--db", db, "--no-progress")
    assert res.exit_code == 0, res.output
    assert db_rows(db, "SELECT count(*) FROM verdicts") == [(len(lines),)]
    assert db_rows(db, "SELECT source_file, line FROM ingest_problems") == [(str(folder / "b.jsonl"), len(lines) - 2)]


def test_huge_integer_id_and_cr_only_line_ends_lose_no_good_line(tmp_path):
    lines = ITEMS.read_text(encoding="utf-8").splitlines()
    huge = '{"item_id": ' + "7" * 5000 + ', "question": "q", "response": "r"}'
    mac = tmp_path / "mac.jsonl"
    mac.write_bytes("\r".join([lines[0], huge, lines[1]]).encode())
    db = tmp_path / "v.duckdb"
    res = invoke("label", mac, "--db", db, "--no-progress")
    assert res.exit_code == 0, res.output
    assert f"{mac}:2: invalid JSON" in res.output
    assert db_rows(db, "SELECT count(*) FROM verdicts") == [(2,)]


# --- the database in use, Ctrl-C ------------------------------------------------------------------------------------

def test_a_database_in_use_is_named_with_its_holder(tmp_path):
    db = tmp_path / "v.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('ready', flush=True); time.sleep(60)", str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        res = invoke("label", ITEMS, "--db", db, "--no-progress")
        assert res.exit_code == EXIT_BUSY, res.output
        assert "in use by another process" in res.output and f"PID {holder.pid}" in res.output
        assert "Traceback" not in res.output
    finally:
        holder.kill()
        holder.wait()


def test_ctrl_c_saves_what_was_judged_and_the_rerun_resumes(stub_server, tmp_path):
    server = stub_server(lambda body: verdict_json("omission"), latency_s=0.3)
    items = tmp_path / "many.jsonl"
    base = json.loads(ITEMS.read_text(encoding="utf-8").splitlines()[0])
    items.write_text("".join(json.dumps({**base, "item_id": f"c{i}"}, ensure_ascii=False) + "\n" for i in range(40)),
                     encoding="utf-8")
    db = tmp_path / "v.duckdb"
    cmd = [sys.executable, "-m", "judge", "label", str(items), "--db", str(db), "--model", "openai/stub",
           "--api-base", server.base_url, "--concurrency", "2", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while server.count < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_INTERRUPTED, out + err
    assert "interrupted:" in err and "run the same command again to resume" in err
    status, n_ok = db_rows(db, "SELECT status, n_ok FROM runs")[0]
    saved = db_rows(db, "SELECT count(*) FROM verdicts")[0][0]
    assert status == "interrupted" and n_ok == saved and 0 < saved < 40
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert db_rows(db, "SELECT count(*), count(DISTINCT item_id) FROM verdicts") == [(40, 40)]
    assert db_rows(db, "SELECT n_skipped FROM runs WHERE status = 'finished'") == [(saved,)]


# --- readable at 80 columns -----------------------------------------------------------------------------------------

def test_wide_sql_results_fit_80_columns_without_cutting_a_value(tmp_path):
    db = tmp_path / "v.duckdb"
    assert invoke("label", ITEMS, "--db", db, "--no-progress").exit_code == 0
    res = invoke("sql", "--db", db, "SELECT item_id, judge_id, status, category, source, model, prompt_version, "
                 "confidence FROM verdicts", COLUMNS="80")
    assert res.exit_code == 0, res.output
    assert max(len(line) for line in res.output.splitlines()) <= 80
    categories = [r[0] for r in db_rows(db, "SELECT category FROM verdicts")]
    assert all(c in res.output for c in categories), "every category name is shown whole"
    assert "…" not in res.output and "--format csv" in res.output


def test_score_tables_fit_80_columns(tmp_path):
    outputs = FIXTURES / "medbench" / "outputs"
    res = invoke("score", outputs / "model-a", outputs / "model-b", "--prompts", FIXTURES / "medbench" / "prompts",
                 "--db", tmp_path / "b.duckdb", "--no-progress", COLUMNS="80")
    assert res.exit_code == 0, res.output
    tables = [line for line in res.output.splitlines() if line[:1] in "┏┃┡│└┗" or line.startswith("  ")]
    assert tables and max(len(line) for line in tables) <= 80, res.output
    assert "…" not in res.output and "Med-Exam" in res.output and "MedSpeQA" in res.output


# --- calibration stays apart from the benchmark ---------------------------------------------------------------------

def test_calibrating_into_a_benchmark_database_keeps_gold_items_apart(tmp_path):
    outputs = FIXTURES / "medbench" / "outputs"
    db = tmp_path / "bench.duckdb"
    assert invoke("score", outputs / "model-a", outputs / "model-b", "--db", db, "--key",
                  FIXTURES / "medbench" / "answer_key.csv", "--no-progress").exit_code == 0
    assert invoke("label", "--only-wrong", "--db", db, "--no-progress").exit_code == 0
    before = db_rows(db, "SELECT * FROM error_distribution ORDER BY ALL")
    wrong = db_rows(db, "SELECT count(*) FROM items WHERE correct = FALSE")
    res = invoke("calibrate", "--gold", REPO / "gold_labels" / "gold.jsonl", "--model", "offline", "--db", db,
                 "--no-progress")
    assert res.exit_code == 0, res.output
    assert db_rows(db, "SELECT * FROM error_distribution ORDER BY ALL") == before
    assert db_rows(db, "SELECT count(*) FROM items WHERE correct = FALSE") == wrong
    assert db_rows(db, "SELECT count(*) > 0 FROM items WHERE origin = 'gold'") == [(True,)]
    out = tmp_path / "r.md"
    assert invoke("report", "--db", db, "--out", out, "--format", "md").exit_code == 0
    text = out.read_text(encoding="utf-8")
    gold_models = {r[0] for r in db_rows(db, "SELECT DISTINCT model FROM items WHERE origin = 'gold'")}
    bench_models = {r[0] for r in db_rows(db, "SELECT DISTINCT model FROM items WHERE origin IS NULL")}
    assert all(f"| {m} |" not in text for m in gold_models - bench_models), "gold-set models are not listed"
    assert "κ" in text, "the calibration section is there, read from calibration_runs"


# --- small things ---------------------------------------------------------------------------------------------------

def test_version_and_no_clashing_short_option():
    res = invoke("--version")
    assert res.exit_code == 0 and res.output.startswith("medjudge ")
    res = invoke("optimize", "-o", "gepa", "--model", "m", "--out", "x")
    assert res.exit_code == EXIT_USAGE and "No such option" in res.output


def test_label_without_db_says_where_the_verdicts_went(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = invoke("label", ITEMS, "--no-progress")
    assert res.exit_code == 0 and "verdicts are in medjudge.duckdb" in res.output
    assert Path(tmp_path / "medjudge.duckdb").exists()
    con = duckdb.connect(str(tmp_path / "medjudge.duckdb"), read_only=True)
    con.close()
