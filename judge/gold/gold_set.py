"""The physician gold set: JSONL interchange format, consensus over annotators' labels, and a summary.

One item per line with exactly the keys of `GOLD_KEYS`; each entry of `labels` has exactly the keys
annotator, category, note. Adjudication is recorded inside those keys: an adjudication is a label whose note
starts with "adjudication:" and whose annotator is the adjudicator, e.g.
`{"annotator": "dr_wang", "category": "omission", "note": "adjudication: the second diagnosis is missing"}`.

`consensus` is derived from the labels (see `compute_consensus`): a null consensus in a file is filled in from
the labels, a non-null one that disagrees with them is an error (override a majority with an adjudication label,
not by editing `consensus`). Items whose consensus is null (tie without adjudication, or no labels) are excluded
from agreement metrics and counted in `GoldSummary.n_excluded`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from judge.core.exceptions import InputError
from judge.core.models import Item
from judge.core.taxonomy import CategoryCode
from judge.ingest.jsonl import JsonlLine, iter_jsonl_lines

ADJUDICATION_PREFIX = "adjudication:"
GOLD_KEYS: tuple[str, ...] = (
    "item_id",
    "dimension",
    "task",
    "question",
    "options",
    "reference_answer",
    "model",
    "response",
    "labels",
    "consensus",
)
LABEL_KEYS: tuple[str, ...] = ("annotator", "category", "note")
ConsensusStatus = Literal["unanimous", "majority", "adjudicated", "tie", "unlabelled"]


class GoldLabel(BaseModel):
    """One annotator's category for one item (an adjudication when the note starts with "adjudication:")."""

    model_config = ConfigDict(extra="forbid")

    annotator: str = Field(min_length=1)
    """Who gave the label (the adjudicator, for an adjudication)."""
    category: CategoryCode
    """The category code chosen."""
    note: str = ""
    """Free-text remark; starts with "adjudication:" for an adjudication."""

    @field_validator("note", mode="before")
    @classmethod
    def _null_note(cls, v: Any) -> Any:
        return "" if v is None else v

    def is_adjudication(self, prefix: str = ADJUDICATION_PREFIX) -> bool:
        """True when this label records an adjudicator's final decision."""
        return self.note.startswith(prefix)

    @classmethod
    def adjudication(cls, adjudicator: str, category: str, reason: str = "") -> GoldLabel:
        """Build an adjudication label."""
        return cls(annotator=adjudicator, category=category, note=f"{ADJUDICATION_PREFIX} {reason}".rstrip())


class ConsensusResult(BaseModel):
    """The gold category of an item derived from its labels."""

    category: CategoryCode | None
    """Consensus category; None for a tie without adjudication or no labels."""
    status: ConsensusStatus
    """How it was reached."""
    votes: dict[str, int] = Field(default_factory=dict)
    """Non-adjudication labels per category."""


def compute_consensus(labels: Iterable[GoldLabel], adjudicator_prefix: str = ADJUDICATION_PREFIX) -> ConsensusResult:
    """Derive the consensus category from labels.

    - An adjudication label (note starting with `adjudicator_prefix`) decides, whatever the votes: "adjudicated";
      with several adjudications the last one in the list wins.
    - Otherwise the votes of the other labels count: all the same (a single label included) -> "unanimous";
      one category with strictly more votes than every other (a plurality, e.g. 2-1 or 2-1-1) -> "majority";
      several categories sharing the top count -> "tie", category None (needs adjudication).
    - No labels at all -> "unlabelled", category None.
    """
    labels = list(labels)
    votes = Counter(lab.category for lab in labels if not lab.is_adjudication(adjudicator_prefix))
    tally = dict(sorted(votes.items()))
    adjudications = [lab for lab in labels if lab.is_adjudication(adjudicator_prefix)]
    if adjudications:
        return ConsensusResult(category=adjudications[-1].category, status="adjudicated", votes=tally)
    if not votes:
        return ConsensusResult(category=None, status="unlabelled")
    ranked = votes.most_common()
    if len(ranked) == 1:
        return ConsensusResult(category=ranked[0][0], status="unanimous", votes=tally)
    if ranked[0][1] > ranked[1][1]:
        return ConsensusResult(category=ranked[0][0], status="majority", votes=tally)
    return ConsensusResult(category=None, status="tie", votes=tally)


