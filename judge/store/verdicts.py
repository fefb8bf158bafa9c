"""Verdict rows: batched upserts (one row per item and judge), the column-wise bulk path, resume, judge lookups."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from operator import attrgetter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import pyarrow as pa

    from judge.core.models import Verdict
    from judge.store import Store

VERDICT_COLUMNS = [
    "item_id", "judge_id", "run_id", "status", "category", "rationale", "evidence", "confidence", "secondary",
    "error", "source", "model", "prompt_version", "prompt_hash", "latency_ms", "prompt_tokens",
    "completion_tokens", "cost_usd", "attempts", "flags",
]
"""Columns of the verdicts table that writers fill (created_at is set by the database)."""


def check_verdict_table(data: pa.Table) -> None:
    """Raise ValueError unless every row is a valid verdict row (checked column-wise)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from judge.core.taxonomy import CATEGORY_CODES

    unknown = set(data.column_names) - set(VERDICT_COLUMNS)
    if unknown:
        raise ValueError(f"unknown verdict column(s): {sorted(unknown)}")
    for c in ("item_id", "judge_id", "status"):
        if c not in data.column_names or data.column(c).null_count:
            raise ValueError(f"column {c!r} is required and may not be null")
    status = data.column("status")
    bad = pc.invert(pc.is_in(status, value_set=pa.array(["ok", "needs_review", "failed"])))
    if pc.any(bad).as_py():
        raise ValueError("status must be ok, needs_review or failed")
    category = data.column("category") if "category" in data.column_names else pa.nulls(data.num_rows, pa.string())
    is_ok = pc.equal(status, "ok")
    if pc.any(pc.and_(is_ok, pc.is_null(category))).as_py():
        raise ValueError("ok rows need a category")
    if pc.any(pc.and_(pc.invert(is_ok), pc.is_valid(category))).as_py():
        raise ValueError("only ok rows may carry a category")
    if pc.any(pc.and_(pc.is_valid(category), pc.invert(pc.is_in(category, value_set=pa.array(CATEGORY_CODES))))).as_py():
        raise ValueError(f"category must be one of {list(CATEGORY_CODES)}")


_KEYS = ("item_id", "judge_id")
_UPSERT = ("ON CONFLICT (item_id, judge_id) DO UPDATE SET "
           + ", ".join(f"{c} = excluded.{c}" for c in VERDICT_COLUMNS if c not in _KEYS) + ", created_at = now()")
_JSON_COLUMNS = ("secondary", "flags")
_INT_COLUMNS = frozenset({"prompt_tokens", "completion_tokens", "attempts"})
_FLOAT_COLUMNS = frozenset({"confidence", "latency_ms", "cost_usd"})


@lru_cache(maxsize=1)
def _row_type() -> pa.StructType:
    """The Arrow struct of a Verdict's scalar fields, typed as their columns."""
    import pyarrow as pa

    return pa.struct([pa.field(c, pa.int32() if c in _INT_COLUMNS else pa.float64() if c in _FLOAT_COLUMNS
                               else pa.string()) for c in VERDICT_COLUMNS if c not in ("run_id", *_JSON_COLUMNS)])


def verdicts_table(verdicts: Sequence[Verdict], run_id: str | None = None) -> pa.Table:
    """Verdict objects as one Arrow table of `VERDICT_COLUMNS` (secondary and flags as JSON text).

    Arrow reads every verdict's field dict in one pass (no Python tuple or dict per row, nothing for the garbage
    collector to scan), typed as the columns are; only the two list fields are turned into JSON text in Python.
    """
    import pyarrow as pa

    rows = pa.array(list(map(vars, verdicts)), type=_row_type())
    columns = dict(zip(_row_type().names, rows.flatten(), strict=True))
    columns["run_id"] = pa.array([run_id] * len(verdicts), pa.string())
    for c in _JSON_COLUMNS:
        columns[c] = pa.array([json.dumps(x) if x else "[]" for x in map(attrgetter(c), verdicts)], pa.string())
    return pa.table({c: columns[c] for c in VERDICT_COLUMNS})


