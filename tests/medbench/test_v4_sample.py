"""The shared MedBench v4 sample, scored end to end and checked against an independent count of the raw files."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from judge.medbench.scoring_run import ScoreSummary, score_outputs
from judge.medbench.tasks import load_task_table
from tests.conftest import MEDBENCH_V4, REPO, db_rows

pytestmark = pytest.mark.skipif(not (MEDBENCH_V4 / "outputs").is_dir(), reason="shared MedBench v4 sample not available")


def _independent() -> ModuleType:
    spec = importlib.util.spec_from_file_location("v4count", REPO / "evals" / "medbench_v4_independent_count.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> tuple[ScoreSummary, Path]:
    db = tmp_path_factory.mktemp("v4") / "v4.duckdb"
    s = score_outputs(sorted((MEDBENCH_V4 / "outputs").iterdir()), db=db, prompts=MEDBENCH_V4 / "prompts",
                      key="consensus", progress=False)
    return s, db


@pytest.fixture(scope="module")
def count() -> dict:
    return _independent().count(MEDBENCH_V4)


def test_every_record_is_read_and_every_task_mapped(scored) -> None:
    s, db = scored
    assert s.n_files == 76 and s.n_ingested == 2 * 1620  # 1,620 prompt lines answered by two models
    assert s.problems == [] and s.unmapped_tasks == []
    assert len({t.task for t in s.tasks}) == 38
    table = load_task_table()
    assert all(t.dimension == table[t.task].dimension is not None for t in s.tasks)
    assert db_rows(db, "SELECT count(*) FROM items WHERE dimension IS NULL") == [(0,)]
    assert db_rows(db, "SELECT count(*) FROM ingest_problems") == [(0,)]


def test_choice_tasks_are_extracted_and_grouped(scored, count) -> None:
    s, _ = scored
    choice = {t.task for t in s.tasks if t.n_choice}
    assert choice == {"MedExam", "MedEthics", "MedSafety", "MedRxCheck_SCQ", "MedRxCheck_MSQ", "DDx-advanced"}
    assert all(t.n_choice == t.n for t in s.tasks if t.task in choice)
    # the four tasks that ask each question under five orders have 30 groups per model; the other two ask once
    rob = {(r.model, r.name): r for r in s.robustness if r.level == "task"}
    assert {t for _, t in rob} == {"MedExam", "MedEthics", "MedSafety", "MedRxCheck_SCQ"}
    assert all(r.n_groups == 30 for r in rob.values())
    assert s.unshuffled_choice_tasks == ["DDx-advanced", "MedRxCheck_MSQ"]


def test_counts_match_the_independent_count(scored, count) -> None:
    s, _ = scored
    rob = {f"{r.model}/{r.name}": (r.n_groups, r.n_consistent) for r in s.robustness if r.level == "task"}
    mine_groups = {k: (v["groups"], v["consistent"]) for k, v in count["tasks"].items() if v.get("groups")}
    assert rob == mine_groups
    tasks = {f"{t.model}/{t.task}": t for t in s.tasks}
    unreadable = {k: v["unreadable"] for k, v in count["tasks"].items() if "unreadable" in v}
    assert {k: tasks[k].n_unextractable + tasks[k].n_ambiguous for k in unreadable} == unreadable
    empty = {f"{c.model}/{c.task}": c.n_empty for c in s.coverage}
    assert empty == {k: v["empty"] for k, v in count["tasks"].items()}
    assert s.silver is not None
    assert (s.silver.n_keyed, s.silver.n_questions) == (count["silver"]["keyed_questions"],
                                                        count["silver"]["questions"])
    silver = {k: (t.n_silver, t.n_silver_correct) for k, t in tasks.items() if t.n_silver}
    assert silver == {k: (n, count["silver"]["agree"].get(k, 0)) for k, n in count["silver"]["items"].items()}


def test_repeated_prompt_records_are_shuffle_variants_not_duplicates(scored, tmp_path) -> None:
    s, db = scored
    # the prompts files ask some questions twice in the very same order (a shuffle that drew an order again)
    repeats = db_rows(db, "SELECT count(*) FROM items WHERE item_id LIKE '%~%'")[0][0]
    assert repeats == 2 * 28  # 7 + 6 + 8 + 7 repeated records in MedEthics, MedExam, MedRxCheck_SCQ, MedSafety
    # without the prompts folder they cannot be told from true duplicates: reported, with a hint
    alone = score_outputs([MEDBENCH_V4 / "outputs" / "gpt5.2"], db=tmp_path / "alone.duckdb", progress=False)
    assert sum(alone.problem_counts.values()) == 28
    assert all("--prompts" in p.message for p in alone.problems)


def test_coverage_and_silver_are_stored_and_labelled(scored) -> None:
    s, db = scored
    assert db_rows(db, "SELECT count(*), count(*) FILTER (WHERE incomplete) FROM coverage") == [(76, 4)]
    assert db_rows(db, "SELECT model, task, n_empty FROM coverage WHERE incomplete ORDER BY 1, 2") == [
        ("Baichuan-M3", "MedInsureCalc", 2), ("gpt5.2", "CMB-Clin-extended", 5), ("gpt5.2", "MedPopular", 1),
        ("gpt5.2", "MedRecordGen", 2)]
    labels = db_rows(db, "SELECT DISTINCT key_label FROM silver_accuracy")
    assert labels == [("silver (2 of 2 models agree)",)]
    assert s.silver is not None and db_rows(db, "SELECT count(*) FROM silver_key") == [(s.silver.n_keyed,)]
    votes = json.loads(db_rows(db, "SELECT votes FROM silver_key LIMIT 1")[0][0])
    assert set(votes) == {"Baichuan-M3", "gpt5.2"}
    # silver verdicts are never gold: nothing is graded, silver wrong answers are still labelled as wrong
    assert sum(t.n_graded for t in s.tasks) == 0
    assert db_rows(db, "SELECT count(*) FROM items WHERE NOT correct AND ends_with(score_method, ':silver')") == [
        (s.n_silver - s.n_silver_correct,)]
