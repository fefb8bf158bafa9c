"""Calibration runs against the real local HTTP server, with a real DuckDB file."""

from __future__ import annotations

import json
import random

import pytest
from sklearn.metrics import cohen_kappa_score

from judge.core.settings import JudgeSettings
from judge.core.taxonomy import CATEGORY_CODES
from judge.evaluate.calibrate import calibrate, probe_orders
from judge.gold.gold_set import GoldItem, GoldLabel, save_gold
from judge.gold.splits import make_splits, save_splits
from judge.llm.judge import LLMJudge
from judge.store.store import Store
from judge.testing import chat_text, verdict_json
from tests.conftest import GOLD, fast_settings

RESPONSES = {
    "omission": "给予二甲双胍控制血糖。",
    "hallucination": "首选奥司他韦注射液每日10 g。",
    "format_mismatch": "正确答案是A，因为呼吸音消失。",
    "causal_reasoning_deficiency": "低钾导致了呕吐，所以先止吐。",
    "contextual_inconsistency": "患者为男性，考虑前列腺增生。",
    "unanswered": "建议您咨询专业医生。",
    "output_error": "患者应首先进行进行进行进行进行进行",
    "medical_language_generation_deficiency": "病人说肚子疼了好几天。",
}


def gold_items(n_per: int = 5, disagree_every: int = 0) -> list[GoldItem]:
    out = []
    k = 0
    for code, resp in RESPONSES.items():
        for _i in range(n_per):
            k += 1
            labels = [GoldLabel(annotator="dr_a", category=code, note=""), GoldLabel(annotator="dr_b", category=code,
                                                                                       note="")]
            if disagree_every and k % disagree_every == 0:
                other = "omission" if code != "omission" else "hallucination"
                labels[1] = GoldLabel(annotator="dr_b", category=other, note="")
                labels.append(GoldLabel(annotator="dr_c", category=code, note=""))
            out.append(GoldItem(item_id=f"g{k:03d}", dimension="knowledge_qa", task="Med-Exam",
                                question=f"问题{k}：请回答。", options=None, reference_answer="参考答案",
                                model="m", response=f"{resp}（{k}）", labels=labels))
    return out


@pytest.fixture
def gold_file(tmp_path):
    items = gold_items()
    tie = GoldItem(item_id="tie1", question="q", response="r", labels=[
        GoldLabel(annotator="dr_a", category="omission", note=""),
        GoldLabel(annotator="dr_b", category="hallucination", note="")])
    path = tmp_path / "gold.jsonl"
    save_gold([*items, tie], path)
    splits = make_splits([*items, tie], ratios=(0.0, 0.0, 1.0))
    save_splits(splits, tmp_path / "splits.json", seed=13, ratios=(0.0, 0.0, 1.0))
    return path, {g.item_id: g.consensus for g in items}


def oracle(consensus: dict[str, str], corrupt: set[str] | None = None, seed: int = 0):  # type: ignore[no-untyped-def]
    by_text = {}
    for g in gold_items():
        by_text[g.response] = g.item_id
    rng = random.Random(seed)
    wrong = {}

    def respond(body):  # type: ignore[no-untyped-def]
        text = chat_text(body)
        item_id = next(i for t, i in by_text.items() if t in text)
        code = consensus[item_id]
        if corrupt and item_id in corrupt:
            code = wrong.setdefault(item_id, rng.choice([c for c in CATEGORY_CODES if c != code]))
        return verdict_json(code, 0.8)

    return respond, wrong


