"""Typed answers through Instructor's handlers for one response model and mode, with the request prepared once.

Instructor's `create_with_completion` re-derives everything from the response model on every call: it walks the
model for async validators three times, re-prepares it and re-renders its JSON schema into the messages. For a
judge, the response model, the mode and the system prompt never change between calls, so `StructuredCall` asks
Instructor's registry handlers for the prepared request once and reuses it; per call only the last (user)
message changes. The rest is Instructor's: its request handler places the schema, its response parser validates
the answer (pydantic, with the validation context), its re-ask handler writes the follow-up message, and after
the last attempt `InstructorRetryException` carries the failed attempts and the total usage, as Instructor's own
retry loop raises it. A truncated answer raises `IncompleteOutputException`, which is never re-asked.
Messages are never rendered as templates (the response text is untrusted data).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import instructor
import instructor.v2.providers.openai  # noqa: F401 - registers the OpenAI-mode handlers now, not on first use
from instructor.v2.core.errors import FailedAttempt, InstructorRetryException
from instructor.v2.core.providers import Provider
from instructor.v2.core.registry import mode_registry
from instructor.v2.core.response_model import prepare_response_model
from instructor.v2.core.retry import _RETRYABLE_PARSE_ERRORS
from instructor.v2.core.usage import update_total_usage
from openai.types import CompletionUsage
from pydantic import BaseModel

PARSE_ERRORS: tuple[type[Exception], ...] = _RETRYABLE_PARSE_ERRORS
"""Answer errors that Instructor's own retry loop re-asks (its tuple, so the two cannot drift apart)."""
_SENTINEL = "\x00medjudge-user-message\x00"
_MAX_PREFIXES = 64
_HANDLER_INPUTS = ("stream", "tools", "tool_choice", "response_format")
"""Request fields a mode handler may read besides the messages: part of the reuse key."""


MODES: dict[str, instructor.Mode] = {"json": instructor.Mode.JSON, "md_json": instructor.Mode.MD_JSON,
                                     "json_schema": instructor.Mode.JSON_SCHEMA, "tools": instructor.Mode.TOOLS}
"""The Instructor modes a judge can be set to, by their settings name."""


def instructor_mode(name: str) -> instructor.Mode:
    """The Instructor mode named `name`; ValueError for an unknown name. The tools mode needs the `mcp` package."""
    mode = MODES.get(name)
    if mode is None:
        raise ValueError(f"unknown mode {name!r}; choose from {sorted(MODES)}")
    if name == "tools":
        import mcp  # noqa: F401  - litellm's tools path imports it
    return mode


def _deadline(request: dict[str, Any]) -> float:
    """When re-asking stops: Instructor stops after the request timeout has elapsed, as well as after the attempts."""
    timeout = request.get("timeout")
    return time.monotonic() + timeout if isinstance(timeout, (int, float)) else float("inf")


