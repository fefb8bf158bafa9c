"""The one LLM call path: a typed answer through Instructor, transport retries, and every failure turned into a status.

`LLMCall.arun(messages, context)` sends one chat request through the judge's transport (litellm or the direct
client), lets the answer step (Instructor's parser with its validation re-asks, or a judge's own parser) turn the
completion into a typed answer, retries transient transport errors (HTTP 429/5xx, timeouts, broken connections)
with doubling backoff that honours Retry-After, and returns a `CallOutcome`: the answer and the completion, or
the status `needs_review` (the model kept answering something that does not validate) or `failed` (no usable
answer was obtained), with a readable error, the model calls made, tokens, cost, latency and the messages hash.
It never raises for model or transport problems, except those no retry can fix (a refused key, an unknown model
or provider: `EndpointConfigError`, see `judge.llm.keys`), which stop the run. `run` is the synchronous form: it runs `arun` on the
process's background event loop (`judge.core.sync`).

The single-item judge, the batch judge and the recall judge all call the model through this module; each is only
its prompt and the mapping of the outcome to its own result.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from instructor.v2.core.errors import InstructorRetryException
from pydantic import ValidationError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from judge.core.exceptions import EndpointConnectionError, EndpointTimeout, MalformedReplyError
from judge.core.settings import JudgeSettings
from judge.core.sync import run_sync
from judge.llm.keys import config_error, preflight
from judge.llm.prompt import messages_hash
from judge.llm.transport import Transport, call_kwargs, make_transport, resolve_transport

log = logging.getLogger("medjudge.llm")

_TRANSIENT_LITELLM = ("RateLimitError", "InternalServerError", "ServiceUnavailableError", "BadGatewayError",
                      "Timeout", "APIConnectionError")
ERROR_MAX_CHARS = 600
"""Longest error text kept on a verdict (cut at a clause, never mid-word)."""


class AnswerStep(Protocol):
    """Turns completions into a typed answer, re-asking the model when an answer does not validate."""

    async def acreate(self, send: Callable[..., Awaitable[Any]], messages: list[dict[str, str]],
                      context: dict[str, Any] | None, max_retries: int, **request: Any) -> tuple[Any, Any]:
        """(answer, completion); raises InstructorRetryException after the last invalid answer."""
        ...


class TransientError(Exception):
    """Marks a call failure worth retrying; `cause` is the transport's error."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _transient_types() -> tuple[type[BaseException], ...]:
    """Exception types worth a retry: the direct transport's, and litellm's once litellm is in use."""
    types: tuple[type[BaseException], ...] = (EndpointTimeout, EndpointConnectionError, MalformedReplyError)
    litellm = sys.modules.get("litellm")  # imported only by the litellm transport: no litellm error otherwise
    if litellm is not None:
        types += tuple(getattr(litellm, name) for name in _TRANSIENT_LITELLM)
    return types


def root_error(exc: BaseException) -> BaseException:
    """The error under Instructor's retry exception and under `TransientError`."""
    if isinstance(exc, TransientError):
        exc = exc.cause
    for _ in range(8):  # Instructor may wrap its own retry exception once more
        if not isinstance(exc, InstructorRetryException):
            break
        inner = exc.__cause__ or (exc.failed_attempts[-1].exception if exc.failed_attempts else None)
        if inner is None or inner is exc:
            break
        exc = inner
    return exc


def is_transient(exc: BaseException) -> bool:
    """Whether an error of a chat call is worth retrying (429, 5xx, timeouts, connection errors)."""
    if isinstance(exc, _transient_types()):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and (status == 429 or status >= 500)


def classify_error(exc: BaseException) -> BaseException:
    """Wrap an error of a chat call in `TransientError` when it is worth retrying; return it unchanged otherwise."""
    root = root_error(exc)
    return TransientError(root) if is_transient(root) else exc


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


def transport_retrying(settings: JudgeSettings) -> dict[str, Any]:
    """tenacity AsyncRetrying arguments: retry `TransientError`s with doubling backoff, Retry-After honoured."""
    s = settings

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        cause = exc.cause if isinstance(exc, TransientError) else exc
        hinted = _retry_after(cause) if cause else None
        delay = hinted if hinted is not None else s.backoff_s * (2 ** (state.attempt_number - 1))
        return min(delay, s.backoff_max_s)

    return dict(stop=stop_after_attempt(s.transport_retries + 1), wait=wait,
                retry=retry_if_exception(lambda e: isinstance(e, TransientError)), reraise=True)


def _cut(text: str, limit: int = ERROR_MAX_CHARS) -> str:
    """`text` on one line, at most `limit` characters, cut after a clause or word with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    head = text[:limit - 1]
    for sep in ("; ", ". ", ", ", " "):
        at = head.rfind(sep)
        if at > limit // 2:
            return head[:at + (1 if sep != " " else 0)].rstrip() + " …"
    return head + "…"


def _got(error: Any) -> str:
    """ `(got '<value>')` for a field's invalid value, short; nothing for a whole answer that is not JSON."""
    value = error.get("input")
    if not error.get("loc") or isinstance(value, dict | list) or value is None:
        return ""
    shown = repr(value)
    return f" (got {shown if len(shown) <= 50 else shown[:49] + '…'})"


