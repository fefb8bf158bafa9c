"""The store's column-wise write paths: write_verdicts and the bulk write_verdict_table."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from judge.core.models import Verdict
from judge.store.store import Store


def rows(store: Store, judge_id: str) -> list[tuple]:
    return store.query("SELECT item_id, status, category, confidence, error, secondary, flags, source, attempts, run_id "
                       "FROM verdicts WHERE judge_id = ? ORDER BY item_id", [judge_id])[1]


def test_bulk_table_stores_the_same_rows_as_verdict_objects(tmp_path):
    verdicts = [Verdict(item_id="a", judge_id="j", status="ok", category="omission", confidence=0.5),
                Verdict(item_id="b", judge_id="j", status="failed", error="boom"),
                Verdict(item_id="c", judge_id="j", status="needs_review", error="bad", flags=["prompt_injection_suspected"],
                        secondary=["hallucination"])]
    frame = pd.DataFrame([{"item_id": v.item_id, "judge_id": "k", "status": v.status, "category": v.category,
                           "confidence": v.confidence, "error": v.error, "secondary": '["hallucination"]'
                           if v.secondary else "[]", "flags": '["prompt_injection_suspected"]' if v.flags else "[]"}
                          for v in verdicts])
    with Store(tmp_path / "s.duckdb") as st:
        st.write_verdicts(verdicts, "r1")
        assert st.write_verdict_table(frame, "r1") == 3
        assert rows(st, "j") == rows(st, "k")
        assert rows(st, "j")[2][5:7] == ('["hallucination"]', '["prompt_injection_suspected"]')


def test_bulk_table_upserts_without_duplicates(tmp_path):
    table = pa.table({"item_id": ["a", "b"], "judge_id": ["j", "j"], "status": ["failed", "ok"],
                      "category": [None, "hallucination"]})
    again = pa.table({"item_id": ["a"], "judge_id": ["j"], "status": ["ok"], "category": ["unanswered"]})
    with Store(tmp_path / "s.duckdb") as st:
        st.write_verdict_table(table)
        st.write_verdict_table(again)
        assert [(r[0], r[1], r[2]) for r in rows(st, "j")] == [("a", "ok", "unanswered"), ("b", "ok", "hallucination")]
        assert st.done_item_ids("j") == {"a", "b"}


@pytest.mark.parametrize("columns, message", [
    ({"item_id": ["a"], "judge_id": ["j"], "status": ["ok"], "category": ["wrong_drug"]}, "category must be one of"),
    ({"item_id": ["a"], "judge_id": ["j"], "status": ["ok"]}, "ok rows need a category"),
    ({"item_id": ["a"], "judge_id": ["j"], "status": ["failed"], "category": ["omission"]}, "only ok rows"),
    ({"item_id": [None], "judge_id": ["j"], "status": ["failed"]}, "'item_id' is required"),
    ({"item_id": ["a"], "status": ["failed"]}, "'judge_id' is required"),
    ({"item_id": ["a"], "judge_id": ["j"], "status": ["done"]}, "status must be"),
    ({"item_id": ["a"], "judge_id": ["j"], "status": ["failed"], "verdict": ["x"]}, "unknown verdict column"),
])
def test_bulk_table_rejects_invalid_rows_and_writes_nothing(tmp_path, columns, message):
    with Store(tmp_path / "s.duckdb") as st:
        with pytest.raises(ValueError, match=message):
            st.write_verdict_table(pa.table(columns))
        assert st.query("SELECT count(*) FROM verdicts")[1] == [(0,)]


def test_write_verdicts_replaces_rows_and_keeps_every_column(tmp_path):
    first = [Verdict(item_id=f"i{k}", judge_id="j", status="failed", error="timeout", attempts=3) for k in range(5)]
    again = [Verdict(item_id="i1", judge_id="j", status="ok", category="omission", confidence=0.75, rationale="r",
                     evidence="e", secondary=["hallucination"], source="baseline", model="m", prompt_version="p",
                     prompt_hash="h", latency_ms=1.5, prompt_tokens=10, completion_tokens=2, cost_usd=0.001,
                     attempts=1, flags=["below_tau", "prompt_injection_suspected"]),
             Verdict(item_id="i9", judge_id="j", status="needs_review", error="bad json")]
    with Store(tmp_path / "s.duckdb") as st:
        st.write_verdicts(first, "r1")
        st.write_verdicts(again, "r2")
        st.write_verdicts([], "r3")
        assert st.query("SELECT count(*), count(DISTINCT item_id) FROM verdicts")[1] == [(6, 6)]
        row = st.query("SELECT item_id, run_id, status, category, rationale, evidence, confidence, secondary, error, "
                       "source, model, prompt_version, prompt_hash, latency_ms, prompt_tokens, completion_tokens, "
                       "cost_usd, attempts, flags FROM verdicts WHERE item_id = 'i1'")[1][0]
        assert row == ("i1", "r2", "ok", "omission", "r", "e", 0.75, '["hallucination"]', None, "baseline", "m", "p",
                       "h", 1.5, 10, 2, 0.001, 1, '["below_tau", "prompt_injection_suspected"]')
        kept = st.query("SELECT run_id, status, error, attempts, secondary, flags FROM verdicts WHERE item_id = 'i0'")[1]
        assert kept == [("r1", "failed", "timeout", 3, "[]", "[]")]
        assert st.done_item_ids("j") == {"i1", "i9"}


def test_write_verdicts_batches_mixing_new_existing_and_repeated_rows(tmp_path):
    with Store(tmp_path / "s.duckdb") as st:
        st.write_verdicts([Verdict(item_id="a", judge_id="j", status="failed", error="x"),
                           Verdict(item_id="a", judge_id="j", status="failed", error="x")], "r1")
        assert st.query("SELECT count(*) FROM verdicts")[1] == [(1,)]
        st.write_verdicts([Verdict(item_id=i, judge_id="j", status="ok", category="omission") for i in "abc"], "r2")
        assert st.query("SELECT item_id, status, run_id FROM verdicts ORDER BY item_id")[1] == [
            ("a", "ok", "r2"), ("b", "ok", "r2"), ("c", "ok", "r2")]
