"""`medjudge serve` through Typer's runner (no model is loaded)."""

from __future__ import annotations

import os

from typer.testing import CliRunner

from judge.cli.app import app
from judge.llm.local import LocalServer, read_state, write_state

runner = CliRunner()


def test_serve_help_names_its_options():
    res = runner.invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    for opt in ("--gguf", "--port", "--n-ctx", "--n-threads", "--chat-format", "--stop", "medjudge[local]"):
        assert opt in res.output


def test_serve_stop_without_a_recorded_server(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDJUDGE_LOCAL_STATE", str(tmp_path / "state.json"))
    res = runner.invoke(app, ["serve", "--stop"])
    assert res.exit_code == 0 and "no background server" in res.output


def test_serve_stop_forgets_a_dead_recorded_server(tmp_path, monkeypatch):
    state = tmp_path / "state.json"
    monkeypatch.setenv("MEDJUDGE_LOCAL_STATE", str(state))
    write_state(state, LocalServer(gguf=tmp_path / "m.gguf", host="127.0.0.1", port=1, pid=os.getpid()))
    res = runner.invoke(app, ["serve", "--stop"])  # pid alive but nothing serves the model: not stopped
    assert res.exit_code == 0 and "no background server" in res.output
    assert read_state(state) is None


def test_serve_missing_gguf_is_a_clean_error(tmp_path):
    res = runner.invoke(app, ["serve", "--gguf", str(tmp_path / "missing.gguf")])
    assert res.exit_code == 2 and "error" in res.output
