"""Fault injection: bulk labelling against a server that fails at a seeded rate in every way it can."""

from __future__ import annotations

import random
import re
import threading
from collections import defaultdict

import duckdb

from judge.core.models import Item
from judge.core.settings import JudgeSettings
from judge.core.taxonomy import CATEGORY_CODES
from judge.llm.judge import LLMJudge
from judge.run.runner import label
from judge.testing import Fault, chat_text, verdict_json
from tests.conftest import fast_settings

SEED = 20240611
N_ITEMS = 60
TIMEOUT_S = 0.3
_MARK = re.compile(r"\[case-(\d+)\]")

# Items whose every request gets the same fault, so their outcome is known without looking at the judge.
ALWAYS = {
    **{i: "500" for i in range(0, 3)},
    **{i: "stall" for i in range(3, 6)},
    **{i: "truncate" for i in range(6, 9)},
    **{i: "429" for i in range(9, 12)},
    **{i: "unknown_category" for i in range(12, 15)},
    **{i: "invalid_json" for i in range(15, 18)},
}
TRANSPORT = ("500", "stall", "truncate", "429")
FAULT_KINDS = (*TRANSPORT, "unknown_category", "invalid_json")


def category_of(i: int) -> str:
    """The category the server answers for item i (distinct neighbours expose cross-item mix-ups)."""
    return CATEGORY_CODES[i % len(CATEGORY_CODES)]


def fault_reply(kind: str, i: int) -> Fault | str:
    if kind == "500":
        return Fault(500)
    if kind == "429":
        return Fault(429, body='{"error": {"message": "slow down", "type": "rate_limit"}}', headers={"Retry-After": "1"})
    if kind == "stall":
        return Fault(200, body=verdict_json(category_of(i)), stall_s=TIMEOUT_S * 2)
    if kind == "truncate":
        return Fault(200, body='{"id": "x", "choices": [{"message": {"content": "{\\"categ', truncate=True)
    if kind == "unknown_category":
        return verdict_json("wrong_drug_choice", 0.9)
    if kind == "invalid_json":
        return "我认为这是遗漏，因为没有提到降压治疗。"
    raise ValueError(kind)


class FaultyResponder:
    """Decides each reply from (seed, item, attempt) so outcomes do not depend on request interleaving."""

    def __init__(self, rate: float, always: dict[int, str] | None = None, seed: int = SEED) -> None:
        self.rate = rate
        self.always = always or {}
        self.seed = seed
        self.lock = threading.Lock()
        self.calls: dict[int, int] = defaultdict(int)
        self.sent: dict[int, list[str]] = defaultdict(list)

    def __call__(self, body: dict) -> Fault | str:
        i = int(_MARK.search(chat_text(body)).group(1))  # type: ignore[union-attr]
        with self.lock:
            self.calls[i] += 1
            attempt = self.calls[i]
        if i in self.always:
            kind = self.always[i]
        else:
            rng = random.Random(f"{self.seed}:{i}:{attempt}")
            kind = rng.choice(FAULT_KINDS) if rng.random() < self.rate else "ok"
        with self.lock:
            self.sent[i].append(kind)
        return verdict_json(category_of(i), 0.8) if kind == "ok" else fault_reply(kind, i)


def make_items(n: int = N_ITEMS) -> list[Item]:
    return [Item(item_id=f"f{i:02d}", question=f"问题 {i}：高血压患者首选哪类降压药？", model="demo-7b",
                 response=f"[case-{i}] 建议使用利尿剂，注意低盐饮食。") for i in range(n)]


def make_judge(server, transport: str = "litellm") -> LLMJudge:  # type: ignore[no-untyped-def]
    return LLMJudge(JudgeSettings(model="openai/stub", api_base=server.base_url, transport=transport,
                                  **fast_settings(timeout_s=TIMEOUT_S, transport_retries=2, max_retries=1)))


def rows(db) -> dict[str, tuple]:  # type: ignore[no-untyped-def]
    con = duckdb.connect(str(db), read_only=True)
    try:
        out = con.execute("SELECT item_id, status, category, error, attempts FROM verdicts").fetchall()
        per_item = con.execute("SELECT item_id, count(*) FROM verdicts GROUP BY item_id HAVING count(*) > 1").fetchall()
    finally:
        con.close()
    assert per_item == [], f"duplicate verdict rows: {per_item}"
    assert len(out) == len({r[0] for r in out})
    return {r[0]: r[1:] for r in out}


