"""How an LLM judge reaches its model: litellm (every provider) or a pooled HTTP client for OpenAI-compatible servers.

Both transports hand Instructor a chat-completion function with litellm's call signature and report a call's
USD cost. `litellm` is the default and works with every provider litellm knows. `direct` speaks the
OpenAI `/chat/completions` protocol to `api_base` itself, with one pooled aiohttp session per event loop: it skips litellm's per-call routing, logging and cost machinery, which is
most of the client CPU when thousands of items go to a self-hosted server (vLLM, llama.cpp, TGI, SGLang).
HTTP errors become the exceptions in `judge.core.exceptions` that the judges' retry logic understands.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import sys
import weakref
from collections.abc import AsyncIterator
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import aiohttp  # noqa: E402
import orjson  # noqa: E402
from openai.types.chat import ChatCompletion  # noqa: E402
from pydantic import ValidationError  # noqa: E402

from judge.core.exceptions import (  # noqa: E402
    ConfigError,
    EndpointConnectionError,
    EndpointError,
    EndpointTimeout,
    MalformedReplyError,
    RateLimitError,
)
from judge.core.settings import JudgeSettings  # noqa: E402
from judge.llm.keys import resolve_api_key  # noqa: E402

TRANSPORTS = ("auto", "litellm", "direct")
# litellm provider prefixes that mean "an OpenAI-compatible server": the direct transport strips them
_OPENAI_COMPATIBLE = ("openai/", "hosted_vllm/", "openai_like/", "custom_openai/", "lm_studio/", "llamafile/",
                      "vllm/")
# request fields of the OpenAI chat API; litellm-only arguments (num_retries, api_base, ...) are not sent
_BODY_FIELDS = frozenset({
    "model", "messages", "temperature", "max_tokens", "max_completion_tokens", "response_format", "tools",
    "tool_choice", "seed", "top_p", "stop", "n", "presence_penalty", "frequency_penalty", "logprobs",
    "top_logprobs", "user",
})


class Transport(Protocol):
    """A chat-completion backend for the judges."""

    name: str

    async def acreate(self, **kwargs: Any) -> Any:
        """One chat completion, asynchronously (litellm's `acompletion` arguments)."""

    def cost(self, raw: Any) -> float | None:
        """USD cost of a completion, None when the model has no known price."""


def load_litellm() -> Any:
    """litellm, imported on first use (it takes seconds to import; the direct transport never needs it)."""
    import litellm
    from litellm.llms.custom_httpx.async_client_cleanup import close_litellm_async_clients

    from judge.core.sync import on_shutdown

    litellm.suppress_debug_info = True
    on_shutdown(close_litellm_async_clients)  # its clients cached on the synchronous API's loop close there
    return litellm


class LitellmTransport:
    """Every call through litellm (any provider, litellm's own cost figure)."""

    name = "litellm"

    def __init__(self) -> None:
        self._litellm = load_litellm()

    async def acreate(self, **kwargs: Any) -> Any:
        """`litellm.acompletion`."""
        return await self._litellm.acompletion(**kwargs)

    def cost(self, raw: Any) -> float | None:
        """litellm's own figure when it computed one, else computed from its price table."""
        hidden = getattr(raw, "_hidden_params", None) or {}
        if "response_cost" in hidden:
            value = hidden["response_cost"]
            return float(value) if value is not None else None
        try:
            return float(self._litellm.completion_cost(completion_response=raw))
        except Exception:  # noqa: BLE001 - unknown models have no price
            return None


def wire_model(model: str) -> str:
    """The model name sent to an OpenAI-compatible server: litellm's provider prefix removed."""
    for prefix in _OPENAI_COMPATIBLE:
        if model.startswith(prefix):
            return model[len(prefix):]
    return model


@lru_cache(maxsize=1)
def price_table() -> dict[str, Any]:
    """litellm's model price table: litellm's own when it is loaded, else the copy it ships (read as JSON)."""
    loaded = sys.modules.get("litellm")
    if loaded is not None:
        return dict(loaded.model_cost)
    spec = importlib.util.find_spec("litellm")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "model_prices_and_context_window_backup.json"
        if path.is_file():
            return dict(orjson.loads(path.read_bytes()))
    return {}


@lru_cache(maxsize=64)
def token_prices(model: str) -> tuple[float, float] | None:
    """(input, output) USD per token from litellm's price table, None for a model it does not list."""
    table = price_table()
    for name in (model, wire_model(model)):
        info = table.get(name)
        if not isinstance(info, dict):
            continue
        prices = info.get("input_cost_per_token"), info.get("output_cost_per_token")
        if prices[0] is not None and prices[1] is not None:
            return float(prices[0]), float(prices[1])
    return None


def _error_text(body: bytes) -> str:
    try:
        data = orjson.loads(body)
        message = data.get("error", {}).get("message") if isinstance(data, dict) else None
        if isinstance(message, str) and message:
            return message[:300]
    except (orjson.JSONDecodeError, AttributeError):
        pass
    return body[:300].decode("utf-8", "replace").replace("\n", " ")


def http_error(status: int, headers: Any, body: bytes) -> EndpointError:
    """The exception for an HTTP error status (429 carries Retry-After)."""
    retry_after: float | None = None
    raw = headers.get("retry-after") if headers is not None else None
    if raw is not None:
        try:
            retry_after = float(raw)
        except ValueError:
            retry_after = None
    text = f"HTTP {status} from the endpoint: {_error_text(body)}"
    if status == 429:
        return RateLimitError(text, status_code=status, retry_after=retry_after)
    return EndpointError(text, status_code=status, retry_after=retry_after)


def parse_completion(body: bytes) -> ChatCompletion:
    """A chat completion from a 200 response body; MalformedReplyError (retried) when it is not one."""
    try:
        return ChatCompletion.model_validate_json(body)
    except (ValidationError, ValueError) as e:
        snippet = body[:200].decode("utf-8", "replace").replace("\n", " ")
        raise MalformedReplyError(f"the endpoint's reply is not a chat completion ({type(e).__name__}): "
                                  f"{snippet!r}", status_code=200) from None


class DirectTransport:
    """OpenAI-compatible `/chat/completions` at `api_base` over aiohttp, one pooled session per event loop.

    The async session lives in an async generator started on the running loop, so `asyncio.run` closes it
    when the loop shuts down; `aclose()` closes it earlier. Sessions on a loop that outlives the transport (the
    background loop of the synchronous API) are closed on that loop when the transport is collected.
    """

    name = "direct"

    def __init__(self, settings: JudgeSettings) -> None:
        if not settings.api_base:
            raise ConfigError("transport 'direct' needs api_base: the URL of an OpenAI-compatible server "
                              "(e.g. http://127.0.0.1:8000/v1); use transport 'litellm' for hosted providers")
        self.url = settings.api_base.rstrip("/") + "/chat/completions"
        self.model = settings.model
        self.timeout_s = settings.timeout_s
        key = resolve_api_key(settings).value
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if key:
            self._headers["Authorization"] = f"Bearer {key}"
        self._sessions: dict[int, tuple[asyncio.AbstractEventLoop, aiohttp.ClientSession, AsyncIterator[Any]]] = {}
        self._opened: list[tuple[asyncio.AbstractEventLoop, AsyncIterator[Any]]] = []
        weakref.finalize(self, _close_sessions, self._opened)

    def __repr__(self) -> str:
        return f"DirectTransport(url={self.url!r})"

    def body(self, kwargs: dict[str, Any]) -> bytes:
        """The JSON request body for litellm-style arguments (extra_body merged last, as litellm does)."""
        body = {k: v for k, v in kwargs.items() if k in _BODY_FIELDS and v is not None}
        body["model"] = wire_model(str(kwargs.get("model") or self.model))
        body.update(kwargs.get("extra_body") or {})
        return orjson.dumps(body)

    @staticmethod
    async def _holder(headers: dict[str, str]) -> AsyncIterator[aiohttp.ClientSession]:
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
        async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
            yield session

    async def _session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        entry = self._sessions.get(id(loop))
        if entry is not None and entry[0] is loop and not entry[1].closed:
            return entry[1]
        for key in [k for k, (lp, _, _) in self._sessions.items() if lp.is_closed()]:
            del self._sessions[key]
        self._opened[:] = [(lp, h) for lp, h in self._opened if not lp.is_closed()]
        holder = self._holder(self._headers)
        session = await holder.__anext__()
        self._sessions[id(loop)] = (loop, session, holder)
        self._opened.append((loop, holder))
        return session

    async def acreate(self, **kwargs: Any) -> ChatCompletion:
        """POST one chat completion; HTTP, timeout and connection failures raise `judge.core.exceptions` errors."""
        session = await self._session()
        timeout = aiohttp.ClientTimeout(total=float(kwargs.get("timeout") or self.timeout_s))
        try:
            async with session.post(self.url, data=self.body(kwargs), timeout=timeout) as resp:
                data = await resp.read()
                if resp.status >= 400:
                    raise http_error(resp.status, resp.headers, data)
        except TimeoutError as e:
            raise EndpointTimeout(f"no complete reply within {timeout.total:g} s") from e
        except aiohttp.ClientError as e:
            raise EndpointConnectionError(f"{type(e).__name__}: {e}") from e
        return parse_completion(data)

    def cost(self, raw: Any) -> float | None:
        """Tokens times litellm's per-token prices for the model (None when it has none)."""
        prices = token_prices(self.model)
        usage = getattr(raw, "usage", None)
        if prices is None or usage is None:
            return None
        return (usage.prompt_tokens or 0) * prices[0] + (usage.completion_tokens or 0) * prices[1]

    async def aclose(self) -> None:
        """Close the session of the running loop (others close with their loops)."""
        loop = asyncio.get_running_loop()
        entry = self._sessions.pop(id(loop), None)
        if entry is not None:
            await entry[2].aclose()  # type: ignore[attr-defined]


async def _aclose(holder: AsyncIterator[Any]) -> None:
    await holder.aclose()  # type: ignore[attr-defined]


def _close_sessions(opened: list[tuple[asyncio.AbstractEventLoop, AsyncIterator[Any]]]) -> None:
    """Close a collected transport's sessions on the synchronous API's background loop (other loops close their
    own sessions when they shut down)."""
    from judge.core.sync import is_background_loop

    for loop, holder in opened:
        if is_background_loop(loop) and loop.is_running() and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                asyncio.run_coroutine_threadsafe(_aclose(holder), loop)


def resolve_transport(settings: JudgeSettings) -> str:
    """The transport that `settings` mean: "auto" is direct for an OpenAI-compatible model string with an api_base
    (litellm would only forward the request to it), litellm for everything else (hosted providers, ollama, ...)."""
    if settings.transport != "auto":
        return settings.transport
    compatible = settings.model.startswith(_OPENAI_COMPATIBLE) and settings.mode != "tools"
    return "direct" if settings.api_base and compatible else "litellm"


def make_transport(settings: JudgeSettings) -> Transport:
    """The transport `settings` mean (see `resolve_transport`)."""
    name = resolve_transport(settings)
    if name == "litellm":
        return LitellmTransport()
    if name == "direct":
        return DirectTransport(settings)
    raise ConfigError(f"unknown transport {settings.transport!r}; choose from {', '.join(TRANSPORTS)}")


def call_kwargs(settings: JudgeSettings) -> dict[str, Any]:
    """Per-call arguments the transport needs besides the request: litellm's endpoint, key (`judge.llm.keys`) and
    retry switch."""
    if resolve_transport(settings) != "litellm":
        return {}
    kw: dict[str, Any] = {"num_retries": 0}
    key = resolve_api_key(settings).value
    if settings.api_base:
        kw["api_base"] = settings.api_base
        kw["api_key"] = key or "sk-no-key"  # litellm's OpenAI client needs some key; a keyless server ignores it
    elif key is not None:
        kw["api_key"] = key
    return kw