def test_oracle_judge_has_kappa_one_and_row_is_stored(tmp_path, stub_server, gold_file):
    path, consensus = gold_file
    respond, _ = oracle(consensus)
    server = stub_server(respond)
    judge = LLMJudge(JudgeSettings(model="openai/stub", api_base=server.base_url, **fast_settings()))
    res = calibrate(path, judge=judge, db=tmp_path / "cal.duckdb", split="test", progress=False, n_boot=200)
    assert res.n == 40 and res.n_excluded == 1  # the tie is excluded and counted
    assert res.kappa == pytest.approx(1.0) and res.macro_f1 == pytest.approx(1.0) and res.coverage == 1.0
    with Store(tmp_path / "cal.duckdb") as st:
        _, rows = st.query("SELECT judge_id, split, n, kappa, n_excluded, report FROM calibration_runs")
        assert len(rows) == 1 and rows[0][0] == judge.judge_id and rows[0][3] == pytest.approx(1.0)
        stored = json.loads(rows[0][5])
        assert stored["report"]["confusion"][0][0] == 5
        _, hist = st.query("SELECT judge_id, kappa FROM kappa_by_judge")
        assert hist == [(judge.judge_id, pytest.approx(1.0))]


def test_partly_wrong_judge_kappa_equals_sklearn(tmp_path, stub_server, gold_file):
    path, consensus = gold_file
    corrupt = set(random.Random(3).sample(sorted(consensus), 10))  # 25 % of answers changed
    respond, wrong = oracle(consensus, corrupt)
    server = stub_server(respond)
    judge = LLMJudge(JudgeSettings(model="openai/stub", api_base=server.base_url, **fast_settings()))
    db = tmp_path / "cal.duckdb"
    res = calibrate(path, judge=judge, db=db, split="test", progress=False, n_boot=200)
    ids = sorted(consensus)
    y_true = [consensus[i] for i in ids]
    y_pred = [wrong.get(i, consensus[i]) for i in ids]
    expected = cohen_kappa_score(y_true, y_pred, labels=list(CATEGORY_CODES))
    assert res.kappa == pytest.approx(expected)
    assert res.report.accuracy == pytest.approx(30 / 40)
    with Store(db) as st:
        assert st.query("SELECT kappa FROM calibration_runs")[1][0][0] == pytest.approx(expected)
    assert res.kappa_ci[0] <= res.kappa <= res.kappa_ci[1]


def test_per_annotator_kappa_and_human_ceiling(tmp_path, stub_server):
    items = gold_items(disagree_every=4)
    path = tmp_path / "gold.jsonl"
    save_gold(items, path)
    consensus = {g.item_id: g.consensus for g in items}
    respond, _ = oracle(consensus)
    server = stub_server(respond)
    judge = LLMJudge(JudgeSettings(model="openai/stub", api_base=server.base_url, **fast_settings()))
    res = calibrate(path, judge=judge, db=tmp_path / "c.duckdb", split=None, progress=False, n_boot=100)
    assert res.per_annotator_kappa["dr_a"] == pytest.approx(1.0)
    assert res.per_annotator_kappa["dr_b"] < 1.0
    assert res.human_ceiling["annotators"] == ["dr_a", "dr_b", "dr_c"]
    assert res.human_ceiling["krippendorff_alpha"] < 1.0


def test_order_probe_detects_an_order_sensitive_judge(tmp_path, stub_server, gold_file):
    path, consensus = gold_file

    def first_listed(body):  # type: ignore[no-untyped-def]
        system = body["messages"][0]["content"]
        first = min(CATEGORY_CODES, key=lambda c: system.index(f"`{c}`"))
        return verdict_json(first, 0.5)  # a judge that always picks the first category it is shown

    server = stub_server(first_listed)
    judge = LLMJudge(JudgeSettings(model="openai/stub", api_base=server.base_url, **fast_settings()))
    res = calibrate(path, judge=judge, db=tmp_path / "p.duckdb", split="test", probe_orders=5, progress=False,
                    n_boot=50)
    assert res.robustness is not None and len(res.robustness["orders"]) == 5
    firsts = {o[0] for o in res.robustness["orders"]}
    # flips happen exactly for orders whose first category differs from the original first category
    expected_flip = sum(o[0] != "omission" for o in res.robustness["orders"][1:]) / 4
    assert res.robustness["flip_rate"] == pytest.approx(expected_flip)
    assert res.robustness["all_orders_identical"] == (1.0 if firsts == {"omission"} else 0.0)


