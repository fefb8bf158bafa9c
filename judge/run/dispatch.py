"""Run a judge over items in one process: in batches for a batch judge, else concurrent calls, one callback each."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiolimiter import AsyncLimiter

from judge.core.exceptions import EndpointConfigError
from judge.core.models import Item, Verdict
from judge.core.protocol import Judge, batch_judge_of


async def judge_each(judge: Judge, items: list[Item], *, concurrency: int, rpm: float | None, chunk: int,
                     on_verdict: Callable[[Verdict], None]) -> None:
    """Judge every item and hand each verdict to `on_verdict` as it is made.

    A batch judge (the offline judges) gets `chunk` items per process it judges a batch in (its `processes`,
    default 1) per `judge_batch` call; any other judge gets
    `concurrency` concurrent `ajudge` calls, at most `rpm` a minute when given. A configuration error from the
    judge (`EndpointConfigError`) cancels the calls in flight and is raised: their items get no verdict.
    """
    batcher = batch_judge_of(judge)
    if batcher is not None:
        size = chunk * max(1, int(getattr(batcher, "processes", 1)))
        for start in range(0, len(items), size):
            for v in batcher.judge_batch(items[start:start + size]):
                on_verdict(v)
            await asyncio.sleep(0)
        return
    todo: asyncio.Queue[Item] = asyncio.Queue()
    for it in items:
        todo.put_nowait(it)
    limiter = AsyncLimiter(rpm, 60) if rpm else None

    async def worker() -> None:
        while True:
            try:
                it = todo.get_nowait()
            except asyncio.QueueEmpty:
                return
            if limiter:
                async with limiter:
                    v = await judge.ajudge(it)
            else:
                v = await judge.ajudge(it)
            on_verdict(v)

    try:
        async with asyncio.TaskGroup() as group:  # an error in one worker cancels the others
            for _ in range(max(1, min(concurrency, len(items) or 1))):
                group.create_task(worker())
    except* EndpointConfigError as errors:
        raise errors.exceptions[0] from None
