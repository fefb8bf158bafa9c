"""Run rows: one per labelling, scoring or calibration run, with its counts, tokens, cost and wall time."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from judge.store.store import Store


def now() -> datetime:
    """The current UTC time as the naive timestamp the tables store."""
    return datetime.now(UTC).replace(tzinfo=None)


class RunsMixin:
    """Store methods for the runs table."""

    def start_run(self, kind: str, judge_id: str, input_desc: str, settings: dict[str, Any]) -> str:
        """Create a run row and return its id."""
        run_id = uuid.uuid4().hex[:16]
        self.con.execute(
            "INSERT INTO runs (run_id, kind, judge_id, input, started_at, settings) VALUES (?, ?, ?, ?, ?, ?)",
            [run_id, kind, judge_id, input_desc, now(), json.dumps(settings, ensure_ascii=False, default=str)],
        )
        return run_id

    def finish_run(self, run_id: str, **fields: Any) -> None:
        """Fill a run row's counters and finish time."""
        fields["finished_at"] = now()
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.con.execute(f"UPDATE runs SET {sets} WHERE run_id = ?", [*fields.values(), run_id])

    def latest_run(self: Store, kind: str | None = None) -> dict[str, Any] | None:
        """The newest run (of `kind`, when given) as a dict of its columns, or None."""
        where, params = ("WHERE kind = ?", [kind]) if kind else ("", [])
        cur = self.con.execute(f"SELECT * FROM runs {where} ORDER BY started_at DESC LIMIT 1", params)
        row = cur.fetchone()
        return dict(zip([d[0] for d in cur.description], row, strict=True)) if row is not None else None