def test_probe_orders_are_distinct_and_start_with_original():
    orders = probe_orders(list(CATEGORY_CODES), 5, seed=1)
    assert orders[0] == list(CATEGORY_CODES) and len({tuple(o) for o in orders}) == 5
    assert all(sorted(o) == sorted(CATEGORY_CODES) for o in orders)


def test_cascade_calibration_reports_llm_calls_saved(tmp_path, stub_server):

    from judge.run.factory import make_judge

    gold = GOLD
    server = stub_server(lambda body: verdict_json("omission", 0.5))
    judge = make_judge("cascade:openai/stub", api_base=server.base_url, **fast_settings())
    res = calibrate(gold, judge=judge, db=tmp_path / "c.duckdb", split="test", progress=False, n_boot=50)
    assert res.n == 81
    assert res.sources.get("llm", 0) == server.count  # every LLM verdict cost exactly one call here
    assert res.llm_calls_saved == pytest.approx(1 - server.count / 81)
    assert 0 < res.llm_calls_saved < 1
    offline = calibrate(gold, judge=make_judge("offline"), db=tmp_path / "c.duckdb", split="test", progress=False,
                        n_boot=50)
    assert offline.llm_calls_saved is None


def lettered_oracle(consensus: dict[str, str], answer_codes: bool = False):  # type: ignore[no-untyped-def]
    """A judge that reads the letter of the consensus category off the prompt (or answers codes, when asked)."""
    import re

    from judge.core.taxonomy import load_taxonomy

    zh = {c.zh: c.code for c in load_taxonomy().categories}
    base, _ = oracle(consensus)

    def respond(body):  # type: ignore[no-untyped-def]
        system = body["messages"][0]["content"]
        shown = {zh[name]: letter for letter, name in re.findall(r"^- `([A-H])` \((\S+) /", system, re.MULTILINE)}
        code = json.loads(base(body))["category"]
        if not shown or answer_codes:
            return verdict_json(code, 0.8)
        return verdict_json(shown[code], 0.8)

    return respond


def test_renaming_probe_maps_letters_back_and_reports_flips(tmp_path, stub_server, gold_file):
    path, consensus = gold_file
    server = stub_server(lettered_oracle(consensus))
    judge = LLMJudge(JudgeSettings(model="openai/stub", api_base=server.base_url, **fast_settings()))
    res = calibrate(path, judge=judge, db=tmp_path / "r.duckdb", split="test", probe_orders=3, probe_rename=True,
                    progress=False, n_boot=50)
    renamed = res.robustness["renamed"]
    assert renamed["flip_rate"] == 0.0 and renamed["all_orders_identical"] == 1.0 and renamed["n_unmapped"] == 0
    assert len(renamed["judge_ids"]) == 3 and judge.judge_id not in renamed["judge_ids"]
    assert server.count == 40 * (1 + 2 + 3)  # codes, 2 more orders, 3 lettered orders
    lettered = [b for b in server.requests if "- `A` (" in b["messages"][0]["content"]]
    assert len(lettered) == 120 and all("`omission`" not in b["messages"][0]["content"] for b in lettered)
    with Store(tmp_path / "r.duckdb") as st:
        _, rows = st.query("SELECT flip_rate, rename_flip_rate FROM calibration_runs")
        assert rows == [(0.0, 0.0)]
        _, cats = st.query(f"SELECT count(*) FROM verdicts WHERE judge_id = '{renamed['judge_ids'][1]}' "
                           "AND category IN (SELECT unnest(?::VARCHAR[]))", [list(CATEGORY_CODES)])
        assert cats == [(40,)]  # stored as codes, never as letters


