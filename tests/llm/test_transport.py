"""The direct OpenAI-compatible transport against a real HTTP server on 127.0.0.1, and its equivalence to litellm."""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import warnings

import litellm
import pytest

from judge.core.exceptions import ConfigError, EndpointError, RateLimitError
from judge.core.models import Item
from judge.core.settings import JudgeSettings
from judge.llm.judge import LLMJudge
from judge.llm.transport import (
    DirectTransport,
    call_kwargs,
    http_error,
    make_transport,
    resolve_transport,
    token_prices,
    wire_model,
)
from judge.run.runner import label
from judge.testing import Fault, Reply, verdict_json
from tests.conftest import db_rows, fast_settings


def direct(server, model: str = "openai/stub", **kw) -> LLMJudge:  # type: ignore[no-untyped-def]
    return LLMJudge(JudgeSettings(model=model, api_base=server.base_url, transport="direct", **fast_settings(**kw)))


def test_wire_model_strips_only_litellm_provider_prefixes():
    assert wire_model("openai/stub") == "stub"
    assert wire_model("hosted_vllm/Qwen/Qwen2.5-7B-Instruct") == "Qwen/Qwen2.5-7B-Instruct"
    assert wire_model("openai/Qwen/Qwen2.5-7B-Instruct") == "Qwen/Qwen2.5-7B-Instruct"
    assert wire_model("Qwen/Qwen2.5-7B-Instruct") == "Qwen/Qwen2.5-7B-Instruct"
    assert wire_model("gemma-3-270m") == "gemma-3-270m"


def test_direct_needs_an_api_base_and_unknown_transports_are_refused():
    with pytest.raises(ConfigError, match="api_base"):
        LLMJudge(JudgeSettings(model="openai/gpt-4o-mini", transport="direct"))
    settings = JudgeSettings(model="openai/stub", api_base="http://127.0.0.1:1/v1")
    with pytest.raises(ConfigError, match="unknown transport"):
        make_transport(settings.model_copy(update={"transport": "carrier-pigeon"}))
    with pytest.raises(ValueError):
        JudgeSettings(model="openai/stub", transport="carrier-pigeon")


def test_request_body_is_plain_openai_with_the_key_only_in_the_header(stub_server, items):
    server = stub_server(lambda body: verdict_json("omission", 0.7))
    judge = LLMJudge(JudgeSettings(model="hosted_vllm/Qwen/Qwen2.5-7B-Instruct", api_base=server.base_url + "/",
                                   api_key="sk-direct-key", transport="direct", schema_in_response_format=True,
                                   **fast_settings()))
    v = asyncio.run(judge.ajudge(items[1]))
    assert v.status == "ok" and v.category == "omission"
    body, headers = server.requests[0], {k.lower(): v for k, v in server.headers[0].items()}
    assert body["model"] == "Qwen/Qwen2.5-7B-Instruct"
    assert set(body) == {"model", "messages", "temperature", "max_tokens", "response_format"}
    assert body["response_format"]["type"] == "json_object" and "schema" in body["response_format"]
    assert headers["authorization"] == "Bearer sk-direct-key"
    assert "sk-direct-key" not in json.dumps(body) and "sk-direct-key" not in repr(judge.transport)


def test_same_verdicts_and_judge_id_as_litellm_so_runs_resume_across_transports(stub_server, items, tmp_path):
    server = stub_server(lambda body: verdict_json("hallucination", 0.8, evidence="阿莫西林")
                         if "阿莫西林" in body["messages"][-1]["content"] else verdict_json("omission", 0.6))
    via_litellm = LLMJudge(JudgeSettings(model="openai/stub", api_base=server.base_url, **fast_settings()))
    via_direct = direct(server)
    assert via_direct.judge_id == via_litellm.judge_id
    a, b = asyncio.run(via_litellm.ajudge(items[2])), asyncio.run(via_direct.ajudge(items[2]))
    same = ("status", "category", "evidence", "confidence", "prompt_hash", "prompt_tokens", "completion_tokens")
    assert [getattr(a, f) for f in same] == [getattr(b, f) for f in same]
    assert server.requests[0]["messages"] == server.requests[1]["messages"]

    db = tmp_path / "resume.duckdb"
    first = label(items[:3], store=db, judge=via_direct, progress=False)
    again = label(items, store=db, judge=via_litellm, progress=False)
    assert first.status_counts == {"ok": 3} and again.n_skipped == 3
    assert db_rows(db, "SELECT count(*), count(DISTINCT item_id) FROM verdicts") == [(len(items), len(items))]


def test_http_errors_map_to_retryable_exceptions():
    limited = http_error(429, {"retry-after": "2.5"}, b'{"error": {"message": "slow down"}}')
    assert isinstance(limited, RateLimitError) and limited.retry_after == 2.5 and "slow down" in str(limited)
    down = http_error(503, {}, b"<html>Service Unavailable</html>")
    assert type(down) is EndpointError and down.status_code == 503 and "Service Unavailable" in str(down)
    assert http_error(429, {"retry-after": "soon"}, b"").retry_after is None


def test_a_reply_that_is_not_a_completion_is_retried_then_failed(stub_server, items):
    server = stub_server(lambda body: Fault(200, body='{"hello": "world"}'))
    v = asyncio.run(direct(server, transport_retries=3).ajudge(items[0]))
    assert v.status == "failed" and v.category is None
    assert "not a chat completion" in v.error and server.count == 4 and v.attempts == 4


