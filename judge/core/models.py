"""Pydantic models shared across medjudge: items, the judge's JSON answer, verdicts, run summaries."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from judge.core.taxonomy import CategoryCode

Dimension = Literal[
    "knowledge_qa", "language_understanding", "language_generation", "complex_reasoning", "safety_ethics"
]
DIMENSIONS: tuple[str, ...] = (
    "knowledge_qa", "language_understanding", "language_generation", "complex_reasoning", "safety_ethics"
)
Status = Literal["ok", "needs_review", "failed"]


class Item(BaseModel):
    """One benchmark question with one model's response."""

    item_id: str
    """Unique id of this (question, model, response) item."""
    dimension: Dimension | None = None
    """MedBench dimension, if known."""
    task: str | None = None
    """Benchmark task name, e.g. Med-Exam."""
    question: str
    """Full prompt shown to the model under test."""
    options: list[str] | None = None
    """Answer options of a choice question."""
    reference_answer: str | None = None
    """Reference (gold) answer, if known."""
    model: str | None = None
    """Name of the model that produced the response."""
    response: str
    """The model's raw output."""
    meta: dict[str, Any] = Field(default_factory=dict)
    """Anything else carried along (source file, line, scores)."""


class JudgeOutput(BaseModel):
    """The JSON object the judge LLM must return, exactly these fields."""

    category: CategoryCode
    """Primary error category code."""
    rationale: str
    """Short explanation of why this category applies."""
    evidence: str = ""
    """A verbatim quote from the response supporting the category, or empty."""
    confidence: float = Field(ge=0.0, le=1.0)
    """Judge's confidence in the category, 0..1."""
    secondary: list[CategoryCode] = Field(default_factory=list)
    """Other categories that also apply, if any."""

    @field_validator("evidence")
    @classmethod
    def _evidence_is_quote(cls, v: str, info: ValidationInfo) -> str:
        response = (info.context if info.context is not None else {}).get("response")
        v = v.strip()
        if v and response is not None and v not in response:
            raise ValueError("evidence must be a verbatim quote from the response (or empty)")
        return v


class Verdict(BaseModel):
    """The outcome of judging one item: a category, or a review/failure status with its error."""

    item_id: str
    """Id of the judged item."""
    judge_id: str
    """Hash of (model, prompt version, taxonomy version, settings)."""
    status: Status
    """ok = a valid category; needs_review = output failed validation; failed = no answer obtained."""
    category: CategoryCode | None = None
    """Primary category (only when status is ok)."""
    rationale: str | None = None
    """Judge's explanation."""
    evidence: str | None = None
    """Verbatim quote from the response."""
    confidence: float | None = None
    """Confidence in [0, 1]."""
    secondary: list[str] = Field(default_factory=list)
    """Secondary categories."""
    error: str | None = None
    """Error text for needs_review / failed."""
    source: str = "llm"
    """Which judge produced it: llm, rules, baseline, ..."""
    model: str | None = None
    """Judge model string."""
    prompt_version: str | None = None
    """Hash of the prompt template."""
    prompt_hash: str | None = None
    """Hash of the rendered messages sent for this item."""
    latency_ms: float | None = None
    """Wall time of the judge call(s)."""
    prompt_tokens: int | None = None
    """Prompt tokens, when reported."""
    completion_tokens: int | None = None
    """Completion tokens, when reported."""
    cost_usd: float | None = None
    """Cost in USD, when known."""
    attempts: int = 1
    """Number of LLM calls made."""
    flags: list[str] = Field(default_factory=list)
    """Warnings such as `prompt_injection_suspected`."""


class RunSummary(BaseModel):
    """What a labelling run did."""

    run_id: str
    """Id of the run row in the store."""
    judge_id: str
    """Judge used."""
    n_input: int = 0
    """Items read (including bad lines)."""
    n_skipped: int = 0
    """Items already done by this judge (resumed)."""
    status_counts: dict[str, int] = Field(default_factory=dict)
    """Verdicts written in this run by status."""
    category_counts: dict[str, int] = Field(default_factory=dict)
    """ok verdicts written in this run by category."""
    prompt_tokens: int = 0
    """Prompt tokens spent."""
    completion_tokens: int = 0
    """Completion tokens spent."""
    cost_usd: float = 0.0
    """Known cost in USD."""
    wall_s: float = 0.0
    """Wall time in seconds."""
    worker_cpu_s: float = 0.0
    """CPU seconds used by worker processes (runs with processes > 1) or by Ray actors while judging their blocks;
    this process's own CPU is not included."""
    input_errors: list[str] = Field(default_factory=list)
    """Line-numbered input errors (stored in the ingest_problems table, never as verdicts)."""
    db: str | None = None
    """The database the verdicts were written to."""
    status: Literal["finished", "interrupted", "aborted"] = "finished"
    """How the run ended: finished, interrupted (Ctrl-C) or aborted (a configuration error)."""
    error_counts: dict[str, int] = Field(default_factory=dict)
    """needs_review and failed verdicts of this run by error (item-specific details removed), most common first."""
    flag_counts: dict[str, int] = Field(default_factory=dict)
    """Verdicts of this run by flag, e.g. prompt_injection_suspected, input_truncated."""
    engine: str = "local"
    """Where items were judged: local (this process or its worker processes) or ray (a Ray cluster)."""
    workers: int = 1
    """Processes that judged: `--processes` worker processes, the processes an offline judge shared its largest batch
    of the run out over (a batch under 512 items stays in this process), or Ray actors (1: this process alone)."""
    engine_error: str | None = None
    """Why the engine stopped before judging every item, if it did (those items are stored as failed verdicts)."""
