"""The review loop against a real Label Studio server: push a queue, annotate as two reviewers, pull into gold."""

from __future__ import annotations

import json

import pytest
from sklearn.metrics import cohen_kappa_score
from typer.testing import CliRunner

from judge.api import review_pull, review_push
from judge.cli.app import app
from judge.core.models import Item, Verdict
from judge.gold.agreement import fleiss_kappa
from judge.gold.gold_set import GoldItem, GoldLabel, load_gold, save_gold
from judge.gold.splits import load_splits, save_splits
from judge.review.label_studio import LabelStudio, LabelStudioError
from judge.review.tasks import choice_results, note_result
from judge.store import Store
from tests.conftest import db_rows

CATS = ["omission", "hallucination", "format_mismatch", "unanswered"]


def make_db(path):  # type: ignore[no-untyped-def]
    """12 items judged by two judges: A (needs_review on 2, low confidence on 3) and B (differs from A on 5)."""
    items = [Item(item_id=f"it{i:02d}", dimension="knowledge_qa", task="Med-Exam", question=f"第{i}题：患者男，45岁，"
                  "胸痛2小时，最可能的诊断是？", options=["A. 急性心肌梗死", "B. 胃食管反流"], reference_answer="A",
                  model="m1", response=f"回答{i}：考虑胃食管反流。") for i in range(12)]
    va, vb = [], []
    for i, it in enumerate(items):
        if i < 2:
            va.append(Verdict(item_id=it.item_id, judge_id="judgeA", status="needs_review", error="bad json"))
        else:
            va.append(Verdict(item_id=it.item_id, judge_id="judgeA", status="ok", category=CATS[i % 4],
                              confidence=0.4 if i < 5 else 0.9, rationale=f"理由{i}", secondary=["omission"]))
        cat_b = CATS[(i + 1) % 4] if 3 <= i < 8 else CATS[i % 4]
        vb.append(Verdict(item_id=it.item_id, judge_id="judgeB", status="ok", category=cat_b, confidence=0.8))
    with Store(path) as st:
        st.upsert_items(items)
        st.register_judge("judgeA", {"model": "a"})
        st.register_judge("judgeB", {"model": "b"})
        st.write_verdicts(va)
        st.write_verdicts(vb)
    return items


def test_push_is_idempotent_and_carries_predictions(label_studio, tmp_path):
    db = tmp_path / "v.duckdb"
    make_db(db)
    kw = dict(label_studio=label_studio.url, api_key=label_studio.token, judge_id="judgeA")
    first = review_push(db, "needs_review+low-confidence:0.6", project="push test", **kw)
    assert first.project_created and first.n_selected == 5 and first.n_created == 5
    assert first.by_reason == {"needs_review": 2, "low-confidence:0.6": 3}
    again = review_push(db, ["needs_review", "low-confidence:0.6"], project="push test", **kw)
    assert not again.project_created and not again.config_updated
    assert again.n_created == 0 and again.n_existing == 5 and again.n_predictions_added == 0
    # a disagreement queue adds the new items, and judgeB's verdict as a second prediction on the existing ones
    third = review_push(db, "disagreement:judgeA,judgeB", project="push test", **kw)
    assert third.n_selected == 5 and third.n_created == 3 and third.n_existing == 2
    assert third.n_predictions_added == 2
    with LabelStudio(label_studio.url, label_studio.token) as ls:
        pid = ls.project_by_title("push test")["id"]
        tasks = {t["data"]["item_id"]: t for t in ls.iter_tasks(pid)}
    assert sorted(tasks) == [f"it{i:02d}" for i in range(8)]
    t = tasks["it02"]  # low confidence: judgeA's verdict pre-selected, judge_id as model version
    assert [p["model_version"] for p in t["predictions"]] == ["judgeA"]
    assert t["predictions"][0]["score"] == pytest.approx(0.4)
    assert t["predictions"][0]["result"] == choice_results("format_mismatch", ["omission"])
    assert t["data"]["question"].startswith("第2题") and t["data"]["options"] == ["A. 急性心肌梗死", "B. 胃食管反流"]
    assert t["data"]["review_reason"] == "low-confidence:0.6"
    assert tasks["it00"]["predictions"] == []  # needs_review: no valid verdict to pre-select
    for item_id in ("it03", "it07"):  # it03 pushed first for low confidence, it07 for the disagreement
        assert sorted(p["model_version"] for p in tasks[item_id]["predictions"]) == ["judgeA", "judgeB"]
    assert "low-confidence:0.6" in tasks["it03"]["data"]["review_reason"]


