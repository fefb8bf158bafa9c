"""A silver answer key for choice questions, built from the models' own answers (`medjudge score --key consensus`).

MedBench publishes no answer key, so without one only unreadable choice answers are known to be wrong. The
consensus of several models is a weaker, explicitly labelled substitute:

1. Each model votes once per question (task, `other.id`): the option content it chose most often over the
   question's shuffled variants. A model abstains when none of its answers could be read or its top two
   contents tie.
2. The question is keyed when the most voted content has the support of at least `min_agreement` of the n
   models that answered the question, from at least two models, and no other content has as many votes.
   With two models both must agree; with three, two; with five, three (default 0.6).

Answers are then scored against the silver key with `score_method` `choice:silver`,
`choice:unextractable:silver` or `choice:ambiguous:silver`. These never count as graded against a gold key:
accuracy against them is always shown as "silver (k of n models agree)". Items already graded by a gold key
or a reference keep their gold verdict; a question the consensus no longer keys goes back to `:no_key`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping

from pydantic import BaseModel, Field

from judge.medbench.answer_key import normalized_contents
from judge.medbench.grading import ItemScore

DEFAULT_MIN_AGREEMENT = 0.6
"""Share of the models that answered a question whose votes a silver key needs (and at least two models)."""
_REGRADABLE = ("choice:no_key", "choice:unextractable:no_key", "choice:ambiguous:no_key", "choice:silver",
               "choice:unextractable:silver", "choice:ambiguous:silver")


class ChoiceAnswer(BaseModel):
    """One stored answer to a choice question, as the silver key needs it."""

    item_id: str
    """Item id."""
    model: str
    """Model that answered."""
    task: str
    """Task name."""
    dimension: str | None = None
    """MedBench dimension of the task."""
    record_id: str
    """Question id (`other.id`)."""
    options: list[str]
    """The options in this variant's order."""
    extracted: str | None = None
    """Letters read from the answer ("B", "A,C"); None when none could be read."""
    score_method: str
    """How the item is scored now (gold verdicts are left alone)."""

    @property
    def chosen(self) -> frozenset[str] | None:
        """Option contents chosen; None when no valid letter was read."""
        if not self.extracted:
            return None
        contents = normalized_contents(self.options)
        idx = [ord(x.strip()) - ord("A") for x in self.extracted.split(",") if x.strip()]
        if not idx or any(not 0 <= i < len(contents) for i in idx):
            return None
        return frozenset(contents[i] for i in idx)


class SilverEntry(BaseModel):
    """The silver key of one question and the support behind it."""

    task: str
    """Task name."""
    record_id: str
    """Question id (`other.id`)."""
    contents: list[str]
    """The agreed option content(s), sorted."""
    support: int
    """k: models whose majority answer is this content."""
    n_models: int
    """n: models that answered the question."""
    min_agreement: float
    """The minimum share k / n the key was built with."""
    votes: dict[str, str | None] = Field(default_factory=dict)
    """Each model's vote (contents joined by " | "), None for an abstention."""

    @property
    def label(self) -> str:
        """How accuracy against this key is labelled: "silver (k of n models agree)"."""
        return silver_label(self.support, self.support, self.n_models, self.n_models)

    @property
    def answer(self) -> str:
        """The agreed content(s) joined by " | "."""
        return " | ".join(self.contents)


def silver_label(k_min: int, k_max: int, n_min: int, n_max: int) -> str:
    """ "silver (k of n models agree)", with ranges when the keys pooled in a figure differ."""
    k = str(k_min) if k_min == k_max else f"{k_min}-{k_max}"
    n = str(n_min) if n_min == n_max else f"{n_min}-{n_max}"
    return f"silver ({k} of {n} models agree)"


def _vote(picks: list[frozenset[str] | None]) -> frozenset[str] | None:
    counts = Counter(p for p in picks if p is not None).most_common(2)
    if not counts or (len(counts) == 2 and counts[0][1] == counts[1][1]):
        return None
    return counts[0][0]


def model_votes(answers: Iterable[ChoiceAnswer]) -> dict[tuple[str, str], dict[str, frozenset[str] | None]]:
    """Per question (task, id): each model's majority option content over the variants, None when it abstains."""
    picks: dict[tuple[str, str], dict[str, list[frozenset[str] | None]]] = defaultdict(lambda: defaultdict(list))
    for a in answers:
        picks[(a.task, a.record_id)][a.model].append(a.chosen)
    return {q: {m: _vote(p) for m, p in sorted(by_model.items())} for q, by_model in picks.items()}


def build_silver_key(answers: Iterable[ChoiceAnswer],
                     min_agreement: float = DEFAULT_MIN_AGREEMENT) -> dict[tuple[str, str], SilverEntry]:
    """The silver key of every question the models agree on (see the module docstring), keyed by (task, id)."""
    if not 0.0 < min_agreement <= 1.0:
        raise ValueError(f"min_agreement must be in (0, 1], not {min_agreement}")
    key: dict[tuple[str, str], SilverEntry] = {}
    for (task, rid), votes in model_votes(answers).items():
        n = len(votes)
        ranked = Counter(v for v in votes.values() if v is not None).most_common(2)
        if not ranked:
            continue
        top, k = ranked[0]
        if k < 2 or k / n < min_agreement or (len(ranked) == 2 and ranked[1][1] == k):
            continue
        key[(task, rid)] = SilverEntry(
            task=task, record_id=rid, contents=sorted(top), support=k, n_models=n, min_agreement=min_agreement,
            votes={m: (" | ".join(sorted(v)) if v is not None else None) for m, v in votes.items()})
    return key


def silver_scores(answers: Iterable[ChoiceAnswer], key: Mapping[tuple[str, str], SilverEntry]) -> list[ItemScore]:
    """Scores of the answers that have no gold verdict: against the silver key, or back to `:no_key` without one."""
    out = []
    for a in answers:
        if a.score_method not in _REGRADABLE:
            continue
        status = a.score_method.split(":")[1]
        unreadable = status in ("unextractable", "ambiguous")
        entry = key.get((a.task, a.record_id))
        if entry is None:
            method = f"choice:{status}:no_key" if unreadable else "choice:no_key"
            out.append(ItemScore(item_id=a.item_id, correct=False if unreadable else None,
                                 score=0.0 if unreadable else None, extracted=a.extracted, score_method=method))
        elif unreadable:
            out.append(ItemScore(item_id=a.item_id, correct=False, score=0.0, extracted=a.extracted,
                                 score_method=f"choice:{status}:silver"))
        else:
            right = a.chosen == frozenset(entry.contents)
            out.append(ItemScore(item_id=a.item_id, correct=right, score=float(right), extracted=a.extracted,
                                 score_method="choice:silver"))
    return out
