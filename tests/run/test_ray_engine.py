"""The Ray engine on a real local Ray instance (2 CPUs), the real HTTP test server and real DuckDB files.

One Ray instance serves the whole module (starting one costs about 3 s; each run then starts its actors).
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from judge.core.models import Item, Verdict
from judge.core.settings import JudgeSettings
from judge.core.taxonomy import CATEGORY_CODES
from judge.llm.judge import LLMJudge
from judge.run.ray_engine import default_shard_folder
from judge.run.runner import label
from judge.store.shards import shard_files, verdict_rows, write_shard
from judge.testing import Fault, verdict_json
from tests.conftest import GOLD, REPO, db_rows, fast_settings

ray = pytest.importorskip("ray", reason="the Ray engine tests need the ray extra: pip install -e '.[ray]'")

COMPARED = ("item_id, judge_id, status, category, rationale, evidence, confidence, secondary, source, model, "
            "prompt_version, prompt_hash, prompt_tokens, completion_tokens, attempts, flags, "
            # the error quotes the stub's completion, whose id counts the server's requests and whose time is now
            r"regexp_replace(regexp_replace(error, 'chatcmpl-stub-\d+', 'chatcmpl-stub-N', 'g'), "
            r"'created=\d+', 'created=T', 'g')")


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[Any]:
    """A Ray instance with 2 CPUs in a short temporary folder, shared by the module's tests."""
    tmp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=tmp, logging_level=logging.WARNING, log_to_driver=False,
             object_store_memory=256 * 1024 * 1024)
    ray.temp_folder = tmp  # type: ignore[attr-defined]
    yield ray
    ray.shutdown()
    shutil.rmtree(tmp, ignore_errors=True)


def _first_user(body: dict) -> str:
    return next(m["content"] for m in body["messages"] if m["role"] == "user")


def _bucket(body: dict) -> int:
    return int(hashlib.sha256(_first_user(body).encode()).hexdigest()[:8], 16)


def scripted(body: dict) -> str | Fault:
    """A fixed answer per item (from its first user message): mostly a category, some invalid, some HTTP 500."""
    b = _bucket(body)
    if b % 11 == 0:
        return Fault(500)
    if b % 13 == 0:
        return "this is not a verdict"
    return verdict_json(CATEGORY_CODES[b % len(CATEGORY_CODES)], round(0.5 + (b % 50) / 100, 2), rationale=f"r{b % 97}")


def gold_items(n: int) -> list[Item]:
    fields = set(Item.model_fields)
    rows = [json.loads(line) for line in GOLD.read_text(encoding="utf-8").splitlines() if line.strip()][:n]
    return [Item(**{k: v for k, v in r.items() if k in fields}) for r in rows]


def llm_judge(base_url: str) -> LLMJudge:
    return LLMJudge(JudgeSettings(model="openai/stub", api_base=base_url, **fast_settings()))


def test_ray_engine_gives_the_local_engines_verdicts_for_gold_items(ray_instance, stub_server, tmp_path):
    server = stub_server(scripted)
    items = gold_items(48)
    local = label(items, store=tmp_path / "local.duckdb", judge=llm_judge(server.base_url), concurrency=4,
                  progress=False)
    on_ray = label(items, store=tmp_path / "ray.duckdb", judge=llm_judge(server.base_url), concurrency=4,
                   engine="ray", workers=2, progress=False)
    assert on_ray.engine == "ray" and on_ray.workers == 2 and on_ray.engine_error is None
    assert on_ray.judge_id == local.judge_id
    assert on_ray.status_counts == local.status_counts and set(local.status_counts) == {"ok", "needs_review", "failed"}
    assert on_ray.category_counts == local.category_counts
    assert (on_ray.prompt_tokens, on_ray.completion_tokens) == (local.prompt_tokens, local.completion_tokens)
    sql = f"SELECT {COMPARED} FROM verdicts ORDER BY item_id"
    assert db_rows(tmp_path / "ray.duckdb", sql) == db_rows(tmp_path / "local.duckdb", sql)
    assert db_rows(tmp_path / "ray.duckdb", f"SELECT count(*) FROM verdicts WHERE run_id = '{on_ray.run_id}'") == [(48,)]
    assert shard_files(default_shard_folder(tmp_path / "ray.duckdb")) == [], "merged shards are deleted"
    runs = db_rows(tmp_path / "ray.duckdb", "SELECT n_ok + n_needs_review + n_failed, settings->>'engine' FROM runs")
    assert runs == [(48, "ray")]
    # failed items are retried on the next run, as locally; finished ones are not sent again
    before = server.count
    again = label(items, store=tmp_path / "ray.duckdb", judge=llm_judge(server.base_url), engine="ray", workers=2,
                  progress=False)
    n_failed = local.status_counts["failed"]
    assert again.n_skipped == 48 - n_failed and again.status_counts == {"failed": n_failed}
    assert server.count - before == n_failed * 3, "each failed item is tried again (1 call + 2 transport retries)"


