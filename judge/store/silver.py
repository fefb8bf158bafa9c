"""The silver (consensus) answer key: the stored choice answers it is built from, and the key with its support."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from judge.medbench.silver_key import SilverEntry
    from judge.store import Store


class SilverMixin:
    """Store methods for the silver_key table."""

    def choice_answer_rows(self: Store) -> list[dict[str, Any]]:
        """Every scored choice item with options, of every model in the store (the fields of a ChoiceAnswer)."""
        rows = self.con.execute(
            "SELECT item_id, model, task, dimension, json_extract_string(meta, '$.record_id'), options, extracted,"
            " score_method FROM items WHERE starts_with(score_method, 'choice:') AND options IS NOT NULL"
            " ORDER BY item_id").fetchall()
        return [{"item_id": r[0], "model": r[1] or "", "task": r[2] or "", "dimension": r[3], "record_id": r[4] or "",
                 "options": json.loads(r[5]), "extracted": r[6], "score_method": r[7]} for r in rows]

    def replace_silver_key(self: Store, entries: Iterable[SilverEntry], run_id: str) -> None:
        """Replace the whole silver key (it is rebuilt from every model in the store each time)."""
        import pyarrow as pa

        rows = list(entries)
        data = {
            "task": pa.array([e.task for e in rows], pa.string()),
            "record_id": pa.array([e.record_id for e in rows], pa.string()),
            "answer": pa.array([e.answer for e in rows], pa.string()),
            "contents": pa.array([json.dumps(e.contents, ensure_ascii=False) for e in rows], pa.string()),
            "support": pa.array([e.support for e in rows], pa.int32()),
            "n_models": pa.array([e.n_models for e in rows], pa.int32()),
            "min_agreement": pa.array([e.min_agreement for e in rows], pa.float64()),
            "key_label": pa.array([e.label for e in rows], pa.string()),
            "votes": pa.array([json.dumps(e.votes, ensure_ascii=False) for e in rows], pa.string()),
        }
        cols = ", ".join(data)
        self.run_with_batch(data, [
            "DELETE FROM silver_key",
            f"INSERT INTO silver_key ({cols}, run_id, updated_at) SELECT {cols}, ?, now() FROM _batch",
        ], [[], [run_id]])
