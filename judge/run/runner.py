"""Bulk auto-labelling: read items, skip what the judge already did, judge concurrently, write in batches."""

from __future__ import annotations

import asyncio
import gc
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from judge.core.exceptions import InputError
from judge.core.models import Item, RunSummary, Verdict
from judge.core.protocol import Judge
from judge.ingest.items import read_items
from judge.run.dispatch import judge_each
from judge.run.sharding import check_picklable, judge_in_processes
from judge.run.verdict_writer import VerdictWriter
from judge.store import Store

Source = str | Path | pd.DataFrame | Iterable[Item | InputError]
BATCH_CHUNK = 256
"""Items per call of a batch-capable (offline) judge."""


def input_error_item(err: InputError) -> Item:
    """The placeholder item that records a bad input line."""
    item_id = f"input-error:{Path(err.source).name}:{err.line if err.line is not None else 0}"
    return Item(item_id=item_id, question="", response="", meta={"source_file": err.source, "line": err.line,
                                                                   "input_error": err.message})


def input_error_items(errors: Iterable[InputError]) -> list[Item]:
    """Placeholder items for input errors, with ids made unique (errors without a line number share a base id)."""
    out: list[Item] = []
    seen: Counter[str] = Counter()
    for err in errors:
        item = input_error_item(err)
        seen[item.item_id] += 1
        if seen[item.item_id] > 1:
            item = item.model_copy(update={"item_id": f"{item.item_id}#{seen[item.item_id]}"})
        out.append(item)
    return out


def input_error_verdict(err: InputError, item_id: str, judge: Judge) -> Verdict:
    """A failed verdict carrying the line-numbered input error."""
    return Verdict(item_id=item_id, judge_id=judge.judge_id, status="failed", error=str(err), source="input",
                   model=judge.model, attempts=0)


def collect(source: Source, column_map: Mapping[str, str] | None = None) -> tuple[list[Item], list[InputError]]:
    """Split a source into good items (deduplicated by item_id, first wins) and input errors."""
    if isinstance(source, (str, Path, pd.DataFrame)):
        results: Iterable[Item | InputError] = read_items(source, column_map)
    else:
        results = source
    items: dict[str, Item] = {}
    errors: list[InputError] = []
    for r in results:
        if isinstance(r, InputError):
            errors.append(r)
        elif r.item_id in items:
            errors.append(InputError(str(r.meta.get("source_file", "<input>")), r.meta.get("line"),
                                     f"duplicate item_id {r.item_id!r} (first seen at line "
                                     f"{items[r.item_id].meta.get('line')}); skipped"))
        else:
            items[r.item_id] = r
    return list(items.values()), errors


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Exempt every object alive now (modules, the items, the judge) from the garbage collector's scans until the
    block ends: a full collection over them stalls the event loop for tens of milliseconds. Left alone when the
    caller has already frozen objects of their own."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def status_text(statuses: Mapping[str, int]) -> str:
    """Verdict counts by status for the progress bar, e.g. "failed=1 ok=40"."""
    return " ".join(f"{k}={n}" for k, n in sorted(statuses.items()) if n)


def progress_bar(enabled: bool) -> Progress:
    """The labelling progress bar (rich): done/total, counts by status, elapsed and remaining time."""
    return Progress(TextColumn("[bold]labelling"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[stat]}"),
                    TimeElapsedColumn(), TimeRemainingColumn(), disable=not enabled, transient=False)


ENGINES = ("local", "ray")
"""Where a run judges: `local` (this process, or `processes` worker processes) or `ray` (Ray Data actors)."""


