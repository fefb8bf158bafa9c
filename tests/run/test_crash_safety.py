"""Crash safety: a labelling process killed with SIGKILL at random moments, then resumed."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from judge.core.settings import JudgeSettings
from judge.core.taxonomy import CATEGORY_CODES
from judge.llm.judge import LLMJudge
from judge.run.runner import label
from judge.testing import chat_text, verdict_json
from tests.conftest import REPO

N_ITEMS = 150
KILL_AFTER = [0, 4, 37]
"""Verdicts judged (not necessarily committed) in each trial before the kill; 0 = right after start-up."""
_MARK = re.compile(r"\[case-(\d+)\]")

CHILD = """
import sys
from judge.llm.judge import LLMJudge
from judge.run.runner import label
from judge.core.settings import JudgeSettings


class Announcing:
    # pass-through judge that prints a line after every verdict, so the parent can kill mid-run

    def __init__(self, inner):
        self.inner, self.judge_id, self.model, self.n = inner, inner.judge_id, inner.model, 0

    def identity(self):
        return self.inner.identity()

    async def ajudge(self, item):
        v = await self.inner.ajudge(item)
        self.n += 1
        print("JUDGED", self.n, flush=True)
        return v


items, db, base = sys.argv[1:4]
judge = Announcing(LLMJudge(JudgeSettings(model="openai/stub", api_base=base, timeout_s=5.0, backoff_s=0.01)))
print("STARTED", flush=True)
label(items, store=db, judge=judge, concurrency=4, batch_size=5, flush_s=0.05, progress=False)
print("FINISHED", flush=True)
"""

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")


def responder(body: dict) -> str:
    i = int(_MARK.search(chat_text(body)).group(1))  # type: ignore[union-attr]
    return verdict_json(CATEGORY_CODES[i % 8], 0.7)


def write_items(path: Path) -> None:
    with path.open("w", encoding="utf-8") as f:
        for i in range(N_ITEMS):
            f.write(json.dumps({"item_id": f"c{i:03d}", "question": f"第{i}题：糖尿病的诊断标准？",
                                "response": f"[case-{i}] 空腹血糖≥6.1 mmol/L。"}, ensure_ascii=False) + "\n")


def check_db(db: Path) -> dict[str, str]:
    """Open the database after a crash (replaying its WAL) and check it holds each item at most once."""
    con = duckdb.connect(str(db))
    try:
        rows = con.execute("SELECT item_id, status, category FROM verdicts").fetchall()
        items = con.execute("SELECT count(*), count(DISTINCT item_id) FROM items").fetchone()
    finally:
        con.close()
    ids = [r[0] for r in rows]
    assert len(ids) == len(set(ids)), "duplicate verdict rows after a crash"
    for item_id, status, category in rows:
        assert status == "ok" and category == CATEGORY_CODES[int(item_id[1:]) % 8], (item_id, status, category)
    assert items is not None and items[0] == items[1]
    return {r[0]: r[1] for r in rows}


def run_then_sigkill(args: list[str], env: dict[str, str], wait: Callable[[subprocess.Popen[str]], None]) -> None:
    """Start a labelling child, let `wait` decide the moment, SIGKILL it, and reap it whatever happens."""
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        wait(proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sigkill_at_random_moments_then_resume(stub_server, tmp_path):
    server = stub_server(responder, latency_s=0.03)
    items, db = tmp_path / "items.jsonl", tmp_path / "crash.duckdb"
    write_items(items)
    rng = random.Random(7)
    env = {**os.environ, "PYTHONPATH": str(REPO), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    done_counts, wal_seen = [], False
    for kill_after in KILL_AFTER:
        wanted = "STARTED" if kill_after == 0 else f"JUDGED {kill_after}"

        def after_wanted_line(proc: subprocess.Popen[str], wanted: str = wanted) -> None:
            for line in proc.stdout:  # type: ignore[union-attr]
                if line.strip() == wanted:
                    break
            else:
                pytest.fail(f"child ended before {wanted!r}")
            time.sleep(rng.uniform(0.0, 0.2))

        run_then_sigkill([sys.executable, "-c", CHILD, str(items), str(db), server.base_url], env, after_wanted_line)
        wal_seen = wal_seen or Path(f"{db}.wal").exists()
        if db.exists():
            done_counts.append(len(check_db(db)))
    assert done_counts == sorted(done_counts), "a crash must never lose verdicts that were committed before it"
    assert done_counts[-1] > 0, "the later kills come after verdicts were written"

    served_before = server.count
    judge = LLMJudge(JudgeSettings(model="openai/stub", api_base=server.base_url, timeout_s=5.0))
    summary = label(items, store=db, judge=judge, concurrency=8, progress=False)
    final = check_db(db)
    assert set(final) == {f"c{i:03d}" for i in range(N_ITEMS)}
    already = done_counts[-1] if done_counts else 0
    assert summary.n_skipped == already
    assert server.count - served_before == N_ITEMS - already, "the resumed run judges only what is missing"
    assert not Path(f"{db}.wal").exists() or Path(f"{db}.wal").stat().st_size == 0
    print(f"verdicts committed before each kill: {done_counts}; WAL left by a kill: {wal_seen}")


SHARDED_CHILD = """
import sys
from judge.llm.judge import LLMJudge
from judge.run.runner import label
from judge.core.settings import JudgeSettings
from tests.conftest import REPO

if __name__ == "__main__":
    items, db, base = sys.argv[1:4]
    judge = LLMJudge(JudgeSettings(model="openai/stub", api_base=base, timeout_s=5.0, backoff_s=0.01,
                                   transport="direct"))
    print("STARTED", flush=True)
    label(items, store=db, judge=judge, concurrency=4, processes=2, batch_size=5, flush_s=0.05, progress=False)
    print("FINISHED", flush=True)
"""


def test_sigkill_of_a_sharded_run_stops_its_workers_and_resumes(stub_server, tmp_path):
    server = stub_server(responder, latency_s=0.03)
    items, db, script = tmp_path / "items.jsonl", tmp_path / "sharded.duckdb", tmp_path / "run_sharded.py"
    write_items(items)
    script.write_text(SHARDED_CHILD, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    def workers_judging(proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "STARTED"
        deadline = time.monotonic() + 60
        while server.count < 20 and time.monotonic() < deadline:  # the workers are up and judging
            time.sleep(0.02)

    run_then_sigkill([sys.executable, str(script), str(items), str(db), server.base_url], env, workers_judging)
    time.sleep(1.5)
    settled = server.count
    time.sleep(1.0)
    assert server.count == settled, "orphaned workers must stop calling the model once their parent is gone"
    assert settled < N_ITEMS, "the kill came mid-run"
    done = check_db(db) if db.exists() else {}

    judge = LLMJudge(JudgeSettings(model="openai/stub", api_base=server.base_url, timeout_s=5.0, transport="direct"))
    summary = label(items, store=db, judge=judge, concurrency=4, processes=2, progress=False)
    final = check_db(db)
    assert set(final) == {f"c{i:03d}" for i in range(N_ITEMS)}
    assert summary.n_skipped == len(done) and summary.status_counts == {"ok": N_ITEMS - len(done)}
