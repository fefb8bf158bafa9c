"""Labelling in several worker processes: the parent stays the only writer, every item ends exactly once."""

from __future__ import annotations

import os
import threading

import pytest

from judge.core.exceptions import ConfigError
from judge.core.models import Item, Verdict
from judge.core.settings import JudgeSettings
from judge.core.taxonomy import CATEGORY_CODES
from judge.llm.judge import LLMJudge
from judge.run.runner import label
from judge.testing import chat_text, verdict_json
from tests.conftest import db_rows, fast_settings


def items(n: int) -> list[Item]:
    return [Item(item_id=f"s{i:03d}", question=f"问题 {i}：糖尿病首选什么药？", response=f"[case-{i}] 胰岛素。")
            for i in range(n)]


def answer(body: dict) -> str:
    i = int(chat_text(body).split("[case-")[1].split("]")[0])
    return verdict_json(CATEGORY_CODES[i % len(CATEGORY_CODES)], 0.8)


class DyingJudge:
    """Judges instantly, but its process dies (exit code 7) on one item."""

    judge_id = "dying-judge"
    model = "test/dying"

    def __init__(self, die_on: str | None) -> None:
        self.die_on = die_on

    def identity(self) -> dict[str, object]:
        return {"kind": "dying"}

    async def ajudge(self, item: Item) -> Verdict:
        if item.item_id == self.die_on:
            os._exit(7)
        return Verdict(item_id=item.item_id, judge_id=self.judge_id, model=self.model, status="ok",
                       category="omission", confidence=0.5, source="llm")


class UnpicklableJudge(DyingJudge):
    def __init__(self) -> None:
        super().__init__(None)
        self.lock = threading.Lock()


@pytest.mark.parametrize("transport", ["litellm", "direct"])
def test_two_processes_label_every_item_once_with_its_own_answer(stub_server, tmp_path, transport):
    server = stub_server(answer)
    judge = LLMJudge(JudgeSettings(model="openai/stub", api_base=server.base_url, transport=transport,
                                   api_key="sk-shard-secret", **fast_settings()))
    db = tmp_path / "shards.duckdb"
    s = label(items(40), store=db, judge=judge, concurrency=8, processes=2, progress=False)
    assert s.status_counts == {"ok": 40} and server.count == 40
    assert s.worker_cpu_s > 0, "the workers report the CPU they used"
    got = dict(db_rows(db, "SELECT item_id, category FROM verdicts"))
    assert got == {f"s{i:03d}": CATEGORY_CODES[i % len(CATEGORY_CODES)] for i in range(40)}
    again = label(items(40), store=db, judge=judge, processes=2, progress=False)
    assert again.n_skipped == 40 and server.count == 40
    assert {h.get("Authorization") or h.get("authorization") for h in server.headers} == {"Bearer sk-shard-secret"}


def test_a_dead_worker_leaves_failed_rows_that_the_next_run_retries(tmp_path):
    db = tmp_path / "dead.duckdb"
    its = items(30)
    s = label(its, store=db, judge=DyingJudge(die_on="s004"), concurrency=1, processes=2, progress=False)
    rows = dict(db_rows(db, "SELECT item_id, status FROM verdicts"))
    assert set(rows) == {it.item_id for it in its} and sum(s.status_counts.values()) == 30
    failed = {k for k, v in rows.items() if v == "failed"}
    # worker 0 judges s000, s002, s004, ... and dies at s004: s004 and the rest of its share fail (so may s000
    # and s002, judged but not yet sent back); worker 1's share is unaffected
    assert {f"s{i:03d}" for i in range(4, 30, 2)} <= failed <= {f"s{i:03d}" for i in range(0, 30, 2)}
    errors = {e for (e,) in db_rows(db, "SELECT error FROM verdicts WHERE status = 'failed'")}
    assert errors == {"not judged: worker process 0 exited with code 7"}
    again = label(its, store=db, judge=DyingJudge(die_on=None), processes=2, progress=False)
    assert again.n_skipped == 30 - len(failed) and again.status_counts == {"ok": len(failed)}
    assert db_rows(db, "SELECT count(*), count(DISTINCT item_id), count_if(status = 'ok') FROM verdicts") == [(30, 30, 30)]


def test_judges_that_cannot_travel_and_bad_counts_are_refused_before_any_write(tmp_path):
    db = tmp_path / "x.duckdb"
    with pytest.raises(ConfigError, match="cannot run in several processes"):
        label(items(3), store=db, judge=UnpicklableJudge(), processes=2, progress=False)
    with pytest.raises(ValueError, match="at least 1"):
        label(items(3), store=db, judge=DyingJudge(None), processes=0, progress=False)
    assert not db.exists()


def test_offline_judge_in_two_processes_matches_one_process(tmp_path):
    from judge.offline.factory import make_offline_judge

    judge = make_offline_judge("offline")
    its = [Item(item_id=f"o{i}", question="请回答单项选择题，答案放在<>里。\nA. 甲\nB. 乙", reference_answer="<A>",
                response=r) for i, r in enumerate(["<B>", "答案是B", "", "抱歉，我无法回答。", "B。因为乙更常见"] * 4)]
    one = label(its, store=tmp_path / "one.duckdb", judge=judge, processes=1, progress=False)
    two = label(its, store=tmp_path / "two.duckdb", judge=judge, processes=2, progress=False)
    assert one.status_counts == two.status_counts
    sql = "SELECT item_id, status, category, confidence FROM verdicts ORDER BY item_id"
    assert db_rows(tmp_path / "one.duckdb", sql) == db_rows(tmp_path / "two.duckdb", sql)