def check_engine(engine: str, *, processes: int = 1, ray_address: str | None = None, workers: int | None = None,
                 shards: str | Path | None = None) -> None:
    """Raise ValueError (ConfigError when Ray is missing) unless the engine and its options go together."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if processes < 1:
        raise ValueError("processes must be at least 1")
    if engine == "ray":
        if processes != 1:
            raise ValueError("processes is for the local engine; the Ray engine takes workers")
        if workers is not None and workers < 1:
            raise ValueError("workers must be at least 1")
        from judge.run.ray_engine import import_ray

        import_ray()
    elif ray_address is not None or workers is not None or shards is not None:
        raise ValueError("ray_address, workers and shards are for engine='ray'")


async def alabel(source: Source, *, store: Store | str | Path, judge: Judge, concurrency: int = 8,
                 rpm: float | None = None, limit: int | None = None, progress: bool = True,
                 column_map: Mapping[str, str] | None = None, batch_size: int = 1000, flush_s: float = 0.5,
                 store_items: bool = True, input_desc: str | None = None, processes: int = 1,
                 engine: str = "local", ray_address: str | None = None, workers: int | None = None,
                 shards: str | Path | None = None) -> RunSummary:
    """Label every item of `source` not yet done by `judge`; write verdicts to the store; return a summary.

    `processes` > 1 judges in that many worker processes (for a CPU-bound client: a fast self-hosted endpoint
    or the offline baseline); `concurrency` and `rpm` are then split between them. Verdicts are committed every
    `flush_s` seconds, or sooner once `batch_size` are waiting (a DuckDB write costs about 12 ms however small it
    is, so fewer, larger writes leave the CPU to judging); a run killed in between resumes from what was committed.

    `engine="ray"` judges on Ray Data instead (`judge.run.ray_engine.label_on_ray`): `workers` actors, each with
    `concurrency` calls in flight, on the cluster at `ray_address` (or RAY_ADDRESS; none: Ray starts in this
    process), verdicts written as Parquet shards to `shards` and merged into the store at the end. That call
    blocks this event loop until the run ends.
    """
    check_engine(engine, processes=processes, ray_address=ray_address, workers=workers, shards=shards)
    if engine == "ray":
        from judge.run.ray_engine import label_on_ray

        return label_on_ray(source, store=store, judge=judge, workers=workers, ray_address=ray_address,
                            shards=shards, concurrency=concurrency, rpm=rpm, limit=limit, progress=progress,
                            column_map=column_map, store_items=store_items, input_desc=input_desc)
    if processes > 1:
        check_picklable(judge)
    own_store = not isinstance(store, Store)
    st = Store(store) if own_store else store
    try:
        return await _run(source, st, judge, concurrency, rpm, limit, progress, column_map, batch_size, flush_s,
                          store_items, input_desc, processes)
    finally:
        if own_store:
            st.close()


@dataclass
class RunStart:
    """A labelling run registered in the store: its summary so far and the items left to judge."""

    run_id: str
    """Id of the run row."""
    summary: RunSummary
    """Counts so far (input, resumed, input errors)."""
    todo: list[Item]
    """Items this judge has not finished, at most `limit` of them."""
    statuses: Counter[str]
    """Verdicts written so far by status (the input errors)."""


def start_run(source: Source, st: Store, judge: Judge, *, column_map: Mapping[str, str] | None, limit: int | None,
              store_items: bool, input_desc: str | None, settings: Mapping[str, Any] | None = None) -> RunStart:
    """Read the source, register the judge and a run row, store the items and input errors, and leave out what the
    judge already finished (resume); `settings` are recorded with the run beside the judge's identity."""
    items, errors = collect(source, column_map)
    desc = input_desc or (str(source) if isinstance(source, (str, Path)) else type(source).__name__)
    st.register_judge(judge.judge_id, judge.identity())
    run_id = st.start_run("label", judge.judge_id, desc, {**judge.identity(), **(settings or {})})
    summary = RunSummary(run_id=run_id, judge_id=judge.judge_id, n_input=len(items) + len(errors),
                         input_errors=[str(e) for e in errors])
    error_items = input_error_items(errors)
    if store_items:
        st.upsert_items(items + error_items)
    st.write_verdicts([input_error_verdict(e, it.item_id, judge) for e, it in zip(errors, error_items, strict=True)],
                      run_id)
    done = st.done_item_ids(judge.judge_id)
    todo = [it for it in items if it.item_id not in done]
    summary.n_skipped = len(items) - len(todo)
    if limit is not None:
        todo = todo[:limit]
    return RunStart(run_id, summary, todo, Counter({"failed": len(errors)} if errors else {}))


def finish_run(st: Store, summary: RunSummary, statuses: Counter[str], categories: Counter[str], t0: float) -> None:
    """Put the final counts into the summary and the run row."""
    summary.status_counts = {k: n for k, n in statuses.items() if n}
    summary.category_counts = {k: n for k, n in categories.items() if n}
    summary.wall_s = time.perf_counter() - t0
    st.finish_run(summary.run_id, n_input=summary.n_input, n_skipped=summary.n_skipped, n_ok=statuses["ok"],
                  n_needs_review=statuses["needs_review"], n_failed=statuses["failed"],
                  prompt_tokens=summary.prompt_tokens, completion_tokens=summary.completion_tokens,
                  cost_usd=summary.cost_usd, wall_s=summary.wall_s)


async def _run(source: Source, st: Store, judge: Judge, concurrency: int, rpm: float | None, limit: int | None,
               progress: bool, column_map: Mapping[str, str] | None, batch_size: int, flush_s: float,
               store_items: bool, input_desc: str | None, processes: int) -> RunSummary:
    t0 = time.perf_counter()
    begun = start_run(source, st, judge, column_map=column_map, limit=limit, store_items=store_items,
                      input_desc=input_desc)
    run_id, summary, todo, statuses = begun.run_id, begun.summary, begun.todo, begun.statuses
    categories: Counter[str] = Counter()
    sharded = processes > 1 and len(todo) > 1
    summary.workers = processes if sharded else 1
    # worker processes block this loop while the parent collects their verdicts: write inline there
    writer = VerdictWriter(st, run_id, batch_size, flush_s, threaded=not sharded)

    with progress_bar(progress) as bar:
        task = bar.add_task("label", total=len(todo), stat="")

        def record(v: Verdict) -> None:
            writer.add(v)
            statuses[v.status] += 1
            if v.category and v.status == "ok":
                categories[v.category] += 1
            summary.prompt_tokens += v.prompt_tokens or 0
            summary.completion_tokens += v.completion_tokens or 0
            summary.cost_usd += v.cost_usd or 0.0
            bar.update(task, advance=1, stat=status_text(statuses))

        try:
            with frozen_heap():
                if sharded:
                    summary.worker_cpu_s = judge_in_processes(judge, todo, processes=processes,
                                                              concurrency=concurrency, rpm=rpm, on_verdict=record)
                else:
                    await judge_each(judge, todo, concurrency=concurrency, rpm=rpm, chunk=BATCH_CHUNK,
                                     on_verdict=record)
        finally:
            await writer.aclose()
    finish_run(st, summary, statuses, categories, t0)
    return summary


def label(source: Source, **kwargs: Any) -> RunSummary:
    """Synchronous wrapper of `alabel` (same arguments)."""
    if kwargs.get("engine") == "ray":  # the Ray engine is synchronous: no event loop needed
        from judge.run.ray_engine import label_on_ray

        kwargs.pop("engine")
        check_engine("ray", processes=kwargs.pop("processes", 1), workers=kwargs.get("workers"))
        for unused in ("batch_size", "flush_s"):
            kwargs.pop(unused, None)
        return label_on_ray(source, **kwargs)
    return asyncio.run(alabel(source, **kwargs))
