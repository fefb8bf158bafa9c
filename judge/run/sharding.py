"""Judge items in several worker processes when one process is CPU-bound; the caller stays the only DB writer.

`judge_in_processes` splits the items round-robin over `processes` worker processes. They are forked from
multiprocessing's fork server, which imports the judge's modules once (about a second for the LLM stack), so a
second worker and every later run start in milliseconds; where there is no fork server, they are spawned. Each
worker rebuilds the judge from its pickle (an `LLMJudge` pickles as its settings, prompt and taxonomy), judges its
share with `concurrency` concurrent calls, and sends verdicts back in small batches over a queue. The parent hands
each verdict to `on_verdict` (which writes it to DuckDB), so resume and the one-row-per-item rule are unchanged.
A worker that dies leaves its unjudged items as `failed` verdicts saying so; they are retried on the next run.
A worker that meets a configuration error (a refused key, an unknown model) stops the whole run at once.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing as mp
import os
import pickle
import queue
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from judge.core.exceptions import ConfigError, EndpointConfigError
from judge.core.models import Item, Verdict
from judge.core.protocol import Judge
from judge.run.dispatch import judge_each

_SEND_EVERY = 32
_SEND_S = 0.2


def check_picklable(judge: Judge) -> bytes:
    """The judge's pickle, to send to worker processes; ConfigError when it cannot be pickled."""
    try:
        return pickle.dumps(judge)
    except Exception as e:  # noqa: BLE001 - any pickling failure means "not shardable"
        raise ConfigError(f"judge {judge.model!r} ({type(judge).__name__}) cannot run in several processes "
                          f"({type(e).__name__}: {e}); use processes=1") from e


def worker_context(judge: Judge) -> Any:
    """The fork server, preloading the judge's module (and litellm when this process uses it); else spawn."""
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    preload = [__name__, type(judge).__module__] + (["litellm"] if "litellm" in sys.modules else [])
    ctx.set_forkserver_preload(preload)  # takes effect when the server starts: once per process
    return ctx


async def _judge_share(judge: Judge, items: list[Item], concurrency: int, rpm: float | None,
                       send: Callable[[list[Verdict]], None]) -> None:
    out: list[Verdict] = []
    last = time.monotonic()

    def collect(v: Verdict) -> None:
        nonlocal last
        out.append(v)
        if len(out) >= _SEND_EVERY or time.monotonic() - last >= _SEND_S:
            send(out[:])
            out.clear()
            last = time.monotonic()

    await judge_each(judge, items, concurrency=concurrency, rpm=rpm, chunk=_SEND_EVERY, on_verdict=collect)
    if out:
        send(out)


def _worker(payload: bytes, items: list[Item], concurrency: int, rpm: float | None, results: Any,
            index: int) -> None:
    judge = pickle.loads(payload)
    parent = mp.parent_process()
    gc.freeze()  # the judge and the items live for the whole run: keep them out of the collector's scans

    def send(verdicts: list[Verdict]) -> None:
        if parent is not None and not parent.is_alive():  # the parent died: nobody will read this
            os._exit(3)
        results.put(("verdicts", index, verdicts))

    try:
        asyncio.run(_judge_share(judge, items, concurrency, rpm, send))
    except EndpointConfigError as e:  # the parent stops the whole run
        results.put(("config_error", index, str(e)))
        return
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which records the items as failed
        results.put(("error", index, f"{type(e).__name__}: {e}"))
        return
    results.put(("done", index, time.process_time()))


@contextmanager
def _main_script_not_rerun(judge: Judge) -> Iterator[None]:
    """While workers start, hide the caller's script from multiprocessing so a worker does not run it again.

    Started by the fork server (or spawned), a worker imports the caller's `__main__` file before it runs, which
    re-runs a script written without an `if __name__ == "__main__":` guard (a second labelling run inside the
    worker). The workers need nothing from that script unless the judge's class is defined in it; then it stays.
    """
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    named = getattr(getattr(main, "__spec__", None), "name", None)
    if main is None or path is None or named is not None or type(judge).__module__ == "__main__":
        yield
        return
    del main.__file__
    try:
        yield
    finally:
        main.__file__ = path


def judge_in_processes(judge: Judge, items: list[Item], *, processes: int, concurrency: int,
                       rpm: float | None, on_verdict: Callable[[Verdict], None]) -> float:
    """Judge `items` in `processes` workers (concurrency and rpm are split between them); call `on_verdict`.

    Returns the CPU seconds the workers that finished reported using.
    """
    payload = check_picklable(judge)
    processes = max(1, min(processes, len(items)))
    shares = [items[k::processes] for k in range(processes)]
    ctx = worker_context(judge)
    results = ctx.Queue()
    procs = [ctx.Process(target=_worker, daemon=True, name=f"medjudge-worker-{k}",
                         args=(payload, share, max(1, concurrency // processes), rpm / processes if rpm else None,
                               results, k))
             for k, share in enumerate(shares)]
    pending = [{it.item_id: it for it in share} for share in shares]
    ended: dict[int, str | None] = {}
    cpu: dict[int, float] = {}
    refused: list[str] = []
    try:
        with _main_script_not_rerun(judge):
            for p in procs:
                p.start()
        while len(ended) < len(procs):
            try:
                kind, k, body = results.get(timeout=0.5)
            except queue.Empty:
                for k, p in enumerate(procs):
                    if k not in ended and not p.is_alive():
                        _drain(results, pending, ended, cpu, on_verdict)
                        if k not in ended:
                            ended[k] = f"worker process {k} exited with code {p.exitcode}"
                continue
            if kind == "config_error":
                refused.append(body)
                break
            _handle(kind, k, body, pending, ended, cpu, on_verdict)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join(timeout=10)
        results.close()
    if refused:  # no failed rows for the items never judged: the setup must be fixed first
        raise EndpointConfigError(refused[0])
    for k, reason in ended.items():
        for it in pending[k].values():
            on_verdict(Verdict(item_id=it.item_id, judge_id=judge.judge_id, model=judge.model, status="failed",
                               error=f"not judged: {reason or 'worker ended early'}", attempts=0))
    return sum(cpu.values())


def _handle(kind: str, k: int, body: Any, pending: list[dict[str, Item]], ended: dict[int, str | None],
            cpu: dict[int, float], on_verdict: Callable[[Verdict], None]) -> None:
    if kind == "verdicts":
        for v in body:
            if pending[k].pop(v.item_id, None) is not None:
                on_verdict(v)
    elif kind == "done":
        ended[k], cpu[k] = None, float(body)
    else:
        ended[k] = f"worker process {k} failed: {body}"


def _drain(results: Any, pending: list[dict[str, Item]], ended: dict[int, str | None], cpu: dict[int, float],
           on_verdict: Callable[[Verdict], None]) -> None:
    while True:
        try:
            kind, k, body = results.get_nowait()
        except queue.Empty:
            return
        _handle(kind, k, body, pending, ended, cpu, on_verdict)
