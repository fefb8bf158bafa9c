"""Batched LLM judging: k fenced items per call, the taxonomy sent once, every item validated on its own.

`BatchLLMJudge.ajudge_many(items)` judges up to k items in one chat call and returns one verdict per item.
`ajudge(item)` lets it run under `judge.run.runner.label` unchanged: concurrent calls are gathered into batches
of k (or whatever arrived within `linger_s`). The model answers {"verdicts": [{"index": i, ...}, ...]};
an entry that is missing, duplicated or fails `JudgeOutput` validation makes that item needs_review,
never a category it did not validly get.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import jinja2
from instructor.v2.core.errors import FailedAttempt, InstructorRetryException
from instructor.v2.core.usage import update_total_usage
from openai.types import CompletionUsage
from pydantic import ValidationError

from judge.core.hashing import content_version
from judge.core.models import Item, JudgeOutput, Verdict
from judge.core.resources import prompt_path
from judge.core.settings import JudgeSettings, make_judge_id
from judge.core.taxonomy import Taxonomy, load_taxonomy
from judge.llm.call import CallOutcome, LLMCall, clean_error
from judge.llm.decoding import batch_schema_response_format
from judge.llm.injection import item_flags
from judge.llm.prompt import fence, prompt_item

BATCH_PROMPT = "judge_batch_v1.md"
_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)


class BatchOutputError(ValueError):
    """The model's answer to a batch was not a JSON object with a `verdicts` list."""


def parse_batch_answer(text: str) -> list[dict[str, Any]]:
    """The `verdicts` list of a batch answer (a JSON object, optionally inside a ```json fence)."""
    body = text.strip()
    if body.startswith("```"):
        body = body.strip("`").removeprefix("json").strip()
    try:
        data = json.loads(body)
    except json.JSONDecodeError as e:
        raise BatchOutputError(f"answer is not JSON: {e.msg} at column {e.colno}") from e
    verdicts = data.get("verdicts") if isinstance(data, dict) else data
    if not isinstance(verdicts, list):
        raise BatchOutputError("answer has no 'verdicts' list")
    return [v for v in verdicts if isinstance(v, dict)]


def validate_entries(items: list[Item], entries: list[dict[str, Any]]) -> list[JudgeOutput | str]:
    """For each item (index 1..k), its validated JudgeOutput or the reason it has none."""
    by_index: dict[int, list[dict[str, Any]]] = {}
    for e in entries:
        idx = e.get("index")
        if isinstance(idx, int) and not isinstance(idx, bool):
            by_index.setdefault(idx, []).append(e)
    out: list[JudgeOutput | str] = []
    for i, item in enumerate(items, start=1):
        found = by_index.get(i, [])
        if not found:
            out.append(f"no verdict for item index {i} in the batch answer")
            continue
        if len(found) > 1:
            out.append(f"{len(found)} verdicts for item index {i} in the batch answer")
            continue
        fields = {k: v for k, v in found[0].items() if k != "index"}
        try:
            out.append(JudgeOutput.model_validate(fields, context={"response": item.response}))
        except ValidationError as e:
            out.append(f"batch entry {i} failed validation: {clean_error(e)}")
    return out


class BatchAnswerStep:
    """The answer step of a batch call: the completion must be a JSON object with a `verdicts` list.

    An answer that is not is asked again with the same request, up to `max_retries` times; then
    `InstructorRetryException` (the failed attempts, the total usage) ends the call, as with Instructor's parser.
    Entries are validated item by item afterwards (`validate_entries`), so one bad entry costs only its item.
    """

    async def acreate(self, send: Callable[..., Awaitable[Any]], messages: list[dict[str, str]],
                      context: dict[str, Any] | None, max_retries: int, **request: Any) -> tuple[Any, Any]:
        """(entries, completion) for the batch in `messages`."""
        usage = CompletionUsage(prompt_tokens=0, completion_tokens=0, total_tokens=0)
        failed: list[FailedAttempt] = []
        for n in range(max(max_retries, 0) + 1):
            raw = await send(messages=messages, **request)
            try:
                entries = parse_batch_answer(raw.choices[0].message.content or "")
            except BatchOutputError as e:
                update_total_usage(raw, usage)
                failed.append(FailedAttempt(attempt_number=n + 1, exception=e, completion=raw))
                continue
            if failed:
                update_total_usage(raw, usage)
            return entries, raw
        exc = InstructorRetryException(str(failed[-1].exception), last_completion=failed[-1].completion,
                                       n_attempts=len(failed), total_usage=usage, messages=messages,
                                       create_kwargs=request, failed_attempts=failed)
        exc.__cause__ = failed[-1].exception
        raise exc