class StructuredCall:
    """One response model in one Instructor mode over OpenAI-style chat completions.

    `acreate(send, messages, context, max_retries, **request)` returns `(answer, completion)`; `send` is the
    async chat-completion function (litellm's or the direct transport's) and `request` its other arguments.
    """

    def __init__(self, response_model: type[BaseModel], mode: instructor.Mode) -> None:
        self.handlers = mode_registry.get_handlers(Provider.OPENAI, mode)
        self.response_model: Any = prepare_response_model(response_model)
        self._prefixes: dict[tuple[Any, ...], tuple[dict[str, Any], list[dict[str, Any]]] | None] = {}
        """Per message prefix: what the request handler adds, and the prepared prefix (None: not reusable)."""

    def _prepare(self, request: dict[str, Any]) -> dict[str, Any]:
        """Instructor's request handler applied to `request` (message conversion included)."""
        model, prepared = self.handlers.request_handler(response_model=self.response_model, kwargs=request)
        if model is not None:
            self.response_model = model
        if self.handlers.message_converter and "messages" in prepared:
            prepared["messages"] = self.handlers.message_converter(prepared["messages"], autodetect_images=False)
        return prepared

    def prepared(self, messages: list[dict[str, str]], request: dict[str, Any]) -> dict[str, Any]:
        """The request as Instructor would send it, with the handler's work on the message prefix done once.

        The handler runs once per distinct prefix (all messages but the last) on a placeholder last message; what
        it adds (the schema in the system message, `response_format`, `tools`) is reused for every call whose
        prefix is the same. When the handler does not leave the placeholder untouched as the last message, every
        call is prepared afresh.
        """
        if not all(isinstance(m.get("content"), str) for m in messages):  # multimodal parts: no reuse
            return self._prepare({**request, "messages": [dict(m) for m in messages]})
        key = (tuple((m["role"], m["content"]) for m in messages[:-1]), messages[-1]["role"], tuple(sorted(request)),
               tuple(repr(request.get(k)) for k in _HANDLER_INPUTS))
        if key not in self._prefixes:
            if len(self._prefixes) >= _MAX_PREFIXES:
                self._prefixes.clear()
            probe_in = {**request, "messages": [*map(dict, messages[:-1]),
                                                {"role": messages[-1]["role"], "content": _SENTINEL}]}
            probe = self._prepare(dict(probe_in))
            msgs = probe.get("messages") or []
            reusable = (bool(msgs) and msgs[-1] == {"role": messages[-1]["role"], "content": _SENTINEL}
                        and not any(_SENTINEL in str(m.get("content")) for m in msgs[:-1]))
            added = {k: v for k, v in probe.items() if k != "messages" and (k not in probe_in or probe_in[k] is not v)}
            self._prefixes[key] = (added, msgs[:-1]) if reusable else None
        cached = self._prefixes[key]
        if cached is None:
            return self._prepare({**request, "messages": [dict(m) for m in messages]})
        added, head = cached
        return {**request, **added, "messages": [*head, dict(messages[-1])]}

    def _parse(self, response: Any, context: dict[str, Any] | None, is_async: bool) -> Any:
        parsed = self.handlers.response_parser(response=response, response_model=self.response_model,
                                               validation_context=context, strict=None, stream=False,
                                               is_async=is_async)
        if isinstance(parsed, BaseModel):
            parsed._raw_response = response  # type: ignore[attr-defined]
        return parsed

    async def acreate(self, send: Callable[..., Awaitable[Any]], messages: list[dict[str, str]],
                      context: dict[str, Any] | None, max_retries: int, **request: Any) -> tuple[Any, Any]:
        """The validated answer and its completion; re-asked up to `max_retries` times."""
        run = _Attempts(self, messages, context, max_retries, request, is_async=True)
        while run.more():
            done = run.answer(await send(**run.kwargs))
            if done is not None:
                return done
        raise run.error()


class _Attempts:
    """The attempts of one call: the current request, usage so far, failed attempts, when to stop."""

    def __init__(self, call: StructuredCall, messages: list[dict[str, str]], context: dict[str, Any] | None,
                 max_retries: int, request: dict[str, Any], is_async: bool) -> None:
        self.call, self.context, self.is_async = call, context, is_async
        self.kwargs = call.prepared(messages, request)
        self.max_attempts = max(max_retries, 0) + 1
        self.deadline = _deadline(request)
        self.usage = CompletionUsage(prompt_tokens=0, completion_tokens=0, total_tokens=0)
        self.failed: list[FailedAttempt] = []

    def more(self) -> bool:
        """Whether another attempt is due (none after the last one, nor once the request timeout has passed)."""
        if not self.failed:
            return True
        return len(self.failed) < self.max_attempts and time.monotonic() < self.deadline

    def answer(self, response: Any) -> tuple[Any, Any] | None:
        """(answer, completion) when the response validates; else None, with the re-ask prepared."""
        try:
            answer = self.call._parse(response, self.context, self.is_async)
        except PARSE_ERRORS as e:
            update_total_usage(response, self.usage)
            self.failed.append(FailedAttempt(attempt_number=len(self.failed) + 1, exception=e, completion=response))
            self.kwargs = self.call.handlers.reask_handler(
                kwargs={**self.kwargs, "messages": list(self.kwargs["messages"])}, response=response, exception=e)
            return None
        if self.failed:  # the response then carries the total over all attempts, as in Instructor
            update_total_usage(response, self.usage)
        return answer, response

    def error(self) -> InstructorRetryException:
        """Instructor's exception after the last failed attempt, caused by that attempt's error."""
        last = self.failed[-1]
        exc = InstructorRetryException(str(last.exception), last_completion=last.completion,
                                       n_attempts=len(self.failed), total_usage=self.usage,
                                       messages=self.kwargs.get("messages"), create_kwargs=self.kwargs,
                                       failed_attempts=self.failed)
        exc.__cause__ = last.exception
        return exc
