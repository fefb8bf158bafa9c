"""Bulk auto-labelling: read items, skip what the judge already did, judge concurrently, write in batches.

Every input line ends somewhere: a good line as an item with one verdict row (ok, needs_review or failed), a bad
line as a line-numbered input problem in `ingest_problems` (never a verdict). A run stops at once, with nothing
half-written, when the judge's setup is wrong (`EndpointConfigError`); a Ctrl-C keeps what was judged, marks the
run interrupted and is resumed by running the same command again.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from judge.core.exceptions import EndpointConfigError, InputError, RunInterrupted
from judge.core.heap import frozen_heap
from judge.core.models import Item, RunSummary, Verdict
from judge.core.protocol import Judge, batch_judge_of
from judge.ingest.items import read_items
from judge.run.dispatch import judge_each
from judge.run.sharding import check_picklable, judge_in_processes
from judge.run.verdict_writer import VerdictWriter
from judge.store import Store

Source = str | Path | pd.DataFrame | Iterable[Item | InputError]
BATCH_CHUNK = 2048
"""Items per call of a batch-capable (offline) judge: large enough that each distinct prompt and answer text is
processed once for many items, small enough that a stopped run loses about a second of work."""
_COUNTS = re.compile(r"\b(after|within) \d+(?:\.\d+)? (call|attempt|s\b)")
_DETAILS = re.compile(r"'[^']*'|\"[^\"]*\"|\d+\.\d+|\d{4,}")


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


def error_kind(error: str) -> str:
    """An error with its item-specific details (quoted text, call counts, long or decimal numbers) masked, to count
    errors by kind; short numbers such as HTTP statuses are kept."""
    return _DETAILS.sub("…", _COUNTS.sub(r"\1 N \2", error))[:160]


def status_text(statuses: Mapping[str, int]) -> str:
    """Verdict counts by status for the progress bar, e.g. "failed=1 ok=40"."""
    return " ".join(f"{k}={n}" for k, n in sorted(statuses.items()) if n)


def progress_bar(enabled: bool, what: str = "labelling") -> Progress:
    """The labelling progress bar (rich): what runs, done/total, counts by status, elapsed and remaining time."""
    return Progress(TextColumn(f"[bold]{what}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[stat]}"),
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


def _batch_processes(judge: Judge, n_items: int) -> int:
    """The processes a batch judge (an offline judge) shares the largest batch of this run out over; 1 for others."""
    batcher = batch_judge_of(judge)
    processes = int(getattr(batcher, "processes", 1))
    if processes < 2:
        return 1
    from judge.offline.workers import shares_for  # an offline judge is loaded: so is its module

    return shares_for(min(n_items, BATCH_CHUNK * processes), processes)


class Tally:
    """What the verdicts of one run add up to, kept as they arrive."""

    def __init__(self, summary: RunSummary, statuses: Counter[str] | None = None) -> None:
        self.summary = summary
        self.statuses: Counter[str] = statuses if statuses is not None else Counter()
        self.categories: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.flags: Counter[str] = Counter()

    def add(self, v: Verdict) -> None:
        self.statuses[v.status] += 1
        if v.category and v.status == "ok":
            self.categories[v.category] += 1
        if v.error and v.status != "ok":
            self.errors[error_kind(v.error)] += 1
        self.flags.update(v.flags)
        s = self.summary
        s.prompt_tokens += v.prompt_tokens or 0
        s.completion_tokens += v.completion_tokens or 0
        s.cost_usd += v.cost_usd or 0.0



async def alabel(source: Source, *, store: Store | str | Path, judge: Judge, concurrency: int = 8,
                 rpm: float | None = None, limit: int | None = None, progress: bool = True,
                 column_map: Mapping[str, str] | None = None, batch_size: int = 1000, flush_s: float = 0.5,
                 store_items: bool = True, input_desc: str | None = None, processes: int = 1, kind: str = "label",
                 origin: str | None = None, progress_label: str = "labelling", engine: str = "local",
                 ray_address: str | None = None, workers: int | None = None,
                 shards: str | Path | None = None) -> RunSummary:
    """Label every item of `source` not yet done by `judge`; write verdicts to the store; return a summary.

    `processes` > 1 judges in that many worker processes (for a CPU-bound client: a fast self-hosted endpoint
    or the offline baseline); `concurrency` and `rpm` are then split between them. Verdicts are committed every
    `flush_s` seconds, or sooner once `batch_size` are waiting (a DuckDB write costs about 12 ms however small it
    is, so fewer, larger writes leave the CPU to judging); a run killed in between resumes from what was committed.
    `kind` and `origin` mark the run and its items (a calibration stores its gold items with origin "gold").
    Raises EndpointConfigError (the judge's setup is wrong) and InputError (no usable input line at all).

    `engine="ray"` judges on Ray Data instead (`judge.run.ray_engine.label_on_ray`): `workers` actors, each with
    `concurrency` calls in flight, on the cluster at `ray_address` (or RAY_ADDRESS; none: Ray starts in this
    process), verdicts written as Parquet shards to `shards` and merged into the store at the end. That call
    blocks this event loop until the run ends.
    """
    check_engine(engine, processes=processes, ray_address=ray_address, workers=workers, shards=shards)
    preflight = getattr(judge, "preflight", None)
    if callable(preflight):
        preflight()
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
                          store_items, input_desc, processes, kind, origin, progress_label)
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
    """Verdicts written so far by status."""


def start_run(source: Source, st: Store, judge: Judge, *, column_map: Mapping[str, str] | None, limit: int | None,
              store_items: bool, input_desc: str | None, settings: Mapping[str, Any] | None = None,
              kind: str = "label", origin: str | None = None) -> RunStart:
    """Read the source, register the judge and a run row, store the items (and the input problems), and leave out
    what the judge already finished (resume); `settings` are recorded with the run beside the judge's identity.
    Raises InputError, after recording the problems, when no input line is usable."""
    items, errors = collect(source, column_map)
    desc = input_desc or (str(source) if isinstance(source, (str, Path)) else type(source).__name__)
    st.register_judge(judge.judge_id, judge.identity())
    run_id = st.start_run(kind, judge.judge_id, desc, {**judge.identity(), **(settings or {})})
    summary = RunSummary(run_id=run_id, judge_id=judge.judge_id, n_input=len(items) + len(errors),
                         input_errors=[str(e) for e in errors], db=str(st.path))
    sources = sorted({e.source for e in errors} | {str(it.meta["source_file"]) for it in items
                                                   if it.meta.get("source_file")})
    st.record_input_problems(errors, sources, run_id)
    if not items and errors:
        st.finish_run(run_id, n_input=summary.n_input, n_skipped=0, status="aborted", error="no usable input line")
        shown = "; ".join(str(e) for e in errors[:3]) + ("; ..." if len(errors) > 3 else "")
        raise InputError(desc, None, f"no usable line: {len(errors)} problem(s), all in the ingest_problems table: "
                                     f"{shown}")
    if store_items:
        st.upsert_items(items, origin=origin)
    done = st.done_item_ids(judge.judge_id)
    todo = [it for it in items if it.item_id not in done]
    summary.n_skipped = len(items) - len(todo)
    if limit is not None:
        todo = todo[:limit]
    return RunStart(run_id, summary, todo, Counter())


def finish_run(st: Store, summary: RunSummary, statuses: Counter[str], categories: Counter[str], t0: float, *,
               status: str = "finished", error: str | None = None, errors: Counter[str] | None = None,
               flags: Counter[str] | None = None) -> None:
    """Put the final counts into the summary and the run row, with how the run ended."""
    summary.status_counts = {k: n for k, n in statuses.items() if n}
    summary.category_counts = {k: n for k, n in categories.items() if n}
    summary.error_counts = dict((errors or Counter()).most_common())
    summary.flag_counts = dict((flags or Counter()).most_common())
    summary.status = status  # type: ignore[assignment]
    summary.wall_s = time.perf_counter() - t0
    st.finish_run(summary.run_id, n_input=summary.n_input, n_skipped=summary.n_skipped, n_ok=statuses["ok"],
                  n_needs_review=statuses["needs_review"], n_failed=statuses["failed"],
                  prompt_tokens=summary.prompt_tokens, completion_tokens=summary.completion_tokens,
                  cost_usd=summary.cost_usd, wall_s=summary.wall_s, status=status, error=error)


async def _run(source: Source, st: Store, judge: Judge, concurrency: int, rpm: float | None, limit: int | None,
               progress: bool, column_map: Mapping[str, str] | None, batch_size: int, flush_s: float,
               store_items: bool, input_desc: str | None, processes: int, kind: str, origin: str | None,
               progress_label: str) -> RunSummary:
    t0 = time.perf_counter()
    begun = start_run(source, st, judge, column_map=column_map, limit=limit, store_items=store_items,
                      input_desc=input_desc, kind=kind, origin=origin)
    summary, todo = begun.summary, begun.todo
    tally = Tally(summary, begun.statuses)
    sharded = processes > 1 and len(todo) > 1
    summary.workers = processes if sharded else _batch_processes(judge, len(todo))
    # worker processes block this loop while the parent collects their verdicts: write inline there
    writer = VerdictWriter(st, begun.run_id, batch_size, flush_s, threaded=not sharded)
    status, error = "finished", None
    with progress_bar(progress, progress_label) as bar:
        task = bar.add_task("label", total=len(todo), stat="")

        def record(v: Verdict) -> None:
            writer.add(v)
            tally.add(v)
            bar.update(task, advance=1, stat=status_text(tally.statuses))

        try:
            with frozen_heap():
                if sharded:
                    summary.worker_cpu_s = judge_in_processes(judge, todo, processes=processes,
                                                              concurrency=concurrency, rpm=rpm, on_verdict=record)
                else:
                    await judge_each(judge, todo, concurrency=concurrency, rpm=rpm, chunk=BATCH_CHUNK,
                                     on_verdict=record)
        except EndpointConfigError as e:
            status, error = "aborted", str(e)
            raise
        except (asyncio.CancelledError, KeyboardInterrupt):
            status, error = "interrupted", "stopped by the user"
            raise
        finally:
            await writer.aclose()
            finish_run(st, summary, tally.statuses, tally.categories, t0, status=status, error=error,
                       errors=tally.errors, flags=tally.flags)
    return summary


def label(source: Source, **kwargs: Any) -> RunSummary:
    """Synchronous wrapper of `alabel` (same arguments); Ctrl-C raises RunInterrupted, saying what was saved."""
    if kwargs.get("engine") == "ray":  # the Ray engine is synchronous: no event loop needed
        from judge.run.ray_engine import label_on_ray

        kwargs.pop("engine")
        check_engine("ray", processes=kwargs.pop("processes", 1), workers=kwargs.get("workers"))
        preflight = getattr(kwargs.get("judge"), "preflight", None)
        if callable(preflight):
            preflight()
        for unused in ("batch_size", "flush_s", "kind", "origin", "progress_label"):
            kwargs.pop(unused, None)
        return label_on_ray(source, **kwargs)
    try:
        return asyncio.run(alabel(source, **kwargs))
    except KeyboardInterrupt:
        raise RunInterrupted(_interrupted_message(kwargs.get("store"))) from None


def _interrupted_message(store: Any) -> str:
    saved = ""
    try:
        if isinstance(store, Store):
            row = store.latest_run()
        else:
            with Store.readonly(store) as st:
                row = st.latest_run()
        if row is not None:
            saved = (f" {row['n_ok'] or 0} ok, {row['n_needs_review'] or 0} needs_review and "
                     f"{row['n_failed'] or 0} failed verdicts of this run were saved;")
    except Exception:  # noqa: BLE001 - the message is best effort; the data is already safe
        pass
    return f"interrupted:{saved} run the same command again to resume (finished items are skipped)"
