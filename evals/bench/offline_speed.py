"""Offline judging speed: the deterministic rules alone, the rules judge, and the offline cascade judge."""

from __future__ import annotations

import asyncio
import json
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from judge.core.models import Item

MEDBENCH = Path(__file__).resolve().parents[3] / "shared" / "data" / "medbench_public_sample"


@dataclass
class OfflineRow:
    """One offline judge's speed over the same items."""

    judge: str
    n: int
    wall_s: float
    cpu_s: float
    """CPU seconds of this process and of the child processes it forked and waited for."""
    labelled: int

    @property
    def per_s(self) -> float:
        """Verdicts per second."""
        return self.n / self.wall_s if self.wall_s else 0.0


def real_items(limit: int, root: Path = MEDBENCH) -> list[Item]:
    """Up to `limit` responses of the MedBench public sample (empty when it is absent)."""
    out: list[Item] = []
    for path in sorted(root.glob("outputs/*/*.jsonl")):
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines()):
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(rec, dict) or not isinstance(rec.get("answer"), str):
                continue
            opts = rec.get("options") if isinstance(rec.get("options"), list) else None
            out.append(Item(item_id=f"{path.parent.name}/{path.stem}/{n}", task=path.stem, model=path.parent.name,
                            question=str(rec.get("question", "")), response=rec["answer"],
                            options=[str(o) for o in opts] if opts else None))
            if len(out) >= limit:
                return out
    return out


def forget_memos() -> None:
    """Empty the memos of the rules and features (facts of each prompt and response text, the injection scans), so
    every timed row starts as a fresh process would."""
    try:
        from judge.offline.features import clear_memos
    except ImportError:
        return
    clear_memos()


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _time(name: str, items: list[Item], fn) -> OfflineRow:  # type: ignore[no-untyped-def]
    forget_memos()
    c0, k0, t0 = time.process_time(), _children_cpu(), time.perf_counter()
    labelled = fn()
    wall = time.perf_counter() - t0
    return OfflineRow(name, len(items), wall, time.process_time() - c0 + _children_cpu() - k0, labelled)


def bench_offline(items: list[Item]) -> tuple[list[OfflineRow], str]:
    """Time run_rules, the rules judge and the offline judge; the note says which judges were available."""
    from judge.offline.rules import run_rules

    rows = [_time("run_rules (rules alone)", items, lambda: sum(1 for it in items if run_rules(it) is not None))]
    try:
        from judge.offline.factory import make_offline_judge
    except ImportError:
        return rows, "judge.offline.factory is not available: only run_rules was timed"

    async def judge_all(judge) -> int:  # type: ignore[no-untyped-def]
        vs = [await judge.ajudge(it) for it in items]
        return sum(1 for v in vs if v.status == "ok")

    def label_all(judge, workdir: str) -> int:  # type: ignore[no-untyped-def]
        from judge.run.runner import label

        return label(items, store=f"{workdir}/offline.duckdb", judge=judge, progress=False).status_counts.get("ok", 0)

    from judge.offline.workers import processes_for

    cpus = processes_for(None)
    for model in ("rules", "offline"):
        judge = make_offline_judge(model)
        asyncio.run(judge.ajudge(items[0]))  # load the baseline model outside the timing
        rows.append(_time(f'make_offline_judge("{model}") item by item', items,
                          lambda j=judge: asyncio.run(judge_all(j))))
        for workers in dict.fromkeys((1, cpus)):
            shared = make_offline_judge(model, workers=workers)
            rows.append(_time(f'make_offline_judge("{model}", workers={workers}).judge_batch', items,
                              lambda j=shared: sum(1 for v in j.judge_batch(items) if v.status == "ok")))
    for workers in dict.fromkeys((1, cpus)):
        with tempfile.TemporaryDirectory() as tmp:
            shared = make_offline_judge("offline", workers=workers)
            rows.append(_time(f'label(..., judge=make_offline_judge("offline", workers={workers})) into DuckDB',
                              items, lambda j=shared, d=tmp: label_all(j, d)))
    return rows, ("labelled = items that got a category (rules: a rule fired; offline: every item); `workers` = "
                  "processes a batch is shared out over (the default is every available CPU, here "
                  f"{cpus}); CPU ms/verdict counts the forked processes too; `label` uses judge_batch in chunks of "
                  "2,048 items per process and includes the DuckDB writes; every row starts with empty per-prompt "
                  "memos, as a fresh process does")
