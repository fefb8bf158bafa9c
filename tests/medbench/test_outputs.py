"""Ingestion of MedBench prompt/output JSONL: synthetic fixtures with known defects, and the real shared sample."""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter

import pytest

from judge.medbench.extract import extract_items, extraction_rates
from judge.medbench.outputs import perm_key, read_medbench, record_id
from tests.conftest import FIXTURES, MEDBENCH_PUBLIC

FIX = FIXTURES / "medbench"
REAL = MEDBENCH_PUBLIC
MODELS = ("gpt40", "deepseek-32b", "baichun-m1")


@pytest.fixture(scope="module")
def fixture_result():
    return read_medbench(FIX / "prompts", [FIX / "outputs" / "model-a", FIX / "outputs" / "model-b"])


def test_problems_have_file_and_line(fixture_result) -> None:
    b_file = str(FIX / "outputs" / "model-b" / "Med-Exam.jsonl")
    got = {(p.line, p.kind) for p in fixture_result.problems}
    assert got == {
        (1, "merge_conflict_marker"), (4, "merge_conflict_marker"), (7, "merge_conflict_marker"),
        (5, "duplicate"), (6, "duplicate"),
        (8, "invalid_json"),
        (10, "missing_field"),
        (12, "conflicting_duplicate"),
    }
    assert all(p.source_file == b_file for p in fixture_result.problems)
    dup = next(p for p in fixture_result.problems if p.line == 5)
    assert f"{b_file}:2" in dup.message  # points at the copy that was kept


def test_good_lines_kept(fixture_result) -> None:
    b = [it for it in fixture_result.items if it.model == "model-b"]
    assert [it.meta["line"] for it in b] == [2, 3, 9, 11]
    first = b[0]
    assert first.response == "答：<B>"  # the first copy wins over the conflicting line 12
    assert b[3].response == ""  # answer null
    assert first.task == "Med-Exam" and first.dimension == "knowledge_qa"
    assert first.meta["other_id"] == 1 and first.meta["level"] == "简单" and first.meta["task_type"] == "single_choice"
    assert [it.meta["perm_index"] for it in b[:3]] == [0, 1, 2]


def test_item_ids_are_stable_and_distinct(fixture_result) -> None:
    ids = [it.item_id for it in fixture_result.items]
    assert len(ids) == len(set(ids))
    a = [it for it in fixture_result.items if it.model == "model-a" and it.task == "Med-Exam"]
    opts = ["A. 心肌梗死", "B. 主动脉夹层", "C. 肺栓塞"]
    expected_pk = hashlib.sha1("\x1f".join(opts).encode()).hexdigest()[:8]
    assert a[0].item_id == f"model-a/Med-Exam/1/{expected_pk}"
    # the same record under another model gets the same id suffix
    b0 = next(it for it in fixture_result.items if it.model == "model-b")
    assert b0.item_id.split("/", 1)[1] == a[0].item_id.split("/", 1)[1]
    # a second read gives identical ids
    again = read_medbench(None, [FIX / "outputs" / "model-a"])
    assert [it.item_id for it in again.items] == [it.item_id for it in fixture_result.items if it.model == "model-a"]


def test_open_records_without_id_use_question_hash(fixture_result) -> None:
    spe = [it for it in fixture_result.items if it.task == "MedSpeQA"]
    assert len(spe) == 2 and all(it.options is None for it in spe)
    q = "高血压患者的生活方式干预有哪些？"
    assert spe[0].item_id == f"model-a/MedSpeQA/q{hashlib.sha1(q.encode()).hexdigest()[:10]}/0"
    assert spe[0].meta["task_type"] == "open" and spe[0].dimension == "knowledge_qa"


def test_coverage(fixture_result) -> None:
    cov = {(c.model, c.task): c for c in fixture_result.coverage}
    b = cov[("model-b", "Med-Exam")]
    assert (b.n_prompts, b.n_answered, b.n_empty, b.n_missing, b.n_unexpected) == (5, 4, 1, 1, 0)
    a = cov[("model-a", "MedSpeQA")]
    assert (a.n_prompts, a.n_answered, a.n_missing) == (2, 2, 0)
    assert cov[("model-b", "MedSpeQA")].n_missing == 2


