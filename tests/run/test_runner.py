"""Bulk labelling through the real local HTTP server into a real DuckDB file."""

from __future__ import annotations

import json

import pandas as pd

from judge.core.settings import JudgeSettings
from judge.llm.judge import LLMJudge
from judge.run.runner import label
from judge.store.store import Store
from judge.testing import Fault, chat_text, verdict_json
from tests.conftest import FIXTURES, fast_settings, load_items


def llm(server, **kw) -> LLMJudge:  # type: ignore[no-untyped-def]
    return LLMJudge(JudgeSettings(model="openai/stub", api_base=server.base_url, **fast_settings(**kw)))


def rows(db, sql="SELECT item_id, status, category FROM verdicts ORDER BY item_id", params=None):  # type: ignore[no-untyped-def]
    with Store.readonly(db) as st:
        return st.query(sql, params)[1]


def test_n_items_give_n_verdict_rows_and_summary(tmp_path, stub_server):
    server = stub_server(lambda body: verdict_json("omission", 0.7))
    db = tmp_path / "v.duckdb"
    s = label(FIXTURES / "items_small.jsonl", store=db, judge=llm(server), concurrency=4, progress=False)
    assert s.status_counts == {"ok": 6} and s.category_counts == {"omission": 6} and s.n_input == 6
    assert s.prompt_tokens > 0 and s.wall_s > 0
    got = rows(db)
    assert len(got) == 6 and {r[1] for r in got} == {"ok"}
    run = rows(db, "SELECT n_input, n_ok, n_failed, finished_at IS NOT NULL FROM runs")
    assert run == [(6, 6, 0, True)]


def test_resume_after_partial_run_never_duplicates(tmp_path, stub_server):
    server = stub_server(lambda body: verdict_json("hallucination", 0.6))
    db = tmp_path / "v.duckdb"
    judge = llm(server)
    first = label(FIXTURES / "items_small.jsonl", store=db, judge=judge, limit=2, progress=False)
    assert first.status_counts == {"ok": 2} and server.count == 2
    second = label(FIXTURES / "items_small.jsonl", store=db, judge=judge, progress=False)
    assert second.n_skipped == 2 and second.status_counts == {"ok": 4}
    assert server.count == 6  # only the 4 missing items were sent
    third = label(FIXTURES / "items_small.jsonl", store=db, judge=judge, progress=False)
    assert third.n_skipped == 6 and third.status_counts == {} and server.count == 6
    assert rows(db, "SELECT count(*), count(DISTINCT item_id) FROM verdicts") == [(6, 6)]


def test_another_judge_adds_rows_beside(tmp_path, stub_server):
    server = stub_server(lambda body: verdict_json("omission", 0.6))
    db = tmp_path / "v.duckdb"
    label(FIXTURES / "items_small.jsonl", store=db, judge=llm(server), progress=False)
    label(FIXTURES / "items_small.jsonl", store=db, judge=llm(server, temperature=0.3), progress=False)
    assert rows(db, "SELECT count(DISTINCT judge_id), count(*) FROM verdicts") == [(2, 12)]


def test_failures_are_rows_and_are_retried_on_rerun(tmp_path, stub_server):
    state = {"down": True}

    def responder(body):  # type: ignore[no-untyped-def]
        if state["down"] and "丙硫氧嘧啶" in chat_text(body):
            return Fault(503)
        return verdict_json("output_error", 0.9)

    server = stub_server(responder)
    db = tmp_path / "v.duckdb"
    judge = llm(server)
    s = label(FIXTURES / "items_small.jsonl", store=db, judge=judge, progress=False)
    assert s.status_counts == {"ok": 5, "failed": 1}
    failed = rows(db, "SELECT item_id, error FROM verdicts WHERE status = 'failed'")
    assert failed[0][0] == "t6" and "HTTP 503" in failed[0][1]
    state["down"] = False
    s2 = label(FIXTURES / "items_small.jsonl", store=db, judge=judge, progress=False)
    assert s2.n_skipped == 5 and s2.status_counts == {"ok": 1}
    assert rows(db, "SELECT count(*), count(*) FILTER (status = 'ok') FROM verdicts") == [(6, 6)]


def test_invalid_judge_output_is_needs_review_row(tmp_path, stub_server):
    server = stub_server(lambda body: "```json\n{\"category\": \"omission\", \"rationale\": ")
    db = tmp_path / "v.duckdb"
    s = label(FIXTURES / "items_small.jsonl", store=db, judge=llm(server), progress=False)
    assert s.status_counts == {"needs_review": 6}
    assert all(r[2] is None for r in rows(db))
    # needs_review is final for this judge: a re-run does not ask again
    label(FIXTURES / "items_small.jsonl", store=db, judge=llm(server), progress=False)
    assert rows(db, "SELECT count(*) FROM verdicts") == [(6,)]


