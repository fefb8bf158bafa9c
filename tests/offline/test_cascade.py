"""The cascade: rules first, baseline at confidence >= tau, the LLM judge (a real HTTP stub) or a flag below tau."""

from __future__ import annotations

import asyncio
import math
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from judge.core.exceptions import ConfigError
from judge.core.models import Item
from judge.core.settings import JudgeSettings
from judge.gold.gold_set import load_gold
from judge.llm.judge import LLMJudge
from judge.offline.baseline import BaselineConfig, BaselineJudge, train_baseline
from judge.offline.cascade import BELOW_TAU, CascadeJudge, evaluate_cascade
from judge.offline.factory import make_cascade_judge, make_offline_judge
from judge.offline.rules_judge import RulesJudge
from judge.offline.screen import screen_all
from judge.offline.tau import choose_tau, choose_tau_from_probs, select_tau, tau_curve
from judge.run.factory import make_judge
from judge.testing import chat_text, verdict_json
from tests.conftest import FIXTURES, fast_settings
from tests.conftest import GOLD as PROJECT_GOLD

OFF = FIXTURES / "offline"
GOLD, SPLITS = OFF / "gold_small.jsonl", OFF / "splits_small.json"
_FENCED = re.compile(r"<<<RESPONSE>>>\n(.*?)\n<<<END RESPONSE>>>", re.DOTALL)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("models")
    train_baseline(GOLD, SPLITS, out_dir=out, grid=(BaselineConfig(C=1.0),))
    return out


@pytest.fixture
def baseline(model_dir: Path) -> BaselineJudge:
    return BaselineJudge(where=model_dir)


def llm(server) -> LLMJudge:  # type: ignore[no-untyped-def]
    return LLMJudge(JudgeSettings(model="openai/stub", api_base=server.base_url, **fast_settings()))


def judged_responses(server) -> list[str]:  # type: ignore[no-untyped-def]
    """The RESPONSE texts of the items that reached the LLM server."""
    return [m.group(1) for body in server.requests for m in [_FENCED.search(chat_text(body))] if m]


def test_rules_decide_first(stub_server, baseline):
    server = stub_server(lambda body: verdict_json("omission"))
    cascade = CascadeJudge(RulesJudge(), baseline, llm=llm(server), tau=1.0)
    v = asyncio.run(cascade.ajudge(Item(item_id="e", question="请回答。", response="")))
    assert v.status == "ok" and v.category == "unanswered" and v.source == "rules"
    assert v.judge_id == cascade.judge_id and server.count == 0


