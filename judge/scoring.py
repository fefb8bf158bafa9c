"""Score MedBench answers without a database: accuracy against a key, option-shuffle robustness, open-answer recall.

Answer keys map (task, id) to an answer. Three forms are understood:
- (task, "<id>/<perm_key>") -> letters in *that record's* option order (one gold answer per permuted record);
- (task, "<id>") -> letters in the option order of the record listed first for that id (meta perm_index 0),
  or the option text(s) themselves ("右气胸", several separated by "|");
both are mapped to option *contents*, so one key serves every permutation of a question.

Robustness: records of one model, task and `other.id` whose options are permutations of each other (same
multiset of option contents once the "A. " labels are stripped) form a `Group`. A group is consistent when
the same option content(s) were chosen under every permutation; an unextractable answer breaks consistency.
Groups of a single record are not robustness tests and are left out.
"""

from __future__ import annotations

import csv
import json
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel

from judge.exceptions import InputError
from judge.extract import Extraction, option_contents
from judge.models import Item

AnswerKey = dict[tuple[str, str], str]
_LETTER_ANSWER = re.compile(r"^\s*[A-Z](?:\s*[,、;/ ]?\s*[A-Z])*\s*$")


# --- answer keys and accuracy -------------------------------------------------------------------

def load_answer_key(path: str | Path) -> AnswerKey:
    """Read an answer key from JSONL (objects) or CSV (header row) with fields task, id, answer."""
    path = Path(path)
    key: AnswerKey = {}
    with path.open(encoding="utf-8-sig", newline="") as fh:
        if path.suffix.lower() == ".csv":
            reader = csv.DictReader(fh)
            missing = {"task", "id", "answer"} - set(reader.fieldnames or [])
            if missing:
                raise InputError(str(path), 1, f"missing column(s): {', '.join(sorted(missing))}")
            rows: Iterable[tuple[int, dict]] = ((n, r) for n, r in enumerate(reader, start=2))
        else:
            rows = ((n, _json_row(path, n, line)) for n, line in enumerate(fh, start=1) if line.strip())
        for n, row in rows:
            if any(row.get(f) in (None, "") for f in ("task", "id", "answer")):
                raise InputError(str(path), n, "each row needs task, id and answer")
            key[(str(row["task"]).strip(), str(row["id"]).strip())] = str(row["answer"]).strip()
    return key


def _json_row(path: Path, n: int, line: str) -> dict:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        raise InputError(str(path), n, f"invalid JSON: {e.msg}") from e
    if not isinstance(row, dict):
        raise InputError(str(path), n, "expected a JSON object")
    return row


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def _contents(options: list[str]) -> list[str]:
    return [_norm(c) for c in option_contents(options)]


def chosen_contents(item: Item, extraction: Extraction) -> frozenset[str] | None:
    """Option contents picked by an extraction; None when nothing valid was picked."""
    if extraction.status != "ok" or not extraction.letters or not item.options:
        return None
    contents = _contents(item.options)
    idx = [ord(letter) - ord("A") for letter in extraction.letters]
    if any(not 0 <= i < len(contents) for i in idx):
        return None
    return frozenset(contents[i] for i in idx)


def key_contents(item: Item, key: AnswerKey, ref_options: list[str] | None = None) -> frozenset[str] | None:
    """The keyed answer of `item` as option contents, or None when the key has no entry for it.

    `ref_options` is the option order an id-level letter answer refers to (default: the item's own).
    """
    if not item.options or item.task is None:
        return None
    rid, pk = str(item.meta.get("record_id", item.meta.get("other_id"))), str(item.meta.get("perm_key"))
    if (item.task, f"{rid}/{pk}") in key:
        answer, order = key[(item.task, f"{rid}/{pk}")], item.options
    elif (item.task, rid) in key:
        answer, order = key[(item.task, rid)], ref_options or item.options
    else:
        return None
    contents = _contents(order)
    if _LETTER_ANSWER.match(answer):
        idx = [ord(c) - ord("A") for c in re.findall(r"[A-Z]", answer)]
        return frozenset(contents[i] if i < len(contents) else f"<invalid {chr(65 + i)}>" for i in idx)
    return frozenset(_norm(part) for part in re.split(r"[|｜]", answer) if part.strip())


