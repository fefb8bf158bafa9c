"""The task table: shipped contents, lookups, guesses for unknown tasks, and bad files."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from judge.core.exceptions import ConfigError
from judge.core.models import DIMENSIONS
from judge.medbench.layout import parse_other
from judge.medbench.tasks import guess_type, load_aliases, load_task_table, source_name, task_info
from tests.conftest import MEDBENCH_PUBLIC, MEDBENCH_V4

REAL_PROMPTS = MEDBENCH_PUBLIC / "prompts"
V4_PROMPTS = MEDBENCH_V4 / "prompts"


def test_shipped_table_covers_both_releases_in_five_dimensions() -> None:
    table = load_task_table()
    assert len(table) == 50  # 20 older tasks, 38 v4 tasks, 8 names in both
    assert set(Counter(t.dimension for t in table.values())) == set(DIMENSIONS)
    choice = {name: t.type for name, t in table.items() if t.type in ("single_choice", "multi_choice")}
    assert choice == {"Med-Exam": "single_choice", "MedSafety": "single_choice", "DrugCA": "single_choice",
                      "DDx-basic": "multi_choice", "DDx-advanced": "multi_choice", "MedExam": "single_choice",
                      "MedEthics": "single_choice", "MedRxCheck_SCQ": "single_choice",
                      "MedRxCheck_MSQ": "multi_choice"}
    assert {n for n, t in table.items() if t.type == "extraction"} == {"SMDoc", "MedReportQC"}
    assert {n for n, t in table.items() if t.type == "calculation"} == {"MedAnalysis", "MedInsureCalc"}


def test_source_names_drop_the_version_suffix_and_follow_renames() -> None:
    table = load_task_table()
    for source, task in {"MedExam_V4": "MedExam", "MedTreat_v4": "MedTreat", "MedRxCheck_V4_SCQ": "MedRxCheck_SCQ",
                         "MedRxCheck_V4_MSQ": "MedRxCheck_MSQ", "MedRxCheck_V4": "MedRxCheck_SQ",
                         "CTR-QC": "MedReportQC", "MedMC": "MedMC", "IMCS-V2-MRG": "IMCS-V2-MRG",
                         "CMB-Clin-extended_V4": "CMB-Clin-extended"}.items():
        assert source_name(source) == task and task in table
    assert source_name("MedNew_V5") == "MedNew"
    assert load_aliases() == {"CTR-QC": "MedReportQC", "MedRxCheck": "MedRxCheck_SQ"}


@pytest.mark.skipif(not REAL_PROMPTS.is_dir(), reason="shared MedBench sample not available")
def test_table_names_match_the_real_prompt_files() -> None:
    assert {p.stem for p in REAL_PROMPTS.glob("*.jsonl")} <= set(load_task_table())


@pytest.mark.skipif(not V4_PROMPTS.is_dir(), reason="shared MedBench v4 sample not available")
def test_every_v4_file_and_source_is_a_known_task() -> None:
    table = load_task_table()
    files = sorted(V4_PROMPTS.glob("*.jsonl"))
    assert len(files) == 38 and {p.stem for p in files} <= set(table)
    for p in files:
        sources = {parse_other(json.loads(line)["other"]).get("source") for line in p.open(encoding="utf-8")}
        assert {source_name(s) for s in sources} == {p.stem}, p.name


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
    alias = tmp_path / "alias.toml"
    alias.write_text('[tasks.X]\ndimension = "safety_ethics"\ntype = "open"\n[aliases]\nOld = "Gone"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="Old -> Gone"):
        load_task_table(alias)
