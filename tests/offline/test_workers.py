"""A large offline batch judged in forked processes: the same verdicts in the same order, errors kept, no nesting."""

from __future__ import annotations

import multiprocessing as mp
import os
from collections import Counter

import pytest

from judge.core.exceptions import ConfigError
from judge.core.models import Item, Verdict
from judge.gold.gold_set import load_gold
from judge.offline import workers
from judge.offline.factory import make_offline_judge
from judge.offline.workers import MIN_SHARE, WORKERS_ENV, judge_on_cpus, share_plan
from judge.run.runner import label
from tests.conftest import GOLD, db_rows

pytestmark = pytest.mark.skipif(not workers.can_fork(), reason="no safe fork on this platform")


@pytest.fixture(scope="module")
def gold_items() -> list[Item]:
    """The project's gold items as items to judge (several answers per prompt, every task style)."""
    items = [g.to_item() for g in load_gold(GOLD)]
    assert len(items) >= 2 * MIN_SHARE
    return items


def _comparable(v: Verdict) -> dict[str, object]:
    return v.model_dump(exclude={"latency_ms", "created_at"})


def _in_child() -> bool:
    return mp.parent_process() is not None


def _tag(items: list[Item]) -> list[Verdict]:
    return [Verdict(item_id=it.item_id, judge_id="j", model="m", status="ok", category="omission",
                    rationale=f"pid {os.getpid()}") for it in items]


def _raise_in_child(items: list[Item]) -> list[Verdict]:
    if _in_child():
        raise ValueError(f"bad share of {len(items)}")
    return _tag(items)


def _die_in_child(items: list[Item]) -> list[Verdict]:
    if _in_child():
        os._exit(9)
    return _tag(items)


def test_the_share_plan_keeps_each_prompt_whole_and_balances_the_shares(gold_items):
    plan = share_plan(gold_items, 2)
    assert len(plan) == 2
    assert sorted(i for share in plan for i in share) == list(range(len(gold_items)))
    assert all(share == sorted(share) for share in plan)
    owner = {i: k for k, share in enumerate(plan) for i in share}
    by_question: dict[str, set[int]] = {}
    for i, it in enumerate(gold_items):
        by_question.setdefault(it.question, set()).add(owner[i])
    assert all(len(shares) == 1 for shares in by_question.values())
    sizes = [sum(len(gold_items[i].question) + len(gold_items[i].response) for i in share) for share in plan]
    assert min(sizes) / max(sizes) > 0.8


def test_one_prompt_cannot_be_split(gold_items):
    same = [it.model_copy(update={"question": "同一个问题", "item_id": f"s{i}"}) for i, it in enumerate(gold_items)]
    assert share_plan(same, 2) == [list(range(len(same)))]


@pytest.mark.parametrize("model", ["offline", "rules", "baseline"])
def test_two_processes_give_the_verdicts_of_one_in_input_order(gold_items, model):
    one = make_offline_judge(model, workers=1).judge_batch(gold_items)
    judge = make_offline_judge(model, workers=2)
    assert judge.processes == 2
    two = judge.judge_batch(gold_items)
    assert [v.item_id for v in two] == [it.item_id for it in gold_items]
    assert [_comparable(v) for v in two] == [_comparable(v) for v in one]


def test_the_shares_really_run_in_two_processes(gold_items):
    verdicts = judge_on_cpus(_tag, gold_items, 2)
    pids = Counter(v.rationale for v in verdicts)
    assert len(pids) == 2 and f"pid {os.getpid()}" in pids
    assert min(pids.values()) >= len(gold_items) // 4


def test_a_small_batch_stays_in_this_process(gold_items):
    verdicts = judge_on_cpus(_tag, gold_items[: 2 * MIN_SHARE - 1], 2)
    assert {v.rationale for v in verdicts} == {f"pid {os.getpid()}"}


def test_shares_for_counts_one_process_per_min_share_items():
    assert [workers.shares_for(n, 2) for n in (0, 2 * MIN_SHARE - 1, 2 * MIN_SHARE, 10_000)] == [1, 1, 2, 2]
    assert workers.shares_for(3 * MIN_SHARE, 4) == 3 and workers.shares_for(10_000, 1) == 1


def test_a_small_run_reports_the_one_process_it_used(tmp_path, gold_items):
    small = label(gold_items[:100], store=tmp_path / "s.duckdb", judge=make_offline_judge("offline", workers=2),
                  progress=False)
    assert small.workers == 1 and small.status_counts == {"ok": 100}


