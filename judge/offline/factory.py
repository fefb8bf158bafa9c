"""The offline judges behind `--model offline` and `--model rules`, and the cascade with an LLM judge."""

from __future__ import annotations

from pathlib import Path

from judge.core.exceptions import ConfigError
from judge.core.protocol import Judge
from judge.offline.artifact import MODELS_DIR
from judge.offline.baseline import BaselineJudge
from judge.offline.cascade import CascadeJudge
from judge.offline.rules_judge import RulesJudge


def make_offline_judge(model: str, *, baseline: str | Path = MODELS_DIR, workers: int | None = None) -> Judge:
    """`offline`: rules -> shipped baseline, every item labelled, low-confidence ones flagged `below_tau`;
    `rules`: the deterministic rules only (needs_review when no rule fires); `baseline`: the scikit-learn
    classifier alone. No network in any case. A large `judge_batch` runs in `workers` processes (default: every
    available CPU, or `MEDJUDGE_OFFLINE_WORKERS`; see judge.offline.workers)."""
    if workers is not None and workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    if model == "rules":
        return RulesJudge(workers=workers)
    if model == "baseline":
        return BaselineJudge(where=baseline, workers=workers)
    if model == "offline":
        return CascadeJudge(RulesJudge(), BaselineJudge(where=baseline), workers=workers)
    raise ConfigError(f"unknown offline judge {model!r}; expected 'offline', 'rules' or 'baseline'")


def make_cascade_judge(llm_judge: Judge, tau: float | None = None, *, baseline: str | Path = MODELS_DIR) -> CascadeJudge:
    """Rules -> shipped baseline at confidence >= tau (default: the tau stored with the baseline, chosen out of fold) -> `llm_judge` for the rest."""
    return CascadeJudge(RulesJudge(), BaselineJudge(where=baseline), llm=llm_judge, tau=tau)