def check_row_shapes(by_id: dict[str, tuple]) -> None:
    for item_id, (status, category, error, _attempts) in by_id.items():
        i = int(item_id[1:])
        assert status in ("ok", "needs_review", "failed"), item_id
        if status == "ok":
            assert category == category_of(i), f"{item_id} got {category}, its own answer was {category_of(i)}"
            assert error is None
        else:
            assert category is None, f"{item_id}: {status} verdict must not carry a category"
            assert error and error.strip(), f"{item_id}: {status} verdict without error text"


def test_every_item_ends_exactly_once_under_faults_and_resume_retries_only_failed(stub_server, tmp_path, transport):
    db = tmp_path / "faults.duckdb"
    items = make_items()
    responder = FaultyResponder(rate=0.35, always=ALWAYS)
    server = stub_server(responder)
    judge = make_judge(server, transport)

    summary = label(items, store=db, judge=judge, concurrency=8, progress=False, batch_size=7)
    by_id = rows(db)
    assert set(by_id) == {it.item_id for it in items}
    assert sum(summary.status_counts.values()) == N_ITEMS
    check_row_shapes(by_id)

    for i, kind in ALWAYS.items():
        status, _, error, attempts = by_id[f"f{i:02d}"]
        if kind in TRANSPORT:
            assert status == "failed", (i, kind, status)
            assert attempts == 3 and responder.calls[i] == 3, "transport faults are retried transport_retries times"
        else:
            assert status == "needs_review", (i, kind, status)
            assert responder.calls[i] == 2, "invalid output is re-asked max_retries times"
        if kind == "stall":
            assert "Timeout" in error
        if kind == "429":
            assert "RateLimit" in error and "slow down" in error
        if kind == "unknown_category":
            assert "wrong_drug_choice" in error

    random_items = [i for i in range(N_ITEMS) if i not in ALWAYS]
    recovered = [i for i in random_items if by_id[f"f{i:02d}"][0] == "ok" and responder.sent[i][0] != "ok"]
    assert recovered, "some randomly faulted items must recover through a retry or a re-ask"
    for i in random_items:  # what the server did decides the outcome
        sent, status = responder.sent[i], by_id[f"f{i:02d}"][0]
        if sent[-1] == "ok":
            assert status == "ok", (i, sent, status)
        else:
            assert status != "ok", (i, sent, status)

    failed = {k for k, r in by_id.items() if r[0] == "failed"}
    needs_review = {k for k, r in by_id.items() if r[0] == "needs_review"}
    assert failed and needs_review

    healthy = FaultyResponder(rate=0.0)
    server.responder = healthy
    again = label(items, store=db, judge=judge, concurrency=8, progress=False)
    retried = {f"f{i:02d}" for i in healthy.calls}
    assert retried == failed, "resume re-tries exactly the failed items"
    assert again.n_skipped == N_ITEMS - len(failed)
    after = rows(db)
    assert set(after) == set(by_id)
    check_row_shapes(after)
    for k in failed:
        assert after[k][0] == "ok"
    for k in needs_review:
        assert after[k] == by_id[k], "needs_review verdicts are kept, not re-judged"

    con = duckdb.connect(str(db), read_only=True)
    try:
        runs = con.execute("SELECT n_ok + n_needs_review + n_failed, n_skipped FROM runs ORDER BY started_at").fetchall()
    finally:
        con.close()
    assert runs == [(N_ITEMS, 0), (len(failed), N_ITEMS - len(failed))]


def test_sustained_429_with_retry_after_then_recovery(stub_server, tmp_path, transport):
    state = {"n": 0}
    lock = threading.Lock()

    def responder(body: dict) -> Fault | str:
        with lock:
            state["n"] += 1
            n = state["n"]
        if n <= 12:  # a burst of rate limiting hits the first requests of every worker
            return Fault(429, headers={"Retry-After": "0"})
        i = int(_MARK.search(chat_text(body)).group(1))  # type: ignore[union-attr]
        return verdict_json(category_of(i))

    items = make_items(20)
    server = stub_server(responder)
    summary = label(items, store=tmp_path / "r.duckdb", judge=make_judge(server, transport), concurrency=4, progress=False)
    by_id = rows(tmp_path / "r.duckdb")
    assert len(by_id) == 20
    check_row_shapes(by_id)
    # 4 workers x 3 attempts = 12 requests can fail at most 4 items; the rest recover
    assert summary.status_counts.get("ok", 0) >= 16
    assert server.count == 12 + summary.status_counts["ok"], "each ok item took exactly one successful request"