def test_offline_judge_on_ray_matches_the_local_engine(ray_instance, tmp_path):
    from judge.demo import DEMO_FILE
    from judge.offline.factory import make_offline_judge

    judge = make_offline_judge("offline")
    local = label(DEMO_FILE, store=tmp_path / "local.duckdb", judge=judge, progress=False)
    on_ray = label(DEMO_FILE, store=tmp_path / "ray.duckdb", judge=judge, engine="ray", workers=2, progress=False)
    assert on_ray.status_counts == local.status_counts and on_ray.category_counts == local.category_counts
    sql = f"SELECT {COMPARED} FROM verdicts ORDER BY item_id"
    assert db_rows(tmp_path / "ray.duckdb", sql) == db_rows(tmp_path / "local.duckdb", sql)


def _judge_actor_pids() -> list[int]:
    pids = []
    for path in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            cmd = Path(path).read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cmd.startswith("ray::MapWorker(") and "JudgeActor" in cmd:
            pids.append(int(path.split("/")[2]))
    return pids


def _killing_responder(after: int, killed: list[int]):  # type: ignore[no-untyped-def]
    """Answer by item; when request `after` arrives, SIGKILL every judge actor process (each is mid-block then)."""
    lock = threading.Lock()
    seen = [0]

    def respond(body: dict) -> str:
        with lock:
            seen[0] += 1
            if seen[0] == after:
                for pid in _judge_actor_pids():
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
        return verdict_json(CATEGORY_CODES[_bucket(body) % len(CATEGORY_CODES)], 0.8)

    return respond


def _items(n: int, prefix: str) -> list[Item]:
    return [Item(item_id=f"{prefix}{i:03d}", question=f"问题 {i}：高血压首选什么药？", response=f"[case-{i}] 胰岛素。")
            for i in range(n)]


def test_killed_workers_are_restarted_and_every_item_ends_once(ray_instance, stub_server, tmp_path):
    killed: list[int] = []
    server = stub_server(_killing_responder(after=12, killed=killed), latency_s=0.05)
    items, db = _items(48, "k"), tmp_path / "kill.duckdb"
    s = label(items, store=db, judge=llm_judge(server.base_url), concurrency=3, engine="ray", workers=2,
              progress=False)
    assert len(killed) == 2, "both actor processes were found and killed mid-run"
    assert s.engine_error is None and s.status_counts == {"ok": 48}, "Ray restarted them and re-ran their blocks"
    assert server.count > 48, "the killed workers' blocks were judged again"
    again = label(items, store=db, judge=llm_judge(server.base_url), engine="ray", workers=2, progress=False)
    assert again.n_skipped == 48 and again.status_counts == {}
    assert db_rows(db, "SELECT count(*), count(DISTINCT item_id), count_if(status = 'ok') FROM verdicts") == [(48, 48, 48)]


