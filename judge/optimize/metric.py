"""Optimization metrics: category match, and the same score with textual feedback for GEPA's reflection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dspy

from judge.core.taxonomy import Taxonomy, load_taxonomy
from judge.optimize.program import predicted_category


def category_match(example: Any, pred: Any, trace: Any = None) -> float:
    """1.0 when the predicted category equals the gold category, else 0.0."""
    return 1.0 if predicted_category(pred) == example.category else 0.0


def feedback_text(example: Any, pred: Any, taxonomy: Taxonomy) -> str:
    """What was predicted, what the gold category is and its definition (the text GEPA reflects on)."""
    gold = taxonomy.get(example.category)
    got = predicted_category(pred)
    gold_part = f"The physicians' category is `{gold.code}` ({gold.en}): {gold.definition}"
    if got is None:
        return f"No valid category was produced. {gold_part}"
    if got == gold.code:
        return f"Correct: predicted `{got}`. {gold_part}"
    wrong = taxonomy.get(got)
    return (f"Wrong: predicted `{got}` ({wrong.en}), whose definition is: {wrong.definition} {gold_part} "
            f"Physicians' reasoning: {example.rationale}")


def make_feedback_metric(taxonomy: Taxonomy | None = None) -> Callable[..., dspy.Prediction]:
    """A GEPA feedback metric: score = category match, feedback = `feedback_text`."""
    tax = taxonomy or load_taxonomy()

    def metric(gold: Any, pred: Any, trace: Any = None, pred_name: str | None = None,
               pred_trace: Any = None) -> dspy.Prediction:
        return dspy.Prediction(score=category_match(gold, pred), feedback=feedback_text(gold, pred, tax))

    return metric
