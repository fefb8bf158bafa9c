"""Decide, item by item, whether a benchmark answer is correct: choice letters against a key, open text by recall.

`score_method` says how each verdict was reached:

| method                   | correct | when                                                                  |
|--------------------------|---------|-----------------------------------------------------------------------|
| `choice:key`             | T/F     | the answer key has the question; compared as option contents         |
| `choice:reference`       | T/F     | no key entry, but the record carries its own reference answer         |
| `choice:no_key`          | NULL    | an answer was extracted but nothing says what is right                |
| `choice:unextractable`   | FALSE   | no option letter could be found (includes empty responses)            |
| `choice:ambiguous`       | FALSE   | the response asserts different answers                                |
| `choice:unextractable:no_key`, `choice:ambiguous:no_key` | FALSE | the same, for a question no key covers |
| `choice:silver`, `choice:unextractable:silver`, `choice:ambiguous:silver` | T/F | against the models' consensus (judge.medbench.silver_key), never a gold grade |
| `open:recall:<judge>`    | T/F     | answer-point recall against the reference; wrong below the threshold  |
| `open:recall:offline_fallback` | T/F | the LLM recall judge failed; offline recall used, error in `note` |
| `open:empty`, `open:empty:no_key` | FALSE | an empty or whitespace-only free-text answer (with / without a reference) |
| `open:no_reference`      | NULL    | free-text answer without a reference answer                           |
| `open:no_points`         | NULL    | the reference yields no answer points                                 |

An unextractable or ambiguous choice answer is wrong whether or not a key exists: the benchmark scores it 0.
So is an empty answer to an open question. Without a key it is wrong but not *graded*: accuracy (correct /
graded) only counts items that have a gold answer, i.e. every method with a TRUE/FALSE verdict except the
`:no_key` and `:silver` ones (silver verdicts are counted and shown apart).
Items without options are scored as open answers. A reference for an open answer comes from the record
(`reference_answer`) or from the answer key under (task, id).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from typing import Protocol

from pydantic import BaseModel

from judge.core.models import Item
from judge.medbench.answer_key import AnswerKey, key_contents, score_choice
from judge.medbench.extract import Extraction, extract_choice, is_multi, option_contents
from judge.medbench.recall import BigramRecallJudge, RecallJudge, is_wrong_open, split_points


class ItemScore(BaseModel):
    """The scoring outcome of one item, as stored in the items table."""

    item_id: str
    """Id of the scored item."""
    correct: bool | None
    """True/False when decidable; None when unknown (no key, no reference)."""
    score: float | None
    """1/0 for choice items, answer-point recall for open items; None when unknown."""
    extracted: str | None
    """Extracted option letters ("A" or "A,C"); None for open items and when nothing was extracted."""
    score_method: str
    """How the verdict was reached (see the module docstring)."""
    note: str | None = None
    """Why a fallback was used (e.g. the LLM recall judge's error); stored in the item's meta as `score_note`."""

    @property
    def graded(self) -> bool:
        """Whether the verdict rests on a gold answer (key, reference): what accuracy is computed over."""
        return self.correct is not None and not self.score_method.endswith((":no_key", ":silver"))

    @property
    def silver(self) -> bool:
        """Whether the verdict rests on the models' consensus (a silver key)."""
        return self.score_method.endswith(":silver")


class RecallOutcome(BaseModel):
    """An answer-point recall together with how it was obtained."""

    recall: float
    """Share of the answer points the response covers (0..1)."""
    method: str
    """How it was judged, the last part of `score_method` (e.g. "llm", "offline_fallback")."""
    note: str | None = None
    """Why the judge's own method was not used (e.g. the LLM error behind a fallback); None otherwise."""


class AssessingRecallJudge(RecallJudge, Protocol):
    """A RecallJudge that also sees the question and reports how each recall was obtained (e.g. a fallback)."""

    def assess(self, points: list[str], response: str, question: str | None = None) -> RecallOutcome:
        """Recall of `points` in `response` and the method that produced it."""
        ...


def judge_label(judge: RecallJudge) -> str:
    """Short name of a recall judge for `score_method`: its `name` attribute, else "bigram" or the class name."""
    name = getattr(judge, "name", None)
    if isinstance(name, str) and name:
        return name
    return "bigram" if isinstance(judge, BigramRecallJudge) else type(judge).__name__


def _content_set(options: list[str]) -> list[str]:
    return sorted(re.sub(r"\s+", "", unicodedata.normalize("NFKC", c)) for c in option_contents(options))


def _record_id(item: Item) -> str:
    return str(item.meta.get("record_id", item.meta.get("other_id")))


def score_choice_item(
    item: Item, ex: Extraction, key: AnswerKey, ref_options: list[str] | None = None
) -> ItemScore:
    """Score one choice item from its extraction; `ref_options` is the order an id-level letter key refers to."""
    if ref_options is not None and item.options and _content_set(ref_options) != _content_set(item.options):
        ref_options = None  # a different option set under the same id: an id-level letter key cannot apply
        key = {k: v for k, v in key.items() if k != (item.task, _record_id(item))}
    if ex.status != "ok":
        graded = key_contents(item, key, ref_options) is not None or bool(item.reference_answer)
        return ItemScore(item_id=item.item_id, correct=False, score=0.0, extracted=None,
                         score_method=f"choice:{ex.status}" + ("" if graded else ":no_key"))
    letters = ",".join(ex.letters)
    verdict = score_choice(item, ex, key, ref_options)
    method = "choice:key"
    if verdict is None and item.reference_answer:
        own = {(item.task or "", f"{_record_id(item)}/{item.meta.get('perm_key')}"): item.reference_answer}
        verdict, method = score_choice(item, ex, own), "choice:reference"
    if verdict is None:
        return ItemScore(item_id=item.item_id, correct=None, score=None, extracted=letters, score_method="choice:no_key")
    return ItemScore(item_id=item.item_id, correct=verdict, score=float(verdict), extracted=letters,
                     score_method=method)


def open_reference(item: Item, key: AnswerKey) -> str | None:
    """The reference answer of an open item: the record's own, else the key's entry for (task, id)."""
    if item.reference_answer and item.reference_answer.strip():
        return item.reference_answer
    return key.get((item.task or "", _record_id(item)))


def score_open_item(item: Item, reference: str | None, judge: RecallJudge, threshold: float) -> ItemScore:
    """Score one free-text item by answer-point recall; wrong when recall < threshold or the answer is empty."""
    if not item.response.strip():
        return ItemScore(item_id=item.item_id, correct=False, score=0.0, extracted=None,
                         score_method="open:empty" if reference else "open:empty:no_key")
    if not reference:
        return ItemScore(item_id=item.item_id, correct=None, score=None, extracted=None, score_method="open:no_reference")
    points = split_points(reference)
    if not points:
        return ItemScore(item_id=item.item_id, correct=None, score=None, extracted=None, score_method="open:no_points")
    outcome = judge_recall(judge, points, item)
    return ItemScore(item_id=item.item_id, correct=not is_wrong_open(outcome.recall, threshold), score=outcome.recall,
                     extracted=None, score_method=f"open:recall:{outcome.method}", note=outcome.note)


def judge_recall(judge: RecallJudge, points: list[str], item: Item) -> RecallOutcome:
    """Recall of `points` in the item's response: `assess` (an AssessingRecallJudge, given the question) if present."""
    assess = getattr(judge, "assess", None)
    if callable(assess):
        return assess(points, item.response, item.question)
    return RecallOutcome(recall=float(judge.recall(points, item.response)), method=judge_label(judge))


def reference_orders(items: Iterable[Item]) -> dict[tuple[str, str, str], list[str]]:
    """Per (model, task, id): the option order listed first (perm_index 0), which id-level letter keys refer to."""
    orders: dict[tuple[str, str, str], list[str]] = {}
    for it in items:
        if it.options and it.meta.get("perm_index", 0) == 0:
            orders.setdefault((it.model or "", it.task or "", _record_id(it)), it.options)
    return orders


def score_items(
    items: list[Item],
    extractions: Mapping[str, Extraction],
    key: AnswerKey | None = None,
    *,
    recall_judge: RecallJudge | None = None,
    recall_threshold: float = 0.6,
    prompt_orders: Mapping[tuple[str, str], list[str]] | None = None,
) -> Iterator[ItemScore]:
    """Score every item, yielding as it goes (an LLM recall judge may be slow).

    `extractions` holds the choice extraction of each item with options (missing ones are extracted here).
    `prompt_orders` maps (task, id) to the option order of the benchmark's prompt file; without it the order of
    the first record read for the model is used for id-level letter keys.
    """
    key = key or {}
    judge = recall_judge or BigramRecallJudge()
    firsts = reference_orders(items)
    for it in items:
        if it.options:
            ex = extractions.get(it.item_id) or extract_choice(it.response, it.options, is_multi(it))
            rid = _record_id(it)
            ref = (prompt_orders or {}).get((it.task or "", rid)) or firsts.get((it.model or "", it.task or "", rid))
            yield score_choice_item(it, ex, key, ref)
        else:
            yield score_open_item(it, open_reference(it, key), judge, recall_threshold)