def test_a_worker_killed_without_restarts_leaves_failed_rows_the_rerun_fills(ray_instance, stub_server, tmp_path):
    from judge.run.ray_engine import label_on_ray

    killed: list[int] = []
    server = stub_server(_killing_responder(after=12, killed=killed), latency_s=0.05)
    items, db = _items(48, "n"), tmp_path / "norestart.duckdb"
    s = label_on_ray(items, store=db, judge=llm_judge(server.base_url), concurrency=3, workers=2, max_restarts=0,
                     progress=False)
    assert killed and s.engine_error, "Ray gave up on the killed workers and the run says so"
    failed = dict(db_rows(db, "SELECT item_id, error FROM verdicts WHERE status = 'failed'"))
    assert failed and all(e.startswith("not judged: ") for e in failed.values())
    assert sum(s.status_counts.values()) == 48 and s.status_counts["failed"] == len(failed)
    assert db_rows(db, "SELECT count(*), count(DISTINCT item_id) FROM verdicts") == [(48, 48)]
    again = label(items, store=db, judge=llm_judge(server.base_url), engine="ray", workers=2, progress=False)
    assert again.n_skipped == 48 - len(failed) and again.status_counts == {"ok": len(failed)}
    assert db_rows(db, "SELECT count(*), count(DISTINCT item_id), count_if(status = 'ok') FROM verdicts") == [(48, 48, 48)]


def test_shards_are_queryable_during_the_run_and_merged_at_its_end(ray_instance, stub_server, tmp_path):
    db = tmp_path / "live.duckdb"
    folder = tmp_path / "shards"
    seen: dict[str, Any] = {}
    lock = threading.Lock()

    def respond(body: dict) -> str:
        with lock:
            seen["n"] = seen.get("n", 0) + 1
            query_now = seen["n"] == 30
        if query_now:  # this request's block is still open: the run is going on
            deadline = time.monotonic() + 20
            while not shard_files(folder) and time.monotonic() < deadline:
                time.sleep(0.05)
            out = subprocess.run([sys.executable, "-m", "judge", "sql", "--shards", str(folder), "--format", "json",
                                  "SELECT count(*) AS n, count(DISTINCT item_id) AS d, "
                                  "count(DISTINCT judge_id) AS j FROM verdicts"],
                                 capture_output=True, text=True, cwd=REPO, timeout=60)
            seen["sql"] = (out.returncode, out.stdout, out.stderr)
        return verdict_json(CATEGORY_CODES[_bucket(body) % len(CATEGORY_CODES)], 0.7)

    server = stub_server(respond)
    items = _items(40, "q")
    s = label(items, store=db, judge=LLMJudge(JudgeSettings(model="openai/stub", api_base=server.base_url,
                                                            **fast_settings(timeout_s=60))),
              concurrency=2, engine="ray", workers=2, shards=folder, progress=False)
    code, out, err = seen["sql"]
    assert code == 0, err
    [row] = json.loads(out)
    assert 0 < row["n"] == row["d"] < 40 and row["j"] == 1, row
    assert s.status_counts == {"ok": 40}
    assert db_rows(db, "SELECT count(*), count(DISTINCT item_id) FROM verdicts") == [(40, 40)]
    assert shard_files(folder) == [] and not list(folder.glob(".*.tmp"))


def test_shards_an_interrupted_run_left_are_merged_and_not_judged_again(ray_instance, stub_server, tmp_path):
    server = stub_server(lambda body: verdict_json("omission", 0.9))
    judge = llm_judge(server.base_url)
    items, db = _items(30, "l"), tmp_path / "left.duckdb"
    left = [Verdict(item_id=it.item_id, judge_id=judge.judge_id, model=judge.model, status="ok",
                    category="hallucination", confidence=0.6) for it in items[:10]]
    write_shard(default_shard_folder(db), verdict_rows(left, "interrupted-run"))
    (default_shard_folder(db) / ".verdicts-x.parquet.1234.tmp").write_bytes(b"half a file")
    s = label(items, store=db, judge=judge, engine="ray", workers=2, progress=False)
    assert s.n_skipped == 10 and s.status_counts == {"ok": 20} and server.count == 20
    rows = db_rows(db, "SELECT run_id, category, count(*) FROM verdicts GROUP BY ALL ORDER BY 1")
    assert sorted(rows) == sorted([("interrupted-run", "hallucination", 10), (s.run_id, "omission", 20)])
    assert list(default_shard_folder(db).iterdir()) == []


