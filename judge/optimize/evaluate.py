"""Score a DSPy judge program on labelled examples: accuracy, Cohen's kappa with a CI, coverage."""

from __future__ import annotations

from typing import Any

import dspy
from pydantic import BaseModel

from judge.evaluate.metrics import agreement_report
from judge.optimize.metric import category_match
from judge.optimize.program import predicted_category


class ProgramScore(BaseModel):
    """Agreement of a DSPy judge program with the gold categories of a set of examples."""

    n: int
    """Examples scored."""
    accuracy: float | None
    """Share of examples with the gold category (no category counts as wrong); None when n is 0."""
    kappa: float | None
    """Cohen's kappa on the examples that got a category; None when undefined."""
    kappa_ci: tuple[float | None, float | None]
    """Bootstrap 95% interval of kappa."""
    coverage: float | None
    """Share of examples that got a valid category."""
    predictions: dict[str, str | None]
    """{item_id: predicted category or None}."""


def score_program(program: dspy.Module, examples: list[dspy.Example], *, lm: Any, num_threads: int = 4,
                  seed: int = 0) -> ProgramScore:
    """Run `program` with `lm` on `examples` and score the categories against the gold ones."""
    if not examples:
        return ProgramScore(n=0, accuracy=None, kappa=None, kappa_ci=(None, None), coverage=None, predictions={})
    evaluate = dspy.Evaluate(devset=examples, metric=category_match, num_threads=num_threads,
                             display_progress=False, display_table=False, max_errors=len(examples) + 1,
                             provide_traceback=False, failure_score=0.0)
    with dspy.context(lm=lm):
        result = evaluate(program)
    y_true = [ex.category for ex, _, _ in result.results]
    y_pred = [predicted_category(pred) for _, pred, _ in result.results]
    report = agreement_report(y_true, y_pred, seed=seed)
    correct = sum(t == p for t, p in zip(y_true, y_pred, strict=True))
    return ProgramScore(
        n=len(examples), accuracy=correct / len(examples) if examples else None, kappa=report.kappa,
        kappa_ci=report.kappa_ci, coverage=report.coverage,
        predictions={str(getattr(ex, "item_id", i)): p for i, ((ex, _, _), p) in enumerate(zip(result.results, y_pred,
                                                                                               strict=True))},
    )
