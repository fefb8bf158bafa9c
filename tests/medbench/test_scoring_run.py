"""Scoring MedBench outputs into DuckDB: correctness, problems with lines, robustness, idempotence, the CLI."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from judge.cli.app import app
from judge.medbench.grading import ItemScore
from judge.medbench.scoring_run import score_outputs
from judge.store.store import Store
from tests.conftest import FIXTURES, MEDBENCH_PUBLIC, db_rows

FIX = FIXTURES / "medbench"
OUTPUTS = [FIX / "outputs" / "model-a", FIX / "outputs" / "model-b"]
REAL = MEDBENCH_PUBLIC
MODELS = ("gpt40", "deepseek-32b", "baichun-m1")

runner = CliRunner()


def _by_question(db: Path) -> dict[tuple[str, int | None, str], tuple]:
    """(model, other.id, first option content or question) -> (correct, extracted, score_method)."""
    out = {}
    for model, options, question, meta, correct, extracted, method in db_rows(
        db, "SELECT model, options, question, meta, correct, extracted, score_method FROM items"
    ):
        opts = json.loads(options) if options else None
        first = opts[0].split(". ", 1)[1] if opts else question
        out[(model, json.loads(meta)["other_id"], first)] = (correct, extracted, method)
    return out


# --- the synthetic fixtures (see tests/fixtures/medbench/README.md) --------------------------------

def test_fixture_correct_values_with_key(tmp_path) -> None:
    db = tmp_path / "s.duckdb"
    score_outputs(OUTPUTS, db=db, prompts=FIX / "prompts", key=FIX / "answer_key.csv", progress=False)
    got = _by_question(db)
    # Key: id 1 = "B" in the first-listed order (心肌梗死, 主动脉夹层, 肺栓塞), i.e. 主动脉夹层; id 2 = 丙硫氧嘧啶.
    # Option orders are told apart by their first option: 心肌梗死 (P0), 主动脉夹层 (P1), 肺栓塞 (P2).
    expected = {
        ("model-a", 1, "心肌梗死"): (True, "B", "choice:key"),      # <B> = 主动脉夹层
        ("model-a", 1, "主动脉夹层"): (False, "B", "choice:key"),   # <B> = 肺栓塞
        ("model-a", 1, "肺栓塞"): (True, "C", "choice:key"),        # <C> = 主动脉夹层
        ("model-a", 2, "甲巯咪唑"): (True, "B", "choice:key"),      # B = 丙硫氧嘧啶 after a <think> block
        ("model-a", 3, "空腹血糖≥7.0 mmol/L"): (None, "A", "choice:no_key"),  # id 3 is not keyed
        ("model-b", 1, "心肌梗死"): (True, "B", "choice:key"),
        ("model-b", 1, "主动脉夹层"): (True, "A", "choice:key"),    # <A> = 主动脉夹层
        ("model-b", 1, "肺栓塞"): (True, "C", "choice:key"),        # prose "正确答案是C" = 主动脉夹层
        ("model-b", 2, "甲巯咪唑"): (False, None, "choice:unextractable"),  # answer null, keyed: wrong and graded
        ("model-a", None, "高血压患者的生活方式干预有哪些？"): (None, None, "open:no_reference"),
        ("model-a", None, "缺铁性贫血如何治疗？"): (None, None, "open:no_reference"),
    }
    assert got == expected


def test_fixture_summary_counts_and_robustness(tmp_path) -> None:
    db = tmp_path / "s.duckdb"
    s = score_outputs(OUTPUTS, db=db, prompts=FIX / "prompts", key=FIX / "answer_key.csv", progress=False)
    assert (s.n_files, s.n_ingested) == (3, 11)
    cells = {(t.model, t.task): t for t in s.tasks}
    a, b = cells[("model-a", "Med-Exam")], cells[("model-b", "Med-Exam")]
    assert (a.n, a.n_correct, a.n_wrong, a.n_unknown, a.n_graded, a.accuracy) == (5, 3, 1, 1, 4, 0.75)
    assert (b.n, b.n_correct, b.n_wrong, b.n_unknown, b.n_graded, b.accuracy) == (4, 3, 1, 0, 4, 0.75)
    assert (a.unextractable_share, b.n_unextractable, b.unextractable_share) == (0.0, 1, 0.25)
    speqa = cells[("model-a", "MedSpeQA")]
    assert (speqa.n_unknown, speqa.n_choice, speqa.unextractable_share, speqa.accuracy) == (2, 0, None, None)
    rob = {(r.model, r.level, r.name): (r.n_groups, r.n_consistent, r.strict) for r in s.robustness}
    # model-a picks 主动脉夹层, 肺栓塞, 主动脉夹层; model-b 主动脉夹层 under all three orders.
    assert rob[("model-a", "task", "Med-Exam")] == (1, 0, 0.0)
    assert rob[("model-b", "dimension", "knowledge_qa")] == (1, 1, 1.0)
    assert db_rows(db, "SELECT model, task, dimension, n_groups, n_consistent, consistency, n_keyed, n_strict"
                     " FROM robustness ORDER BY model") == [
        ("model-a", "Med-Exam", "knowledge_qa", 1, 0, 0.0, 1, 0), ("model-b", "Med-Exam", "knowledge_qa", 1, 1, 1.0, 1, 1)]
    assert db_rows(db, "SELECT model, dimension, consistency, strict FROM robustness_by_dimension ORDER BY model") == [
        ("model-a", "knowledge_qa", 0.0, 0.0), ("model-b", "knowledge_qa", 1.0, 1.0)]


def test_problems_are_reported_with_file_and_line(tmp_path) -> None:
    db = tmp_path / "s.duckdb"
    s = score_outputs(OUTPUTS, db=db, progress=False)
    bfile = str((FIX / "outputs" / "model-b" / "Med-Exam.jsonl").resolve())
    # From the fixture README: markers on 1, 4, 7; copies on 5-6; truncated JSON on 8; no `answer` on 10;
    # id 1 order 0 again with another answer on 12; line 13 is blank (not a problem).
    expected = [(bfile, 1, "merge_conflict_marker"), (bfile, 4, "merge_conflict_marker"), (bfile, 5, "duplicate"),
                (bfile, 6, "duplicate"), (bfile, 7, "merge_conflict_marker"), (bfile, 8, "invalid_json"),
                (bfile, 10, "missing_field"), (bfile, 12, "conflicting_duplicate")]
    assert sorted((p.source_file, p.line, p.kind) for p in s.problems) == expected
    assert s.problem_counts == dict(Counter(k for _, _, k in expected))
    assert db_rows(db, "SELECT source_file, line, kind FROM ingest_problems ORDER BY line") == expected


def test_without_key_only_unextractable_answers_are_wrong(tmp_path) -> None:
    db = tmp_path / "s.duckdb"
    s = score_outputs(OUTPUTS, db=db, progress=False)
    assert (s.n_correct, s.n_wrong, s.n_unknown) == (0, 1, 10)
    assert all(t.accuracy is None and t.n_graded == 0 for t in s.tasks)  # wrong, but nothing graded
    with Store(db) as store:
        wrong = store.load_items("correct = FALSE")  # what `label --only-wrong` labels
    assert [(w.model, w.meta["other_id"], w.response) for w in wrong] == [("model-b", 2, "")]
    assert db_rows(db, "SELECT score_method, score FROM items WHERE correct = FALSE") == [
        ("choice:unextractable:no_key", 0.0)]


def test_rerun_is_idempotent(tmp_path) -> None:
    db = tmp_path / "s.duckdb"
    snapshot_sql = [
        "SELECT item_id, dimension, task, question, options, reference_answer, model, response, meta, correct, score,"
        " extracted, score_method FROM items ORDER BY item_id",
        "SELECT model, task, dimension, n_groups, n_consistent, consistency, n_unextractable, n_keyed, n_strict, strict"
        " FROM robustness ORDER BY model, task",
        "SELECT source_file, line, kind, message FROM ingest_problems ORDER BY source_file, line",
    ]
    first = score_outputs(OUTPUTS, db=db, prompts=FIX / "prompts", key=FIX / "answer_key.csv", progress=False)
    before = [db_rows(db, q) for q in snapshot_sql]
    second = score_outputs(OUTPUTS, db=db, prompts=FIX / "prompts", key=FIX / "answer_key.csv", progress=False)
    assert [db_rows(db, q) for q in snapshot_sql] == before
    assert len(before[0]) == 11 and len(before[2]) == 8
    assert first.model_dump(exclude={"run_id", "wall_s"}) == second.model_dump(exclude={"run_id", "wall_s"})
    assert db_rows(db, "SELECT count(*) FROM runs WHERE kind = 'score'") == [(2,)]


def test_rescoring_without_key_replaces_earlier_scores(tmp_path) -> None:
    db = tmp_path / "s.duckdb"
    score_outputs(OUTPUTS, db=db, key=FIX / "answer_key.csv", progress=False)
    score_outputs(OUTPUTS, db=db, progress=False)
    assert db_rows(db, "SELECT count(*) FILTER (WHERE correct), count(*) FILTER (WHERE NOT correct) FROM items") == [(0, 1)]
    assert db_rows(db, "SELECT n_keyed, strict FROM robustness") == [(0, None), (0, None)]


def test_prompts_fix_the_order_letter_keys_refer_to(tmp_path) -> None:
    # The same three model-a records in reverse order: the first one read is now the 肺栓塞-first order, so the
    # id-level key "B" would mean 心肌梗死 unless the prompts folder says which order is the benchmark's first.
    lines = (FIX / "outputs" / "model-a" / "Med-Exam.jsonl").read_text(encoding="utf-8").splitlines()[:3]
    folder = tmp_path / "model-r"
    folder.mkdir()
    (folder / "Med-Exam.jsonl").write_text("\n".join(reversed(lines)) + "\n", encoding="utf-8")
    key = tmp_path / "key.csv"
    key.write_text("task,id,answer\nMed-Exam,1,B\n", encoding="utf-8")
    score_outputs([folder], db=tmp_path / "with.duckdb", prompts=FIX / "prompts", key=key, progress=False)
    with_prompts = {k[2]: v[0] for k, v in _by_question(tmp_path / "with.duckdb").items()}
    assert with_prompts == {"心肌梗死": True, "主动脉夹层": False, "肺栓塞": True}  # as for model-a above
    score_outputs([folder], db=tmp_path / "without.duckdb", key=key, progress=False)
    without = {k[2]: v[0] for k, v in _by_question(tmp_path / "without.duckdb").items()}
    # Now "B" is read in the 肺栓塞-first order (肺栓塞, 心肌梗死, 主动脉夹层) = 心肌梗死: nobody picked that.
    assert without == {"心肌梗死": False, "主动脉夹层": False, "肺栓塞": False}


class _FixedJudge:
    name = "fixed"

    def __init__(self, value: float) -> None:
        self.value = value
        self.calls: list[tuple[list[str], str]] = []

    def recall(self, points: list[str], response: str) -> float:
        self.calls.append((points, response))
        return self.value


def _open_outputs(tmp_path: Path) -> Path:
    folder = tmp_path / "model-o"
    folder.mkdir()
    records = [
        {"question": "高血压的非药物治疗？", "answer": "控制血压，规律运动。", "reference_answer": "1. 控制血压；2. 低盐饮食",
         "other": {"source": "MedSpeQA", "id": 1}},
        {"question": "贫血如何治疗？", "answer": "补充铁剂。", "other": {"source": "MedSpeQA", "id": 2}},
        {"question": "咳嗽怎么办？", "answer": "多喝水。", "other": {"source": "MedSpeQA", "id": 3}},
    ]
    (folder / "MedSpeQA.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n",
                                           encoding="utf-8")
    return folder


def test_open_answers_scored_by_recall(tmp_path) -> None:
    folder = _open_outputs(tmp_path)
    key = tmp_path / "key.csv"
    key.write_text("task,id,answer\nMedSpeQA,2,补充铁剂；治疗病因\n", encoding="utf-8")
    db = tmp_path / "o.duckdb"
    score_outputs([folder], db=db, key=key, progress=False)
    got = {json.loads(m)["other_id"]: (c, s, meth) for m, c, s, meth in
           db_rows(db, "SELECT meta, correct, score, score_method FROM items")}
    # id 1: the response states 控制血压 but not 低盐饮食 -> recall 1/2 < 0.6 -> wrong.
    # id 2: reference from the key; 补充铁剂 stated, 治疗病因 not -> 1/2.  id 3: no reference at all.
    assert got == {1: (False, 0.5, "open:recall:bigram"), 2: (False, 0.5, "open:recall:bigram"),
                   3: (None, None, "open:no_reference")}
    score_outputs([folder], db=db, key=key, recall_threshold=0.5, progress=False)
    assert db_rows(db, "SELECT count(*) FROM items WHERE correct") == [(2,)]  # 0.5 is not below 0.5


def test_open_answers_use_a_pluggable_recall_judge(tmp_path) -> None:
    folder = _open_outputs(tmp_path)
    judge = _FixedJudge(0.9)
    s = score_outputs([folder], db=tmp_path / "o.duckdb", recall_judge=judge, progress=False)
    assert judge.calls == [(["控制血压", "低盐饮食"], "控制血压，规律运动。")]  # only the item with a reference
    cell = s.tasks[0]
    assert (cell.n_correct, cell.n_unknown, cell.mean_recall) == (1, 2, 0.9)
    assert db_rows(tmp_path / "o.duckdb", "SELECT score_method FROM items WHERE correct") == [("open:recall:fixed",)]


def test_ambiguous_answer_is_wrong(tmp_path) -> None:
    folder = tmp_path / "model-x"
    folder.mkdir()
    rec = {"question": "q", "options": ["A. 甲", "B. 乙"], "answer": "<A> ... <B>", "other": {"source": "Med-Exam", "id": 5}}
    (folder / "Med-Exam.jsonl").write_text(json.dumps(rec, ensure_ascii=False) + "\n", encoding="utf-8")
    s = score_outputs([folder], db=tmp_path / "x.duckdb", progress=False)
    assert (s.tasks[0].n_ambiguous, s.tasks[0].unextractable_share) == (1, 1.0)
    assert db_rows(tmp_path / "x.duckdb", "SELECT correct, score_method FROM items") == [
        (False, "choice:ambiguous:no_key")]


def test_graded_property() -> None:
    assert ItemScore(item_id="i", correct=False, score=0.0, extracted=None, score_method="choice:unextractable").graded
    assert not ItemScore(item_id="i", correct=False, score=0.0, extracted=None,
                         score_method="choice:unextractable:no_key").graded
    assert not ItemScore(item_id="i", correct=None, score=None, extracted="A", score_method="choice:no_key").graded


def test_missing_inputs_raise(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        score_outputs([tmp_path / "nope"], db=tmp_path / "d.duckdb", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no .jsonl"):
        score_outputs([tmp_path / "empty"], db=tmp_path / "d.duckdb", progress=False)
    with pytest.raises(FileNotFoundError, match="prompts"):
        score_outputs(OUTPUTS, db=tmp_path / "d.duckdb", prompts=tmp_path / "nope", progress=False)


def test_a_folder_of_model_folders_reads_as_its_model_folders(tmp_path) -> None:
    by_models = score_outputs(OUTPUTS, db=tmp_path / "a.duckdb", prompts=FIX / "prompts", progress=False)
    by_parent = score_outputs([FIX / "outputs"], db=tmp_path / "b.duckdb", prompts=FIX / "prompts", progress=False)
    assert (by_parent.n_files, by_parent.n_ingested) == (by_models.n_files, by_models.n_ingested) == (3, 11)
    query = "SELECT item_id, model, response, correct FROM items ORDER BY item_id"
    assert db_rows(tmp_path / "b.duckdb", query) == db_rows(tmp_path / "a.duckdb", query)
    # one level only: a folder of folders of model folders holds no output file of its own or of its children
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "run1").symlink_to(FIX / "outputs", target_is_directory=True)
    with pytest.raises(ValueError, match="no .jsonl output files in .*deep"):
        score_outputs([tmp_path / "deep"], db=tmp_path / "c.duckdb", progress=False)


def test_a_listed_folder_without_outputs_stops_the_run(tmp_path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "README.md").write_text("x", encoding="utf-8")
    with pytest.raises(ValueError, match=r"no \.jsonl output files in .*notes: each input is"):
        score_outputs([*OUTPUTS, tmp_path / "notes"], db=tmp_path / "d.duckdb", progress=False)
    assert not (tmp_path / "d.duckdb").exists()


def test_a_prompts_folder_without_prompt_files_stops_the_run(tmp_path) -> None:
    own_prompts = Path(__file__).resolve().parents[2] / "prompts"  # medjudge's judge prompts, not a benchmark's
    assert not list(own_prompts.glob("*.jsonl"))
    with pytest.raises(ValueError, match="no <task>.jsonl prompt files in .*prompts: --prompts takes the bench"):
        score_outputs(OUTPUTS, db=tmp_path / "d.duckdb", prompts=own_prompts, progress=False)
    assert not (tmp_path / "d.duckdb").exists()


def test_prompt_files_given_as_outputs_stop_the_run(tmp_path) -> None:
    # the benchmark's prompts hold `answer: null` on every line: scored, all 7 would be "wrong" with no answer
    with pytest.raises(ValueError, match=r"no record of prompts \(7 records\) holds an answer"):
        score_outputs([FIX / "prompts"], db=tmp_path / "d.duckdb", progress=False)
    # beside real outputs too: the prompts folder read as one more model
    with pytest.raises(ValueError, match=r"no record of prompts \(7 records\) holds an answer"):
        score_outputs([*OUTPUTS, FIX / "prompts"], db=tmp_path / "d.duckdb", progress=False)
    assert not (tmp_path / "d.duckdb").exists()
    res = runner.invoke(app, ["score", str(FIX / "prompts"), "--db", str(tmp_path / "d.duckdb"), "--no-progress"])
    assert res.exit_code == 2 and "these look like the benchmark's prompts" in res.output, res.output
    # one answer among them is enough to score: an empty answer is a finding, not a mistake
    (tmp_path / "m").mkdir()
    lines = (FIX / "prompts" / "MedSpeQA.jsonl").read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0]) | {"answer": "多饮水，注意休息。"}
    (tmp_path / "m" / "MedSpeQA.jsonl").write_text("\n".join([json.dumps(first, ensure_ascii=False), *lines[1:]]),
                                                   encoding="utf-8")
    s = score_outputs([tmp_path / "m"], db=tmp_path / "e.duckdb", progress=False)
    assert s.n_ingested == 2


def test_cli_score_then_report(tmp_path) -> None:
    db = tmp_path / "c.duckdb"
    res = runner.invoke(app, ["score", *map(str, OUTPUTS), "--db", str(db), "--prompts", str(FIX / "prompts"),
                              "--key", str(FIX / "answer_key.csv"), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "3 merge_conflict_marker (lines 1, 4, 7)" in res.output
    assert "2 duplicate (lines 5-6)" in res.output
    assert "11 items from 3 files" in res.output and "6 correct, 2 wrong, 3 unknown" in res.output
    out = tmp_path / "r.md"
    res = runner.invoke(app, ["report", "--db", str(db), "--out", str(out), "--format", "md"])
    assert res.exit_code == 0, res.output
    assert "| knowledge_qa | model-b | 4 | 3 | 1 | 0 | 0 | 4 | 75.0 % | 4 | 25.0 % |" in out.read_text(encoding="utf-8")
    res = runner.invoke(app, ["score", str(tmp_path / "missing"), "--db", str(db)])
    assert res.exit_code == 2 and "no such file" in res.output


# --- the real shared sample -----------------------------------------------------------------------

@pytest.mark.skipif(not (REAL / "outputs").is_dir(), reason="shared MedBench sample not available")
def test_real_sample_scores_quickly(tmp_path) -> None:
    outputs = sorted((REAL / "outputs").iterdir())
    db = tmp_path / "real.duckdb"
    t0 = time.perf_counter()
    s = score_outputs(outputs, db=db, prompts=REAL / "prompts", progress=False)
    assert time.perf_counter() - t0 < 60
    # 2,337 prompts answered by each of three models; deepseek-32b's 8 conflicted files hold 24 marker lines and
    # 558 repeated records (counted with grep / sort | uniq -d, see tests/test_medbench.py).
    assert s.n_ingested == 3 * 2337 and s.n_files == 60
    assert s.problem_counts == {"merge_conflict_marker": 24, "duplicate": 558}
    assert db_rows(db, "SELECT count(*) FROM items") == [(7011,)]
    assert db_rows(db, "SELECT line FROM ingest_problems WHERE kind = 'merge_conflict_marker' AND source_file LIKE"
                     " '%deepseek-32b/CHIP-CDEE.jsonl' ORDER BY line") == [(1,), (102,), (203,)]  # grep -n
    # No key is published: nothing is correct; wrong = choice answers with no readable option. Med-Exam: the
    # empty answers (1 for gpt40, 14 for deepseek-32b, counted with a JSON one-liner) and baichun-m1's
    # "咳粉红色泡沫痰提示左心衰。"; MedSafety: baichun-m1's "<1>" (see tests/test_medbench.py).
    cells = {(t.model, t.task): t for t in s.tasks}
    assert s.n_correct == 0
    assert {m: cells[(m, "Med-Exam")].n_wrong for m in MODELS} == {"gpt40": 1, "deepseek-32b": 14, "baichun-m1": 1}
    assert {m: cells[(m, "MedSafety")].n_wrong for m in MODELS} == {"gpt40": 0, "deepseek-32b": 0, "baichun-m1": 1}
    assert cells[("deepseek-32b", "Med-Exam")].unextractable_share == pytest.approx(14 / 742)
    assert all(cells[(m, "Med-Exam")].n_choice == 742 and cells[(m, "MedSafety")].n_choice == 230 for m in MODELS)
    # open, no reference: unknown, except empty answers (deepseek-32b left 3 empty, counted with a JSON one-liner)
    assert {m: (cells[(m, "MedSpeQA")].n_unknown, cells[(m, "MedSpeQA")].n_wrong) for m in MODELS} == {
        "gpt40": (50, 0), "deepseek-32b": (47, 3), "baichun-m1": (50, 0)}
    rob = {(r.model, r.name): r for r in s.robustness if r.level == "task"}
    assert [rob[("gpt40", t)].n_groups for t in ("Med-Exam", "MedSafety", "DrugCA")] == [149, 49, 162]
    assert {m: rob[(m, "Med-Exam")].n_consistent for m in ("gpt40", "deepseek-32b")} == {"gpt40": 124,
                                                                                        "deepseek-32b": 105}
    assert db_rows(db, "SELECT count(*) FROM robustness") == [(9,)]


@pytest.mark.skipif(not (REAL / "outputs").is_dir(), reason="shared MedBench sample not available")
def test_real_outputs_folder_as_one_input(tmp_path) -> None:
    s = score_outputs([REAL / "outputs"], db=tmp_path / "all.duckdb", prompts=REAL / "prompts", progress=False)
    assert (s.n_files, s.n_ingested) == (60, 3 * 2337)
    assert {m for (m,) in db_rows(tmp_path / "all.duckdb", "SELECT DISTINCT model FROM items")} == set(MODELS)


@pytest.mark.skipif(not (REAL / "outputs").is_dir(), reason="shared MedBench sample not available")
def test_real_prompts_given_as_outputs_stop_the_run(tmp_path) -> None:
    # `medjudge score medbench_public_sample/*`: the outputs folder, the prompts folder and the README
    with pytest.raises(ValueError, match=r"no record of prompts \(2337 records\) holds an answer"):
        score_outputs(sorted(REAL.iterdir()), db=tmp_path / "p.duckdb", progress=False)
    assert not (tmp_path / "p.duckdb").exists()


@pytest.mark.skipif(not (REAL / "outputs").is_dir(), reason="shared MedBench sample not available")
def test_real_single_file_input(tmp_path) -> None:
    s = score_outputs([REAL / "outputs" / "deepseek-32b" / "Med-Exam.jsonl"], db=tmp_path / "one.duckdb",
                      progress=False)
    assert (s.n_files, s.n_ingested, s.tasks[0].model, s.tasks[0].n_wrong) == (1, 742, "deepseek-32b", 14)
