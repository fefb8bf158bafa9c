"""Item rows: upserts of the judged material, and reading items back for a labelling run."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from judge.core.models import Item
    from judge.store import Store

ITEM_COLUMNS = ["item_id", "dimension", "task", "question", "options", "reference_answer", "model", "response", "meta"]
"""Columns of the items table that `upsert_items` writes."""


class ItemsMixin:
    """Store methods for the items table."""

    def upsert_items(self, items: Iterable[Item], origin: str | None = None) -> None:
        """Insert items; an existing item_id keeps its row but gets the new content.

        `origin` marks where they came from: None for benchmark or input items, "gold" for the gold items a
        calibration judges (kept out of the benchmark's views, counts and signatures).
        """
        rows = []
        seen: set[str] = set()
        for it in items:
            if it.item_id in seen:
                continue
            seen.add(it.item_id)
            rows.append({
                "item_id": it.item_id, "dimension": it.dimension, "task": it.task, "question": it.question,
                "options": json.dumps(it.options, ensure_ascii=False) if it.options is not None else None,
                "reference_answer": it.reference_answer, "model": it.model, "response": it.response,
                "meta": json.dumps(it.meta, ensure_ascii=False, default=str), "origin": origin,
            })
        cols = [*ITEM_COLUMNS, "origin"]
        updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c != "item_id")
        for i in range(0, len(rows), 50_000):
            chunk = rows[i:i + 50_000]
            self.insert_batch("items", cols, {c: [r[c] for r in chunk] for c in cols},
                              f"ON CONFLICT (item_id) DO UPDATE SET {updates}", keys=("item_id",))

    def origins_of(self: Store, item_ids: Sequence[str]) -> dict[str, str | None]:
        """{item_id: origin} of the stored items among `item_ids` (origin None: a benchmark or input item)."""
        rows = self.con.execute("SELECT item_id, origin FROM items WHERE item_id IN (SELECT unnest(?::VARCHAR[]))",
                                [list(item_ids)]).fetchall()
        return dict(rows)

    def load_items(self, where: str = "TRUE", params: Sequence[Any] | None = None) -> list[Item]:
        """Items stored in the DB matching a SQL condition on the items table."""
        from judge.core.models import Item

        rows = self.con.execute(f"SELECT {', '.join(ITEM_COLUMNS)} FROM items WHERE {where} ORDER BY item_id",
                                params or []).fetchall()
        out = []
        for r in rows:
            d = dict(zip(ITEM_COLUMNS, r, strict=True))
            d["options"] = json.loads(d["options"]) if d["options"] else None
            d["meta"] = json.loads(d["meta"]) if d["meta"] else {}
            out.append(Item(**d))
        return out

    def wrong_items(self: Store) -> list[Item]:
        """Items that `medjudge score` marked wrong."""
        return self.load_items("correct = FALSE")