def annotate(label_studio, project: str, plan: dict[str, tuple[str, str | None]],  # type: ignore[no-untyped-def]
             skip: str) -> None:
    """Reviewer 1 (admin) and reviewer 2 annotate: {item_id: (category 1, category 2 or None)}; 2 skips `skip`."""
    with LabelStudio(label_studio.url, label_studio.token) as a, \
            LabelStudio(label_studio.url, label_studio.reviewer_token) as b:
        pid = a.project_by_title(project)["id"]
        tasks = {t["data"]["item_id"]: t["id"] for t in a.iter_tasks(pid)}
        for item_id, (c1, c2) in plan.items():
            a.annotate(tasks[item_id], choice_results(c1, ["hallucination"]) + [note_result("复核：同意")])
            if c2 is not None:
                b.annotate(tasks[item_id], choice_results(c2))
        b.annotate(tasks[skip], choice_results("omission"), cancelled=True)  # a skipped task


def test_two_reviewers_pull_into_gold(label_studio, tmp_path):
    db = tmp_path / "v.duckdb"
    make_db(db)
    project = "pull test"
    review_push(db, "sample:8", project=project, label_studio=label_studio.url, api_key=label_studio.token,
                judge_id="judgeA", seed=1)
    with LabelStudio(label_studio.url, label_studio.token) as ls:
        queued = sorted(t["data"]["item_id"] for t in ls.iter_tasks(ls.project_by_title(project)["id"]))
    assert len(queued) == 8
    # reviewers agree on 4, disagree on 2 (ties), reviewer 1 alone on 1; reviewer 2 skips the last one
    plan: dict[str, tuple[str, str | None]] = {}
    for k, item_id in enumerate(queued[:7]):
        c1 = CATS[k % 4]
        plan[item_id] = (c1, None if k == 6 else (c1 if k < 4 else CATS[(k + 1) % 4]))
    annotate(label_studio, project, plan, skip=queued[7])
    # an existing gold file: one item the reviewers did not see keeps its labels and its split
    gold = tmp_path / "gold" / "gold.jsonl"
    old = GoldItem(item_id="old1", question="q", response="r", labels=[GoldLabel(annotator="dr_x", category="omission")])
    save_gold([old], gold)
    save_splits({"old1": "test"}, gold.parent / "splits.json")
    r = review_pull(label_studio=label_studio.url, project=project, api_key=label_studio.reviewer_token, gold=gold,
                    db=db)
    assert r.n_labels == 13 and r.n_skipped == 1 and r.problems == []
    assert sorted(r.new_items) == sorted(plan) and r.updated_items == []
    items = {g.item_id: g for g in load_gold(gold)}
    assert items["old1"] == old
    for item_id, (c1, c2) in plan.items():
        g = items[item_id]
        by = {lab.annotator: lab for lab in g.labels}
        assert by[label_studio.admin].category == c1
        assert by[label_studio.admin].note == "复核：同意\nsecondary: hallucination" or c1 == "hallucination"
        if c2 is None:
            assert set(by) == {label_studio.admin} and g.consensus == c1
        elif c1 == c2:
            assert g.consensus == c1 and g.consensus_status == "unanimous"
        else:
            assert g.consensus is None and g.consensus_status == "tie" and item_id in r.ties
        assert g.question.startswith("第") and g.options == ["A. 急性心肌梗死", "B. 胃食管反流"]
    assert sorted(r.ties) == sorted(i for i, (c1, c2) in plan.items() if c2 is not None and c1 != c2)
    # agreement: the same numbers as sklearn / the Fleiss formula on the 6 doubly-labelled items
    both = [(c1, c2) for c1, c2 in plan.values() if c2 is not None]
    expected = cohen_kappa_score([a for a, _ in both], [b for _, b in both])
    (pair,) = r.agreement.pairwise
    assert pair.n == 6 and pair.kappa == pytest.approx(expected)
    assert r.agreement.fleiss_n == 6 and r.agreement.fleiss_kappa == pytest.approx(fleiss_kappa([list(p) for p in both]))
    assert r.agreement.annotators == sorted([label_studio.admin, label_studio.reviewer])
    # splits: the old item stays in test, every new item got a split
    splits = load_splits(gold.parent / "splits.json").splits
    assert splits["old1"] == "test" and set(splits) == {"old1", *plan}
    assert r.new_splits == {i: splits[i] for i in plan}
    stored = db_rows(db, "SELECT project, n_labels, n_ties, fleiss_kappa, annotators, pairwise_kappa FROM review_pulls")
    assert len(stored) == 1 and stored[0][:3] == (project, 13, len(r.ties))
    assert stored[0][3] == pytest.approx(r.agreement.fleiss_kappa)
    assert json.loads(stored[0][5])[0]["kappa"] == pytest.approx(expected)
    # pulling again changes nothing and adds no label twice
    again = review_pull(label_studio=label_studio.url, project=project, api_key=label_studio.token, gold=gold)
    assert again.new_items == [] and again.updated_items == [] and load_gold(gold) == list(items.values())