def test_an_error_in_a_child_is_raised_here(gold_items):
    with pytest.raises(ValueError, match="bad share of"):
        judge_on_cpus(_raise_in_child, gold_items, 2)


def test_a_child_that_dies_has_its_share_judged_here_and_says_so(gold_items, capfd):
    verdicts = judge_on_cpus(_die_in_child, gold_items, 2)
    assert [v.item_id for v in verdicts] == [it.item_id for it in gold_items]
    assert {v.rationale for v in verdicts} == {f"pid {os.getpid()}"}
    err = capfd.readouterr().err
    assert "exited with code 9 before answering" in err and "judged again in this process" in err


def _nested(conn) -> None:  # type: ignore[no-untyped-def]
    conn.send((workers.can_fork(), make_offline_judge("rules").processes))
    conn.close()


def test_a_worker_process_does_not_fork_again():
    receive, send = mp.get_context("fork").Pipe(duplex=False)
    child = mp.get_context("fork").Process(target=_nested, args=(send,))
    child.start()
    assert receive.recv() == (False, 1)
    child.join()


def test_the_environment_caps_the_processes_and_a_bad_value_is_refused(monkeypatch, gold_items):
    monkeypatch.setenv(WORKERS_ENV, "1")
    assert make_offline_judge("offline").processes == 1
    assert {v.rationale for v in judge_on_cpus(_tag, gold_items)} == {f"pid {os.getpid()}"}
    monkeypatch.setenv(WORKERS_ENV, "two")
    with pytest.raises(ConfigError, match="MEDJUDGE_OFFLINE_WORKERS='two'"):
        make_offline_judge("offline").processes  # noqa: B018 - the property reads the variable
    with pytest.raises(ConfigError, match="workers must be at least 1"):
        make_offline_judge("offline", workers=0)


def test_label_with_two_processes_stores_one_row_per_item_as_one_process_does(tmp_path, gold_items):
    one = label(gold_items, store=tmp_path / "one.duckdb", judge=make_offline_judge("offline", workers=1),
                progress=False)
    two = label(gold_items, store=tmp_path / "two.duckdb", judge=make_offline_judge("offline", workers=2),
                progress=False)
    assert one.category_counts == two.category_counts and two.status_counts == {"ok": len(gold_items)}
    sql = "SELECT item_id, category, confidence FROM verdicts ORDER BY item_id"
    assert db_rows(tmp_path / "two.duckdb", sql) == db_rows(tmp_path / "one.duckdb", sql)
    again = label(gold_items, store=tmp_path / "two.duckdb", judge=make_offline_judge("offline", workers=2),
                  progress=False)
    assert again.n_skipped == len(gold_items) and not again.status_counts


def test_label_file_processes_set_the_offline_judges_processes_without_worker_shards(tmp_path, gold_items):
    import json

    from judge.api import label_file

    path = tmp_path / "items.jsonl"
    path.write_text("".join(json.dumps(it.model_dump(include={"item_id", "question", "response"}),
                                       ensure_ascii=False) + "\n" for it in gold_items), encoding="utf-8")
    one = label_file(path, db=tmp_path / "one.duckdb", model="offline", processes=1, progress=False)
    two = label_file(path, db=tmp_path / "two.duckdb", model="offline", min_confidence=0.5, progress=False)
    assert (one.workers, one.worker_cpu_s) == (1, 0.0)
    assert two.workers == workers.available_cpus() and two.worker_cpu_s == 0.0  # no --processes worker shards
    with pytest.raises(ValueError, match="processes must be at least 1"):
        label_file(path, db=tmp_path / "x.duckdb", model="offline", processes=0, progress=False)
    with pytest.raises(ValueError, match="processes is for the local engine"):
        label_file(path, db=tmp_path / "x.duckdb", model="offline", processes=2, engine="ray", progress=False)


def test_the_command_line_reports_the_processes(tmp_path, gold_items):
    import json

    from typer.testing import CliRunner

    from judge.cli.app import app

    path = tmp_path / "items.jsonl"
    path.write_text("".join(json.dumps(it.model_dump(include={"item_id", "question", "response"}),
                                       ensure_ascii=False) + "\n" for it in gold_items), encoding="utf-8")
    result = CliRunner().invoke(app, ["label", str(path), "--db", str(tmp_path / "c.duckdb"), "--processes", "2",
                                      "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "engine (workers)" in result.output and "local (2)" in result.output