class GoldItem(Item):
    """One gold-set item: the judged material (an `Item`) plus physicians' labels and their consensus."""

    model_config = ConfigDict(extra="forbid")

    item_id: str = Field(min_length=1)
    """Unique id; the same id as the judged `Item`."""
    labels: list[GoldLabel] = Field(default_factory=list)
    """Annotators' labels, adjudications included."""
    consensus: CategoryCode | None = None
    """Category derived from `labels` by `compute_consensus`; None = excluded from agreement metrics."""

    @model_validator(mode="after")
    def _check_labels(self) -> GoldItem:
        voters = [lab.annotator for lab in self.labels if not lab.is_adjudication()]
        twice = sorted(a for a, n in Counter(voters).items() if n > 1)
        if twice:
            raise ValueError(f"annotator(s) {twice} labelled this item more than once")
        derived = compute_consensus(self.labels)
        if self.consensus is None:
            self.consensus = derived.category
        elif self.consensus != derived.category:
            raise ValueError(
                f"consensus {self.consensus!r} disagrees with the labels ({derived.status}: {derived.category!r}); "
                "record an adjudication label to override the labels"
            )
        return self

    @property
    def consensus_status(self) -> ConsensusStatus:
        """How the consensus was reached (see `compute_consensus`)."""
        return compute_consensus(self.labels).status

    def to_item(self) -> Item:
        """The judged material as a pipeline `Item`."""
        return Item(**self.model_dump(include=set(Item.model_fields) - {"meta"}))

    def to_json_line(self) -> str:
        """The item as one JSONL line (keys in `GOLD_KEYS` order, UTF-8 text kept readable)."""
        data = self.model_dump(mode="json")
        return json.dumps({k: data[k] for k in GOLD_KEYS}, ensure_ascii=False)


def problems_error(source: str, problems: list[tuple[int | None, str]]) -> InputError:
    """One InputError carrying every problem found, located at the first one."""
    lines = [f"line {n}: {msg}" if n is not None else msg for n, msg in problems]
    head = f"{len(problems)} problem(s) in gold data:\n" if len(problems) > 1 else ""
    return InputError(source, problems[0][0], head + "\n".join(lines))


def format_validation_error(e: ValidationError) -> str:
    """A compact one-line rendering of a pydantic ValidationError."""
    parts = []
    for err in e.errors():
        where = ".".join(str(p) for p in err["loc"]) or "item"
        got = err.get("input")
        shown = f" (got {got!r})" if isinstance(got, str | int | float) and len(repr(got)) <= 60 else ""
        parts.append(f"{where}: {err['msg']}{shown}")
    return "; ".join(parts)


def _gold_item(obj: Any) -> GoldItem:
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    missing, unknown = [k for k in GOLD_KEYS if k not in obj], sorted(set(obj) - set(GOLD_KEYS))
    if missing or unknown:
        raise ValueError(f"keys must be exactly {list(GOLD_KEYS)}; missing {missing}, unknown {unknown}")
    for i, lab in enumerate(obj["labels"] if isinstance(obj["labels"], list) else []):
        if isinstance(lab, dict) and set(lab) != set(LABEL_KEYS):
            raise ValueError(f"labels.{i}: keys must be exactly {list(LABEL_KEYS)}, got {sorted(lab)}")
    return GoldItem.model_validate(obj)


def parse_gold_lines(lines: Iterable[JsonlLine]) -> tuple[list[GoldItem], list[tuple[int, str]]]:
    """Gold items from read JSONL lines, plus (1-based line number, problem) pairs for the lines that are not."""
    items: list[GoldItem] = []
    problems: list[tuple[int, str]] = []
    first_line: dict[str, int] = {}
    for ln in lines:
        if ln.problem is not None:
            problems.append((ln.line, ln.message))
            continue
        try:
            item = _gold_item(ln.value)
        except ValidationError as e:
            problems.append((ln.line, format_validation_error(e)))
            continue
        except ValueError as e:
            problems.append((ln.line, str(e)))
            continue
        if item.item_id in first_line:
            problems.append((ln.line, f"duplicate item_id {item.item_id!r} (first on line {first_line[item.item_id]})"))
            continue
        first_line[item.item_id] = ln.line
        items.append(item)
    return items, problems


