"""Gather what the benchmark report shows from the store: accuracy, robustness, error distribution, calibration.

All figures are read from the database (items, robustness, coverage, silver_key, error_distribution,
calibration_runs, ingest_problems); nothing is recomputed from input files. `banners` lists what the reader must
not miss before trusting a table: unmapped tasks and other input problems, incomplete coverage, choice tasks
without shuffle groups, wrong answers not yet classified, open answers nobody can grade. Dimensions appear in MedBench order, then "unknown" for tasks outside the
task table. The error distribution is that of one judge: the one asked for, else the one with the newest verdict.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from judge.core.models import DIMENSIONS
from judge.core.taxonomy import CATEGORY_CODES, load_taxonomy
from judge.evaluate.abstention import AbstentionSummary
from judge.evaluate.drift import CalibrationPoint, DriftPoint, DriftWarning, drift_points, drift_warnings
from judge.evaluate.metrics import AgreementReport
from judge.medbench.scoring_run import CorrectnessCounts
from judge.medbench.silver_key import silver_label
from judge.report.banners import banners
from judge.report.signatures import Measure, SignatureHit, detect_signatures, measure
from judge.store import Store

_DIM_ORDER = {d: i for i, d in enumerate((*DIMENSIONS, "unknown"))}


def _dim_key(dimension: str) -> int:
    return _DIM_ORDER.get(dimension, len(_DIM_ORDER))


class AccuracyRow(CorrectnessCounts):
    """Scored items of one model in one dimension (or one task)."""

    dimension: str
    """MedBench dimension."""
    model: str
    """Model under test."""
    task: str | None = None
    """Task, for per-task rows."""
    n_unextractable: int
    """Choice items with no single readable answer (unextractable or ambiguous)."""

    @property
    def accuracy(self) -> float | None:
        """n_correct / n_graded; None when no item has a gold answer."""
        return self.n_correct / self.n_graded if self.n_graded else None

    @property
    def unextractable_share(self) -> float | None:
        """n_unextractable / n_choice; None without choice items."""
        return self.n_unextractable / self.n_choice if self.n_choice else None


class SilverRow(BaseModel):
    """Accuracy of one model in one dimension (or task) against the silver (consensus) key."""

    dimension: str
    """MedBench dimension."""
    model: str
    """Model under test."""
    task: str | None = None
    """Task, for per-task rows."""
    n_keyed: int
    """Items of questions the silver key covers."""
    n_correct: int
    """Items that agree with the silver key."""
    n_wrong: int
    """Items that disagree with it (or could not be read)."""
    n_questions: int
    """Keyed questions behind the items."""
    label: str
    """ "silver (k of n models agree)", with the support range of the keys pooled here."""

    @property
    def accuracy(self) -> float:
        """n_correct / n_keyed."""
        return self.n_correct / self.n_keyed if self.n_keyed else 0.0


class CoverageRow(BaseModel):
    """How completely one model answered one task."""

    model: str
    """Model under test."""
    task: str
    """Task name."""
    dimension: str
    """MedBench dimension ("unknown" for unmapped tasks)."""
    n_prompts: int | None
    """Prompt records of the task; None when scored without --prompts."""
    n_expected: int
    """Prompt records, else the most answers any model gave for the task."""
    n_answered: int
    """Answers read."""
    n_empty: int
    """Empty answers."""
    n_missing: int
    """Expected answers not found."""
    n_unexpected: int
    """Answers to records the prompts folder does not hold."""
    incomplete: bool
    """Missing or empty answers."""


class ProblemGroup(BaseModel):
    """Input problems of one kind in one file."""

    kind: str
    """Problem kind (judge.medbench.outputs.ProblemKind)."""
    skipped: bool
    """True when the lines were not read; False for warnings about lines that were read."""
    source_file: str
    """File holding the lines."""
    n: int
    """Lines."""
    first_line: int
    """First line number."""
    last_line: int
    """Last line number."""
    message: str
    """One of the messages."""


class RobustnessCell(BaseModel):
    """Option-shuffle robustness of one model in one dimension (or task)."""

    dimension: str
    """MedBench dimension."""
    model: str
    """Model under test."""
    task: str | None = None
    """Task, for per-task rows."""
    n_groups: int
    """Permutation groups."""
    n_consistent: int
    """Groups answered with the same content under every order."""
    consistency: float
    """n_consistent / n_groups."""
    strict: float | None = None
    """Share of keyed groups answered correctly under every order; None without a key."""


class DistributionRow(BaseModel):
    """The error-category mix of one dimension, for one model or pooled over all models ("all")."""

    dimension: str
    """MedBench dimension."""
    model: str
    """Model under test, or "all"."""
    n: int
    """ok verdicts."""
    counts: dict[str, int]
    """Verdicts per category code (all 8 present)."""

    @property
    def shares(self) -> dict[str, float]:
        """Share of each category code among the n verdicts."""
        return {c: (self.counts[c] / self.n if self.n else 0.0) for c in CATEGORY_CODES}


class CalibrationView(CalibrationPoint):
    """The latest calibration run of a judge against the physicians' gold set."""

    macro_f1: float | None
    """Macro F1."""
    ece: float | None
    """Expected calibration error."""
    coverage: float | None
    """Share of gold items the judge categorised."""
    agreement: AgreementReport | None = None
    """Confusion matrix and reliability bins, when the stored report has them."""
    abstention: AbstentionSummary | None = None
    """κ and coverage over the confidence threshold τ and the τ recommended on dev or out of fold, when the run stored
    them."""


