"""Write benchmark scoring results into the store: item scores, robustness and coverage per model and task, problems.

Every write replaces what an earlier scoring run stored for the same items, (model, task) cells or files,
so re-running `medjudge score` on the same inputs leaves the database unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from judge.medbench.grading import ItemScore
    from judge.medbench.outputs import Coverage, IngestProblem
    from judge.medbench.robustness import RobustnessRow
    from judge.store import Store


class ScoresMixin:
    """Store methods for scoring results: item scores, robustness and coverage rows, input problems."""

    def write_scores(self: Store, scores: Sequence[ItemScore]) -> None:
        """Set correct, score, extracted and score_method of stored items (the items must exist).

        A score's `note` (why a fallback was used) is merged into the item's meta as `score_note`.
        """
        if not scores:
            return
        import pyarrow as pa

        data = {
            "item_id": pa.array([s.item_id for s in scores], pa.string()),
            "correct": pa.array([s.correct for s in scores], pa.bool_()),
            "score": pa.array([s.score for s in scores], pa.float64()),
            "extracted": pa.array([s.extracted for s in scores], pa.string()),
            "score_method": pa.array([s.score_method for s in scores], pa.string()),
            "note": pa.array([s.note for s in scores], pa.string()),
        }
        self.run_with_batch(data, [
            "UPDATE items SET correct = b.correct, score = b.score, extracted = b.extracted, score_method = b.score_method,"
            " meta = CASE WHEN b.note IS NULL THEN items.meta"
            " ELSE json_merge_patch(items.meta, json_object('score_note', b.note)) END"
            " FROM _batch b WHERE items.item_id = b.item_id",
        ])

    def replace_robustness(self: Store, rows: Iterable[RobustnessRow], cells: Mapping[tuple[str, str], str | None],
                           run_id: str) -> None:
        """Replace the robustness rows of the (model, task) `cells` (value: the task's dimension) with `rows`.

        Only task-level rows are stored; per-dimension figures come from the robustness_by_dimension view.
        Cells without permutation groups lose any earlier row.
        """
        import pyarrow as pa

        task_rows = [r for r in rows if r.level == "task"]
        data = {
            "model": pa.array([r.model for r in task_rows], pa.string()),
            "task": pa.array([r.name for r in task_rows], pa.string()),
            "dimension": pa.array([cells.get((r.model, r.name)) for r in task_rows], pa.string()),
            "n_groups": pa.array([r.n_groups for r in task_rows], pa.int32()),
            "n_consistent": pa.array([r.n_consistent for r in task_rows], pa.int32()),
            "consistency": pa.array([r.consistency for r in task_rows], pa.float64()),
            "n_unextractable": pa.array([r.n_unextractable for r in task_rows], pa.int32()),
            "n_keyed": pa.array([r.n_keyed for r in task_rows], pa.int32()),
            "n_strict": pa.array([round(r.strict * r.n_keyed) if r.strict is not None else 0 for r in task_rows],
                                 pa.int32()),
            "strict": pa.array([r.strict for r in task_rows], pa.float64()),
        }
        cols = ", ".join(data)
        self.con.register("_cells", pa.table({"model": pa.array([m for m, _ in cells], pa.string()),
                                               "task": pa.array([t for _, t in cells], pa.string())}))
        try:
            self.run_with_batch(data, [
                "DELETE FROM robustness WHERE EXISTS"
                " (SELECT 1 FROM _cells c WHERE c.model = robustness.model AND c.task = robustness.task)",
                f"INSERT INTO robustness ({cols}, run_id, updated_at) SELECT {cols}, ?, now() FROM _batch",
            ], [[], [run_id]])
        finally:
            self.con.unregister("_cells")

    def replace_problems(self: Store, problems: Sequence[IngestProblem], files: Iterable[str], run_id: str) -> None:
        """Replace the stored problems of the files read in this run by the ones found now."""
        import pyarrow as pa

        data = {
            "source_file": pa.array([p.source_file for p in problems], pa.string()),
            "line": pa.array([p.line for p in problems], pa.int32()),
            "kind": pa.array([p.kind for p in problems], pa.string()),
            "message": pa.array([p.message for p in problems], pa.string()),
            "skipped": pa.array([p.skipped for p in problems], pa.bool_()),
        }
        self.con.register("_files", pa.table({"source_file": pa.array(sorted(set(files)), pa.string())}))
        try:
            self.run_with_batch(data, [
                "DELETE FROM ingest_problems WHERE source_file IN (SELECT source_file FROM _files)",
                "INSERT INTO ingest_problems (source_file, line, kind, message, skipped, run_id)"
                " SELECT source_file, line, kind, message, skipped, ? FROM _batch ON CONFLICT DO NOTHING",
            ], [[], [run_id]])
        finally:
            self.con.unregister("_files")

    def replace_coverage(self: Store, rows: Sequence[Coverage], run_id: str) -> None:
        """Replace the coverage rows of the models in `rows` (every task of a model read in this run)."""
        import pyarrow as pa

        data = {
            "model": pa.array([r.model for r in rows], pa.string()),
            "task": pa.array([r.task for r in rows], pa.string()),
            "dimension": pa.array([r.dimension for r in rows], pa.string()),
            "n_prompts": pa.array([r.n_prompts for r in rows], pa.int32()),
            "n_expected": pa.array([r.n_expected for r in rows], pa.int32()),
            "n_answered": pa.array([r.n_answered for r in rows], pa.int32()),
            "n_empty": pa.array([r.n_empty for r in rows], pa.int32()),
            "n_missing": pa.array([r.n_missing for r in rows], pa.int32()),
            "n_unexpected": pa.array([r.n_unexpected for r in rows], pa.int32()),
            "incomplete": pa.array([r.incomplete for r in rows], pa.bool_()),
        }
        cols = ", ".join(data)
        self.run_with_batch(data, [
            "DELETE FROM coverage WHERE model IN (SELECT DISTINCT model FROM _batch)",
            f"INSERT INTO coverage ({cols}, run_id, updated_at) SELECT {cols}, ?, now() FROM _batch",
        ], [[], [run_id]])
