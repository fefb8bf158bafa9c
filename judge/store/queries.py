"""The read queries behind summaries and the report: accuracy, robustness, coverage, silver key, problems."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from judge.store import Store

_ACCURACY = """
    SELECT coalesce(dimension, 'unknown') AS dimension, model, {task} AS task, count(*) AS n,
           count(*) FILTER (WHERE correct AND NOT ends_with(score_method, ':silver')) AS n_correct,
           count(*) FILTER (WHERE NOT correct AND NOT ends_with(score_method, ':silver')) AS n_wrong,
           count(*) FILTER (WHERE correct IS NULL) AS n_unknown,
           count(*) FILTER (WHERE correct IS NOT NULL AND NOT ends_with(score_method, ':no_key')
                                  AND NOT ends_with(score_method, ':silver')) AS n_graded,
           count(*) FILTER (WHERE ends_with(score_method, ':silver')) AS n_silver,
           count(*) FILTER (WHERE ends_with(score_method, ':silver') AND correct) AS n_silver_correct,
           count(*) FILTER (WHERE correct IS NULL AND NOT starts_with(score_method, 'choice:')) AS n_open_unknown,
           count(*) FILTER (WHERE starts_with(score_method, 'choice:')) AS n_choice,
           count(*) FILTER (WHERE starts_with(score_method, 'choice:unextractable')
                                  OR starts_with(score_method, 'choice:ambiguous')) AS n_unextractable
    FROM items WHERE score_method IS NOT NULL GROUP BY ALL"""


_SILVER = """
    SELECT coalesce(i.dimension, 'unknown') AS dimension, i.model, {task} AS task, count(*) AS n_keyed,
           count(*) FILTER (WHERE i.correct) AS n_correct, count(*) FILTER (WHERE NOT i.correct) AS n_wrong,
           count(DISTINCT s.task || '/' || s.record_id) AS n_questions,
           min(s.support) AS k_min, max(s.support) AS k_max, min(s.n_models) AS n_min, max(s.n_models) AS n_max
    FROM items i JOIN silver_key s ON s.task = i.task AND s.record_id = json_extract_string(i.meta, '$.record_id')
    WHERE ends_with(i.score_method, ':silver') GROUP BY ALL"""


def _dicts(cur: Any) -> list[dict[str, Any]]:
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


class QueriesMixin:
    """Store methods that read aggregated figures."""

    def accuracy_rows(self: Store, by_task: bool) -> list[dict[str, Any]]:
        """Scored items per dimension and model (and task): correct, wrong, unknown, graded, choice, unextractable."""
        return _dicts(self.con.execute(_ACCURACY.format(task="task" if by_task else "NULL")))

    def robustness_rows(self: Store, by_task: bool) -> list[dict[str, Any]]:
        """Option-shuffle robustness per model and dimension (or task): groups, consistent, consistency, strict."""
        if by_task:
            return _dicts(self.con.execute(
                "SELECT model, coalesce(dimension, 'unknown') AS dimension, task, n_groups, n_consistent, consistency,"
                " strict FROM robustness WHERE n_groups > 0"))
        return _dicts(self.con.execute("SELECT model, dimension, n_groups, n_consistent, consistency, strict"
                                       " FROM robustness_by_dimension"))

    def category_counts(self: Store, judge_id: str) -> list[tuple[str, str, str, int]]:
        """(dimension or 'unknown', model, category, n) of a judge's ok verdicts."""
        return self.con.execute("SELECT coalesce(dimension, 'unknown'), model, category, n FROM error_distribution"
                                " WHERE judge_id = ?", [judge_id]).fetchall()

    def uncategorised_counts(self: Store, judge_id: str) -> dict[str, int]:
        """A judge's verdicts without a category (needs_review, failed), by status: what the error distribution leaves out."""
        rows = self.con.execute("SELECT status, count(*) FROM verdicts WHERE judge_id = ? AND status <> 'ok' GROUP BY 1",
                                [judge_id]).fetchall()
        return {status: int(n) for status, n in sorted(rows)}

    def error_distribution(self: Store, judge_id: str | None) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Share of each category per dimension for one judge, pooled over models; ([], []) without a judge."""
        if judge_id is None:
            return [], []
        cur = self.con.execute(
            "WITH d AS (SELECT coalesce(dimension, '(none)') AS dimension, category, sum(n)::INT AS n "
            "FROM error_distribution WHERE judge_id = ? GROUP BY 1, 2) "
            "SELECT dimension, category, n, round(n / sum(n) OVER (PARTITION BY dimension), 3) AS share "
            "FROM d ORDER BY dimension, n DESC, category", [judge_id])
        return [d[0] for d in cur.description], cur.fetchall()

    def problem_counts(self: Store) -> dict[str, int]:
        """Input problems (skipped lines and warnings) by kind."""
        return dict(self.con.execute("SELECT kind, count(*) FROM ingest_problems GROUP BY kind ORDER BY kind")
                    .fetchall())

    def problem_groups(self: Store) -> list[dict[str, Any]]:
        """Input problems per kind and file: skipped or warning, count, first and last line, one message."""
        return _dicts(self.con.execute(
            "SELECT kind, coalesce(skipped, TRUE) AS skipped, source_file, count(*) AS n, min(line) AS first_line,"
            " max(line) AS last_line, min(message) AS message FROM ingest_problems"
            " GROUP BY ALL ORDER BY skipped, kind, source_file"))

    def silver_rows(self: Store, by_task: bool) -> list[dict[str, Any]]:
        """Accuracy against the silver key per dimension and model (or task), with its support range."""
        return _dicts(self.con.execute(_SILVER.format(task="i.task" if by_task else "NULL")))

    def silver_key_size(self: Store) -> tuple[int, int]:
        """(keyed questions, choice questions in the store)."""
        keyed = self.con.execute("SELECT count(*) FROM silver_key").fetchone()
        total = self.con.execute(
            "SELECT count(DISTINCT task || '/' || json_extract_string(meta, '$.record_id')) FROM items"
            " WHERE starts_with(score_method, 'choice:')").fetchone()
        return int(keyed[0] if keyed else 0), int(total[0] if total else 0)

    def coverage_rows(self: Store) -> list[dict[str, Any]]:
        """Coverage per model and task: expected, answered, empty, missing, unexpected, incomplete."""
        return _dicts(self.con.execute(
            "SELECT model, task, coalesce(dimension, 'unknown') AS dimension, n_prompts, n_expected, n_answered,"
            " n_empty, n_missing, n_unexpected, incomplete FROM coverage ORDER BY model, task"))
