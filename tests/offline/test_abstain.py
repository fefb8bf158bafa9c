"""--min-confidence: verdicts below the threshold are stored as needs_review with the would-be category."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from judge.api import label_file
from judge.cli.app import app
from judge.gold.gold_set import load_gold
from judge.gold.splits import default_splits_path, load_splits
from judge.offline.abstain import BELOW_MIN_CONFIDENCE, AbstainingJudge
from judge.run.factory import make_judge
from tests.conftest import GOLD


@pytest.fixture(scope="module")
def items_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    splits = load_splits(default_splits_path(GOLD)).splits
    rows = [{"item_id": g.item_id, "question": g.question, "response": g.response, "task": g.task,
             "dimension": g.dimension, "reference_answer": g.reference_answer}
            for g in load_gold(GOLD) if splits[g.item_id] == "train"][:60]
    path = tmp_path_factory.mktemp("abstain") / "items.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def rows(db: Path, judge_id: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("SELECT item_id, status, category, confidence, rationale, error, flags FROM verdicts "
                           "WHERE judge_id = ? ORDER BY item_id", [judge_id]).fetchall()


def test_verdicts_below_the_threshold_are_held_back_with_the_would_be_category(items_file, tmp_path):
    db = tmp_path / "v.duckdb"
    plain = label_file(items_file, db=db, model="offline", progress=False)
    held = label_file(items_file, db=db, model="offline", min_confidence=0.8, progress=False)
    assert held.judge_id != plain.judge_id
    before = {r[0]: r for r in rows(db, plain.judge_id)}
    after = rows(db, held.judge_id)
    assert len(after) == len(before) == 60
    n_held = 0
    for item_id, status, category, confidence, rationale, error, flags in after:
        was = before[item_id]
        assert confidence == pytest.approx(was[3])
        if was[3] >= 0.8:
            assert (status, category) == ("ok", was[2])
        else:
            n_held += 1
            assert status == "needs_review" and category is None
            assert f"would be {was[2]}" in rationale and f"would be {was[2]}" in error
            assert BELOW_MIN_CONFIDENCE in json.loads(flags)
    assert 0 < n_held < 60  # the threshold splits this set (not a test that cannot fail)
    assert held.status_counts["needs_review"] == n_held


def test_rerun_resumes_and_never_duplicates(items_file, tmp_path):
    db = tmp_path / "v.duckdb"
    first = label_file(items_file, db=db, model="offline", min_confidence=0.8, progress=False)
    again = label_file(items_file, db=db, model="offline", min_confidence=0.8, progress=False)
    assert again.judge_id == first.judge_id and again.n_skipped == 60 and not again.status_counts
    assert len(rows(db, first.judge_id)) == 60


def test_command_line_option(items_file, tmp_path):
    db = tmp_path / "v.duckdb"
    res = CliRunner().invoke(app, ["label", str(items_file), "--db", str(db), "--model", "offline",
                                   "--min-confidence", "0.8", "--no-progress"])
    assert res.exit_code == 0, res.output
    with duckdb.connect(str(db), read_only=True) as con:
        statuses = dict(con.execute("SELECT status, count(*) FROM verdicts GROUP BY status").fetchall())
    assert statuses.get("needs_review", 0) > 0 and sum(statuses.values()) == 60


def test_python_api_and_threshold_bounds():
    judge = make_judge("offline", min_confidence=0.5)
    assert isinstance(judge, AbstainingJudge) and judge.identity()["min_confidence"] == 0.5
    assert make_judge("offline", min_confidence=0.6).judge_id != judge.judge_id
    with pytest.raises(ValueError):
        AbstainingJudge(make_judge("offline"), 1.5)