def test_single_file_takes_model_from_parent_folder(tmp_path) -> None:
    d = tmp_path / "my-model"
    d.mkdir()
    shutil.copy(FIX / "outputs" / "model-a" / "MedSpeQA.jsonl", d / "renamed.jsonl")
    res = read_medbench(None, [d / "renamed.jsonl"])
    assert {it.model for it in res.items} == {"my-model"}
    assert {it.task for it in res.items} == {"MedSpeQA"}  # other.source wins over the file name
    assert all(c.n_missing == 0 and c.n_prompts is None for c in res.coverage)


def test_unknown_task_falls_back_to_file_stem(tmp_path) -> None:
    d = tmp_path / "m"
    d.mkdir()
    (d / "NewTask.jsonl").write_text(
        '{"question": "下列哪些正确？一个或多个", "options": ["A. 甲", "B. 乙"], "answer": "<A>"}\n'
        '{"question": "随便问问", "answer": 5}\n'
        '[1, 2]\n',
        encoding="utf-8",
    )
    res = read_medbench(None, [d])
    (item,) = res.items
    assert item.task == "NewTask" and item.dimension is None and item.meta["task_type"] == "multi_choice"
    assert [(p.line, p.kind, p.skipped) for p in res.problems] == [
        (1, "unknown_task", False), (2, "invalid_record", True), (3, "invalid_json", True)]
    assert "NewTask" in res.problems[0].message and "task_dimensions.toml" in res.problems[0].message


def test_record_helpers() -> None:
    assert record_id({"question": "x", "other": {"id": 7}}) == "7"
    assert record_id({"question": "x"}) == record_id({"question": "x", "other": {"source": "T"}})
    assert perm_key(None) == "0" and perm_key(["A. a", "B. b"]) != perm_key(["A. b", "B. a"])


# --- the real shared sample ---------------------------------------------------------------------

needs_real = pytest.mark.skipif(not (REAL / "outputs").is_dir(), reason="shared MedBench sample not available")


@pytest.fixture(scope="module")
def real_result():
    return read_medbench(REAL / "prompts", [REAL / "outputs" / m for m in MODELS])


@needs_real
def test_real_ingestion_counts(real_result) -> None:
    # Independent counts from the shell: `wc -l` gives 2,337 prompt lines and 2,337 / 2,919 / 2,337 output lines;
    # `grep -c '^<<<<<<<\|^=======\|^>>>>>>>'` finds 3 markers in each of 8 deepseek-32b files (24); after
    # removing them `sort | uniq -d | wc -l` finds 558 repeated lines (100+50+100+30+100+100+49+29), and
    # 2,919 - 24 - 558 = 2,337.
    assert Counter(it.model for it in real_result.items) == {m: 2337 for m in MODELS}
    assert real_result.problem_counts() == {"merge_conflict_marker": 24, "duplicate": 558}
    assert all(c.n_missing == 0 and c.n_unexpected == 0 for c in real_result.coverage)
    # null or blank answers counted with a JSON one-liner (deepseek: 120 null with the repeated halves, 83
    # without; baichun-m1: one "" in CMB-Clin and one lone ideographic space in CMeEE).
    empty = Counter()
    for c in real_result.coverage:
        empty[c.model] += c.n_empty
    assert empty == {"gpt40": 11, "deepseek-32b": 83, "baichun-m1": 2}


@needs_real
def test_real_extraction_failures(real_result) -> None:
    ex = extract_items(real_result.items)
    rates = {(r.model, r.task): r for r in extraction_rates(real_result.items, ex)}
    # Med-Exam failures were checked by hand: gpt40's one empty answer; deepseek-32b's 14 empty answers;
    # baichun-m1's "咳粉红色泡沫痰提示左心衰。", which names no option of its question.
    assert {m: rates[(m, "Med-Exam")].n - rates[(m, "Med-Exam")].n_ok for m in MODELS} == {
        "gpt40": 1, "deepseek-32b": 14, "baichun-m1": 1}
    assert rates[("deepseek-32b", "Med-Exam")].n_empty == 14
    # MedSafety: only baichun-m1's "<1>" is not an option letter.
    assert {m: rates[(m, "MedSafety")].n - rates[(m, "MedSafety")].n_ok for m in MODELS} == {
        "gpt40": 0, "deepseek-32b": 0, "baichun-m1": 1}
    assert all(r.n_ambiguous == 0 for r in rates.values())