class BatchLLMJudge:
    """An LLM judge that classifies k items per call; its judge_id differs from the single-item judge's."""

    def __init__(self, settings: JudgeSettings, k: int = 8, taxonomy: Taxonomy | None = None,
                 prompt: str = BATCH_PROMPT, linger_s: float = 0.05) -> None:
        if k < 1:
            raise ValueError("k must be at least 1")
        self.settings, self.k, self.linger_s = settings, k, linger_s
        self.taxonomy = taxonomy or load_taxonomy(settings.taxonomy)
        path = prompt_path(prompt)
        self.template_text = path.read_text(encoding="utf-8")
        self.prompt_version = content_version(self.template_text)
        system_src, user_src = (part.strip() for part in self.template_text.split("=== user ===", 1))
        self._system = _ENV.from_string(system_src.removeprefix("=== system ===").strip())
        self._user = _ENV.from_string(user_src)
        self.model = settings.model
        self.judge_id = make_judge_id(self.identity())
        self.call = LLMCall(settings, BatchAnswerStep())
        self._pending: list[tuple[Item, asyncio.Future[Verdict]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def preflight(self) -> None:
        """Raise EndpointConfigError before a run that could not work (see `judge.llm.keys.preflight`)."""
        self.call.preflight()

    def identity(self) -> dict[str, object]:
        """The single judge's identity fields plus the batch size and the batch prompt's version."""
        ident = self.settings.identity(self.prompt_version, self.taxonomy.version_tag)
        return {**ident, "batch_k": self.k}

    def messages(self, items: list[Item]) -> list[dict[str, str]]:
        """The chat messages for one batch: the taxonomy once, then each item fenced under its index."""
        cats = ([self.taxonomy.get(c) for c in self.settings.category_order] if self.settings.category_order
                else list(self.taxonomy.categories))
        shown = [(i, prompt_item(it, self.settings.max_field_chars)) for i, it in enumerate(items, start=1)]
        ctx = {"taxonomy": self.taxonomy, "categories": cats, "decision_order": self.taxonomy.decision_order,
               "items": shown, "fence": fence, "k": len(items)}
        return [{"role": "system", "content": self._system.render(**ctx)},
                {"role": "user", "content": self._user.render(**ctx)}]

    # -- the call --------------------------------------------------------------------------------
    def _response_format(self, items: list[Item]) -> dict[str, Any]:
        """JSON mode; with `schema_in_response_format`, the batch schema too (grammar-constrained servers)."""
        if self.settings.schema_in_response_format:
            return batch_schema_response_format([it.response for it in items])
        return {"type": "json_object"}

    async def ajudge_many(self, items: list[Item]) -> list[Verdict]:
        """Judge up to k items in one call (re-asked up to max_retries times if the answer is not a list)."""
        if not 1 <= len(items) <= self.k:
            raise ValueError(f"a batch holds 1..{self.k} items, got {len(items)}")
        out = await self.call.arun(self.messages(items), None, max_tokens=self.settings.max_tokens * self.k,
                                   response_format=self._response_format(items))
        return self.verdicts(items, out)

    def verdicts(self, items: list[Item], out: CallOutcome) -> list[Verdict]:
        """One verdict per item from the batch call's outcome; tokens and cost shared out evenly."""
        results: list[JudgeOutput | str] = (validate_entries(items, out.answer) if out.status == "ok"
                                            else [out.error or out.status] * len(items))
        n, p, c = len(items), out.prompt_tokens or 0, out.completion_tokens or 0
        verdicts = []
        for i, (item, result) in enumerate(zip(items, results, strict=True)):
            base = dict(item_id=item.item_id, judge_id=self.judge_id, model=self.model, source="llm_batch",
                        prompt_version=self.prompt_version, prompt_hash=out.prompt_hash, latency_ms=out.latency_ms,
                        attempts=out.calls, flags=item_flags(item, self.settings.max_field_chars),
                        prompt_tokens=p // n + (1 if i < p % n else 0),
                        completion_tokens=c // n + (1 if i < c % n else 0),
                        cost_usd=out.cost_usd / n if out.cost_usd is not None else None)
            if isinstance(result, JudgeOutput):
                verdicts.append(Verdict(**base, status="ok", category=result.category, rationale=result.rationale,
                                        evidence=result.evidence, confidence=result.confidence,
                                        secondary=[x for x in result.secondary if x != result.category]))
            else:
                verdicts.append(Verdict(**base, status="needs_review" if out.status == "ok" else out.status,
                                        error=result))
        return verdicts

    # -- the Judge protocol: gather concurrent single calls into batches -------------------------
    async def ajudge(self, item: Item) -> Verdict:
        """Judge one item as part of the next batch of concurrent calls."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Verdict] = loop.create_future()
        self._pending.append((item, fut))
        if len(self._pending) >= self.k:
            self._dispatch()
        elif self._timer is None:
            self._timer = loop.call_later(self.linger_s, self._dispatch)
        return await fut

    def _dispatch(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._pending:
            batch, self._pending = self._pending[:self.k], self._pending[self.k:]
            task = asyncio.ensure_future(self._run(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[tuple[Item, asyncio.Future[Verdict]]]) -> None:
        try:
            verdicts = await self.ajudge_many([it for it, _ in batch])
        except BaseException as e:  # noqa: BLE001 - handed to every waiting caller
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(e)
            return
        for (_, fut), v in zip(batch, verdicts, strict=True):
            if not fut.done():
                fut.set_result(v)
