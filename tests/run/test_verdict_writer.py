"""VerdictWriter: batches written to a real DuckDB file in a worker thread, in order, nothing lost or doubled."""

from __future__ import annotations

import asyncio
import threading

import pytest

from judge.core.models import Verdict
from judge.run.verdict_writer import VerdictWriter
from judge.store.store import Store
from tests.conftest import db_rows


class RecordingStore(Store):
    """A real store that notes which thread wrote each batch, and can be told to fail one write."""

    def __init__(self, path, fail_on: int | None = None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(path)
        self.writes: list[tuple[int, int]] = []
        self.fail_on = fail_on

    def write_verdicts(self, verdicts, run_id=None) -> None:  # type: ignore[no-untyped-def]
        if self.fail_on is not None and len(self.writes) + 1 == self.fail_on:
            raise OSError("disk full")
        self.writes.append((threading.get_ident(), len(verdicts)))
        super().write_verdicts(verdicts, run_id)


def verdicts(n: int, judge_id: str = "j1") -> list[Verdict]:
    return [Verdict(item_id=f"i{k:04d}", judge_id=judge_id, status="ok", category="omission", confidence=0.5)
            for k in range(n)]


async def feed(writer: VerdictWriter, vs: list[Verdict]) -> None:
    for v in vs:
        writer.add(v)
        await asyncio.sleep(0)  # let a finished write be noticed, as concurrent judging does
    await writer.aclose()


def test_threaded_batches_are_written_off_the_loop_thread_and_every_verdict_lands_once(tmp_path):
    db = tmp_path / "w.duckdb"
    st = RecordingStore(db)
    writer = VerdictWriter(st, "run-1", batch_size=64, flush_s=60.0)
    asyncio.run(feed(writer, verdicts(500)))
    st.close()
    assert writer.written == 500 and sum(n for _, n in st.writes) == 500
    main = threading.get_ident()
    assert any(t != main for t, _ in st.writes[:-1]), "full batches go to a worker thread"
    assert db_rows(db, "SELECT count(*), count(DISTINCT item_id), min(run_id) FROM verdicts") == [(500, 500, "run-1")]


def test_unthreaded_writes_inline_in_batches(tmp_path):
    st = RecordingStore(tmp_path / "w.duckdb")
    writer = VerdictWriter(st, "run-1", batch_size=100, flush_s=60.0, threaded=False)
    for v in verdicts(250):
        writer.add(v)
    assert [n for _, n in st.writes] == [100, 100]
    writer.close()
    assert [n for _, n in st.writes] == [100, 100, 50]
    assert {t for t, _ in st.writes} == {threading.get_ident()}
    st.close()


def test_a_failed_write_is_raised_not_dropped(tmp_path):
    st = RecordingStore(tmp_path / "w.duckdb", fail_on=2)
    writer = VerdictWriter(st, "run-1", batch_size=10, flush_s=60.0)
    with pytest.raises(OSError, match="disk full"):
        asyncio.run(feed(writer, verdicts(100)))
    st.close()


def test_a_due_flush_writes_a_small_batch(tmp_path):
    st = RecordingStore(tmp_path / "w.duckdb")
    writer = VerdictWriter(st, "run-1", batch_size=1000, flush_s=0.0, threaded=False)
    writer.add(verdicts(1)[0])
    assert [n for _, n in st.writes] == [1], "flush_s elapsed: written although the batch is not full"
    st.close()
