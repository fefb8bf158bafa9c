"""The read-only guard: which SQL statements a read-only connection accepts."""

from __future__ import annotations

from typing import Any

from judge.core.exceptions import ReadOnlyError

READ_TYPES = frozenset({"SELECT", "EXPLAIN", "PRAGMA"})
"""Statement types a read-only query may hold."""


def refuse_writes(con: Any, sql: str) -> None:
    """Raise ReadOnlyError unless every statement of `sql` is a read (SELECT, EXPLAIN, PRAGMA)."""
    for stmt in con.extract_statements(sql):
        kind = stmt.type.name
        if kind not in READ_TYPES:
            raise ReadOnlyError(f"refused: {kind} statement on a read-only database (only SELECT is allowed)")
