"""Calibration runs: one row per run of a judge against the gold set (κ with CI, per-category metrics, probes)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from judge.evaluate.calibrate import CalibrationResult
    from judge.store import Store

_COLUMNS = ("calibration_id", "run_id", "judge_id", "model", "prompt_version", "gold_path", "gold_version", "split",
            "n", "n_excluded", "coverage", "kappa", "kappa_lo", "kappa_hi", "accuracy", "macro_f1", "ece", "flip_rate",
            "all_orders_identical", "llm_calls_saved", "prompt_tokens", "completion_tokens", "cost_usd", "wall_s",
            "report", "rename_flip_rate", "recommended_tau", "abstention")
_LATEST = ("calibration_id", "judge_id", "model", "split", "created_at", "n", "kappa", "kappa_lo", "kappa_hi",
           "macro_f1", "ece", "coverage", "report", "recommended_tau", "abstention")


class CalibrationMixin:
    """Store methods for the calibration_runs table."""

    def insert_calibration(self: Store, r: CalibrationResult, *, run_id: str, gold_path: str,
                           gold_version: str) -> None:
        """Record one calibration run (its full result is kept as JSON in `report`)."""
        rob = r.robustness or {}
        values: dict[str, Any] = {
            "calibration_id": r.calibration_id, "run_id": run_id, "judge_id": r.judge_id, "model": r.model,
            "prompt_version": self.prompt_version_of(r.judge_id), "gold_path": gold_path,
            "gold_version": gold_version, "split": r.split, "n": r.n, "n_excluded": r.n_excluded,
            "coverage": r.coverage, "kappa": r.kappa, "kappa_lo": r.kappa_ci[0], "kappa_hi": r.kappa_ci[1],
            "accuracy": r.report.accuracy, "macro_f1": r.macro_f1, "ece": r.report.ece,
            "flip_rate": rob.get("flip_rate"), "all_orders_identical": rob.get("all_orders_identical"),
            "llm_calls_saved": r.llm_calls_saved, "prompt_tokens": r.prompt_tokens,
            "completion_tokens": r.completion_tokens, "cost_usd": r.cost_usd, "wall_s": r.wall_s,
            "report": json.dumps(r.model_dump(mode="json"), ensure_ascii=False),
            "rename_flip_rate": (rob.get("renamed") or {}).get("flip_rate"),
            "recommended_tau": r.abstention.recommended_tau if r.abstention else None,
            "abstention": r.abstention.model_dump_json() if r.abstention else None,
        }
        self.con.execute(f"INSERT INTO calibration_runs ({', '.join(_COLUMNS)}) "
                         f"VALUES ({', '.join('?' for _ in _COLUMNS)})", [values[c] for c in _COLUMNS])

    def latest_calibration(self: Store, judge_id: str | None = None) -> dict[str, Any] | None:
        """The newest calibration run (of `judge_id`, when given) as a dict of its main columns, or None."""
        where, params = ("WHERE judge_id = ?", [judge_id]) if judge_id else ("", [])
        row = self.con.execute(f"SELECT {', '.join(_LATEST)} FROM calibration_runs {where} "
                               "ORDER BY created_at DESC LIMIT 1", params).fetchone()
        return dict(zip(_LATEST, row, strict=True)) if row is not None else None

    def calibration_history(self: Store) -> list[dict[str, Any]]:
        """Every calibration run, oldest first: judge, model, prompt version, split, gold version, time, n, κ and CI."""
        cols = ("calibration_id", "judge_id", "model", "prompt_version", "split", "gold_version", "created_at", "n",
                "kappa", "kappa_lo", "kappa_hi")
        rows = self.con.execute(f"SELECT {', '.join(cols)} FROM calibration_runs ORDER BY created_at, calibration_id"
                                ).fetchall()
        return [dict(zip(cols, r, strict=True)) for r in rows]
