"""Keep the long-lived objects of a process out of the garbage collector's scans while a long job runs."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Exempt every object alive now (modules, the items, the judge, a loaded model) from the garbage collector's
    scans until the block ends: a full collection over them stalls an event loop for tens of milliseconds, and in
    a forked child it would also copy every page it touches. Left alone when the caller has already frozen objects
    of their own."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