def test_bad_lines_are_input_problems_and_good_lines_processed(tmp_path, stub_server):
    good = (FIXTURES / "items_small.jsonl").read_text(encoding="utf-8").splitlines()
    src = tmp_path / "mixed.jsonl"
    src.write_text("\n".join([good[0], "{not json", "<<<<<<< HEAD", good[1], json.dumps({"question": "q"}), good[0]])
                   + "\n", encoding="utf-8")
    server = stub_server(lambda body: verdict_json("omission", 0.6))
    db = tmp_path / "v.duckdb"
    s = label(src, store=db, judge=llm(server), progress=False)
    assert s.status_counts == {"ok": 2}
    errors = "\n".join(s.input_errors)
    assert f"{src}:2: invalid JSON" in errors
    assert f"{src}:3: git merge-conflict marker line" in errors
    assert f"{src}:5: missing required field(s): response" in errors
    assert "duplicate item_id 't1'" in errors and f"{src}:6" in errors
    assert rows(db, "SELECT count(*) FROM verdicts WHERE status <> 'ok'") == [(0,)], "input errors are no verdicts"
    problems = rows(db, "SELECT line, kind FROM ingest_problems WHERE source_file = ? ORDER BY line", [str(src)])
    assert problems == [(2, "input_error"), (3, "input_error"), (5, "input_error"), (6, "input_error")]
    label(src, store=db, judge=llm(server), progress=False)  # re-run: same rows, no duplicates
    assert rows(db, "SELECT count(*) FROM verdicts") == [(2,)]
    assert rows(db, "SELECT count(*) FROM ingest_problems") == [(4,)]
    # the file fixed: its problems are gone, and the fixed lines are judged
    fixed = [good[0], good[1], good[2]]
    src.write_text("\n".join(fixed) + "\n", encoding="utf-8")
    s = label(src, store=db, judge=llm(server), progress=False)
    assert s.input_errors == [] and rows(db, "SELECT count(*) FROM ingest_problems") == [(0,)]
    assert rows(db, "SELECT count(*) FROM verdicts") == [(3,)]


def test_dataframe_csv_parquet_with_column_map(tmp_path, stub_server):
    df = pd.DataFrame({"id": ["a", "b"], "prompt": ["问题一", "问题二"], "output": ["回答一", "回答二"],
                       "source": ["Med-Exam", "MedSafety"]})
    server = stub_server(lambda body: verdict_json("unanswered", 0.9))
    cmap = {"id": "item_id", "prompt": "question", "output": "response", "source": "task"}
    for i, src in enumerate([df, tmp_path / "in.csv", tmp_path / "in.parquet"]):
        if i == 1:
            df.to_csv(src, index=False)
        if i == 2:
            df.to_parquet(src)
        db = tmp_path / f"v{i}.duckdb"
        s = label(src, store=db, judge=llm(server), column_map=cmap, progress=False)
        assert s.status_counts == {"ok": 2}
        assert rows(db, "SELECT item_id, task FROM items ORDER BY item_id") == [("a", "Med-Exam"), ("b", "MedSafety")]


def test_concurrency_limit_is_respected(tmp_path, stub_server):
    import threading
    import time

    live = {"now": 0, "max": 0}
    lock = threading.Lock()

    def responder(body):  # type: ignore[no-untyped-def]
        with lock:
            live["now"] += 1
            live["max"] = max(live["max"], live["now"])
        time.sleep(0.05)
        with lock:
            live["now"] -= 1
        return verdict_json("omission", 0.5)

    server = stub_server(responder)
    label(FIXTURES / "items_small.jsonl", store=tmp_path / "v.duckdb", judge=llm(server), concurrency=2,
          progress=False)
    assert live["max"] == 2


def test_a_run_freezes_the_heap_only_while_it_judges_and_leaves_a_callers_freeze_alone(tmp_path, stub_server):
    import gc

    from judge.core.heap import frozen_heap

    server = stub_server(lambda body: verdict_json("omission", 0.8))
    judge = LLMJudge(JudgeSettings(model="openai/stub", api_base=server.base_url, **fast_settings()))
    seen: list[int] = []

    class Watching:
        judge_id, model = judge.judge_id, judge.model

        def identity(self):  # type: ignore[no-untyped-def]
            return judge.identity()

        async def ajudge(self, item):  # type: ignore[no-untyped-def]
            seen.append(gc.get_freeze_count())
            return await judge.ajudge(item)

    assert gc.get_freeze_count() == 0
    label(load_items(), store=tmp_path / "f.duckdb", judge=Watching(), progress=False)  # type: ignore[arg-type]
    assert seen and min(seen) > 0, "judging runs with the long-lived objects frozen"
    assert gc.get_freeze_count() == 0, "and unfreezes them afterwards"
    gc.freeze()
    try:
        with frozen_heap():
            pass
        assert gc.get_freeze_count() > 0, "a caller's own freeze is left in place (an unfreeze would empty it)"
    finally:
        gc.unfreeze()
