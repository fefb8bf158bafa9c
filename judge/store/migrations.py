"""DuckDB schema migrations: an append-only list of numbered functions, applied once each, in order.

Never edit or reorder a released migration; add a new one at the end.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

Migration = Callable[[duckdb.DuckDBPyConnection], None]


def m001_initial(con: duckdb.DuckDBPyConnection) -> None:
    """items, judges, runs, verdicts and the error_distribution view."""
    con.execute("""
        CREATE TABLE items (
            item_id VARCHAR PRIMARY KEY,
            dimension VARCHAR,
            task VARCHAR,
            question VARCHAR,
            options JSON,
            reference_answer VARCHAR,
            model VARCHAR,
            response VARCHAR,
            meta JSON,
            added_at TIMESTAMP DEFAULT current_timestamp
        )""")
    con.execute("""
        CREATE TABLE judges (
            judge_id VARCHAR PRIMARY KEY,
            model VARCHAR,
            prompt_version VARCHAR,
            taxonomy_version VARCHAR,
            identity JSON,
            created_at TIMESTAMP DEFAULT current_timestamp
        )""")
    con.execute("""
        CREATE TABLE runs (
            run_id VARCHAR PRIMARY KEY,
            kind VARCHAR,
            judge_id VARCHAR,
            input VARCHAR,
            started_at TIMESTAMP,
            finished_at TIMESTAMP,
            n_input INTEGER,
            n_skipped INTEGER,
            n_ok INTEGER,
            n_needs_review INTEGER,
            n_failed INTEGER,
            prompt_tokens BIGINT,
            completion_tokens BIGINT,
            cost_usd DOUBLE,
            wall_s DOUBLE,
            settings JSON
        )""")
    con.execute("""
        CREATE TABLE verdicts (
            item_id VARCHAR NOT NULL,
            judge_id VARCHAR NOT NULL,
            run_id VARCHAR,
            status VARCHAR NOT NULL,
            category VARCHAR,
            rationale VARCHAR,
            evidence VARCHAR,
            confidence DOUBLE,
            secondary JSON,
            error VARCHAR,
            source VARCHAR,
            model VARCHAR,
            prompt_version VARCHAR,
            prompt_hash VARCHAR,
            latency_ms DOUBLE,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            cost_usd DOUBLE,
            attempts INTEGER,
            flags JSON,
            created_at TIMESTAMP DEFAULT current_timestamp,
            PRIMARY KEY (item_id, judge_id)
        )""")
    con.execute("""
        CREATE VIEW error_distribution AS
        SELECT i.dimension, i.model, v.judge_id, v.category, count(*) AS n,
               count(*) / sum(count(*)) OVER (PARTITION BY i.dimension, i.model, v.judge_id) AS share
        FROM verdicts v JOIN items i USING (item_id)
        WHERE v.status = 'ok'
        GROUP BY i.dimension, i.model, v.judge_id, v.category""")


def m002_scoring(con: duckdb.DuckDBPyConnection) -> None:
    """Correctness of items from benchmark scoring."""
    con.execute("ALTER TABLE items ADD COLUMN correct BOOLEAN")
    con.execute("ALTER TABLE items ADD COLUMN score DOUBLE")
    con.execute("ALTER TABLE items ADD COLUMN extracted VARCHAR")
    con.execute("ALTER TABLE items ADD COLUMN score_method VARCHAR")


def m003_calibration_runs(con: duckdb.DuckDBPyConnection) -> None:
    """Calibration runs of a judge against the gold set, and kappa over time."""
    con.execute("""
        CREATE TABLE calibration_runs (
            calibration_id VARCHAR PRIMARY KEY,
            run_id VARCHAR,
            judge_id VARCHAR,
            model VARCHAR,
            prompt_version VARCHAR,
            gold_path VARCHAR,
            gold_version VARCHAR,
            split VARCHAR,
            n INTEGER,
            n_excluded INTEGER,
            coverage DOUBLE,
            kappa DOUBLE,
            kappa_lo DOUBLE,
            kappa_hi DOUBLE,
            accuracy DOUBLE,
            macro_f1 DOUBLE,
            ece DOUBLE,
            flip_rate DOUBLE,
            all_orders_identical DOUBLE,
            llm_calls_saved DOUBLE,
            prompt_tokens BIGINT,
            completion_tokens BIGINT,
            cost_usd DOUBLE,
            wall_s DOUBLE,
            report JSON,
            created_at TIMESTAMP DEFAULT current_timestamp
        )""")
    con.execute("""
        CREATE VIEW kappa_by_judge AS
        SELECT judge_id, model, prompt_version, split, created_at, n, kappa, kappa_lo, kappa_hi, macro_f1, coverage
        FROM calibration_runs ORDER BY judge_id, created_at""")


def m004_scoring_results(con: duckdb.DuckDBPyConnection) -> None:
    """Option-shuffle robustness per model and task, skipped input lines, and robustness per dimension."""
    con.execute("""
        CREATE TABLE robustness (
            model VARCHAR NOT NULL,
            task VARCHAR NOT NULL,
            dimension VARCHAR,
            n_groups INTEGER,
            n_consistent INTEGER,
            consistency DOUBLE,
            n_unextractable INTEGER,
            n_keyed INTEGER,
            n_strict INTEGER,
            strict DOUBLE,
            run_id VARCHAR,
            updated_at TIMESTAMP DEFAULT current_timestamp,
            PRIMARY KEY (model, task)
        )""")
    con.execute("""
        CREATE TABLE ingest_problems (
            source_file VARCHAR NOT NULL,
            line INTEGER NOT NULL,
            kind VARCHAR,
            message VARCHAR,
            run_id VARCHAR,
            PRIMARY KEY (source_file, line)
        )""")
    con.execute("""
        CREATE VIEW robustness_by_dimension AS
        SELECT model, coalesce(dimension, 'unknown') AS dimension, sum(n_groups) AS n_groups,
               sum(n_consistent) AS n_consistent, sum(n_consistent) / sum(n_groups) AS consistency,
               sum(n_keyed) AS n_keyed, CASE WHEN sum(n_keyed) > 0 THEN sum(n_strict) / sum(n_keyed) END AS strict
        FROM robustness WHERE n_groups > 0
        GROUP BY model, coalesce(dimension, 'unknown')""")




def m005_origins_run_status_input_problems(con: duckdb.DuckDBPyConnection) -> None:
    """Items remember where they came from (calibration gold items apart from benchmark items), runs their end
    status and error, and input errors move from placeholder verdicts into ingest_problems."""
    con.execute("ALTER TABLE items ADD COLUMN origin VARCHAR")
    con.execute("ALTER TABLE runs ADD COLUMN status VARCHAR")
    con.execute("ALTER TABLE runs ADD COLUMN error VARCHAR")
    con.execute("""
        INSERT INTO ingest_problems (source_file, line, kind, message, run_id)
        SELECT coalesce(json_extract_string(i.meta, '$.source_file'), '<input>'),
               coalesce(TRY_CAST(json_extract_string(i.meta, '$.line') AS INTEGER), 0), 'input_error', v.error,
               v.run_id
        FROM verdicts v JOIN items i USING (item_id) WHERE v.source = 'input'
        ON CONFLICT DO NOTHING""")
    con.execute("DELETE FROM verdicts WHERE source = 'input'")
    con.execute("DELETE FROM items WHERE starts_with(item_id, 'input-error:') AND json_extract_string(meta, "
                "'$.input_error') IS NOT NULL AND item_id NOT IN (SELECT item_id FROM verdicts)")
    con.execute("""
        UPDATE items SET origin = 'gold' WHERE item_id IN (
            SELECT v.item_id FROM verdicts v JOIN runs r USING (run_id)
            WHERE starts_with(r.input, 'gold:') OR starts_with(r.input, 'probe:'))""")
    con.execute("UPDATE runs SET status = 'finished' WHERE finished_at IS NOT NULL")
    con.execute("DROP VIEW error_distribution")
    con.execute("""
        CREATE VIEW error_distribution AS
        SELECT i.dimension, i.model, v.judge_id, v.category, count(*) AS n,
               count(*) / sum(count(*)) OVER (PARTITION BY i.dimension, i.model, v.judge_id) AS share
        FROM verdicts v JOIN items i USING (item_id)
        WHERE v.status = 'ok' AND i.origin IS DISTINCT FROM 'gold'
        GROUP BY i.dimension, i.model, v.judge_id, v.category""")


def m006_coverage_and_silver_key(con: duckdb.DuckDBPyConnection) -> None:
    """Coverage per model and task, the silver (consensus) key with its support, warnings kept apart from skips."""
    con.execute("""
        CREATE TABLE coverage (
            model VARCHAR NOT NULL,
            task VARCHAR NOT NULL,
            dimension VARCHAR,
            n_prompts INTEGER,
            n_expected INTEGER,
            n_answered INTEGER,
            n_empty INTEGER,
            n_missing INTEGER,
            n_unexpected INTEGER,
            incomplete BOOLEAN,
            run_id VARCHAR,
            updated_at TIMESTAMP DEFAULT current_timestamp,
            PRIMARY KEY (model, task)
        )""")
    con.execute("""
        CREATE TABLE silver_key (
            task VARCHAR NOT NULL,
            record_id VARCHAR NOT NULL,
            answer VARCHAR,
            contents JSON,
            support INTEGER,
            n_models INTEGER,
            min_agreement DOUBLE,
            key_label VARCHAR,
            votes JSON,
            run_id VARCHAR,
            updated_at TIMESTAMP DEFAULT current_timestamp,
            PRIMARY KEY (task, record_id)
        )""")
    con.execute("ALTER TABLE ingest_problems ADD COLUMN skipped BOOLEAN DEFAULT TRUE")
    con.execute("""
        CREATE VIEW silver_accuracy AS
        SELECT coalesce(i.dimension, 'unknown') AS dimension, i.model, i.task, count(*) AS n_keyed,
               count(*) FILTER (WHERE i.correct) AS n_correct, count(*) FILTER (WHERE NOT i.correct) AS n_wrong,
               count(*) FILTER (WHERE i.correct) / count(*) AS silver_accuracy,
               'silver (' || CASE WHEN min(s.support) = max(s.support) THEN min(s.support)::VARCHAR
                                  ELSE min(s.support) || '-' || max(s.support) END
               || ' of ' || CASE WHEN min(s.n_models) = max(s.n_models) THEN min(s.n_models)::VARCHAR
                                 ELSE min(s.n_models) || '-' || max(s.n_models) END
               || ' models agree)' AS key_label
        FROM items i JOIN silver_key s ON s.task = i.task AND s.record_id = json_extract_string(i.meta, '$.record_id')
        WHERE ends_with(i.score_method, ':silver')
        GROUP BY ALL""")


def m007_review_pulls(con: duckdb.DuckDBPyConnection) -> None:
    """Label Studio review pulls with their inter-annotator agreement, and the label-renaming probe's flip rate."""
    con.execute("""
        CREATE TABLE review_pulls (
            pull_id VARCHAR PRIMARY KEY,
            label_studio_url VARCHAR,
            project VARCHAR,
            project_id INTEGER,
            gold_path VARCHAR,
            n_tasks INTEGER,
            n_labels INTEGER,
            n_items_new INTEGER,
            n_items_updated INTEGER,
            n_ties INTEGER,
            annotators JSON,
            fleiss_kappa DOUBLE,
            fleiss_n INTEGER,
            krippendorff_alpha DOUBLE,
            pairwise_kappa JSON,
            problems JSON,
            pulled_at TIMESTAMP DEFAULT current_timestamp
        )""")
    con.execute("ALTER TABLE calibration_runs ADD COLUMN rename_flip_rate DOUBLE")


def m008_abstention(con: duckdb.DuckDBPyConnection) -> None:
    """Calibration runs keep the abstention curve (κ and coverage over τ) and the τ recommended on dev."""
    con.execute("ALTER TABLE calibration_runs ADD COLUMN recommended_tau DOUBLE")
    con.execute("ALTER TABLE calibration_runs ADD COLUMN abstention JSON")


MIGRATIONS: list[Migration] = [m001_initial, m002_scoring, m003_calibration_runs, m004_scoring_results,
                               m005_origins_run_status_input_problems, m006_coverage_and_silver_key,
                               m007_review_pulls, m008_abstention]