def score_choice(
    item: Item, extraction: Extraction, key: AnswerKey, ref_options: list[str] | None = None
) -> bool | None:
    """True/False against the key (same option contents chosen); None when the key has no entry."""
    gold = key_contents(item, key, ref_options)
    if gold is None:
        return None
    return chosen_contents(item, extraction) == gold


# --- robustness to option shuffling ------------------------------------------------------------

class Group(BaseModel):
    """Records of one question whose option lists are permutations of each other, for one model."""

    model: str
    """Model that answered."""
    task: str
    """Task name."""
    record_id: str
    """Question id (`other.id`)."""
    dimension: str | None = None
    """MedBench dimension of the task."""
    items: list[Item]
    """The permuted records, the one listed first for the id first."""

    @property
    def item_ids(self) -> list[str]:
        """Ids of the member items."""
        return [it.item_id for it in self.items]


def robustness_groups(items: Iterable[Item]) -> list[Group]:
    """Group choice items by (model, task, id) and option-content multiset; keep groups of 2+ records."""
    buckets: dict[tuple[str, str, str, tuple[str, ...]], list[Item]] = defaultdict(list)
    for it in items:
        if not it.options:
            continue
        rid = str(it.meta.get("record_id", it.meta.get("other_id")))
        buckets[(it.model or "", it.task or "", rid, tuple(sorted(_contents(it.options))))].append(it)
    groups = []
    for (model, task, rid, _), members in buckets.items():
        if len(members) > 1:
            members = sorted(members, key=lambda i: i.meta.get("perm_index", 0))
            groups.append(Group(model=model, task=task, record_id=rid, dimension=members[0].dimension, items=members))
    return groups


def consistency(group: Group, extractions: Mapping[str, Extraction]) -> bool:
    """True when the same option content(s) were chosen under every permutation of the group."""
    picks = set()
    for it in group.items:
        ex = extractions.get(it.item_id)
        chosen = chosen_contents(it, ex) if ex is not None else None
        if chosen is None:
            return False
        picks.add(chosen)
    return len(picks) == 1


def strict(group: Group, extractions: Mapping[str, Extraction], key: AnswerKey) -> bool | None:
    """True when every permutation was answered correctly; None when the key lacks the question."""
    ref = group.items[0].options
    scores = [score_choice(it, extractions.get(it.item_id, Extraction()), key, ref) for it in group.items]
    if any(s is None for s in scores):
        return None
    return all(scores)


class RobustnessRow(BaseModel):
    """Option-shuffle robustness of one model on one task, one dimension, or everything."""

    model: str
    """Model name."""
    level: Literal["task", "dimension", "all"]
    """What `name` is."""
    name: str
    """Task or dimension name; "all" for the model overall."""
    n_groups: int
    """Permutation groups tested."""
    n_consistent: int
    """Groups answered with the same option content(s) under every permutation."""
    consistency: float
    """n_consistent / n_groups."""
    n_unextractable: int
    """Groups with at least one answer that could not be extracted."""
    n_keyed: int = 0
    """Groups the answer key covers."""
    strict: float | None = None
    """Share of keyed groups answered correctly under every permutation; None without a key."""


