"""Dispatch of a batch judge: `chunk` items per process the judge spreads a batch over, every verdict handed on."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from judge.core.models import Item, Verdict
from judge.run.dispatch import judge_each


class CountingBatchJudge:
    """A batch judge that records the size of every batch it is given."""

    judge_id, model = "count", "count"

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self.batches: list[int] = []

    def identity(self) -> dict[str, object]:
        return {"judge": "count"}

    async def ajudge(self, item: Item) -> Verdict:
        return self.judge_batch([item])[0]

    def judge_batch(self, items: Sequence[Item]) -> list[Verdict]:
        self.batches.append(len(items))
        return [Verdict(item_id=it.item_id, judge_id=self.judge_id, model=self.model, status="ok",
                        category="omission") for it in items]


def _run(judge: CountingBatchJudge, n: int) -> list[str]:
    items = [Item(item_id=f"i{k}", question="问", response="答") for k in range(n)]
    seen: list[str] = []
    asyncio.run(judge_each(judge, items, concurrency=4, rpm=None, chunk=10, on_verdict=lambda v: seen.append(v.item_id)))
    assert seen == [it.item_id for it in items]
    return seen


def test_a_batch_judge_gets_chunk_items_per_process():
    one, three = CountingBatchJudge(1), CountingBatchJudge(3)
    _run(one, 65)
    _run(three, 65)
    assert one.batches == [10] * 6 + [5]
    assert three.batches == [30, 30, 5]
