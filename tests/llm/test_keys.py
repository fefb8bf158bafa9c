"""Where the API key comes from, identical on both transports, checked in the headers the real server received."""

from __future__ import annotations

import asyncio

import pytest

from judge.core.models import Item
from judge.llm.keys import provider_key_var, resolve_api_key
from judge.run.factory import make_judge
from judge.testing import verdict_json

ITEM = Item(item_id="k1", question="成人心肺复苏胸外按压的频率是？", response="每分钟60次。")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in ("OPENAI_API_KEY", "MEDJUDGE_API_KEY", "HOSTED_VLLM_API_KEY", "OPENAI_API_BASE", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def sent_key(server, transport: str, model: str = "openai/stub", api_key: str | None = None) -> str | None:  # type: ignore[no-untyped-def]
    judge = make_judge(model, api_base=server.base_url, api_key=api_key, transport=transport, max_retries=0)
    assert asyncio.run(judge.ajudge(ITEM)).status == "ok"
    header = server.headers[-1].get("authorization")
    return header.removeprefix("Bearer ") if header else None


@pytest.mark.parametrize("transport", ["litellm", "direct"])
def test_precedence_is_explicit_then_medjudge_then_provider_variable(stub_server, clean_env, transport):
    server = stub_server(lambda body: verdict_json("omission"))
    clean_env.setenv("OPENAI_API_KEY", "sk-provider")
    assert sent_key(server, transport) == "sk-provider", "the provider's variable works with --api-base"
    clean_env.setenv("MEDJUDGE_API_KEY", "sk-medjudge")
    assert sent_key(server, transport) == "sk-medjudge"
    assert sent_key(server, transport, api_key="sk-explicit") == "sk-explicit"


@pytest.mark.parametrize("transport", ["litellm", "direct"])
def test_the_provider_variable_follows_the_model_prefix(stub_server, clean_env, transport):
    server = stub_server(lambda body: verdict_json("omission"))
    clean_env.setenv("OPENAI_API_KEY", "sk-openai")
    clean_env.setenv("HOSTED_VLLM_API_KEY", "sk-vllm")
    assert sent_key(server, transport, model="hosted_vllm/stub") == "sk-vllm"


def test_without_any_key_a_keyless_server_is_called_as_such(stub_server, clean_env):
    server = stub_server(lambda body: verdict_json("omission"))
    assert sent_key(server, "direct") is None, "the direct client sends no Authorization header"
    assert sent_key(server, "litellm") == "sk-no-key", "litellm's client needs some key; a keyless server ignores it"


def test_resolution_names_its_source_never_the_key(clean_env):
    from judge.core.settings import JudgeSettings

    clean_env.setenv("DEEPSEEK_API_KEY", "sk-ds")
    got = resolve_api_key(JudgeSettings(model="deepseek/deepseek-chat"))
    assert (got.value, got.source) == ("sk-ds", "DEEPSEEK_API_KEY")
    assert provider_key_var("openai/Qwen/Qwen2.5-7B") == "OPENAI_API_KEY"
    assert provider_key_var("gpt-4o-mini") == "OPENAI_API_KEY"
    assert provider_key_var("anthropic/claude") == "ANTHROPIC_API_KEY"
