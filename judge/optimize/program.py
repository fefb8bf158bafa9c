"""The DSPy judge program: one predictor over the judge signature."""

from __future__ import annotations

from typing import Any

import dspy

from judge.core.taxonomy import CATEGORY_CODES, Taxonomy
from judge.optimize.signature import make_signature


class JudgeProgram(dspy.Module):
    """Classify a wrong response: a `dspy.Predict` over the judge signature (rationale, then category).

    An answer that cannot be parsed into the signature (e.g. a category outside the eight codes) becomes a
    prediction without a category, which every metric scores as wrong, instead of an exception that would count
    against the optimizers' error budgets and abort a run on a weak model.
    """

    def __init__(self, taxonomy: Taxonomy | None = None, instructions: str | None = None) -> None:
        super().__init__()
        self.predict = dspy.Predict(make_signature(taxonomy, instructions))

    def forward(self, question: str, options: str, reference_answer: str, response: str, task: str,
                dimension: str) -> dspy.Prediction:
        """Predict the rationale and the category of one item."""
        try:
            return self.predict(question=question, options=options, reference_answer=reference_answer,
                                response=response, task=task, dimension=dimension)
        except dspy.AdapterParseError as e:
            return dspy.Prediction(rationale="", category=None, error=str(e)[:500])


def predicted_category(pred: Any) -> str | None:
    """The category code of a prediction, or None when there is none (failed call or parse)."""
    value = getattr(pred, "category", None) if pred is not None else None
    return value if value in CATEGORY_CODES else None
