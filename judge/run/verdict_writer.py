"""Verdicts buffered and written to the store in batches, in a worker thread while the event loop keeps judging.

A DuckDB commit takes milliseconds to tens of milliseconds; run on the event loop it would stall every request in
flight. `VerdictWriter.add` only buffers. When the buffer holds `batch_size` verdicts or `flush_s` has passed,
the batch goes to one writer thread (one write at a time, in order); DuckDB releases the GIL while it writes.
`aclose()` waits for the write in progress and writes the rest. A failed write is raised by the next `add` or by
`aclose()`, never dropped. Without a running event loop (`threaded=False`) every flush is written inline.
"""

from __future__ import annotations

import asyncio
import time

from judge.core.models import Verdict
from judge.store import Store


class VerdictWriter:
    """Buffer verdicts and write them in transactional batches (see the module docstring)."""

    def __init__(self, store: Store, run_id: str, batch_size: int = 64, flush_s: float = 1.0,
                 threaded: bool = True) -> None:
        self.store, self.run_id, self.batch_size, self.flush_s = store, run_id, batch_size, flush_s
        self.threaded = threaded
        self.buffer: list[Verdict] = []
        self.written = 0
        self._last = time.monotonic()
        self._task: asyncio.Future[None] | None = None

    def _write(self, batch: list[Verdict]) -> None:
        self.store.write_verdicts(batch, self.run_id)
        self.written += len(batch)

    def _check(self) -> bool:
        """True when no write is in progress; raises the error of a finished write that failed."""
        if self._task is None:
            return True
        if not self._task.done():
            return False
        task, self._task = self._task, None
        task.result()
        return True

    def add(self, verdict: Verdict) -> None:
        """Buffer one verdict; start a write when the batch is full or due."""
        self.buffer.append(verdict)
        if len(self.buffer) < self.batch_size and time.monotonic() - self._last < self.flush_s:
            return
        if not self._check():
            return  # a write is in progress: this batch goes next
        batch, self.buffer, self._last = self.buffer, [], time.monotonic()
        if self.threaded:
            self._task = asyncio.ensure_future(asyncio.to_thread(self._write, batch))
        else:
            self._write(batch)

    async def aclose(self) -> None:
        """Wait for the write in progress, then write what is buffered."""
        if self._task is not None:
            task, self._task = self._task, None
            await task
        self.close()

    def close(self) -> None:
        """Write what is buffered, inline (after `aclose`, or when not threaded)."""
        if self.buffer:
            batch, self.buffer = self.buffer, []
            self._write(batch)
        self._last = time.monotonic()