def load_gold(path: str | Path) -> list[GoldItem]:
    """Read a gold JSONL file; raises one InputError that lists every bad line (numbered from 1)."""
    if not Path(path).exists():
        raise FileNotFoundError(f"no gold file at {path} (a relative path is read from the current folder, "
                                f"{Path.cwd()}); give the gold JSONL's path")
    items, problems = parse_gold_lines(iter_jsonl_lines(path))
    if problems:
        raise problems_error(str(path), list(problems))
    return items


def save_gold(items: Iterable[GoldItem], path: str | Path) -> None:
    """Write items as gold JSONL (re-validating each, so a stale consensus is caught before it is written)."""
    checked = [GoldItem.model_validate(item.model_dump()) for item in items]
    ids = Counter(item.item_id for item in checked)
    dupes = sorted(i for i, n in ids.items() if n > 1)
    if dupes:
        raise ValueError(f"duplicate item_id(s): {dupes}")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("".join(item.to_json_line() + "\n" for item in checked), encoding="utf-8")


def items_needing_adjudication(items: Iterable[GoldItem]) -> list[GoldItem]:
    """Items whose labels tie without an adjudication."""
    return [item for item in items if item.consensus_status == "tie"]


def consensus_labels(items: Iterable[GoldItem]) -> dict[str, str]:
    """{item_id: consensus category} for the items that have one (the rest are excluded from metrics)."""
    return {item.item_id: item.consensus for item in items if item.consensus is not None}


def annotations_by_annotator(items: Iterable[GoldItem]) -> dict[str, dict[str, str]]:
    """{annotator: {item_id: category}} from non-adjudication labels, for inter-annotator agreement."""
    out: dict[str, dict[str, str]] = {}
    for item in items:
        for lab in item.labels:
            if not lab.is_adjudication():
                out.setdefault(lab.annotator, {})[item.item_id] = lab.category
    return out


class GoldSummary(BaseModel):
    """Counts describing a gold set."""

    n_items: int
    """Items in the set."""
    n_with_consensus: int
    """Items with a consensus category (used for agreement metrics)."""
    n_excluded: int
    """Items without consensus (tie or unlabelled), left out of agreement metrics."""
    n_labels: int
    """Labels in total, adjudications included."""
    by_status: dict[str, int]
    """Items per consensus status."""
    by_category: dict[str, int]
    """Items with consensus per consensus category."""
    by_dimension: dict[str, int]
    """Items per dimension ("unknown" when not set)."""
    by_split: dict[str, int] | None = None
    """Items per split ("unsplit" when absent from the split map), when splits were given."""
    labels_per_annotator: dict[str, int]
    """Non-adjudication labels per annotator."""
    adjudications_per_adjudicator: dict[str, int]
    """Adjudication labels per adjudicator."""


def summarize_gold(items: Iterable[GoldItem], splits: Mapping[str, str] | None = None) -> GoldSummary:
    """Count items by consensus status, category, dimension and split, and labels by annotator."""
    items = list(items)
    labels = [lab for item in items for lab in item.labels]
    with_consensus = [item for item in items if item.consensus is not None]

    def count(values: Iterable[str]) -> dict[str, int]:
        return dict(sorted(Counter(values).items()))

    return GoldSummary(
        n_items=len(items),
        n_with_consensus=len(with_consensus),
        n_excluded=len(items) - len(with_consensus),
        n_labels=len(labels),
        by_status=count(item.consensus_status for item in items),
        by_category=count(item.consensus for item in with_consensus if item.consensus),
        by_dimension=count(item.dimension or "unknown" for item in items),
        by_split=None if splits is None else count(splits.get(item.item_id, "unsplit") for item in items),
        labels_per_annotator=count(lab.annotator for lab in labels if not lab.is_adjudication()),
        adjudications_per_adjudicator=count(lab.annotator for lab in labels if lab.is_adjudication()),
    )