def test_renaming_probe_never_accepts_an_unmapped_answer(tmp_path, stub_server, gold_file):
    path, consensus = gold_file
    server = stub_server(lettered_oracle(consensus, answer_codes=True))  # answers codes where letters are asked
    judge = LLMJudge(JudgeSettings(model="openai/stub", api_base=server.base_url, **fast_settings()))
    res = calibrate(path, judge=judge, db=tmp_path / "u.duckdb", split="test", probe_rename=True, progress=False,
                    n_boot=50)
    renamed = res.robustness["renamed"]
    assert renamed["n_unmapped"] == 40 and renamed["flip_rate"] is None
    with Store(tmp_path / "u.duckdb") as st:
        _, rows = st.query(f"SELECT status, category, error FROM verdicts WHERE judge_id = '{renamed['judge_ids'][0]}'")
    assert {(s, c) for s, c, _ in rows} == {("needs_review", None)} and "category" in rows[0][2]


def test_compare_to_gives_the_paired_difference_on_the_same_items(tmp_path, stub_server, gold_file):
    from judge.evaluate.paired import paired_kappa_difference

    path, consensus = gold_file
    db = tmp_path / "c.duckdb"
    good, _ = oracle(consensus)
    worse, wrong = oracle(consensus, corrupt=set(sorted(consensus)[::3]), seed=2)
    a = LLMJudge(JudgeSettings(model="openai/stub-a", api_base=stub_server(worse).base_url, **fast_settings()))
    b = LLMJudge(JudgeSettings(model="openai/stub-b", api_base=stub_server(good).base_url, **fast_settings()))
    with pytest.raises(ValueError, match=f"judge {a.judge_id} has no verdicts on the 40 gold items"):
        calibrate(path, judge=b, db=db, split="test", progress=False, compare_to=a.judge_id)
    first = calibrate(path, judge=a, db=db, split="test", progress=False, n_boot=200)
    res = calibrate(path, judge=b, db=db, split="test", progress=False, n_boot=200, compare_to=a.judge_id)
    cmp = res.comparison
    assert cmp is not None and cmp.n == 40 and res.compare_to == a.judge_id
    assert cmp.kappa_a == pytest.approx(first.kappa) and cmp.kappa_b == pytest.approx(1.0)
    ids = sorted(consensus)
    expected = paired_kappa_difference([consensus[i] for i in ids], [wrong.get(i, consensus[i]) for i in ids],
                                       [consensus[i] for i in ids], n_boot=200)
    assert cmp.difference == pytest.approx(1.0 - first.kappa) and cmp.ci == pytest.approx(expected.ci)
    assert cmp.b_better  # 14 of 40 answers changed: the better judge wins beyond the interval


def test_cli_prints_the_renaming_probe_and_the_comparison(tmp_path, stub_server, gold_file):
    import re

    from typer.testing import CliRunner

    from judge.cli.app import app

    path, consensus = gold_file
    server = stub_server(lettered_oracle(consensus))
    db = tmp_path / "cli.duckdb"
    common = ["calibrate", "--gold", str(path), "--split", "test", "--api-base", server.base_url, "--db", str(db),
              "--no-progress", "--transport", "direct"]
    first = CliRunner().invoke(app, [*common, "--model", "openai/stub-a"])
    assert first.exit_code == 0, first.output
    judge_a = LLMJudge(JudgeSettings(model="openai/stub-a", api_base=server.base_url)).judge_id
    res = CliRunner().invoke(app, [*common, "--model", "openai/stub-b", "--probe-rename", "--compare-to", judge_a],
                             terminal_width=200)
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "renaming probe (A–H): flip rate │ 0.000" in text and "answers not mapped (needs_review) │ 0" in text
    assert f"Δκ vs {judge_a} (same 40 items, paired" in text and "│ +0.000 [+0.000, +0.000] │" in text
    assert re.search(rf"κ of {judge_a} on those items\s+│\s+1\.000", res.output)
    missing = CliRunner().invoke(app, [*common, "--model", "openai/stub-b", "--compare-to", "nosuchjudge"])
    assert missing.exit_code == 2 and "judge nosuchjudge has no verdicts on the 40 gold items" in missing.output


