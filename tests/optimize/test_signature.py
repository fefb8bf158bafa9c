"""The DSPy judge signature, program, gold examples and metrics."""

from __future__ import annotations

import typing

import dspy
import pytest
from dspy.utils import DummyLM

from judge.core.taxonomy import CATEGORY_CODES, load_taxonomy
from judge.gold.gold_set import GoldItem, GoldLabel, load_gold
from judge.optimize.examples import gold_example, gold_examples
from judge.optimize.metric import category_match, make_feedback_metric
from judge.optimize.program import JudgeProgram, predicted_category
from judge.optimize.signature import INPUT_FIELDS, item_inputs, make_signature, taxonomy_instructions
from tests.conftest import FIXTURES

GOLD = FIXTURES / "dspy" / "gold.jsonl"


def test_signature_mirrors_judge_inputs_and_restricts_category():
    sig = make_signature()
    assert list(sig.input_fields) == list(INPUT_FIELDS)
    assert list(sig.output_fields) == ["rationale", "category"]
    assert set(typing.get_args(sig.output_fields["category"].annotation)) == set(CATEGORY_CODES)


def test_instructions_carry_every_definition_and_the_decision_order():
    tax = load_taxonomy()
    text = make_signature().instructions
    assert text == taxonomy_instructions(tax)
    for c in tax.categories:
        assert c.definition in text and f"`{c.code}`" in text
    assert " → ".join(tax.decision_order) in text
    assert make_signature(instructions="Be brief.").instructions == "Be brief."


def test_item_inputs_fill_absent_fields():
    item = load_gold(GOLD)[0].to_item().model_copy(update={"options": None, "reference_answer": None, "task": None})
    inputs = item_inputs(item)
    assert inputs["options"] == "(not provided)" and inputs["reference_answer"] == "(not provided)"
    assert inputs["task"] == "unknown" and inputs["response"] == item.response
    with_options = load_gold(GOLD)[1].to_item()
    assert item_inputs(with_options)["options"] == "\n".join(with_options.options or [])


def test_gold_examples_use_consensus_and_physician_notes():
    items = load_gold(GOLD)
    ex = gold_example(items[0])
    assert ex.category == items[0].consensus == "omission"
    assert ex.rationale == "未提及降压治疗"  # dr_li's note on the item
    assert set(ex.inputs().keys()) == set(INPUT_FIELDS)
    assert "category" not in ex.inputs().keys()
    no_note = next(g for g in items if all(not lab.note for lab in g.labels))
    assert load_taxonomy().get(str(no_note.consensus)).definition in gold_example(no_note).rationale


def test_items_without_consensus_are_left_out():
    tie = GoldItem(item_id="tie", question="q", response="r", labels=[
        GoldLabel(annotator="a", category="omission"), GoldLabel(annotator="b", category="hallucination")])
    assert tie.consensus is None
    assert gold_examples([tie]) == []
    with pytest.raises(ValueError):
        gold_example(tie)


def test_program_predicts_through_an_explicit_lm_only():
    lm = DummyLM([{"rationale": "无实质回答", "category": "unanswered"}])
    ex = gold_example(load_gold(GOLD)[15])
    program = JudgeProgram()
    with dspy.context(lm=lm):
        pred = program(**ex.inputs())
    assert predicted_category(pred) == "unanswered"
    assert category_match(ex, pred) == 1.0
    assert dspy.settings.lm is None


def test_unparseable_answer_is_a_prediction_without_category():
    lm = DummyLM([{"rationale": "x", "category": "wrong_drug"}] * 2)
    ex = gold_example(load_gold(GOLD)[0])
    with dspy.context(lm=lm):
        pred = JudgeProgram()(**ex.inputs())
    assert predicted_category(pred) is None and "wrong_drug" in pred.error
    assert category_match(ex, pred) == 0.0


def test_invalid_category_is_no_category():
    assert predicted_category(dspy.Prediction(category="wrong_drug")) is None
    assert predicted_category(None) is None
    ex = gold_example(load_gold(GOLD)[0])
    assert category_match(ex, dspy.Prediction()) == 0.0


def test_feedback_names_prediction_gold_category_and_definition():
    tax = load_taxonomy()
    ex = gold_example(load_gold(GOLD)[3])  # hallucination
    metric = make_feedback_metric(tax)
    wrong = metric(ex, dspy.Prediction(category="omission", rationale="x"))
    assert wrong.score == 0.0
    assert "`omission`" in wrong.feedback and "`hallucination`" in wrong.feedback
    assert tax.get("hallucination").definition in wrong.feedback
    right = metric(ex, dspy.Prediction(category="hallucination", rationale="x"))
    assert right.score == 1.0 and right.feedback.startswith("Correct")
    none = metric(ex, dspy.Prediction())
    assert none.score == 0.0 and "No valid category" in none.feedback
