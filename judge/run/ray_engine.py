"""Label on Ray Data: a pool of actors judges batches, the driver writes Parquet shards and merges them into the store.

The driver (this process) reads the input with medjudge's readers (line-numbered errors, the same item ids as a
local run), registers the run and leaves out the items the judge already finished, in the store or in shards an
interrupted run left (those are merged first). The items left go to Ray Data as Arrow blocks of `batch_size`
items. `map_batches` sends each block to a pool of `workers` actors (`JudgeActor`); each actor rebuilds the judge
once from its pickle (an LLM judge with its own async HTTP client, an offline judge with its model loaded) and
judges a block with `concurrency` calls in flight (offline judges in batches). The verdict rows stream back to the
driver, which writes each block's rows as one Parquet shard in the shard folder (atomically; `medjudge sql
--shards` reads them while the run goes on) and shows progress. When the run ends the driver merges the shards
into the DuckDB file (the store stays the single writer) and deletes them.

A worker that dies is restarted by Ray and its block judged again (`max_restarts` times); a block judged twice
writes the same shard name, and readers keep one row per item and judge. If Ray gives up, the items without a
verdict are stored as `failed` with the reason, and the next run retries them, as after a local run.

Ray is imported only here and only when a run starts (`pip install 'medjudge[ray]'`).
"""

from __future__ import annotations

import logging
import os
import pickle
import socket
import time
import warnings
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from judge.core.exceptions import ConfigError
from judge.core.models import Item, RunSummary, Verdict
from judge.core.protocol import Judge
from judge.run.dispatch import judge_each
from judge.run.sharding import check_picklable

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from judge.run.runner import RunStart, Source
    from judge.store import Store

BATCH_TARGET = 512
"""Items per Ray block for LLM judges at most (fewer when the run is small, so every worker gets blocks)."""
OFFLINE_BATCH = 2048
"""Items per Ray block for offline (batch) judges at most."""
RAY_MISSING = "the Ray engine needs Ray: pip install 'medjudge[ray]'"


def import_ray() -> Any:
    """The `ray` module with Ray Data, or ConfigError saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401 - Ray Data is the part this engine uses
    except ImportError as e:
        raise ConfigError(f"{RAY_MISSING} ({e})") from e
    return ray


def default_shard_folder(db: str | Path) -> Path:
    """Where a store's shards go unless told otherwise: `<db file>.shards/` beside it."""
    db = Path(db)
    return db.with_name(db.name + ".shards")


def item_blocks(items: list[Item], size: int) -> list[pa.Table]:
    """Items as Arrow tables of at most `size` rows: `item_id` and `item` (the item's JSON, rebuilt exactly)."""
    import pyarrow as pa

    return [pa.table({"item_id": [it.item_id for it in chunk], "item": [it.model_dump_json() for it in chunk]})
            for chunk in (items[i:i + size] for i in range(0, len(items), size))]


