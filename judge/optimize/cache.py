"""Where DSPy caches LM responses during optimization, and switching that cache on or off for one run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dspy

CACHE_ENV = "MEDJUDGE_DSPY_CACHE"
"""Environment variable naming the DSPy cache directory."""


def default_cache_dir() -> Path:
    """$MEDJUDGE_DSPY_CACHE, else $XDG_CACHE_HOME/medjudge/dspy, else ~/.cache/medjudge/dspy."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base).expanduser() if base else Path.home() / ".cache") / "medjudge" / "dspy"


@contextmanager
def dspy_cache(cache_dir: str | Path | None = None, *, enabled: bool = True) -> Iterator[Path | None]:
    """Point DSPy's response cache at `cache_dir` (default `default_cache_dir()`), or disable it, for the block.

    DSPy keeps one process-wide cache object; the previous one is put back on exit. Yields the directory in use,
    or None when caching is off.
    """
    previous = vars(dspy).get("cache")
    if enabled:
        path = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
        path.mkdir(parents=True, exist_ok=True)
        dspy.configure_cache(enable_disk_cache=True, enable_memory_cache=True, disk_cache_dir=str(path))
    else:
        path = None
        dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    try:
        yield path
    finally:
        if previous is None:
            vars(dspy).pop("cache", None)
        else:
            dspy.cache = previous
