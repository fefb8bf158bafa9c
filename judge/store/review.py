"""Review rows: a judge's verdicts with their items (the review queue's input) and Label Studio pulls."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from judge.core.models import Item, Verdict
    from judge.store import Store

_ITEM = ("item_id", "dimension", "task", "question", "options", "reference_answer", "model", "response", "meta")
_VERDICT = ("status", "category", "rationale", "confidence", "secondary", "error", "source", "model")
_PULL = ("pull_id", "label_studio_url", "project", "project_id", "gold_path", "n_tasks", "n_labels", "n_items_new",
         "n_items_updated", "n_ties", "annotators", "fleiss_kappa", "fleiss_n", "krippendorff_alpha",
         "pairwise_kappa", "problems")
_JSON = ("annotators", "pairwise_kappa", "problems")


class ReviewMixin:
    """Store methods for the review loop."""

    def judged_items(self: Store, judge_id: str) -> list[tuple[Item, Verdict]]:
        """Every item this judge has a verdict on, with the verdict (any status), in item-id order."""
        from judge.core.models import Item, Verdict

        cols = ", ".join([*(f"i.{c}" for c in _ITEM), *(f"v.{c} AS v_{c}" for c in _VERDICT)])
        rows = self.con.execute(f"SELECT {cols} FROM verdicts v JOIN items i USING (item_id) WHERE v.judge_id = ? "
                                "ORDER BY i.item_id", [judge_id]).fetchall()
        out = []
        for r in rows:
            it = dict(zip(_ITEM, r[:len(_ITEM)], strict=True))
            it["options"] = json.loads(it["options"]) if it["options"] else None
            it["meta"] = json.loads(it["meta"]) if it["meta"] else {}
            v = dict(zip(_VERDICT, r[len(_ITEM):], strict=True))
            v["secondary"] = json.loads(v["secondary"]) if v["secondary"] else []
            v["source"] = v["source"] or "llm"
            out.append((Item(**it), Verdict(item_id=it["item_id"], judge_id=judge_id, **v)))
        return out

    def insert_review_pull(self: Store, values: dict[str, Any]) -> None:
        """Record one pull of reviewed labels from Label Studio (JSON fields given as Python values)."""
        row = [json.dumps(values.get(c), ensure_ascii=False) if c in _JSON else values.get(c) for c in _PULL]
        self.con.execute(f"INSERT INTO review_pulls ({', '.join(_PULL)}) VALUES ({', '.join('?' for _ in _PULL)})",
                         row)

    def review_pulls(self: Store) -> list[dict[str, Any]]:
        """Every recorded pull, oldest first, JSON fields decoded."""
        rows = self.con.execute(f"SELECT {', '.join(_PULL)}, pulled_at FROM review_pulls ORDER BY pulled_at").fetchall()
        out = []
        for r in rows:
            d = dict(zip((*_PULL, "pulled_at"), r, strict=True))
            out.append({k: json.loads(v) if k in _JSON and v is not None else v for k, v in d.items()})
        return out