def block_size(n: int, workers: int, batch: bool) -> int:
    """Items per block: at most the target, and small enough that each worker gets about four blocks."""
    target = OFFLINE_BATCH if batch else BATCH_TARGET
    return max(1, min(target, -(-n // (4 * workers))))


class JudgeActor:
    """A Ray Data actor: builds the judge once from its pickle and judges the blocks it is given into verdict rows."""

    def __init__(self, payload: bytes, run_id: str, concurrency: int, rpm: float | None, chunk: int) -> None:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before the judge's modules load litellm
        os.environ["MEDJUDGE_OFFLINE_WORKERS"] = "1"  # Ray runs an actor per CPU: an offline batch stays in it
        self.judge: Judge = pickle.loads(payload)
        self.run_id, self.concurrency, self.rpm, self.chunk = run_id, concurrency, rpm, chunk

    def __call__(self, block: pa.Table) -> pa.Table:
        """Judge every item of `block`; one verdict row each (failed, with the error, if the judge raised), and
        the CPU seconds this process spent on the block in column `block_cpu_s` (on the first row, 0 on the rest)."""
        import pyarrow as pa

        from judge.core.sync import run_sync
        from judge.store.shards import verdict_rows

        cpu0 = time.process_time()
        items = [Item.model_validate_json(s) for s in block.column("item").to_pylist()]
        verdicts: list[Verdict] = []
        try:
            run_sync(judge_each(self.judge, items, concurrency=self.concurrency, rpm=self.rpm, chunk=self.chunk,
                                on_verdict=verdicts.append))
        except Exception as e:  # noqa: BLE001 - recorded on the items, retried by the next run
            done = {v.item_id for v in verdicts}
            verdicts += [Verdict(item_id=it.item_id, judge_id=self.judge.judge_id, model=self.judge.model,
                                 status="failed", error=f"not judged: {type(e).__name__}: {e}", attempts=0)
                         for it in items if it.item_id not in done]
        rows = verdict_rows(verdicts, self.run_id)
        cpu = [time.process_time() - cpu0] + [0.0] * (rows.num_rows - 1) if rows.num_rows else []
        return rows.append_column("block_cpu_s", pa.array(cpu, pa.float64()))


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Raise ConfigError at once when `address` (host:port, optionally ray://) does not accept a TCP connection;
    Ray itself would keep retrying for minutes. "auto" and "local" are left to Ray."""
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if address in ("auto", "local") or not host or not port.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as e:
        raise ConfigError(f"could not reach the Ray cluster at {address}: {e.strerror or type(e).__name__}; "
                          "start it with `ray start --head` on that machine, or fix --ray-address / RAY_ADDRESS") from e


@contextmanager
def ray_connection(address: str | None, cpus: int | None) -> Iterator[Any]:
    """Ray, connected: the running instance of this process if there is one, else the cluster at `address` (or
    RAY_ADDRESS), else a new instance on this machine with `cpus` CPUs, shut down on exit."""
    ray = import_ray()
    address = address or os.environ.get("RAY_ADDRESS") or None
    if ray.is_initialized():
        yield ray
        return
    quiet: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
    env = {"env_vars": {"LITELLM_LOCAL_MODEL_COST_MAP": "True"}}
    try:
        if address:
            check_reachable(address)
            ray.init(address=address, runtime_env=env, **quiet)
        else:
            ray.init(num_cpus=max(os.cpu_count() or 1, cpus or 1), include_dashboard=False, runtime_env=env, **quiet)
    except ConfigError:
        raise
    except Exception as e:  # noqa: BLE001 - any failure to start or reach Ray is the user's to fix
        where = f"the Ray cluster at {address}" if address else "a Ray instance in this process"
        raise ConfigError(f"could not start or reach {where}: {type(e).__name__}: {e}") from e
    try:
        yield ray
    finally:
        ray.shutdown()


class _NoProgressNotice(logging.Filter):
    """Drops Ray Data's notice that its progress bars are off (medjudge shows its own)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Progress bars disabled" not in record.getMessage()


def _quiet_ray_data(ray: Any) -> None:
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    for name in ("ray.data", "ray.data._internal.progress"):
        log = logging.getLogger(name)
        log.setLevel(logging.WARNING)
        if not any(isinstance(f, _NoProgressNotice) for f in log.filters):
            log.addFilter(_NoProgressNotice())


class _Tally:
    """Counts of the verdict rows this run merged (its summary) and the items they cover."""

    def __init__(self, run_id: str, judge_id: str) -> None:
        self.run_id, self.judge_id = run_id, judge_id
        self.statuses: Counter[str] = Counter()
        self.categories: Counter[str] = Counter()
        self.item_ids: set[str] = set()
        self.prompt_tokens = self.completion_tokens = 0
        self.cost_usd = 0.0

    def add(self, table: pa.Table) -> None:
        """Count the rows of `table` written by this run for this judge."""
        cols = table.select(["item_id", "judge_id", "run_id", "status", "category", "prompt_tokens",
                             "completion_tokens", "cost_usd"]).to_pylist()
        for r in cols:
            if r["run_id"] != self.run_id or r["judge_id"] != self.judge_id:
                continue
            self.item_ids.add(r["item_id"])
            self.statuses[r["status"]] += 1
            if r["status"] == "ok" and r["category"]:
                self.categories[r["category"]] += 1
            self.prompt_tokens += r["prompt_tokens"] or 0
            self.completion_tokens += r["completion_tokens"] or 0
            self.cost_usd += r["cost_usd"] or 0.0


def label_on_ray(source: Source, *, store: Store | str | Path, judge: Judge, workers: int | None = None,
                 ray_address: str | None = None, shards: str | Path | None = None, concurrency: int = 8,
                 rpm: float | None = None, limit: int | None = None, progress: bool = True,
                 column_map: Mapping[str, str] | None = None, store_items: bool = True,
                 input_desc: str | None = None, batch_size: int | None = None, max_restarts: int = 3) -> RunSummary:
    """Label every item of `source` not yet done by `judge` on Ray Data; merge the verdicts into the store.

    `workers` actors judge (default: one per CPU of the cluster), each with `concurrency` calls in flight;
    `rpm` is the total rate, split between them. `ray_address` (or RAY_ADDRESS) names a running cluster; without
    one Ray starts in this process. Shards go to `shards` (default `<db>.shards/`; on a cluster, a folder the
    driver writes). `max_restarts`: how often Ray restarts a dead worker and re-runs its block before giving up.
    """
    from judge.store import Store

    import_ray()  # fail before any write when Ray is missing
    if workers is not None and workers < 1:
        raise ValueError("workers must be at least 1")
    payload = check_picklable(judge)
    own_store = not isinstance(store, Store)
    st = Store(store) if own_store else store
    try:
        return _run(source, st, judge, payload, workers, ray_address, shards, concurrency, rpm, limit, progress,
                    column_map, store_items, input_desc, batch_size, max_restarts)
    finally:
        if own_store:
            st.close()


def _run(source: Source, st: Store, judge: Judge, payload: bytes, workers: int | None, ray_address: str | None,
         shards: str | Path | None, concurrency: int, rpm: float | None, limit: int | None, progress: bool,
         column_map: Mapping[str, str] | None, store_items: bool, input_desc: str | None, batch_size: int | None,
         max_restarts: int) -> RunSummary:
    from judge.run.runner import finish_run, progress_bar, start_run
    from judge.store.shards import clear_partial

    t0 = time.perf_counter()
    folder = Path(shards) if shards is not None else default_shard_folder(st.path)
    # Ray first: a cluster that cannot be reached is reported before anything is written
    with ray_connection(ray_address, workers) as ray:
        _quiet_ray_data(ray)
        clear_partial(folder)
        st.merge_verdict_shards(folder)  # what an interrupted run left counts as done before anything is dispatched
        begun = start_run(source, st, judge, column_map=column_map, limit=limit, store_items=store_items,
                          input_desc=input_desc, settings={"engine": "ray"})
        summary, todo = begun.summary, begun.todo
        summary.engine = "ray"
        tally = _Tally(begun.run_id, judge.judge_id)
        if todo:
            with progress_bar(progress) as bar:
                _dispatch(ray, bar, st, folder, payload, judge, begun, workers, concurrency, rpm, batch_size,
                          max_restarts, tally)
    _record_unjudged(st, judge, begun.run_id, todo, tally, summary)
    begun.statuses.update(tally.statuses)
    summary.prompt_tokens, summary.completion_tokens = tally.prompt_tokens, tally.completion_tokens
    summary.cost_usd = tally.cost_usd
    finish_run(st, summary, begun.statuses, tally.categories, t0)
    return summary


def _dispatch(ray: Any, bar: Any, st: Store, folder: Path, payload: bytes, judge: Judge, begun: RunStart,
              workers: int | None, concurrency: int, rpm: float | None, batch_size: int | None, max_restarts: int,
              tally: _Tally) -> None:
    """Send the items to the actors, write each block's verdicts as a shard, then merge the shards into the store
    (also when Ray stops early: its error goes into the summary)."""
    from judge.core.protocol import batch_judge_of
    from judge.run.runner import BATCH_CHUNK, status_text
    from judge.store.shards import write_shard

    summary, todo = begun.summary, begun.todo
    cpus = float(ray.cluster_resources().get("CPU", 1.0))
    n_workers = max(1, min(workers or int(cpus) or 1, len(todo)))
    summary.workers = n_workers
    size = batch_size or block_size(len(todo), n_workers, batch_judge_of(judge) is not None)
    task = bar.add_task("label", total=len(todo), stat="")
    live: Counter[str] = Counter(begun.statuses)
    seen: set[str] = set()
    try:
        with warnings.catch_warnings():
            # Ray 2.60 marks actor options passed this way (max_restarts) deprecated, with no other way yet
            warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
            ds = ray.data.from_arrow(item_blocks(todo, size)).map_batches(
                JudgeActor, batch_size=None, batch_format="pyarrow", zero_copy_batch=True,
                compute=ray.data.ActorPoolStrategy(size=n_workers),
                fn_constructor_args=(payload, begun.run_id, concurrency, rpm / n_workers if rpm else None,
                                     BATCH_CHUNK),
                num_cpus=min(1.0, cpus / n_workers), max_restarts=max_restarts, max_task_retries=max_restarts)
        for out in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
            write_shard(folder, out)  # the verdict columns; block_cpu_s is for the summary
            summary.worker_cpu_s += sum(out.column("block_cpu_s").to_pylist())
            fresh = [(i, s) for i, s in zip(out.column("item_id").to_pylist(), out.column("status").to_pylist(),
                                            strict=True) if i not in seen]
            seen.update(i for i, _ in fresh)
            live.update(s for _, s in fresh)
            bar.update(task, advance=len(fresh), stat=status_text(live))
    except Exception as e:  # noqa: BLE001 - the run goes on to store what was judged and say what was not
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        summary.engine_error = f"{type(e).__name__}: {first}"
    finally:
        st.merge_verdict_shards(folder, on_rows=tally.add)


def _record_unjudged(st: Store, judge: Judge, run_id: str, todo: list[Item], tally: _Tally,
                     summary: RunSummary) -> None:
    """Store items this run sent out but got no verdict for as failed, saying why; they are retried next run."""
    missing = [it for it in todo if it.item_id not in tally.item_ids]
    if not missing:
        return
    reason = summary.engine_error or "no verdict came back from the Ray workers"
    summary.engine_error = reason
    rows = [Verdict(item_id=it.item_id, judge_id=judge.judge_id, model=judge.model, status="failed",
                    error=f"not judged: {reason}", attempts=0) for it in missing]
    st.write_verdicts(rows, run_id)
    tally.statuses["failed"] += len(rows)
    tally.item_ids.update(it.item_id for it in missing)

