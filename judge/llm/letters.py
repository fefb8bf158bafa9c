"""The label-renaming probe: categories shown as the letters A–H (in a shuffled order) instead of their codes.

The model answers with letters; `LetteredJudgeOutput` accepts only A–H (anything else fails validation and is
re-asked, then stored as needs_review), and `to_codes` maps a validated answer back to category codes through
the judge's own letter map. A letter is never accepted without its code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from judge.core.models import JudgeOutput
from judge.core.taxonomy import Taxonomy

LETTERS: tuple[str, ...] = ("A", "B", "C", "D", "E", "F", "G", "H")
Letter = Literal["A", "B", "C", "D", "E", "F", "G", "H"]


class LetteredJudgeOutput(JudgeOutput):
    """The judge's JSON answer when the categories are shown as letters."""

    category: Letter  # type: ignore[assignment]
    """Letter of the primary error category."""
    secondary: list[Letter] = Field(default_factory=list)  # type: ignore[assignment]
    """Letters of other categories that also apply."""


@dataclass(frozen=True)
class LetteredCategory:
    """A category as the prompt shows it under the renaming probe: its letter in place of its code."""

    code: str
    """The letter shown (the template's `c.code`)."""
    zh: str
    """Chinese name."""
    en: str
    """English name."""
    definition: str
    """Definition."""
    example: str
    """Example."""


def letter_map(order: list[str]) -> dict[str, str]:
    """{letter: code}: the first category of `order` is A, the second B, ..."""
    if len(order) != len(LETTERS) or len(set(order)) != len(order):
        raise ValueError(f"the renaming probe needs all {len(LETTERS)} categories exactly once, got {order}")
    return dict(zip(LETTERS, order, strict=True))


def lettered(taxonomy: Taxonomy, order: list[str]) -> tuple[list[LetteredCategory], list[str]]:
    """The categories shown as letters in `order`, and the decision order written in letters."""
    to_letter = {code: letter for letter, code in letter_map(order).items()}
    cats = [taxonomy.get(code) for code in order]
    shown = [LetteredCategory(to_letter[c.code], c.zh, c.en, c.definition, c.example) for c in cats]
    return shown, [to_letter[c] for c in taxonomy.decision_order]


def to_codes(answer: LetteredJudgeOutput, mapping: dict[str, str]) -> JudgeOutput:
    """The answer with its letters replaced by category codes (KeyError for a letter outside `mapping`)."""
    return JudgeOutput.model_construct(category=mapping[answer.category], rationale=answer.rationale,
                                       evidence=answer.evidence, confidence=answer.confidence,
                                       secondary=[mapping[s] for s in answer.secondary])


