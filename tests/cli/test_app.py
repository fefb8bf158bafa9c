"""The CLI end to end (Typer's runner in-process, the real HTTP server, a real DuckDB file)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from judge.cli.app import app
from judge.testing import verdict_json
from tests.conftest import FIXTURES

runner = CliRunner()


def all_commands() -> list[list[str]]:
    import typer.main

    group = typer.main.get_command(app)
    out = []
    for name, cmd in group.commands.items():  # type: ignore[attr-defined]
        out.append([name])
        for sub in getattr(cmd, "commands", {}):
            out.append([name, sub])
    return out


def test_every_command_has_help():
    cmds = all_commands()
    assert {"label", "sql", "calibrate", "demo"} <= {c[0] for c in cmds}
    for cmd in cmds:
        res = runner.invoke(app, [*cmd, "--help"])
        assert res.exit_code == 0, (cmd, res.output)
        assert "Usage" in res.output


def test_label_then_sql_in_three_formats(tmp_path, stub_server):
    server = stub_server(lambda body: verdict_json("omission", 0.7))
    db = tmp_path / "v.duckdb"
    res = runner.invoke(app, ["label", str(FIXTURES / "items_small.jsonl"), "--db", str(db), "--model",
                              "openai/stub", "--api-base", server.base_url, "--no-progress", "--concurrency", "3"])
    assert res.exit_code == 0, res.output
    assert "omission" in res.output
    res = runner.invoke(app, ["sql", "--db", str(db), "SELECT count(*) AS n FROM verdicts", "--format", "json"])
    assert res.exit_code == 0 and json.loads(res.output) == [{"n": 6}]
    res = runner.invoke(app, ["sql", "--db", str(db), "SELECT category, sum(n)::INT AS n FROM error_distribution GROUP BY category", "-f", "csv"])
    assert res.output.splitlines() == ["category,n", "omission,6"]
    res = runner.invoke(app, ["sql", "--db", str(db), "SELECT category FROM verdicts LIMIT 1"])
    assert res.exit_code == 0 and "omission" in res.output


@pytest.mark.parametrize("stmt", ["DELETE FROM verdicts", "DROP TABLE items", "SELECT 1; UPDATE runs SET kind='x'"])
def test_sql_refuses_writes_with_nonzero_exit(tmp_path, stub_server, stmt):
    server = stub_server(lambda body: verdict_json("omission", 0.7))
    db = tmp_path / "v.duckdb"
    runner.invoke(app, ["label", str(FIXTURES / "items_small.jsonl"), "--db", str(db), "-m", "openai/stub",
                        "--api-base", server.base_url, "--no-progress"])
    res = runner.invoke(app, ["sql", "--db", str(db), stmt])
    assert res.exit_code == 2 and "refused" in res.output
    res = runner.invoke(app, ["sql", "--db", str(db), "SELECT count(*) FROM verdicts", "-f", "csv"])
    assert res.output.splitlines()[1] == "6"


def test_clear_errors_for_missing_input_and_db(tmp_path):
    res = runner.invoke(app, ["label", str(tmp_path / "nope.jsonl"), "--db", str(tmp_path / "x.duckdb"),
                              "-m", "openai/stub", "--api-base", "http://127.0.0.1:9/v1"])
    assert res.exit_code == 2 and "input file not found" in res.output
    res = runner.invoke(app, ["sql", "--db", str(tmp_path / "missing.duckdb"), "SELECT 1"])
    assert res.exit_code == 2 and "no database" in res.output


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "judge", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "label" in out.stdout


def test_demo_labels_offline_and_prints_distribution(tmp_path):
    from judge.demo import DEMO_FILE

    db = tmp_path / "demo.duckdb"
    res = runner.invoke(app, ["demo", "--db", str(db), "--no-progress"])
    assert res.exit_code == 0, res.output
    n_items = sum(1 for line in DEMO_FILE.read_text(encoding="utf-8").splitlines() if line.strip())
    from judge.store.store import Store

    with Store.readonly(db) as st:
        assert st.query("SELECT count(*) FROM verdicts")[1] == [(n_items,)]
        shares = st.query("SELECT dimension, model, sum(share) FROM error_distribution GROUP BY 1, 2")[1]
    assert shares and all(abs(s - 1.0) < 1e-9 for _, _, s in shares)
    assert "share" in res.output and "knowledge_qa" in res.output
