"""The LLM judge: Instructor-typed verdicts (litellm or the direct transport), validation re-asks, transport retries."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import instructor  # noqa: E402
from instructor.core.exceptions import InstructorRetryException  # noqa: E402
from pydantic import ValidationError  # noqa: E402
from tenacity import AsyncRetrying, RetryCallState, Retrying, retry_if_exception, stop_after_attempt  # noqa: E402

from judge.decoding import schema_response_format  # noqa: E402
from judge.exceptions import EndpointConnectionError, EndpointTimeout  # noqa: E402
from judge.injection import injection_evidence  # noqa: E402
from judge.models import Item, JudgeOutput, Verdict  # noqa: E402
from judge.prompt import PromptTemplate, load_prompt, messages_hash  # noqa: E402
from judge.settings import JudgeSettings, make_judge_id  # noqa: E402
from judge.structured import StructuredCall  # noqa: E402
from judge.taxonomy import Taxonomy, load_taxonomy  # noqa: E402
from judge.transport import call_kwargs, make_transport  # noqa: E402

logging.getLogger("instructor").setLevel(logging.CRITICAL)
log = logging.getLogger("medjudge.llm")

_MODES = {"json": instructor.Mode.JSON, "md_json": instructor.Mode.MD_JSON, "json_schema": instructor.Mode.JSON_SCHEMA,
          "tools": instructor.Mode.TOOLS}
_TRANSIENT_LITELLM = ("RateLimitError", "InternalServerError", "ServiceUnavailableError", "BadGatewayError",
                      "Timeout", "APIConnectionError")


class TransientError(Exception):
    """Internal marker: the call failed in a way worth retrying."""

    def __init__(self, cause: BaseException, usage: Any = None) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _transient_types() -> tuple[type[BaseException], ...]:
    """Exception types worth a retry: the direct transport's, and litellm's once litellm is in use."""
    types: tuple[type[BaseException], ...] = (EndpointTimeout, EndpointConnectionError)
    litellm = sys.modules.get("litellm")  # imported only by the litellm transport: no litellm error otherwise
    if litellm is not None:
        types += tuple(getattr(litellm, name) for name in _TRANSIENT_LITELLM)
    return types


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, _transient_types()):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and (status == 429 or status >= 500)


def _root(exc: BaseException) -> BaseException:
    if isinstance(exc, InstructorRetryException) and exc.__cause__ is not None:
        return exc.__cause__
    return exc


def _retry_after(exc: BaseException) -> float | None:
    hinted = getattr(exc, "retry_after", None)
    if isinstance(hinted, (int, float)):
        return float(hinted)
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    try:
        value = headers.get("retry-after") or headers.get("Retry-After")
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def classify_error(exc: BaseException) -> BaseException:
    """Wrap an error of a chat call in `TransientError` when it is worth retrying; return it unchanged otherwise."""
    root = _root(exc)
    if _is_transient(root):
        return TransientError(root)
    return exc


def transport_retrying(settings: JudgeSettings) -> dict[str, Any]:
    """tenacity (Async)Retrying arguments: retry `TransientError`s with doubling backoff, Retry-After honoured."""
    s = settings

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        cause = exc.cause if isinstance(exc, TransientError) else exc
        hinted = _retry_after(cause) if cause else None
        base = s.backoff_s * (2 ** (state.attempt_number - 1))
        delay = hinted if hinted is not None else base
        return min(delay, s.backoff_max_s)

    return dict(
        stop=stop_after_attempt(s.transport_retries + 1), wait=wait,
        retry=retry_if_exception(lambda e: isinstance(e, TransientError)), reraise=True,
    )


def _clean_error(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text.replace("\n", " ")[:2000]


class LLMJudge:
    """Classify a wrong response into one taxonomy category with an LLM (sync and async)."""

    def __init__(self, settings: JudgeSettings, prompt: PromptTemplate | None = None,
                 taxonomy: Taxonomy | None = None) -> None:
        self.settings = settings
        self.prompt = prompt or load_prompt(settings.prompt)
        self.taxonomy = taxonomy or load_taxonomy(settings.taxonomy)
        self.model = settings.model
        self.judge_id = make_judge_id(self.identity())
        mode = _MODES.get(settings.mode)
        if mode is None:
            raise ValueError(f"unknown mode {settings.mode!r}; choose from {sorted(_MODES)}")
        if settings.schema_in_response_format and settings.mode == "tools":
            raise ValueError("schema_in_response_format needs mode json, md_json or json_schema, not tools")
        if settings.mode == "tools":
            import mcp  # noqa: F401  - litellm's tools path imports it
        self.transport = make_transport(settings)
        self._call = StructuredCall(JudgeOutput, mode)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as settings, prompt and taxonomy (clients and HTTP sessions are rebuilt in the other process)."""
        return (LLMJudge, (self.settings, self.prompt, self.taxonomy))

    def identity(self) -> dict[str, object]:
        """Model, prompt version, taxonomy version and settings: what the judge_id hashes."""
        return self.settings.identity(self.prompt.version, f"{self.taxonomy.version}:{self.taxonomy.content_hash}")

    def with_category_order(self, order: list[str]) -> LLMJudge:
        """The same judge presenting the categories in another order (a different judge_id)."""
        return LLMJudge(self.settings.model_copy(update={"category_order": list(order)}), self.prompt, self.taxonomy)

    def messages(self, item: Item) -> list[dict[str, str]]:
        """The chat messages sent for an item."""
        return self.prompt.render(item, self.taxonomy, self.settings.category_order)

    def _request(self, item: Item) -> dict[str, Any]:
        """The chat request's arguments besides the messages."""
        s = self.settings
        kw: dict[str, Any] = dict(model=s.model, temperature=s.temperature, max_tokens=s.max_tokens,
                                  timeout=s.timeout_s)
        if s.schema_in_response_format:
            # extra_body is merged into the HTTP body last, so it replaces the mode's own response_format
            kw["extra_body"] = {"response_format": schema_response_format(item.response)}
        kw.update(call_kwargs(s))
        return kw

    def _retrying_kwargs(self) -> dict[str, Any]:
        return transport_retrying(self.settings)

    def _verdict(self, item: Item, mhash: str, t0: float, attempts: int, **fields: Any) -> Verdict:
        flags = ["prompt_injection_suspected"] if injection_evidence(item.response) else []
        v = Verdict(item_id=item.item_id, judge_id=self.judge_id, model=self.model, prompt_version=self.prompt.version,
                    prompt_hash=mhash, latency_ms=(time.perf_counter() - t0) * 1000, attempts=attempts, flags=flags,
                    source="llm", **fields)
        log.info("llm call item=%s judge=%s prompt_hash=%s status=%s tokens=%s/%s latency_ms=%.0f attempts=%d",
                 item.item_id, self.judge_id, mhash, v.status, v.prompt_tokens, v.completion_tokens,
                 v.latency_ms or 0, attempts)
        return v

    def _ok(self, item: Item, out: JudgeOutput, raw: Any, mhash: str, t0: float, attempts: int) -> Verdict:
        usage = getattr(raw, "usage", None)
        cost = self.transport.cost(raw)
        return self._verdict(
            item, mhash, t0, attempts, status="ok", category=out.category, rationale=out.rationale,
            evidence=out.evidence, confidence=out.confidence, secondary=[c for c in out.secondary if c != out.category],
            prompt_tokens=getattr(usage, "prompt_tokens", None),
            completion_tokens=getattr(usage, "completion_tokens", None), cost_usd=cost,
        )

    def _error(self, item: Item, exc: BaseException, mhash: str, t0: float, attempts: int) -> Verdict:
        root = _root(exc.cause if isinstance(exc, TransientError) else exc)
        usage = getattr(exc, "total_usage", None)
        tokens = dict(prompt_tokens=getattr(usage, "prompt_tokens", None),
                      completion_tokens=getattr(usage, "completion_tokens", None))
        if isinstance(exc, InstructorRetryException) and not _is_transient(root) and exc.failed_attempts:
            return self._verdict(item, mhash, t0, attempts, status="needs_review",
                                 error=f"judge output failed validation after {exc.n_attempts} attempt(s): "
                                       f"{_clean_error(root)}", **tokens)
        if isinstance(root, ValidationError):
            return self._verdict(item, mhash, t0, attempts, status="needs_review", error=_clean_error(root), **tokens)
        return self._verdict(item, mhash, t0, attempts, status="failed",
                             error=f"after {attempts} attempt(s): {_clean_error(root)}", **tokens)

    def _classify(self, exc: BaseException) -> BaseException:
        return classify_error(exc)

    async def ajudge(self, item: Item) -> Verdict:
        """Judge one item asynchronously."""
        messages = self.messages(item)
        mhash, t0, attempts = messages_hash(messages), time.perf_counter(), 0
        request, context = self._request(item), {"response": item.response}
        try:
            async for attempt in AsyncRetrying(**self._retrying_kwargs()):
                with attempt:
                    attempts += 1
                    try:
                        out, raw = await self._call.acreate(self.transport.acreate, messages, context,
                                                            self.settings.max_retries, **request)
                    except Exception as e:  # noqa: BLE001 - classified below
                        raise self._classify(e) from e
            return self._ok(item, out, raw, mhash, t0, attempts)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - becomes a needs_review/failed verdict
            return self._error(item, e, mhash, t0, attempts)

    def judge(self, item: Item) -> Verdict:
        """Judge one item synchronously."""
        messages = self.messages(item)
        mhash, t0, attempts = messages_hash(messages), time.perf_counter(), 0
        request, context = self._request(item), {"response": item.response}
        try:
            for attempt in Retrying(**self._retrying_kwargs()):
                with attempt:
                    attempts += 1
                    try:
                        out, raw = self._call.create(self.transport.create, messages, context,
                                                     self.settings.max_retries, **request)
                    except Exception as e:  # noqa: BLE001 - classified below
                        raise self._classify(e) from e
            return self._ok(item, out, raw, mhash, t0, attempts)
        except Exception as e:  # noqa: BLE001 - becomes a needs_review/failed verdict
            return self._error(item, e, mhash, t0, attempts)