class VerdictsMixin:
    """Store methods for the verdicts and judges tables."""

    def done_item_ids(self, judge_id: str) -> set[str]:
        """Item ids this judge already finished (ok or needs_review)."""
        rows = self.con.execute(
            "SELECT item_id FROM verdicts WHERE judge_id = ? AND status IN ('ok', 'needs_review')", [judge_id]
        ).fetchall()
        return {r[0] for r in rows}

    def write_verdicts(self, verdicts: Sequence[Verdict], run_id: str | None = None) -> None:
        """Write a batch of verdicts in one transaction; (item_id, judge_id) is replaced, never duplicated."""
        self._upsert_verdicts(verdicts_table(verdicts, run_id))

    def write_verdict_table(self, table: pa.Table | pd.DataFrame, run_id: str | None = None) -> int:
        """Bulk-write verdict rows given as columns (Arrow or pandas, `VERDICT_COLUMNS` names; missing ones are null).

        The fast path for imports and large copies: rows are checked column-wise (required ids and status,
        category only on ok rows and always a taxonomy code) instead of one Verdict object per row.
        Returns the number of rows written.
        """
        import pandas as pd
        import pyarrow as pa

        data = pa.Table.from_pandas(table, preserve_index=False) if isinstance(table, pd.DataFrame) else table
        check_verdict_table(data)
        n = data.num_rows
        columns = {c: data.column(c) if c in data.column_names else pa.nulls(n, pa.string()) for c in VERDICT_COLUMNS}
        if run_id is not None:
            columns["run_id"] = pa.array([run_id] * n, pa.string())
        for c, default in (("secondary", "[]"), ("flags", "[]"), ("source", "llm")):
            if c not in data.column_names:
                columns[c] = pa.array([default] * n, pa.string())
        if "attempts" not in data.column_names:
            columns["attempts"] = pa.array([1] * n, pa.int32())
        self._upsert_verdicts(pa.table(columns))
        return n

    def _upsert_verdicts(self, data: pa.Table) -> None:
        self.insert_batch("verdicts", VERDICT_COLUMNS, data, _UPSERT, keys=_KEYS)

    def register_judge(self, judge_id: str, identity: dict[str, Any]) -> None:
        """Record a judge's identity (model, prompt version, taxonomy version, settings)."""
        self.con.execute(
            "INSERT INTO judges (judge_id, model, prompt_version, taxonomy_version, identity) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (judge_id) DO NOTHING",
            [judge_id, identity.get("model"), identity.get("prompt_version"), identity.get("taxonomy_version"),
             json.dumps(identity, ensure_ascii=False, default=str)],
        )

    def verdicts_for(self: Store, judge_id: str, item_ids: Sequence[str]) -> dict[str, Verdict]:
        """This judge's verdicts (status, category, confidence, source) for `item_ids`, by item id."""
        from judge.core.models import Verdict

        rows = self.con.execute(
            "SELECT item_id, status, category, confidence, source FROM verdicts WHERE judge_id = ? "
            "AND item_id IN (SELECT unnest(?::VARCHAR[]))", [judge_id, list(item_ids)]).fetchall()
        return {item_id: Verdict(item_id=item_id, judge_id=judge_id, status=status, category=category,
                                 confidence=confidence, source=source or "llm")
                for item_id, status, category, confidence, source in rows}

    def judges_with_verdicts(self: Store) -> list[str]:
        """Judge ids with verdicts on benchmark items (calibration verdicts on gold items left out), the one with
        the newest verdict first."""
        rows = self.con.execute("SELECT v.judge_id FROM verdicts v LEFT JOIN items i USING (item_id) "
                                "WHERE i.origin IS DISTINCT FROM 'gold' GROUP BY v.judge_id "
                                "ORDER BY max(v.created_at) DESC, v.judge_id").fetchall()
        return [r[0] for r in rows]

    def default_judge_id(self: Store) -> str | None:
        """The judge reports and summaries show unless told otherwise: the one with the newest verdict."""
        judges = self.judges_with_verdicts()
        return judges[0] if judges else None

    def prompt_version_of(self: Store, judge_id: str) -> str | None:
        """The prompt version a registered judge was recorded with."""
        row = self.con.execute("SELECT prompt_version FROM judges WHERE judge_id = ?", [judge_id]).fetchone()
        return row[0] if row else None
