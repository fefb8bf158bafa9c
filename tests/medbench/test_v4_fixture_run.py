"""The v4 fixtures end to end: score (with the consensus key), label the wrong answers, report; loud on bad layouts."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from judge.cli.app import app
from judge.medbench.scoring_run import score_outputs
from tests.conftest import FIXTURES, db_rows

V4 = FIXTURES / "medbench_v4"
OUTPUTS = [V4 / "outputs" / "model-x", V4 / "outputs" / "model-y"]
runner = CliRunner()


def _methods(db) -> dict[tuple[str, str, str], tuple]:
    rows = db_rows(db, "SELECT model, task, meta, correct, score_method FROM items ORDER BY item_id")
    return {(m, t, f"{json.loads(meta)['record_id']}/{json.loads(meta)['perm_index']}"): (c, s)
            for m, t, meta, c, s in rows}


def test_consensus_scores_choice_answers_and_keeps_gold_apart(tmp_path) -> None:
    db = tmp_path / "v4.duckdb"
    s = score_outputs(OUTPUTS, db=db, prompts=V4 / "prompts", key="consensus", progress=False)
    assert s.problems == [] and s.n_ingested == 2 * 10 - 1  # model-y leaves one MedHC prompt unanswered
    assert s.silver is not None and (s.silver.n_keyed, s.silver.n_questions, s.silver.n_models) == (3, 3, 2)
    tasks = {(t.model, t.task): t for t in s.tasks}
    x, y = tasks[("model-x", "MedExam")], tasks[("model-y", "MedExam")]
    # model-x: 主动脉夹层 x3 then 心肌梗死 on id 1; 丙硫氧嘧啶 then "明白了，请提供题目。" on id 2
    assert (x.n_silver, x.n_silver_correct, x.n_graded, x.n_correct) == (6, 4, 0, 0)
    assert (y.n_silver, y.n_silver_correct) == (6, 6)
    assert x.silver_label == "silver (2 of 2 models agree)"
    m = _methods(db)
    assert m[("model-x", "MedExam", "1/3")] == (False, "choice:silver")
    assert m[("model-x", "MedExam", "2/1")] == (False, "choice:unextractable:silver")
    assert m[("model-x", "MedHC", "2/0")] == (False, "open:empty:no_key")  # whitespace-only open answer
    assert m[("model-x", "MedReportQC", "7/0")] == (None, "open:no_reference")
    rob = {(r.model, r.name): (r.n_groups, r.n_consistent) for r in s.robustness if r.level == "task"}
    assert rob == {("model-x", "MedExam"): (2, 0), ("model-y", "MedExam"): (2, 2)}
    assert s.unshuffled_choice_tasks == ["MedRxCheck_MSQ"]
    assert db_rows(db, "SELECT model, task, n_missing, n_empty FROM coverage WHERE incomplete ORDER BY 1") == [
        ("model-x", "MedHC", 0, 1), ("model-y", "MedHC", 1, 0)]
    assert db_rows(db, "SELECT task, record_id, answer, support, n_models, key_label FROM silver_key ORDER BY 1, 2")\
        == [("MedExam", "1", "主动脉夹层", 2, 2, "silver (2 of 2 models agree)"),
            ("MedExam", "2", "丙硫氧嘧啶", 2, 2, "silver (2 of 2 models agree)"),
            ("MedRxCheck_MSQ", "1", "亚硫酸氢钠 | 硫代硫酸钠 | 维生素C", 2, 2, "silver (2 of 2 models agree)")]
    # a later run without the consensus leaves no silver verdict on the items it rescored
    score_outputs(OUTPUTS, db=db, prompts=V4 / "prompts", progress=False)
    assert db_rows(db, "SELECT count(*) FROM items WHERE ends_with(score_method, ':silver')") == [(0,)]


def test_cli_score_label_report_on_v4_fixtures(tmp_path) -> None:
    db = tmp_path / "cli.duckdb"
    res = runner.invoke(app, ["score", *map(str, OUTPUTS), "--db", str(db), "--prompts", str(V4 / "prompts"),
                              "--key", "consensus", "--no-progress"])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "silver key: 3 of 3 choice questions keyed by 2 model(s)" in out
    assert "14 against the silver (2 of 2 models agree) key (12 agree, 2 disagree)" in out
    assert "no shuffle consistency is measured: MedRxCheck_MSQ" in out
    assert "2 model x task cell(s) miss or leave empty some answers" in out
    res = runner.invoke(app, ["label", "--only-wrong", "--db", str(db), "--model", "rules", "--no-progress"])
    assert res.exit_code == 0, res.output
    # the answer that only asks for the question is labelled unanswered, like the empty open answer
    verdicts = db_rows(db, "SELECT i.response, v.category FROM verdicts v JOIN items i USING (item_id)"
                           " WHERE v.status = 'ok' ORDER BY 1")
    assert ("明白了，请提供题目。", "unanswered") in verdicts and ("  ", "unanswered") in verdicts
    report = tmp_path / "r.md"
    res = runner.invoke(app, ["report", "--db", str(db), "--out", str(report), "--format", "md"])
    assert res.exit_code == 0, res.output
    text = report.read_text(encoding="utf-8")
    assert "| knowledge_qa | model-x | silver (2 of 2 models agree) | 6 | 2 | 4 | 2 | 66.7 % |" in text
    assert "| safety_ethics | model-y | silver (2 of 2 models agree) | 1 | 1 | 1 | 0 | 100.0 % |" in text
    assert "| model-y | MedHC | knowledge_qa | 2 | 1 | 0 | 1 | 0 | ⚠ incomplete |" in text
    assert "> ⚠ choice task(s) asked under one option order per question" in text
    assert "> ⚠ 4 open answer(s) have no reference answer: their correctness stays unknown" in text
    assert "| knowledge_qa | MedExam | model-x | 2 | 0 | 0.000 |" in text  # consistency per task
    html = tmp_path / "r.html"
    assert runner.invoke(app, ["report", "--db", str(db), "--out", str(html)]).exit_code == 0
    page = html.read_text(encoding="utf-8")
    assert "silver (2 of 2 models agree)" in page and 'class="banner"' in page and "6. Coverage" in page


def test_a_changed_layout_is_loud_on_stderr_and_in_the_report(tmp_path) -> None:
    db = tmp_path / "z.duckdb"
    res = runner.invoke(app, ["score", str(V4 / "changed" / "model-z"), "--db", str(db), "--no-progress"])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "warning" in out and "MedExam.jsonl: 1 unknown_source (lines 1)" in out and "MedExamination_V5" in out
    assert "MedExam.jsonl: 1 options_conflict (lines 2)" in out
    assert "skipped" in out and "MedExam.jsonl: 2 invalid_record (lines 4-5)" in out
    assert "MedNewTask.jsonl: 1 unknown_task (lines 1)" in out
    assert "1 task(s) are not in the task table and have no dimension: MedNewTask" in out
    assert db_rows(db, "SELECT line, kind, skipped FROM ingest_problems ORDER BY source_file, line") == [
        (1, "unknown_source", False), (2, "options_conflict", False), (4, "invalid_record", True),
        (5, "invalid_record", True), (1, "unknown_task", False)]
    report = tmp_path / "z.md"
    assert runner.invoke(app, ["report", "--db", str(db), "--out", str(report), "--format", "md"]).exit_code == 0
    text = report.read_text(encoding="utf-8")
    assert "> ⚠ 1 input line(s) read with warning unknown_task" in text
    assert "> ⚠ 1 task(s) have no dimension (not in the task table): MedNewTask" in text
    assert "> ⚠ 2 input line(s) skipped (invalid_record)" in text
    assert "| unknown_source | read, warning |" in text


def test_nothing_readable_exits_non_zero(tmp_path) -> None:
    d = tmp_path / "m"
    d.mkdir()
    (d / "MedExam.jsonl").write_text('{"question": "q", "answer": 1}\nnot json\n', encoding="utf-8")
    res = runner.invoke(app, ["score", str(d), "--db", str(tmp_path / "n.duckdb"), "--no-progress"])
    assert res.exit_code != 0 and "no item could be read" in " ".join(res.output.split())
