"""The task table: shipped contents, lookups, guesses for unknown tasks, and bad files."""

from __future__ import annotations

from collections import Counter

import pytest

from judge.core.exceptions import ConfigError
from judge.core.models import DIMENSIONS
from judge.medbench.tasks import guess_type, load_task_table, task_info
from tests.conftest import MEDBENCH_PUBLIC

REAL_PROMPTS = MEDBENCH_PUBLIC / "prompts"


def test_shipped_table_covers_twenty_tasks_in_five_dimensions() -> None:
    table = load_task_table()
    assert len(table) == 20
    assert set(Counter(t.dimension for t in table.values())) == set(DIMENSIONS)
    types = {name: t.type for name, t in table.items() if t.type != "open"}
    assert types == {"Med-Exam": "single_choice", "MedSafety": "single_choice", "DrugCA": "single_choice",
                     "DDx-basic": "multi_choice", "DDx-advanced": "multi_choice"}


@pytest.mark.skipif(not REAL_PROMPTS.is_dir(), reason="shared MedBench sample not available")
def test_table_names_match_the_real_prompt_files() -> None:
    assert {p.stem for p in REAL_PROMPTS.glob("*.jsonl")} == set(load_task_table())


def test_lookup_and_unknown_tasks() -> None:
    assert task_info("DrugCA").dimension == "safety_ethics"
    unknown = task_info("MedNew", options=["A. x", "B. y"])
    assert (unknown.dimension, unknown.type, unknown.known) == (None, "single_choice", False)
    assert task_info("MedNew").type == "open"
    assert task_info(None).name == ""


def test_guess_type() -> None:
    assert guess_type(None) == "open"
    assert guess_type([]) == "open"
    assert guess_type(["A. x"], "从问题选项中选出一个或多个正确回答") == "multi_choice"
    assert guess_type(["A. x"], "最可能的诊断是:") == "single_choice"


def test_custom_and_bad_tables(tmp_path) -> None:
    good = tmp_path / "t.toml"
    good.write_text('[tasks.X]\ndimension = "safety_ethics"\ntype = "open"\n', encoding="utf-8")
    assert load_task_table(good)["X"].dimension == "safety_ethics"
    bad = tmp_path / "bad.toml"
    bad.write_text('[tasks.X]\ndimension = "ethics"\ntype = "open"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="bad.toml"):
        load_task_table(bad)
    with pytest.raises(ConfigError):
        load_task_table(tmp_path / "missing.toml")