class ReportData(BaseModel):
    """Everything the report template renders."""

    db: str
    """Database the report was built from."""
    generated_at: str
    """UTC time of building."""
    judge_id: str | None
    """Judge whose verdicts make the error distribution; None when there are no verdicts."""
    judge_ids: list[str] = Field(default_factory=list)
    """Judges with verdicts in the store, newest first."""
    categories: list[tuple[str, str, str]] = Field(default_factory=list)
    """(code, English name, Chinese name) of the 8 categories, in table order."""
    accuracy: list[AccuracyRow] = Field(default_factory=list)
    """Per dimension and model."""
    accuracy_by_task: list[AccuracyRow] = Field(default_factory=list)
    """Per dimension, task and model."""
    robustness: list[RobustnessCell] = Field(default_factory=list)
    """Per dimension and model."""
    robustness_by_task: list[RobustnessCell] = Field(default_factory=list)
    """Per task and model."""
    distribution: list[DistributionRow] = Field(default_factory=list)
    """Error distribution per dimension pooled over models (model = "all")."""
    distribution_by_model: list[DistributionRow] = Field(default_factory=list)
    """Error distribution per dimension and model."""
    uncategorised: dict[str, int] = Field(default_factory=dict)
    """The chosen judge's verdicts left out of the distribution, by status (needs_review, failed)."""
    calibration: CalibrationView | None = None
    """Latest calibration run (of the chosen judge when one was given); None when there is none."""
    calibration_for: str | None = None
    """The judge id the calibration section was restricted to; None for the latest run of any judge."""
    drift: list[DriftPoint] = Field(default_factory=list)
    """Every calibration run, oldest first: κ with CI per judge, prompt version and model over time."""
    drift_warnings: list[DriftWarning] = Field(default_factory=list)
    """Splits whose newest calibration fell below the previous one by more than the CIs allow."""
    measures: list[Measure] = Field(default_factory=list)
    """Values the failure signatures are tested on."""
    hits: list[SignatureHit] = Field(default_factory=list)
    """Signatures that fired."""
    problem_counts: dict[str, int] = Field(default_factory=dict)
    """Input problems (skipped lines and warnings) by kind."""
    problems: list[ProblemGroup] = Field(default_factory=list)
    """Input problems per kind and file, skipped lines first."""
    coverage: list[CoverageRow] = Field(default_factory=list)
    """Per model and task."""
    silver: list[SilverRow] = Field(default_factory=list)
    """Accuracy against the silver key per dimension and model."""
    silver_by_task: list[SilverRow] = Field(default_factory=list)
    """Accuracy against the silver key per task and model."""
    silver_keyed: tuple[int, int] = (0, 0)
    """(questions the silver key covers, choice questions in the store)."""
    unshuffled_choice_tasks: list[str] = Field(default_factory=list)
    """Choice tasks with items but no option-shuffle group (one order per question)."""
    banners: list[str] = Field(default_factory=list)
    """Warnings shown at the top of the report."""

    @property
    def n_skipped(self) -> int:
        """Input lines not read."""
        return sum(p.n for p in self.problems if p.skipped)

    @property
    def n_warned(self) -> int:
        """Input lines read with a warning."""
        return sum(p.n for p in self.problems if not p.skipped)


def _accuracy(store: Store, by_task: bool) -> list[AccuracyRow]:
    out = [AccuracyRow(**{**r, "model": r["model"] or ""}) for r in store.accuracy_rows(by_task)]
    return sorted(out, key=lambda a: (_dim_key(a.dimension), a.task or "", a.model))


def _robustness(store: Store) -> tuple[list[RobustnessCell], list[RobustnessCell]]:
    dims = [RobustnessCell(**r) for r in store.robustness_rows(by_task=False)]
    tasks = [RobustnessCell(**r) for r in store.robustness_rows(by_task=True)]
    return (sorted(dims, key=lambda c: (_dim_key(c.dimension), c.model)),
            sorted(tasks, key=lambda c: (_dim_key(c.dimension), c.task or "", c.model)))


