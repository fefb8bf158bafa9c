"""Input problems of labelling runs: lines that did not become items, kept in `ingest_problems`, never as verdicts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from judge.core.exceptions import InputError
    from judge.store.store import Store

INPUT_ERROR = "input_error"
"""The `kind` of a labelling run's input problem in `ingest_problems`."""


class ProblemsMixin:
    """Store methods for the input problems a labelling run met."""

    def record_input_problems(self: Store, errors: Sequence[InputError], sources: Sequence[str], run_id: str) -> None:
        """Replace the input problems stored for `sources` (the files this run read) by `errors`.

        A fixed file therefore leaves no problem behind; a problem without a line number is stored at line 0.
        """
        import pyarrow as pa

        errors = list({(e.source, e.line if e.line is not None else 0): e for e in errors}.values())
        data = {
            "source_file": pa.array([e.source for e in errors], pa.string()),
            "line": pa.array([e.line if e.line is not None else 0 for e in errors], pa.int32()),
            "message": pa.array([e.message for e in errors], pa.string()),
        }
        self.con.register("_sources", pa.table({"source_file": pa.array(sorted(set(sources)), pa.string())}))
        try:
            self.run_with_batch(data, [
                "DELETE FROM ingest_problems WHERE kind = ? AND source_file IN (SELECT source_file FROM _sources)",
                "INSERT INTO ingest_problems (source_file, line, kind, message, run_id)"
                " SELECT source_file, line, ?, message, ? FROM _batch ON CONFLICT (source_file, line) DO UPDATE SET"
                " kind = excluded.kind, message = excluded.message, run_id = excluded.run_id",
            ], [[INPUT_ERROR], [INPUT_ERROR, run_id]])
        finally:
            self.con.unregister("_sources")