def test_retry_after_is_honoured(stub_server, items):
    n = {"c": 0}

    def responder(body):  # type: ignore[no-untyped-def]
        n["c"] += 1
        return Fault(429, headers={"Retry-After": "0.3"}) if n["c"] == 1 else verdict_json("omission")

    # the backoff would be 0.01 s; the server's Retry-After asks for 0.3 s
    v = asyncio.run(direct(stub_server(responder), backoff_max_s=5.0).ajudge(items[0]))
    assert v.status == "ok" and v.attempts == 2 and v.latency_ms >= 300


def test_sessions_close_with_their_event_loop(stub_server, items):
    judge = direct(stub_server(lambda body: verdict_json("omission")))
    transport = judge.transport
    assert isinstance(transport, DirectTransport)
    gc.collect()  # garbage of earlier tests (other libraries' clients) is not this test's to count
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            assert asyncio.run(judge.ajudge(items[0])).status == "ok"
        sessions = [entry[1] for entry in transport._sessions.values()]
        gc.collect()
    assert sessions and all(s.closed for s in sessions)
    assert not [w for w in caught if "nclosed" in str(w.message)], [str(w.message) for w in caught]


def test_sync_calls_share_one_session_on_the_background_loop(stub_server, items):
    server = stub_server(lambda body: verdict_json("omission"))
    judge = direct(server)
    assert judge.judge(items[0]).status == "ok"
    first = [entry[1] for entry in judge.transport._sessions.values() if not entry[1].closed]
    assert judge.judge(items[1]).status == "ok"
    second = [entry[1] for entry in judge.transport._sessions.values() if not entry[1].closed]
    assert len(first) == 1 and second == first, "the second sync call reuses the first call's pooled session"


def test_sync_session_is_closed_at_exit(stub_server, items, tmp_path):
    server = stub_server(lambda body: verdict_json("omission"))
    script = tmp_path / "sync_exit.py"
    script.write_text(
        "import warnings\nwarnings.simplefilter('always')\n"
        "from judge.core.models import Item\nfrom judge.core.settings import JudgeSettings\n"
        "from judge.llm.judge import LLMJudge\n"
        f"j = LLMJudge(JudgeSettings(model='openai/stub', api_base={server.base_url!r}, transport='direct'))\n"
        "print(j.judge(Item(item_id='x', question='q', response='r')).status)\n", encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
    assert "nclosed" not in done.stderr, done.stderr


def test_cost_uses_litellm_prices_for_known_models(stub_server, items):
    server = stub_server(lambda body: Reply(verdict_json("omission"), prompt_tokens=1000, completion_tokens=100))
    v = asyncio.run(direct(server, model="openai/gpt-4o-mini").ajudge(items[0]))
    info = litellm.model_cost["gpt-4o-mini"]
    assert token_prices("openai/gpt-4o-mini") == (info["input_cost_per_token"], info["output_cost_per_token"])
    assert v.cost_usd == pytest.approx(1000 * info["input_cost_per_token"] + 100 * info["output_cost_per_token"])
    assert asyncio.run(direct(server).ajudge(items[0])).cost_usd is None  # an unpriced local model


def test_many_concurrent_items_each_get_their_own_answer(stub_server, tmp_path):
    codes = ["omission", "hallucination", "format_mismatch", "unanswered"]
    server = stub_server(lambda body: verdict_json(codes[int(json.dumps(body).split("[case-")[1].split("]")[0]) % 4]),
                         latency_s=0.01)
    its = [Item(item_id=f"c{i}", question="高血压首选药？", response=f"[case-{i}] 用利尿剂。") for i in range(120)]
    s = label(its, store=tmp_path / "c.duckdb", judge=direct(server), concurrency=32, progress=False)
    assert s.status_counts == {"ok": 120}
    got = dict(db_rows(tmp_path / "c.duckdb", "SELECT item_id, category FROM verdicts"))
    assert got == {f"c{i}": codes[i % 4] for i in range(120)}


@pytest.mark.parametrize(("model", "api_base", "mode", "want"), [
    ("openai/Qwen2.5-7B-Instruct", "http://127.0.0.1:8000/v1", "json", "direct"),
    ("hosted_vllm/qwen", "http://127.0.0.1:8000/v1", "json_schema", "direct"),
    ("openai/gpt-4o-mini", None, "json", "litellm"),  # the hosted provider: litellm knows its quirks
    ("deepseek/deepseek-chat", None, "json", "litellm"),
    ("ollama/qwen2.5:7b", "http://127.0.0.1:11434", "json", "litellm"),  # not the OpenAI protocol
    ("openai/served", "http://127.0.0.1:8000/v1", "tools", "litellm"),
])
def test_auto_sends_openai_compatible_servers_direct_and_the_rest_through_litellm(model, api_base, mode, want):
    settings = JudgeSettings(model=model, api_base=api_base, mode=mode)
    assert settings.transport == "auto" and resolve_transport(settings) == want
    assert type(make_transport(settings)).__name__ == {"direct": "DirectTransport", "litellm": "LitellmTransport"}[want]
    assert ("num_retries" in call_kwargs(settings)) == (want == "litellm")