def test_offline_calibration_recommends_tau_on_the_cross_validated_curve(tmp_path):
    from typer.testing import CliRunner

    from judge.cli.app import app
    from judge.evaluate.abstention import recommend_tau
    from judge.evaluate.calibrate import CV_LABEL, CV_NOTE
    from judge.run.factory import make_judge

    db = tmp_path / "c.duckdb"
    judge = make_judge("offline")
    res = calibrate(GOLD, judge=judge, db=db, split="test", progress=False, n_boot=50)
    a = res.abstention
    assert a is not None and len(a.curve) == 20 and len(a.dev_curve) == 20
    assert a.curve[0].coverage == 1.0 and a.curve[0].kappa == pytest.approx(res.kappa)
    assert [p.coverage for p in a.curve] == sorted((p.coverage for p in a.curve), reverse=True)
    # the baseline is trained on dev: the recommendation uses its out-of-fold curve on train+dev, not dev verdicts
    assert a.dev_curve == judge.baseline.baseline.meta.oof_abstention["offline"]  # type: ignore[attr-defined]
    assert (a.dev_label, a.note) == (CV_LABEL, CV_NOTE) and a.basis.endswith("(cross-validated on train+dev)")
    assert (a.recommended_tau, a.rule) == recommend_tau(a.dev_curve)  # not chosen on the test curve
    assert a.at_recommended is not None and a.at_recommended.tau == a.recommended_tau
    dev = calibrate(GOLD, judge=make_judge("offline"), db=db, split="dev", progress=False, n_boot=50)
    assert dev.abstention is not None and dev.abstention.dev_curve == a.dev_curve  # dev is in-sample: same CV curve
    assert dev.abstention.curve != a.dev_curve
    base = calibrate(GOLD, judge=make_judge("baseline"), db=db, split="test", progress=False, n_boot=50)
    assert base.abstention is not None and base.abstention.dev_label == CV_LABEL
    assert base.abstention.dev_curve == judge.baseline.baseline.meta.oof_abstention["baseline"]  # type: ignore[attr-defined]
    with Store(db) as store:
        (tau, stored), = store.con.execute("SELECT recommended_tau, abstention FROM calibration_runs "
                                           "WHERE calibration_id = ?", [res.calibration_id]).fetchall()
    assert tau == a.recommended_tau and json.loads(stored)["recommended_tau"] == a.recommended_tau
    assert json.loads(stored)["dev_label"] == CV_LABEL and "in-sample" in json.loads(stored)["note"]
    out = CliRunner().invoke(app, ["calibrate", "--model", "offline", "--split", "test", "--db", str(db),
                                   "--no-progress"], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert (f"--min-confidence {a.recommended_tau:.2f} recommended on out-of-fold verdicts (cross-validated on "
            "train+dev)") in " ".join(out.output.split())
    assert "κ (cv)" in out.output and "would be in-sample" in " ".join(out.output.split())


def test_an_offline_judge_without_a_cross_validated_curve_is_judged_on_dev(tmp_path):
    from judge.offline.abstain import AbstainingJudge
    from judge.run.factory import make_judge

    # a wrapped judge does not expose the curve: dev verdicts are computed on the spot, as before
    judge = AbstainingJudge(make_judge("offline"), 0.0)
    res = calibrate(GOLD, judge=judge, db=tmp_path / "c.duckdb", split="test", progress=False, n_boot=20)
    assert res.abstention is not None and res.abstention.dev_label == "dev" and len(res.abstention.dev_curve) == 20


def test_an_llm_judge_without_dev_verdicts_gets_no_recommendation(tmp_path, stub_server):
    server = stub_server(lambda body: verdict_json("omission", 0.5))
    judge = LLMJudge(JudgeSettings(model="openai/stub", api_base=server.base_url, **fast_settings()))
    res = calibrate(GOLD, judge=judge, db=tmp_path / "c.duckdb", split="test", progress=False, n_boot=20)
    assert res.abstention is not None and res.abstention.recommended_tau is None
    assert "split dev first" in res.abstention.note and server.count == 81  # dev was not judged behind the user's back