def robustness_report(
    groups: list[Group], extractions: Mapping[str, Extraction], key: AnswerKey | None = None
) -> list[RobustnessRow]:
    """Consistency (and strict accuracy with a key) per model x task, model x dimension and model overall."""
    cells: dict[tuple[str, str, str], list[Group]] = defaultdict(list)
    for g in groups:
        cells[(g.model, "task", g.task)].append(g)
        cells[(g.model, "dimension", g.dimension or "unknown")].append(g)
        cells[(g.model, "all", "all")].append(g)
    rows = []
    for (model, level, name), gs in sorted(cells.items()):
        n_ok = sum(consistency(g, extractions) for g in gs)
        unext = sum(any(extractions.get(i, Extraction()).status != "ok" for i in g.item_ids) for g in gs)
        stricts = [s for g in gs if key is not None and (s := strict(g, extractions, key)) is not None]
        rows.append(RobustnessRow(model=model, level=level, name=name, n_groups=len(gs), n_consistent=n_ok,
                                  consistency=n_ok / len(gs), n_unextractable=unext, n_keyed=len(stricts),
                                  strict=sum(stricts) / len(stricts) if stricts else None))
    return rows


# --- open-ended answers: answer-point recall ----------------------------------------------------

_CIRCLED = re.compile("[\u2460-\u2473\u2776-\u277f]")  # ① .. ⑳, ❶ .. ❿
_NUMBERING = re.compile(
    r"(?:^|(?<=[\s,:;。]))(?:\d{1,2}(?:[、)]|\.(?!\d))|\(\d{1,2}\)|[一二三四五六七八九十]{1,2}[、.])"
)
_SEPARATORS = re.compile(r"[\n;。]+")
_PUNCT = re.compile(r"[\W_]+", re.UNICODE)


def split_points(reference: str) -> list[str]:
    """Split a reference answer into answer points at numbering (1. / (1) / ① / 一、), semicolons, 。 and line breaks."""
    text = unicodedata.normalize("NFKC", _CIRCLED.sub("\n", reference or ""))
    text = _NUMBERING.sub("\n", text)
    text = re.sub(r"(?m)^\s*[-•·*]+\s*", "", text)
    points = []
    for part in _SEPARATORS.split(text):
        part = part.strip(" \t,:、")
        if len(_PUNCT.sub("", part)) >= 2:
            points.append(part)
    return points


def _clean_text(text: str) -> str:
    return _PUNCT.sub("", unicodedata.normalize("NFKC", text).lower())


def _bigrams(text: str) -> set[str]:
    return {text[i:i + 2] for i in range(len(text) - 1)}


def point_coverage(point: str, response: str) -> float:
    """Share of the point's distinct character bigrams that also occur in the response (0..1).

    A one-character point counts as covered when the character occurs in the response.
    """
    p, r = _clean_text(point), _clean_text(response)
    if len(p) <= 1:
        return float(bool(p) and p in r)
    want = _bigrams(p)
    return len(want & _bigrams(r)) / len(want)


def recall_offline(points: list[str], response: str, point_threshold: float = 0.5) -> float:
    """Offline answer-point recall: share of points whose character-bigram coverage reaches `point_threshold`.

    A lexical stand-in for an LLM recall judge: it credits points the response states in similar words and
    misses paraphrases, so it under-estimates recall for free-style answers.
    """
    if not points:
        raise ValueError("no answer points to recall")
    return sum(point_coverage(p, response) >= point_threshold for p in points) / len(points)


class RecallJudge(Protocol):
    """Anything that scores how many answer points a response covers (0..1), e.g. an LLM judge."""

    def recall(self, points: list[str], response: str) -> float:
        """Share of `points` the response covers."""
        ...


class BigramRecallJudge:
    """The offline RecallJudge: character-bigram coverage per point (see `recall_offline`)."""

    def __init__(self, point_threshold: float = 0.5) -> None:
        self.point_threshold = point_threshold

    def recall(self, points: list[str], response: str) -> float:
        """Share of points covered lexically."""
        return recall_offline(points, response, self.point_threshold)


def is_wrong_open(recall: float, threshold: float = 0.6) -> bool:
    """An open answer counts as wrong when its answer-point recall is below `threshold`."""
    return recall < threshold
