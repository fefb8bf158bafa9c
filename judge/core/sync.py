"""Run a coroutine to completion from synchronous code, on one background event loop per process.

The synchronous API (`LLMJudge.judge`, the recall judge) wraps the async call path. Every call runs on the
same loop, so connection pools and clients bound to a loop (aiohttp sessions, litellm's async clients) are
reused across calls instead of being rebuilt per call, and it works whether or not the caller is itself
inside a running event loop (a notebook, say). The loop lives in a daemon thread; at exit its async
generators (the HTTP sessions) are closed.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_state: dict[str, Any] = {}
_closers: list[Callable[[], Coroutine[Any, Any, Any]]] = []


def on_shutdown(closer: Callable[[], Coroutine[Any, Any, Any]]) -> None:
    """Run `closer()` on the background loop before it stops at exit (to close clients bound to that loop)."""
    if closer not in _closers:
        _closers.append(closer)


def _loop() -> asyncio.AbstractEventLoop:
    with _lock:
        loop = _state.get("loop")
        if loop is not None and _state.get("pid") == os.getpid() and not loop.is_closed():
            return loop
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="medjudge-sync-loop", daemon=True)
        thread.start()
        if not _state:
            atexit.register(_shutdown)
        _state.update(loop=loop, thread=thread, pid=os.getpid())
        return loop


def is_background_loop(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether `loop` is this process's background loop (it outlives the calls made on it)."""
    return _state.get("loop") is loop and _state.get("pid") == os.getpid()


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """The result of `coro`, run on the background loop (its exception is raised here)."""
    return asyncio.run_coroutine_threadsafe(coro, _loop()).result()


async def _drain(loop: asyncio.AbstractEventLoop) -> None:
    """Run the registered closers, close the loop's async generators (HTTP sessions), let their tasks finish."""
    for closer in _closers:
        try:
            await closer()
        except Exception:  # noqa: BLE001 - best effort at interpreter exit
            pass
    await loop.shutdown_asyncgens()
    for _ in range(3):
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if not pending:
            return
        await asyncio.wait(pending, timeout=2)


def _shutdown() -> None:
    loop, thread = _state.get("loop"), _state.get("thread")
    if loop is None or loop.is_closed() or _state.get("pid") != os.getpid():
        return
    try:
        asyncio.run_coroutine_threadsafe(_drain(loop), loop).result(timeout=5)
    except Exception:  # noqa: BLE001 - best effort at interpreter exit
        pass
    loop.call_soon_threadsafe(loop.stop)
    if thread is not None:
        thread.join(timeout=5)
    if not loop.is_running():
        loop.close()
