"""`medjudge label --engine` options refused before anything is written, and `medjudge sql --shards`."""

from __future__ import annotations

import json
import sys

import pytest
from typer.testing import CliRunner

from judge.cli.app import app
from judge.core.models import Verdict
from judge.store.shards import verdict_rows, write_shard
from tests.conftest import FIXTURES

runner = CliRunner()
ITEMS = str(FIXTURES / "items_small.jsonl")


@pytest.mark.parametrize(("args", "message"), [
    (["--engine", "spark"], "engine must be one of local, ray"),
    (["--engine", "ray", "--processes", "2"], "the Ray engine takes workers"),
    (["--workers", "2"], "are for engine='ray'"),
    (["--ray-address", "auto"], "are for engine='ray'"),
])
def test_engine_options_that_do_not_go_together_are_refused_before_any_write(tmp_path, args, message):
    db = tmp_path / "v.duckdb"
    res = runner.invoke(app, ["label", ITEMS, "--db", str(db), "--no-progress", *args])
    assert res.exit_code == 2, res.output
    assert message in res.output and not db.exists()


def test_the_ray_engine_without_ray_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what an environment without the extra sees: import fails
    db = tmp_path / "v.duckdb"
    res = runner.invoke(app, ["label", ITEMS, "--db", str(db), "--engine", "ray", "--no-progress"])
    assert res.exit_code == 2 and "pip install 'medjudge[ray]'" in res.output and not db.exists()


def test_sql_over_a_shard_folder(tmp_path):
    folder = tmp_path / "run.shards"
    write_shard(folder, verdict_rows([Verdict(item_id=f"i{k}", judge_id="j", status="ok", category="omission",
                                              confidence=0.5) for k in range(3)], "r1"))
    res = runner.invoke(app, ["sql", "--shards", str(folder), "-f", "json",
                              "SELECT category, count(*) AS n FROM verdicts GROUP BY 1"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output) == [{"category": "omission", "n": 3}]
    res = runner.invoke(app, ["sql", "--shards", str(folder), f"COPY verdicts TO '{folder}/out.csv'"])
    assert res.exit_code == 2 and "refused" in res.output and not (folder / "out.csv").exists()
    res = runner.invoke(app, ["sql", "--shards", str(tmp_path / "nowhere"), "SELECT 1"])
    assert res.exit_code == 2 and "no shard folder" in res.output


def test_label_help_explains_the_engine_options():
    res = runner.invoke(app, ["label", "--help"], env={"COLUMNS": "200"})
    for opt in ("--engine", "--ray-address", "--workers", "--shards"):
        assert opt in res.output
    assert "--shards" in runner.invoke(app, ["sql", "--help"], env={"COLUMNS": "200"}).output