def test_personal_access_token_and_bad_keys(label_studio, tmp_path):
    with LabelStudio(label_studio.url, label_studio.reviewer_token) as ls:
        pat = ls.post("/api/token/", None)["token"]  # the reviewer's personal access token (a JWT refresh token)
    with LabelStudio(label_studio.url, pat) as ls:
        assert ls.whoami()["email"] == label_studio.reviewer
    with pytest.raises(LabelStudioError, match="refused the API key .legacy token. with HTTP 401"):
        LabelStudio(label_studio.url, "not-a-token").whoami()
    with pytest.raises(LabelStudioError, match="cannot reach Label Studio"):
        LabelStudio("http://127.0.0.1:9", "x").whoami()
    with pytest.raises(LabelStudioError, match="no project called"):
        review_pull(label_studio=label_studio.url, project="nope", api_key=label_studio.token, gold=tmp_path / "g.jsonl")


def test_cli_push_and_pull(label_studio, tmp_path):
    db = tmp_path / "v.duckdb"
    make_db(db)
    runner = CliRunner()
    env = {"LABEL_STUDIO_API_KEY": label_studio.token}
    common = ["--label-studio", label_studio.url, "--project", "cli test"]
    res = runner.invoke(app, ["review", "push", "--db", str(db), "--select", "needs_review", *common], env=env)
    assert res.exit_code == 0 and "no item matches needs_review (judge judgeB)" in " ".join(res.output.split())
    res = runner.invoke(app, ["review", "push", "--db", str(db), "--select", "needs_review", "--judge", "judgeA",
                              *common], env=env)
    assert res.exit_code == 0, res.output
    assert "2 queued, 2 new task(s)" in " ".join(res.output.split())
    bad = runner.invoke(app, ["review", "push", "--db", str(db), "--select", "low-confidence:7", *common], env=env)
    assert bad.exit_code == 2 and "bad selector" in bad.output
    unknown = runner.invoke(app, ["review", "push", "--db", str(db), "--select", "disagreement:judgeA,zzz", *common],
                            env=env)
    assert unknown.exit_code == 2 and "no verdicts of judge(s) zzz" in unknown.output
    annotate_one = {"it00": ("unanswered", "unanswered"), "it01": ("omission", None)}
    with LabelStudio(label_studio.url, label_studio.token) as a, \
            LabelStudio(label_studio.url, label_studio.reviewer_token) as b:
        tasks = {t["data"]["item_id"]: t["id"] for t in a.iter_tasks(a.project_by_title("cli test")["id"])}
        for item_id, (c1, c2) in annotate_one.items():
            a.annotate(tasks[item_id], choice_results(c1))
            if c2:
                b.annotate(tasks[item_id], choice_results(c2))
    gold = tmp_path / "g.jsonl"
    res = runner.invoke(app, ["review", "pull", *common, "--gold", str(gold), "--db", str(db)], env=env)
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "pulled 3 label(s) from 2 annotated task(s)" in text and "Fleiss' κ" in text
    assert {g.item_id: g.consensus for g in load_gold(gold)} == {"it00": "unanswered", "it01": "omission"}