def _distribution(store: Store, judge_id: str) -> tuple[list[DistributionRow], list[DistributionRow]]:
    cells: dict[tuple[str, str], dict[str, int]] = {}
    for dim, model, cat, n in store.category_counts(judge_id):
        for key in ((dim, model or ""), (dim, "all")):
            counts = cells.setdefault(key, dict.fromkeys(CATEGORY_CODES, 0))
            counts[cat] = counts.get(cat, 0) + int(n)
    out = sorted((DistributionRow(dimension=d, model=m, n=sum(c.values()), counts=c) for (d, m), c in cells.items()),
                 key=lambda r: (_dim_key(r.dimension), r.model))
    return [r for r in out if r.model == "all"], [r for r in out if r.model != "all"]


def _silver(store: Store, by_task: bool) -> list[SilverRow]:
    rows = [SilverRow(**{**r, "model": r["model"] or "",
                         "label": silver_label(r["k_min"], r["k_max"], r["n_min"], r["n_max"])})
            for r in store.silver_rows(by_task)]
    return sorted(rows, key=lambda r: (_dim_key(r.dimension), r.task or "", r.model))


def agreement_from_json(raw: Any) -> AgreementReport | None:
    """The AgreementReport in a calibration_runs.report value: the object itself or nested under "report"."""
    data = json.loads(raw) if isinstance(raw, str) else raw
    if isinstance(data, dict) and "confusion" not in data and isinstance(data.get("report"), dict):
        data = data["report"]
    if not isinstance(data, dict) or "confusion" not in data:
        return None
    return AgreementReport.model_validate(data)


def _calibration(store: Store, judge_id: str | None) -> CalibrationView | None:
    row = store.latest_calibration(judge_id)
    if row is None:
        return None
    report = row.pop("report")
    row.pop("recommended_tau", None)
    raw = row.pop("abstention", None)
    abstention = AbstentionSummary.model_validate_json(raw) if raw else None
    return CalibrationView(**{**row, "created_at": str(row["created_at"])[:19]}, agreement=agreement_from_json(report),
                           abstention=abstention)


def measures_of(distribution_by_model: list[DistributionRow], robustness: list[RobustnessCell]) -> list[Measure]:
    """Category shares and robustness per (dimension, model), as signature inputs."""
    out = [measure(r.dimension, r.model, m, r.counts[m], r.n)
           for r in distribution_by_model if r.n for m in ("omission", "hallucination", "format_mismatch")]
    out += [measure(c.dimension, c.model, "robustness", c.n_consistent, c.n_groups) for c in robustness if c.n_groups]
    return out


def load_report_data(store: Store, judge_id: str | None = None) -> ReportData:
    """Read every report figure from an open store; `judge_id` picks the judge (default: the newest)."""
    judges = store.judges_with_verdicts()
    if judge_id is not None and judge_id not in judges:
        raise ValueError(f"no verdicts of judge {judge_id!r} in {store.path} (judges with verdicts: "
                         f"{', '.join(judges) or 'none'})")
    chosen = judge_id or (judges[0] if judges else None)
    pooled, by_model = _distribution(store, chosen) if chosen else ([], [])
    rob, rob_tasks = _robustness(store)
    measures = measures_of(by_model, rob)
    problems = store.problem_counts()
    tax = load_taxonomy()
    accuracy_by_task = _accuracy(store, True)
    shuffled = {r.task for r in rob_tasks}
    drift = drift_points(store.calibration_history())
    data = ReportData(
        db=str(store.path), generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), judge_id=chosen,
        judge_ids=judges, categories=[(c, tax.get(c).en, tax.get(c).zh) for c in CATEGORY_CODES],
        accuracy=_accuracy(store, False), accuracy_by_task=accuracy_by_task, robustness=rob,
        robustness_by_task=rob_tasks, distribution=pooled, distribution_by_model=by_model,
        uncategorised=store.uncategorised_counts(chosen) if chosen else {},
        calibration=_calibration(store, judge_id), calibration_for=judge_id, drift=drift,
        drift_warnings=drift_warnings(drift), measures=measures, hits=detect_signatures(measures),
        problem_counts=problems, problems=[ProblemGroup(**r) for r in store.problem_groups()],
        coverage=[CoverageRow(**r) for r in store.coverage_rows()], silver=_silver(store, False),
        silver_by_task=_silver(store, True), silver_keyed=store.silver_key_size(),
        unshuffled_choice_tasks=sorted({a.task or "" for a in accuracy_by_task if a.n_choice} - shuffled),
    )
    data.banners = banners(data, sum(r.get("n_open_unknown", 0) for r in store.accuracy_rows(False)))
    return data
