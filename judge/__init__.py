"""medjudge: find out why medical LLMs get answers wrong.

The public API is re-exported here and loaded lazily, so `import judge` stays fast.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

__version__ = "0.1.0"

_EXPORTS = {
    # data model and taxonomy
    "Item": "judge.models", "Verdict": "judge.models", "JudgeOutput": "judge.models", "RunSummary": "judge.models",
    "Taxonomy": "judge.taxonomy", "load_taxonomy": "judge.taxonomy", "CATEGORY_CODES": "judge.taxonomy",
    # judges
    "Judge": "judge.base", "BatchJudge": "judge.base", "LLMJudge": "judge.llm_judge",
    "DirectTransport": "judge.transport", "LitellmTransport": "judge.transport", "JudgeSettings": "judge.settings",
    "make_judge": "judge.factory", "PromptTemplate": "judge.prompt", "load_prompt": "judge.prompt",
    # bulk labelling and storage
    "label": "judge.runner", "alabel": "judge.runner", "read_items": "judge.reader", "Store": "judge.store",
    "label_file": "judge.api", "run_sql": "judge.api", "error_distribution": "judge.api", "demo": "judge.api",
    # gold set, metrics, calibration
    "GoldItem": "judge.gold", "GoldLabel": "judge.gold", "load_gold": "judge.gold", "save_gold": "judge.gold",
    "compute_consensus": "judge.gold", "make_splits": "judge.gold_splits", "load_splits": "judge.gold_splits",
    "agreement_report": "judge.metrics", "cohen_kappa": "judge.metrics", "AgreementReport": "judge.metrics",
    "calibrate": "judge.calibrate", "acalibrate": "judge.calibrate", "CalibrationResult": "judge.calibrate",
    # errors
    "MedjudgeError": "judge.exceptions", "InputError": "judge.exceptions", "ConfigError": "judge.exceptions",
    "ReadOnlyError": "judge.exceptions", "TransportError": "judge.exceptions", "EndpointError": "judge.exceptions",
    "RateLimitError": "judge.exceptions", "EndpointTimeout": "judge.exceptions",
    "EndpointConnectionError": "judge.exceptions",
}
_OPTIONAL = {
    "score_outputs": "judge.score", "build_report": "judge.report", "optimize": "judge.optimize",
    "make_offline_judge": "judge.offline", "run_rules": "judge.rules", "LLMRecallJudge": "judge.recall_judge",
    "BatchLLMJudge": "judge.batch_judge",
}

__all__ = sorted([*_EXPORTS, *_OPTIONAL, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name) or _OPTIONAL.get(name)
    if module is None:
        raise AttributeError(f"module 'judge' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from judge.api import demo, error_distribution, label_file, run_sql  # noqa: F401
    from judge.base import BatchJudge, Judge  # noqa: F401
    from judge.calibrate import CalibrationResult, acalibrate, calibrate  # noqa: F401
    from judge.exceptions import (  # noqa: F401
        ConfigError,
        EndpointConnectionError,
        EndpointError,
        EndpointTimeout,
        InputError,
        MedjudgeError,
        RateLimitError,
        ReadOnlyError,
        TransportError,
    )
    from judge.factory import make_judge  # noqa: F401
    from judge.gold import GoldItem, GoldLabel, compute_consensus, load_gold, save_gold  # noqa: F401
    from judge.gold_splits import load_splits, make_splits  # noqa: F401
    from judge.llm_judge import LLMJudge  # noqa: F401
    from judge.metrics import AgreementReport, agreement_report, cohen_kappa  # noqa: F401
    from judge.models import Item, JudgeOutput, RunSummary, Verdict  # noqa: F401
    from judge.prompt import PromptTemplate, load_prompt  # noqa: F401
    from judge.reader import read_items  # noqa: F401
    from judge.runner import alabel, label  # noqa: F401
    from judge.settings import JudgeSettings  # noqa: F401
    from judge.store import Store  # noqa: F401
    from judge.taxonomy import CATEGORY_CODES, Taxonomy, load_taxonomy  # noqa: F401
    from judge.transport import DirectTransport, LitellmTransport  # noqa: F401