def test_routing_by_tau_reaches_the_llm_only_below_tau(stub_server, baseline):
    items = [g.to_item() for g in load_gold(GOLD)]
    rules = RulesJudge()
    open_items = [it for it in items if rules.judge(it).status != "ok"]
    conf = {v.item_id: v.confidence for v in baseline.verdicts(open_items)}
    tau = sorted(conf.values())[len(conf) // 2]
    below = [it.response for it in open_items if conf[it.item_id] < tau]
    assert 0 < len(below) < len(open_items)
    server = stub_server(lambda body: verdict_json("omission", 0.8))
    cascade = CascadeJudge(rules, baseline, llm=llm(server), tau=tau)
    verdicts = {it.item_id: asyncio.run(cascade.ajudge(it)) for it in items}
    assert sorted(judged_responses(server)) == sorted(below)
    for it in items:
        v = verdicts[it.item_id]
        if rules.judge(it).status == "ok":
            assert v.source == "rules"
        elif conf[it.item_id] >= tau:
            assert v.source == "baseline" and v.confidence == pytest.approx(conf[it.item_id])
        else:
            assert v.source == "llm" and v.category == "omission"
        assert v.judge_id == cascade.judge_id and BELOW_TAU not in v.flags
    assert cascade.model == "cascade:openai/stub"


def test_offline_cascade_labels_below_tau_with_a_flag(baseline):
    items = [g.to_item() for g in load_gold(GOLD)]
    cascade = CascadeJudge(RulesJudge(), baseline, tau=1.0)
    assert cascade.model == "offline"
    for it in items:
        v = asyncio.run(cascade.ajudge(it))
        assert v.status == "ok" and v.category is not None
        if v.source == "baseline":
            assert BELOW_TAU in v.flags and v.category == asyncio.run(baseline.ajudge(it)).category
        else:
            assert v.source == "rules" and BELOW_TAU not in v.flags


def test_default_tau_is_the_one_chosen_on_dev(baseline):
    cascade = CascadeJudge(RulesJudge(), baseline)
    assert cascade.tau == baseline.tau == baseline.baseline.meta.tau
    assert CascadeJudge(RulesJudge(), baseline, tau=0.3).judge_id != cascade.judge_id
    with pytest.raises(ValueError):
        CascadeJudge(RulesJudge(), baseline, tau=1.5)


def test_tau_curve_and_selection_on_a_hand_made_case():
    gold = ["omission", "omission", "hallucination", "hallucination"]
    base = ["omission", "hallucination", "hallucination", "omission"]
    conf = [0.9, 0.3, 0.8, 0.4]
    curve = {p.tau: p for p in tau_curve(gold, [None] * 4, base, conf)}
    assert sorted(curve) == [0.0, 0.3, 0.4, 0.8, 0.9]
    assert curve[0.8].coverage == 0.5 and curve[0.8].kappa_decided == pytest.approx(1.0)
    assert curve[0.4].accuracy_decided == pytest.approx(2 / 3)
    assert curve[0.0].kappa_decided == pytest.approx(0.0)  # 2 of 4 right with balanced marginals
    assert curve[0.9].kappa_decided is None  # a single item: kappa undefined
    assert select_tau(list(curve.values()), min_coverage=0.5).tau == 0.8
    assert select_tau(list(curve.values()), min_coverage=0.75).tau == 0.4


def test_rule_hits_count_as_decided_at_every_tau():
    gold = ["unanswered", "omission", "hallucination"]
    points = tau_curve(gold, ["unanswered", None, None], ["omission", "omission", "omission"], [0.2, 0.6, 0.5])
    top = max(points, key=lambda p: p.tau)
    assert top.tau == 0.6 and top.n_decided == 2 and top.accuracy_decided == 1.0


def test_llm_labels_make_tau_maximise_cascade_kappa():
    gold = ["omission", "omission", "hallucination", "hallucination"]
    base = ["omission", "hallucination", "hallucination", "omission"]
    conf = [0.9, 0.3, 0.8, 0.4]
    # the baseline is wrong on items 1 and 3 (its two least confident), the LLM right on them and wrong on item 2:
    # only tau = 0.8 defers exactly items 1 and 3, so every label is right there
    llm_pred = {0: "omission", 1: "omission", 2: "omission", 3: "hallucination"}
    curve = tau_curve(gold, [None] * 4, base, conf, llm_pred)
    choice = select_tau(curve, min_coverage=0.75, use_llm=True)
    assert choice.tau == 0.8 and choice.point.kappa_cascade == pytest.approx(1.0)
    assert choice.rule == "max_kappa_cascade"
    assert select_tau(curve, min_coverage=0.75).tau == 0.4  # without LLM labels the coverage floor decides


def test_choose_tau_on_gold_items(baseline):
    dev = load_gold(GOLD)
    choice = choose_tau(dev, RulesJudge(), baseline, min_coverage=0.6)
    assert choice.point.coverage >= 0.6 and 0.0 <= choice.tau <= 1.0
    assert all(p.coverage >= q.coverage for p, q in zip(choice.curve, choice.curve[1:], strict=False))


def test_choose_tau_from_precomputed_probabilities_matches_choose_tau(baseline):
    # given the fitted model's own probabilities, the precomputed-probability path makes the same choice
    dev = load_gold(GOLD)
    items = [g.to_item() for g in dev]
    rule_pred = [v.category if v.status == "ok" else None for v in (RulesJudge().judge(it) for it in items)]
    probs = baseline.baseline.predict_proba(screen_all(items)[0])
    got = choose_tau_from_probs([g.consensus or "" for g in dev], rule_pred, probs, baseline.baseline.classes,
                                min_coverage=0.6)
    assert got == choose_tau(dev, RulesJudge(), baseline, min_coverage=0.6)


def test_offline_cascade_exposes_the_cross_validated_curve(baseline):
    curve = baseline.baseline.meta.oof_abstention["offline"]
    assert CascadeJudge(RulesJudge(), baseline).cv_abstention() == curve
    assert CascadeJudge(RulesJudge(), baseline, tau=0.9).cv_abstention() == curve  # every item labelled whatever tau
    assert CascadeJudge(RulesJudge(enabled=["unanswered"]), baseline).cv_abstention() is None
    assert baseline.cv_abstention() == baseline.baseline.meta.oof_abstention["baseline"]


def test_evaluate_offline_cascade(baseline):
    gold = load_gold(GOLD)
    cascade = CascadeJudge(RulesJudge(), baseline, tau=0.5)
    rep = evaluate_cascade(cascade, gold, n_boot=50)
    assert rep.n == len(gold) and sum(rep.by_stage.values()) == len(gold)
    decided = rep.by_stage.get("rules", 0) + rep.by_stage.get("baseline", 0)
    assert rep.coverage == pytest.approx(decided / len(gold)) and rep.llm_calls_saved == rep.coverage
    assert rep.overall.n == len(gold) and rep.decided.n == decided
    assert "llm" not in rep.by_stage


def test_evaluate_cascade_with_llm_counts_the_calls(stub_server, baseline):
    gold = load_gold(GOLD)
    server = stub_server(lambda body: verdict_json("hallucination", 0.7))
    cascade = CascadeJudge(RulesJudge(), baseline, llm=llm(server), tau=1.0)
    rep = evaluate_cascade(cascade, gold, n_boot=50, concurrency=4)
    assert server.count == rep.by_stage["llm"] == len(gold) - rep.by_stage["rules"]
    assert rep.llm_calls_saved == pytest.approx(1 - server.count / len(gold))
    assert not math.isnan(rep.overall.accuracy or math.nan)


def test_make_offline_judges(model_dir):
    assert isinstance(make_offline_judge("rules"), RulesJudge)
    offline = make_offline_judge("offline", baseline=model_dir)
    assert isinstance(offline, CascadeJudge) and offline.llm is None and offline.model == "offline"
    with pytest.raises(ConfigError):
        make_offline_judge("something")


def test_factory_builds_a_cascade_with_an_llm(stub_server):
    server = stub_server(lambda body: verdict_json("omission"))
    judge = make_judge("cascade:openai/stub", api_base=server.base_url)
    assert isinstance(judge, CascadeJudge) and isinstance(judge.llm, LLMJudge)
    assert judge.model == "cascade:openai/stub" and judge.tau == judge.baseline.tau
    assert make_cascade_judge(judge.llm, tau=0.2).tau == 0.2
    with pytest.raises(ConfigError):
        make_judge("cascade:offline")


def test_cli_label_offline_writes_one_verdict_per_item(tmp_path):

    from judge.api import run_sql
    from judge.cli.app import app

    db = tmp_path / "v.duckdb"
    src = FIXTURES / "items_small.jsonl"
    n_items = len([ln for ln in src.read_text(encoding="utf-8").splitlines() if ln.strip()])
    runner = CliRunner()
    for _ in range(2):  # the second run resumes and must not add rows
        result = runner.invoke(app, ["label", str(src), "--db", str(db), "--model", "offline", "--no-progress"])
        assert result.exit_code == 0, result.output
    _, rows = run_sql(db, "SELECT item_id, count(*), min(status), min(source) FROM verdicts GROUP BY item_id")
    assert len(rows) == n_items
    assert all(n == 1 and status == "ok" and source in ("rules", "baseline") for _, n, status, source in rows)


def test_offline_judges_in_batches_give_the_same_verdicts_as_one_by_one():
    from judge.core.protocol import batch_judge_of
    from judge.gold.gold_set import load_gold
    from judge.offline.factory import make_offline_judge

    items = [g.to_item() for g in load_gold(PROJECT_GOLD)]

    async def one_by_one(judge):  # type: ignore[no-untyped-def]
        return [await judge.ajudge(it) for it in items]

    for name in ("offline", "rules", "baseline"):
        judge = make_offline_judge(name)
        assert batch_judge_of(judge) is judge
        single, batch = asyncio.run(one_by_one(judge)), judge.judge_batch(items)
        strip = {"latency_ms"}
        a = [v.model_dump(exclude=strip) for v in single]
        b = [v.model_dump(exclude=strip) for v in batch]
        for va, vb in zip(a, b, strict=True):
            assert va.keys() == vb.keys()
            assert {k: va[k] for k in va if k != "confidence"} == {k: vb[k] for k in vb if k != "confidence"}
            assert va["confidence"] == pytest.approx(vb["confidence"], abs=1e-9)
    assert {v.status for v in batch} == {"ok"}


def test_a_cascade_with_an_llm_stage_is_not_batched():
    from judge.core.protocol import batch_judge_of
    from judge.offline.factory import make_cascade_judge

    class Never:
        judge_id, model = "never", "never"

        def identity(self):  # type: ignore[no-untyped-def]
            return {}

        async def ajudge(self, item):  # type: ignore[no-untyped-def]
            raise AssertionError("not called")

    cascade = make_cascade_judge(Never())
    assert batch_judge_of(cascade) is None
    with pytest.raises(TypeError, match="one by one"):
        cascade.judge_batch([])
