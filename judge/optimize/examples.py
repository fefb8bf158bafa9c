"""Gold items as DSPy examples: the signature's inputs plus the consensus category and a rationale."""

from __future__ import annotations

from collections.abc import Iterable

import dspy

from judge.core.taxonomy import Taxonomy, load_taxonomy
from judge.gold.gold_set import ADJUDICATION_PREFIX, GoldItem
from judge.optimize.signature import INPUT_FIELDS, item_inputs


def gold_rationale(item: GoldItem, taxonomy: Taxonomy) -> str:
    """The physicians' notes on labels that agree with the consensus, else the consensus category's definition."""
    notes = []
    for lab in item.labels:
        if lab.category != item.consensus:
            continue
        note = lab.note.removeprefix(ADJUDICATION_PREFIX).strip() if lab.is_adjudication() else lab.note.strip()
        if note and note not in notes:
            notes.append(note)
    if notes:
        return "; ".join(notes)
    c = taxonomy.get(str(item.consensus))
    return f"{c.en} ({c.zh}): {c.definition}"


def gold_example(item: GoldItem, taxonomy: Taxonomy | None = None) -> dspy.Example:
    """One gold item with a consensus as a DSPy example (inputs marked; labels: category, rationale)."""
    if item.consensus is None:
        raise ValueError(f"gold item {item.item_id!r} has no consensus category")
    tax = taxonomy or load_taxonomy()
    return dspy.Example(
        item_id=item.item_id, **item_inputs(item.to_item()), category=item.consensus,
        rationale=gold_rationale(item, tax),
    ).with_inputs(*INPUT_FIELDS)


def gold_examples(items: Iterable[GoldItem], taxonomy: Taxonomy | None = None) -> list[dspy.Example]:
    """Examples of the items that have a consensus (items without one cannot be scored and are left out)."""
    tax = taxonomy or load_taxonomy()
    return [gold_example(item, tax) for item in items if item.consensus is not None]