def test_cli_label_with_the_ray_engine(ray_instance, stub_server, tmp_path):
    from typer.testing import CliRunner

    from judge.cli.app import app

    server = stub_server(lambda body: verdict_json("unanswered", 0.8))
    src = tmp_path / "items.jsonl"
    src.write_text("\n".join(json.dumps(it.model_dump(include={"item_id", "question", "response"}), ensure_ascii=False)
                             for it in _items(12, "c")) + "\n{broken\n", encoding="utf-8")
    db = tmp_path / "cli.duckdb"
    res = CliRunner().invoke(app, ["label", str(src), "--db", str(db), "--model", "openai/stub", "--api-base",
                                   server.base_url, "--engine", "ray", "--workers", "2", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "ray" in res.output and "items.jsonl:13" in res.output
    assert db_rows(db, "SELECT status, count(*) FROM verdicts GROUP BY 1 ORDER BY 1") == [("ok", 12)]
    assert db_rows(db, "SELECT line, kind FROM ingest_problems") == [(13, "input_error")]


def test_only_wrong_items_of_a_store_on_ray(ray_instance, tmp_path):
    from judge.api import label_file
    from judge.medbench.grading import ItemScore
    from judge.store import Store

    db = tmp_path / "scored.duckdb"
    items = _items(20, "w")
    with Store(db) as st:
        st.upsert_items(items)
        st.write_scores([ItemScore(item_id=it.item_id, correct=i % 2 == 0, score=float(i % 2 == 0), extracted=None,
                                   score_method="open:recall") for i, it in enumerate(items)])
    s = label_file(None, db=db, model="rules", only_wrong=True, engine="ray", workers=2, progress=False)
    assert s.engine == "ray" and s.n_input == 10 and sum(s.status_counts.values()) == 10
    assert db_rows(db, "SELECT count(*), count(DISTINCT item_id), bool_and(i.correct = FALSE) FROM verdicts "
                       "JOIN items i USING (item_id)") == [(10, 10, True)]


def test_an_api_key_reaches_the_server_but_no_shard_db_or_ray_log(ray_instance, stub_server, tmp_path, monkeypatch):
    key = "sk-RAY-PLANTED-SECRET-42"
    server = stub_server(lambda body: verdict_json("omission", 0.9))
    db, folder = tmp_path / "k.duckdb", tmp_path / "shards"
    judge = LLMJudge(JudgeSettings(model="openai/stub", api_base=server.base_url, api_key=key, **fast_settings()))
    seen_shards: list[bytes] = []
    original = write_shard

    def keep(folder_: Any, table: Any) -> Any:  # read each shard as the driver writes it (they are merged, then gone)
        path = original(folder_, table)
        seen_shards.append(path.read_bytes())
        return path

    import judge.store.shards as shards_module

    monkeypatch.setattr(shards_module, "write_shard", keep)
    s = label(_items(12, "s"), store=db, judge=judge, engine="ray", workers=2, shards=folder, progress=False)
    assert s.status_counts == {"ok": 12} and seen_shards
    assert {h.get("authorization") for h in server.headers} == {f"Bearer {key}"}
    assert all(key.encode() not in b for b in seen_shards)
    wal = Path(f"{db}.wal")
    assert key.encode() not in db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    leaked = [p for p in Path(ray_instance.temp_folder).rglob("*") if p.is_file() and not p.is_symlink()
              and p.stat().st_size < 50_000_000 and key.encode() in p.read_bytes()]
    assert leaked == [], f"the key is in Ray's files: {leaked}"


def test_an_unreachable_ray_address_is_a_config_error_at_once():
    from judge.core.exceptions import ConfigError
    from judge.run.ray_engine import check_reachable

    with socket.socket() as s:  # a port nothing listens on: bound, then closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
        with pytest.raises(ConfigError, match=f"could not reach the Ray cluster at {address}"):
            check_reachable(address, timeout=2)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        check_reachable(f"127.0.0.1:{listener.getsockname()[1]}")  # reachable: no error
    check_reachable("auto")  # left to Ray
