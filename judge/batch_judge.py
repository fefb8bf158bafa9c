"""Batched LLM judging: k fenced items per call, the taxonomy sent once, every item validated on its own.

`BatchLLMJudge.ajudge_many(items)` judges up to k items in one chat call and returns one verdict per item.
`ajudge(item)` lets it run under `judge.runner.label` unchanged: concurrent calls are gathered into batches
of k (or whatever arrived within `linger_s`). The model answers {"verdicts": [{"index": i, ...}, ...]};
an entry that is missing, duplicated or fails `JudgeOutput` validation makes that item needs_review,
never a category it did not validly get.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from typing import Any

import jinja2
from pydantic import ValidationError
from tenacity import AsyncRetrying

from judge.decoding import batch_schema_response_format
from judge.injection import injection_evidence
from judge.llm_judge import TransientError, _clean_error, classify_error, transport_retrying
from judge.models import Item, JudgeOutput, Verdict
from judge.prompt import fence, messages_hash
from judge.resources import prompt_path
from judge.settings import JudgeSettings, make_judge_id
from judge.taxonomy import Taxonomy, load_taxonomy
from judge.transport import call_kwargs, make_transport

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
            out.append(f"batch entry {i} failed validation: {_clean_error(e)}")
    return out


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
        self.prompt_version = hashlib.sha256(self.template_text.encode()).hexdigest()[:12]
        system_src, user_src = (part.strip() for part in self.template_text.split("=== user ===", 1))
        self._system = _ENV.from_string(system_src.removeprefix("=== system ===").strip())
        self._user = _ENV.from_string(user_src)
        self.model = settings.model
        self.judge_id = make_judge_id(self.identity())
        self.transport = make_transport(settings)
        self._pending: list[tuple[Item, asyncio.Future[Verdict]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def identity(self) -> dict[str, object]:
        """The single judge's identity fields plus the batch size and the batch prompt's version."""
        ident = self.settings.identity(self.prompt_version, f"{self.taxonomy.version}:{self.taxonomy.content_hash}")
        return {**ident, "batch_k": self.k}

    def messages(self, items: list[Item]) -> list[dict[str, str]]:
        """The chat messages for one batch: the taxonomy once, then each item fenced under its index."""
        cats = ([self.taxonomy.get(c) for c in self.settings.category_order] if self.settings.category_order
                else list(self.taxonomy.categories))
        ctx = {"taxonomy": self.taxonomy, "categories": cats, "decision_order": self.taxonomy.decision_order,
               "items": list(enumerate(items, start=1)), "fence": fence, "k": len(items)}
        return [{"role": "system", "content": self._system.render(**ctx)},
                {"role": "user", "content": self._user.render(**ctx)}]

    # -- the call --------------------------------------------------------------------------------
    def _kwargs(self, messages: list[dict[str, str]], items: list[Item]) -> dict[str, Any]:
        s = self.settings
        kw: dict[str, Any] = dict(model=s.model, messages=messages, temperature=s.temperature,
                                  max_tokens=s.max_tokens * self.k, timeout=s.timeout_s,
                                  response_format=self._response_format(items))
        kw.update(call_kwargs(s))
        return kw

    def _response_format(self, items: list[Item]) -> dict[str, Any]:
        """JSON mode; with `schema_in_response_format`, the batch schema too (grammar-constrained servers)."""
        if self.settings.schema_in_response_format:
            return batch_schema_response_format([it.response for it in items])
        return {"type": "json_object"}

    async def _call(self, kwargs: dict[str, Any]) -> tuple[Any, int]:
        attempts = 0
        async for attempt in AsyncRetrying(**transport_retrying(self.settings)):
            with attempt:
                attempts += 1
                try:
                    raw = await self.transport.acreate(**kwargs)
                except Exception as e:  # noqa: BLE001 - classified here
                    raise classify_error(e) from e
        return raw, attempts

    async def ajudge_many(self, items: list[Item]) -> list[Verdict]:
        """Judge up to k items in one call (re-asked up to max_retries times if the answer is not a list)."""
        if not 1 <= len(items) <= self.k:
            raise ValueError(f"a batch holds 1..{self.k} items, got {len(items)}")
        messages = self.messages(items)
        mhash, t0, calls = messages_hash(messages), time.perf_counter(), 0
        kwargs = self._kwargs(messages, items)
        usage_p = usage_c = 0
        cost: float | None = None
        outcome: list[JudgeOutput | str] | None = None
        problem = ""
        status = "needs_review"
        for _ in range(self.settings.max_retries + 1):
            try:
                raw, attempts = await self._call(kwargs)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - the whole batch failed
                root = e.cause if isinstance(e, TransientError) else e
                problem, status = f"after {calls + 1} call(s): {_clean_error(root)}", "failed"
                break
            calls += attempts
            usage = getattr(raw, "usage", None)
            usage_p += getattr(usage, "prompt_tokens", 0) or 0
            usage_c += getattr(usage, "completion_tokens", 0) or 0
            c = self.transport.cost(raw)
            cost = (cost or 0.0) + c if c is not None else cost
            try:
                outcome = validate_entries(items, parse_batch_answer(raw.choices[0].message.content or ""))
                break
            except BatchOutputError as e:
                problem = f"batch answer failed validation: {e}"
        return self._verdicts(items, outcome, problem, status, mhash, t0, calls, usage_p, usage_c, cost)

    def _verdicts(self, items: list[Item], outcome: list[JudgeOutput | str] | None, problem: str, status: str,
                  mhash: str, t0: float, calls: int, prompt_tokens: int, completion_tokens: int,
                  cost: float | None) -> list[Verdict]:
        n = len(items)
        latency = (time.perf_counter() - t0) * 1000
        out = []
        for i, item in enumerate(items):
            share = dict(prompt_tokens=prompt_tokens // n + (1 if i < prompt_tokens % n else 0),
                         completion_tokens=completion_tokens // n + (1 if i < completion_tokens % n else 0),
                         cost_usd=cost / n if cost is not None else None)
            flags = ["prompt_injection_suspected"] if injection_evidence(item.response) else []
            base = dict(item_id=item.item_id, judge_id=self.judge_id, model=self.model, source="llm_batch",
                        prompt_version=self.prompt_version, prompt_hash=mhash, latency_ms=latency, attempts=calls,
                        flags=flags, **share)
            result = outcome[i] if outcome is not None else problem
            if isinstance(result, JudgeOutput):
                out.append(Verdict(**base, status="ok", category=result.category, rationale=result.rationale,
                                   evidence=result.evidence, confidence=result.confidence,
                                   secondary=[c for c in result.secondary if c != result.category]))
            else:
                out.append(Verdict(**base, status=status if outcome is None else "needs_review", error=result))
        return out

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
