"""The Ray engine against the local engine on this machine: same stub server, same items, same judge.

Each engine labels two run sizes into fresh DuckDB files; a straight line through the two wall times splits each
engine's cost into a fixed part (start-up: for Ray, the actors' start and the judge rebuilt in each; the merge)
and a part per verdict. Ray's overhead per verdict is the difference of the per-verdict parts, and its fixed
overhead the difference of the fixed parts. Ray itself is started once, before the timings (its start is
reported on its own), as a user's long run pays it once.
"""

from __future__ import annotations

import logging
import resource
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.bench.stub import category_for
from judge.core.models import Item


@dataclass
class EngineRun:
    """One timed labelling run."""

    engine: str
    """Row name: engine, workers and calls in flight."""
    n: int
    """Items labelled."""
    wall_s: float
    """Wall time of the whole `label` call."""
    driver_cpu_s: float
    """CPU of this process (the driver, or the whole local run)."""
    worker_cpu_s: float
    """CPU the Ray actors report for their blocks (0 for the local engine)."""
    correct: int
    """Verdicts whose category is the one the stub was scripted to give."""

    @property
    def per_s(self) -> float:
        """Verdicts per second of wall time."""
        return self.n / self.wall_s if self.wall_s else 0.0

    @property
    def cpu_ms(self) -> float:
        """Driver and actor CPU milliseconds per verdict."""
        return 1000 * (self.driver_cpu_s + self.worker_cpu_s) / self.n if self.n else 0.0


@dataclass
class Fit:
    """wall = fixed_s + per_verdict_ms / 1000 * n, through two run sizes."""

    engine: str
    fixed_s: float
    per_verdict_ms: float


def start_ray(cpus: int) -> tuple[Any, float, str | None]:
    """Start Ray in this process with `cpus` CPUs; returns (ray, seconds it took, its temporary folder). A Ray
    already running in this process is used as it is (0 s, no folder)."""
    import ray

    if ray.is_initialized():
        return ray, 0.0, None
    tmp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    t0 = time.perf_counter()
    ray.init(num_cpus=cpus, include_dashboard=False, _temp_dir=tmp, logging_level=logging.WARNING,
             log_to_driver=False)
    return ray, time.perf_counter() - t0, tmp


def stop_ray(ray: Any, tmp: str | None) -> None:
    """Shut down the Ray that `start_ray` started (not one it found running) and remove its folder."""
    if tmp is None:
        return
    ray.shutdown()
    shutil.rmtree(tmp, ignore_errors=True)


def _cpu() -> float:
    """CPU seconds of this process and of the child processes it waited for (an offline judge's forked shares)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def timed_label(name: str, items: list[Item], judge: Any, workdir: Path, expected: dict[str, str] | None,
                **kw: Any) -> EngineRun:
    """`judge.run.runner.label` into a fresh DuckDB file, timed; `expected` maps item ids to the right category."""
    from judge.run.runner import label
    from judge.store.store import Store

    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        db = Path(tmp) / "bench.duckdb"
        c0, t0 = _cpu(), time.perf_counter()
        summary = label(items, store=db, judge=judge, progress=False, **kw)
        wall, cpu = time.perf_counter() - t0, _cpu() - c0
        with Store.readonly(db) as st:
            _, rows = st.query("SELECT item_id, category FROM verdicts WHERE status = 'ok'")
    correct = (sum(1 for item_id, cat in rows if expected.get(item_id) == cat) if expected is not None
               else len(rows))
    worker = summary.worker_cpu_s if summary.engine == "ray" else 0.0
    return EngineRun(name, len(items), wall, cpu, worker, correct)


def fit(runs: list[EngineRun]) -> Fit:
    """The fixed and per-verdict parts of one engine's wall time, from its two run sizes."""
    a, b = sorted(runs, key=lambda r: r.n)[:2]
    per = (b.wall_s - a.wall_s) / (b.n - a.n)
    return Fit(a.engine, a.wall_s - per * a.n, 1000 * per)


def bench_llm(base_url: str, sizes: list[int], concurrency: int, workers: int, workdir: Path,
              each_at_full: bool = True) -> list[EngineRun]:
    """The LLM judge (default transport) over `sizes` items: local at `concurrency` in flight; Ray with `workers`
    actors at the same total in flight, and (`each_at_full`) at `concurrency` each."""
    from evals.bench.workload import make_items
    from judge.core.settings import JudgeSettings
    from judge.llm.judge import LLMJudge

    judge = LLMJudge(JudgeSettings(model="openai/stub", api_base=base_url, timeout_s=60))
    per_worker = max(1, concurrency // workers)
    runs = []
    warm = make_items(16, start=10_000_000)
    timed_label("warm-up", warm, judge, workdir, None, concurrency=8)  # imports and first-call set-up, untimed
    timed_label("warm-up", warm, judge, workdir, None, engine="ray", workers=workers)  # Ray's first-job set-up
    for n in sizes:
        items = make_items(n)
        want = {it.item_id: category_for(it.response) for it in items}
        runs.append(timed_label(f"local, {concurrency} in flight", items, judge, workdir, want,
                                concurrency=concurrency))
        runs.append(timed_label(f"ray, {workers} workers x {per_worker} in flight", items, judge, workdir, want,
                                engine="ray", workers=workers, concurrency=per_worker))
        if each_at_full:
            runs.append(timed_label(f"ray, {workers} workers x {concurrency} in flight", items, judge, workdir,
                                    want, engine="ray", workers=workers, concurrency=concurrency))
    return runs


def bench_offline(items: list[Item], sizes: list[int], workers: int, workdir: Path) -> list[EngineRun]:
    """The offline judge (rules + baseline) over the first `sizes` items: local (one process, and a batch shared
    out over every CPU) and Ray."""
    from judge.offline.factory import make_offline_judge

    judge, one = make_offline_judge("offline"), make_offline_judge("offline", workers=1)
    timed_label("warm-up", items[:64], judge, workdir, None)
    timed_label("warm-up", items[:64], judge, workdir, None, engine="ray", workers=workers)
    from evals.bench.offline_speed import forget_memos

    runs = []
    for n in sizes:
        part = items[:n]
        for name, chosen, kw in (("local, 1 process", one, {}),
                                 (f"local, {judge.processes} processes (every CPU)", judge, {}),
                                 (f"ray, {workers} workers", judge, {"engine": "ray", "workers": workers})):
            forget_memos()  # each run starts as a fresh process does (Ray's actors always do)
            runs.append(timed_label(name, part, chosen, workdir, None, **kw))
    return runs
