"""One large offline batch judged on every CPU: shares judged at once in this process and in forked children.

The offline judges are pure CPU work, so a batch of thousands of items is cut into `workers` shares and each share
is judged in its own process: this one, and children forked for the call, which inherit the loaded model and the
items (nothing is pickled on the way in) and send their verdicts back through a pipe. Every item of one prompt goes
to the same share, so each prompt's facts are still worked out once; the shares are balanced by text length.
Verdicts come back in input order and are the ones a single process gives.

A child that raises makes the call raise the same error. A child that dies without answering (killed, out of
memory) has its share judged again in this process, with a warning on stderr. No children are forked from a
process that is itself a worker (a `--processes` worker, a daemon), nor where fork is unsafe or missing (macOS,
Windows), nor for a batch too small to pay the fork. `MEDJUDGE_OFFLINE_WORKERS` caps the processes (the Ray
engine's actors set it to 1: Ray already runs one actor per CPU).
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import pickle
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any, cast

from judge.core.exceptions import ConfigError
from judge.core.heap import frozen_heap
from judge.core.models import Item, Verdict

WORKERS_ENV = "MEDJUDGE_OFFLINE_WORKERS"
"""Environment variable capping the processes an offline batch is judged in (default: every available CPU)."""

MIN_SHARE = 256
"""Fewest items worth a forked child (a fork and its pipe cost about 10 ms, some 20 offline verdicts)."""
_ITEM_COST = 200
"""Cost of an item beyond its response's length, in characters, when balancing the shares."""
_CALLER_HANDICAP = 0.02
"""Share of the whole batch's cost the calling process starts with: it also forks the children and reads their
verdicts back, so its own share is that much lighter."""


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def default_workers() -> int:
    """Processes for one offline batch: `MEDJUDGE_OFFLINE_WORKERS` when set, else every available CPU."""
    raw = os.environ.get(WORKERS_ENV, "").strip()
    if not raw:
        return available_cpus()
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{WORKERS_ENV}={raw!r}: expected a whole number of processes, at least 1")
    return int(raw)


def can_fork() -> bool:
    """Whether this process may fork judging children: fork available and safe, and not itself a worker."""
    if sys.platform in ("darwin", "win32") or "fork" not in mp.get_all_start_methods():
        return False
    return not mp.current_process().daemon and mp.parent_process() is None


def processes_for(workers: int | None) -> int:
    """The processes a large batch is judged in, for a judge set to `workers` (None: the default)."""
    return (default_workers() if workers is None else workers) if can_fork() else 1


def shares_for(n_items: int, processes: int) -> int:
    """How many processes a batch of `n_items` is judged in, for a judge that may use `processes`: at most one per
    `MIN_SHARE` items, and 1 when that leaves fewer than two."""
    n = min(processes, n_items // MIN_SHARE)
    return n if n >= 2 else 1


def share_plan(items: Sequence[Item], workers: int) -> list[list[int]]:
    """Item positions cut into at most `workers` shares: all items of one question in the same share, shares
    balanced by text length (greedy, largest prompt group first; the first share, the calling process's, starts
    `_CALLER_HANDICAP` heavier); each share in input order."""
    groups: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        groups.setdefault(it.question, []).append(i)
    cost = {q: len(q) + sum(len(items[i].response) + _ITEM_COST for i in idx) for q, idx in groups.items()}
    shares: list[list[int]] = [[] for _ in range(max(1, min(workers, len(groups))))]
    loads = [0.0] * len(shares)
    loads[0] = _CALLER_HANDICAP * sum(cost.values()) if len(shares) > 1 else 0.0
    for q in sorted(groups, key=lambda q: (-cost[q], groups[q][0])):
        k = loads.index(min(loads))
        shares[k].extend(groups[q])
        loads[k] += cost[q]
    return [sorted(s) for s in shares if s]


def _child(judge_batch: Callable[[list[Item]], list[Verdict]], share: list[Item], conn: Any) -> None:
    gc.disable()  # a child lives for one share: the garbage it leaves goes with it
    try:
        payload = pickle.dumps(("ok", judge_batch(share)), protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException as e:  # noqa: BLE001 - handed to the parent, which raises it
        try:
            payload = pickle.dumps(("error", e), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001 - an exception that does not pickle travels as its text
            payload = pickle.dumps(("error", RuntimeError(f"{type(e).__name__}: {e}")))
    conn.send_bytes(payload)
    conn.close()


def judge_on_cpus(judge_batch: Callable[[list[Item]], list[Verdict]], items: Sequence[Item],
                  workers: int | None = None) -> list[Verdict]:
    """`judge_batch(items)`, with the items cut into up to `workers` shares (default: `default_workers()`) judged
    at once (see module doc)."""
    items = list(items)
    workers = default_workers() if workers is None else workers
    n_shares = shares_for(len(items), workers)
    plan = share_plan(items, n_shares) if n_shares >= 2 and can_fork() else [list(range(len(items)))]
    # the loaded model and the items stay out of the collector's scans (a full one over them costs ~50 ms), and
    # forked children inherit the heap frozen: their collections never scan it, so never copy its pages
    with frozen_heap():
        return judge_batch(items) if len(plan) < 2 else _judge_shares(judge_batch, items, plan)


def _judge_shares(judge_batch: Callable[[list[Item]], list[Verdict]], items: list[Item],
                  plan: list[list[int]]) -> list[Verdict]:
    ctx = mp.get_context("fork")
    children = []
    with warnings.catch_warnings():  # Python >= 3.12 warns of fork beside threads; children only judge and write
        warnings.simplefilter("ignore", DeprecationWarning)
        for positions in plan[1:]:
            receive, send = ctx.Pipe(duplex=False)
            child = ctx.Process(target=_child, args=(judge_batch, [items[i] for i in positions], send),
                                daemon=True, name="medjudge-offline-share")
            child.start()
            send.close()
            children.append((positions, child, receive))
    out: list[Verdict | None] = [None] * len(items)
    try:
        for i, v in zip(plan[0], judge_batch([items[i] for i in plan[0]]), strict=True):
            out[i] = v
        for positions, child, receive in children:
            for i, v in zip(positions, _collect(judge_batch, [items[i] for i in positions], child, receive),
                            strict=True):
                out[i] = v
    finally:
        for _, child, receive in children:
            receive.close()
            if child.is_alive():
                child.terminate()
            child.join()
    missing = out.count(None)
    if missing:  # every share answers for each of its items, or raises: this is a bug, never a lost item
        raise RuntimeError(f"{missing} of {len(items)} items got no verdict from their share")
    return cast("list[Verdict]", out)


def _collect(judge_batch: Callable[[list[Item]], list[Verdict]], share: list[Item], child: Any,
             receive: Any) -> list[Verdict]:
    try:
        kind, body = pickle.loads(receive.recv_bytes())
    except (EOFError, OSError):
        child.join()
        print(f"medjudge: an offline judging process exited with code {child.exitcode} before answering; its "
              f"{len(share)} items are judged again in this process", file=sys.stderr)
        return judge_batch(share)
    if kind == "error":
        raise body
    return list(body)