def clean_error(exc: BaseException) -> str:
    """A readable one-line error: a validation error as its failed fields and messages, others as type: message."""
    if isinstance(exc, ValidationError):
        parts = [f"{'.'.join(map(str, e['loc'])) or 'answer'}{_got(e)}: {_cut(str(e['msg']), 160)}"
                 for e in exc.errors()]
        return _cut(f"{exc.title} failed validation: " + "; ".join(parts))
    return _cut(f"{type(exc).__name__}: {exc}")


@dataclass
class CallOutcome:
    """What one call produced: a typed answer, or a review/failure status with its error."""

    status: str
    """ok (a validated answer), needs_review (answers failed validation) or failed (no usable answer)."""
    answer: Any = None
    """The validated answer (status ok)."""
    raw: Any = None
    """The completion the answer came from (status ok)."""
    error: str | None = None
    """Readable error for needs_review / failed."""
    calls: int = 0
    """Model calls made: every HTTP request, re-asks and transport retries included."""
    prompt_tokens: int | None = None
    """Prompt tokens over all calls, when reported."""
    completion_tokens: int | None = None
    """Completion tokens over all calls, when reported."""
    cost_usd: float | None = None
    """USD cost, when the model has a known price."""
    latency_ms: float = 0.0
    """Wall time of the whole call, retries included."""
    prompt_hash: str = ""
    """Hash of the messages sent (logged with the call)."""


class LLMCall:
    """Calls one model for one answer type; see the module docstring."""

    def __init__(self, settings: JudgeSettings, step: AnswerStep, transport: Transport | None = None) -> None:
        self.settings = settings
        self.step = step
        self.transport = transport or make_transport(settings)

    def preflight(self) -> None:
        """Raise EndpointConfigError when a run could not work (unknown provider, no key for a hosted model)."""
        preflight(self.settings, resolve_transport(self.settings))

    def request(self, **overrides: Any) -> dict[str, Any]:
        """The chat request's arguments besides the messages (`overrides` replace or add fields)."""
        s = self.settings
        kw: dict[str, Any] = dict(model=s.model, temperature=s.temperature, max_tokens=s.max_tokens,
                                  timeout=s.timeout_s)
        kw.update(overrides)
        kw.update(call_kwargs(s))
        return kw

    async def arun(self, messages: list[dict[str, str]], context: dict[str, Any] | None = None,
                   **overrides: Any) -> CallOutcome:
        """One answer for `messages` (validation context `context`); never raises for model or transport errors."""
        mhash, t0, calls = messages_hash(messages), time.perf_counter(), 0
        request = self.request(**overrides)

        async def send(**kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            return await self.transport.acreate(**kwargs)

        async def attempt_once() -> tuple[Any, Any]:
            try:
                return await self.step.acreate(send, messages, context, self.settings.max_retries, **request)
            except Exception as e:  # noqa: BLE001 - classified: transient errors are retried
                marked = classify_error(e)
                if marked is e:
                    raise  # keep its own cause (Instructor's: the validation error of the last answer)
                raise marked from e

        try:
            # the first attempt runs without the retry loop's per-attempt machinery: most calls need no other
            replay: list[TransientError] = []
            try:
                answer, raw = await attempt_once()
            except TransientError as first:
                replay.append(first)
            if replay:  # the retry loop starts from that failure as its attempt 1: the same waits and the same stop
                async for attempt in AsyncRetrying(**transport_retrying(self.settings)):
                    with attempt:
                        if replay:
                            raise replay.pop()
                        answer, raw = await attempt_once()
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - becomes a needs_review/failed outcome, or stops the run
            refused = config_error(root_error(e), self.settings)
            if refused is not None:
                raise refused from e
            out = self._failure(e, calls)
        else:
            usage = getattr(raw, "usage", None)
            out = CallOutcome(status="ok", answer=answer, raw=raw, calls=calls,
                              prompt_tokens=getattr(usage, "prompt_tokens", None),
                              completion_tokens=getattr(usage, "completion_tokens", None),
                              cost_usd=self.transport.cost(raw))
        out.latency_ms, out.prompt_hash = (time.perf_counter() - t0) * 1000, mhash
        log.info("llm call model=%s prompt_hash=%s status=%s tokens=%s/%s latency_ms=%.0f calls=%d",
                 self.settings.model, mhash, out.status, out.prompt_tokens, out.completion_tokens, out.latency_ms,
                 calls)
        return out

    def run(self, messages: list[dict[str, str]], context: dict[str, Any] | None = None,
            **overrides: Any) -> CallOutcome:
        """The synchronous `arun`."""
        return run_sync(self.arun(messages, context, **overrides))

    def _failure(self, exc: BaseException, calls: int) -> CallOutcome:
        root = root_error(exc)
        usage = getattr(exc, "total_usage", None)
        tokens = dict(prompt_tokens=getattr(usage, "prompt_tokens", None),
                      completion_tokens=getattr(usage, "completion_tokens", None))
        if isinstance(exc, InstructorRetryException) and not is_transient(root) and exc.failed_attempts:
            return CallOutcome(status="needs_review", calls=calls, **tokens,
                               error=f"judge output failed validation after {exc.n_attempts} attempt(s): "
                                     f"{clean_error(root)}")
        if isinstance(root, ValidationError):
            return CallOutcome(status="needs_review", calls=calls, error=clean_error(root), **tokens)
        return CallOutcome(status="failed", calls=calls, error=f"after {calls} call(s): {clean_error(root)}",
                           **tokens)
