"""The silver (consensus) key: votes over shuffles, minimum agreement, ties, and re-scoring without gold."""

from __future__ import annotations

import pytest

from judge.medbench.silver_key import ChoiceAnswer, build_silver_key, model_votes, silver_label, silver_scores

OPTS = ["A. 甲", "B. 乙", "C. 丙"]
SHUFFLED = ["A. 丙", "B. 甲", "C. 乙"]


def ans(model: str, letters: str | None, rid: str = "1", options: list[str] = OPTS, n: int = 0,
        method: str | None = None) -> ChoiceAnswer:
    method = method or ("choice:no_key" if letters else "choice:unextractable:no_key")
    return ChoiceAnswer(item_id=f"{model}/T/{rid}/{n}", model=model, task="T", record_id=rid, options=options,
                        extracted=letters, score_method=method)


def test_each_model_votes_with_its_majority_over_the_shuffles() -> None:
    # m1 picks 甲 under both orders and 乙 once: votes 甲; m2 ties 甲 / 乙: abstains; m3 unreadable: abstains
    answers = [ans("m1", "A"), ans("m1", "B", options=SHUFFLED, n=1), ans("m1", "B", n=2),
               ans("m2", "A"), ans("m2", "B", n=1), ans("m3", None)]
    votes = model_votes(answers)[("T", "1")]
    assert votes == {"m1": frozenset({"甲"}), "m2": None, "m3": None}


@pytest.mark.parametrize(("picks", "min_agreement", "keyed"), [
    (["A", "A"], 0.6, ("甲", 2, 2)),            # two models agree
    (["A", "B"], 0.6, None),                   # a tie never keys
    (["A", "B"], 0.5, None),                   # not even when the minimum allows one of two
    (["A", "A", "B"], 0.6, ("甲", 2, 3)),       # two of three
    (["A", "A", "B", "C", "C"], 0.6, None),     # 2 of 5 is not enough, and 甲/丙 tie
    (["A", "A", "A", "B", "C"], 0.6, ("甲", 3, 5)),
    (["A", "A", "A", "B", "C"], 0.8, None),
    (["A", None], 0.5, None),                   # one model is no consensus
])
def test_minimum_agreement_and_ties(picks, min_agreement, keyed) -> None:
    answers = [ans(f"m{i}", p) for i, p in enumerate(picks)]
    key = build_silver_key(answers, min_agreement)
    if keyed is None:
        assert key == {}
    else:
        e = key[("T", "1")]
        assert (e.answer, e.support, e.n_models) == keyed
        assert e.label == f"silver ({keyed[1]} of {keyed[2]} models agree)"


def test_invalid_minimum_agreement() -> None:
    with pytest.raises(ValueError, match="min_agreement"):
        build_silver_key([], 0.0)


def test_scores_against_the_silver_key_leave_gold_verdicts_alone() -> None:
    answers = [ans("m1", "A"), ans("m1", "C", options=SHUFFLED, n=1), ans("m1", "A", n=2), ans("m2", "A"),
               ans("m2", None, n=1), ans("m3", "A", method="choice:key"), ans("m1", "A", rid="2"),
               ans("m2", "B", rid="2"), ans("m1", "B", rid="3", method="choice:silver")]
    key = build_silver_key(answers)
    assert set(key) == {("T", "1")} and key[("T", "1")].label == "silver (3 of 3 models agree)"
    got = {s.item_id: (s.correct, s.score_method) for s in silver_scores(answers, key)}
    assert got == {
        "m1/T/1/0": (True, "choice:silver"),
        "m1/T/1/1": (False, "choice:silver"),             # 乙 under the shuffled order
        "m1/T/1/2": (True, "choice:silver"),
        "m2/T/1/0": (True, "choice:silver"),
        "m2/T/1/1": (False, "choice:unextractable:silver"),
        "m1/T/2/0": (None, "choice:no_key"), "m2/T/2/0": (None, "choice:no_key"),
        "m1/T/3/0": (None, "choice:no_key"),               # an earlier silver verdict whose key is gone
    }  # m3's gold verdict is not touched


def test_label_ranges() -> None:
    assert silver_label(2, 2, 2, 2) == "silver (2 of 2 models agree)"
    assert silver_label(2, 3, 3, 4) == "silver (2-3 of 3-4 models agree)"
