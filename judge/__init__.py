"""medjudge: find out why medical LLMs get answers wrong.

The public API is re-exported here and loaded lazily, so `import judge` stays fast. The packages behind it:
`core` (models, taxonomy, settings, exceptions), `ingest` (readers), `llm` (LLM judges and their call path),
`offline` (rules, baseline, cascade), `run` (bulk labelling), `store` (DuckDB), `gold` (the gold set),
`evaluate` (agreement and calibration), `medbench` (benchmark scoring), `report`, `optimize` (DSPy), `cli`;
`judge.api` holds the functions the CLI calls. See docs/architecture.md.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

__version__ = "0.1.0"

_EXPORTS = {
    # data model and taxonomy
    "Item": "judge.core.models", "Verdict": "judge.core.models", "JudgeOutput": "judge.core.models",
    "RunSummary": "judge.core.models", "Taxonomy": "judge.core.taxonomy", "load_taxonomy": "judge.core.taxonomy",
    "CATEGORY_CODES": "judge.core.taxonomy",
    # judges
    "Judge": "judge.core.protocol", "BatchJudge": "judge.core.protocol", "LLMJudge": "judge.llm.judge",
    "DirectTransport": "judge.llm.transport", "LitellmTransport": "judge.llm.transport",
    "JudgeSettings": "judge.core.settings", "make_judge": "judge.run.factory", "PromptTemplate": "judge.llm.prompt",
    "load_prompt": "judge.llm.prompt",
    # bulk labelling and storage
    "label": "judge.run.runner", "alabel": "judge.run.runner", "read_items": "judge.ingest.items",
    "Store": "judge.store.store", "label_file": "judge.api", "run_sql": "judge.api",
    "error_distribution": "judge.api", "demo": "judge.api",
    # gold set, metrics, calibration
    "GoldItem": "judge.gold.gold_set", "GoldLabel": "judge.gold.gold_set", "load_gold": "judge.gold.gold_set",
    "save_gold": "judge.gold.gold_set", "compute_consensus": "judge.gold.gold_set",
    "make_splits": "judge.gold.splits", "load_splits": "judge.gold.splits",
    "agreement_report": "judge.evaluate.metrics", "cohen_kappa": "judge.evaluate.metrics",
    "AgreementReport": "judge.evaluate.metrics", "calibrate": "judge.evaluate.calibrate",
    "acalibrate": "judge.evaluate.calibrate", "CalibrationResult": "judge.evaluate.calibrate",
    # errors
    "MedjudgeError": "judge.core.exceptions", "InputError": "judge.core.exceptions",
    "ConfigError": "judge.core.exceptions", "ReadOnlyError": "judge.core.exceptions",
    "TransportError": "judge.core.exceptions", "EndpointError": "judge.core.exceptions",
    "RateLimitError": "judge.core.exceptions", "EndpointTimeout": "judge.core.exceptions",
    "EndpointConnectionError": "judge.core.exceptions",
}
_OPTIONAL = {
    "score_outputs": "judge.medbench.scoring_run", "build_report": "judge.report.build", "optimize": "judge.optimize",
    "make_offline_judge": "judge.offline.factory", "run_rules": "judge.offline.rules",
    "LLMRecallJudge": "judge.llm.recall", "BatchLLMJudge": "judge.llm.batch",
}

MOVED_MODULES = {
    "judge.models": "judge.core.models", "judge.taxonomy": "judge.core.taxonomy", "judge.settings": "judge.core.settings",
    "judge.exceptions": "judge.core.exceptions", "judge.resources": "judge.core.resources",
    "judge.base": "judge.core.protocol", "judge.reader": "judge.ingest.items", "judge.prompt": "judge.llm.prompt",
    "judge.structured": "judge.llm.structured", "judge.transport": "judge.llm.transport",
    "judge.llm_judge": "judge.llm.judge", "judge.batch_judge": "judge.llm.batch",
    "judge.recall_judge": "judge.llm.recall", "judge.local_llm": "judge.llm.local",
    "judge.decoding": "judge.llm.decoding", "judge.injection": "judge.llm.injection", "judge.rules": "judge.offline.rules",
    "judge.rules_judge": "judge.offline.rules_judge", "judge.features": "judge.offline.features",
    "judge.case_signals": "judge.offline.case_signals", "judge.baseline": "judge.offline.baseline",
    "judge.baseline_artifact": "judge.offline.artifact", "judge.cascade": "judge.offline.cascade",
    "judge.runner": "judge.run.runner", "judge.dispatch": "judge.run.dispatch", "judge.sharding": "judge.run.sharding",
    "judge.verdict_writer": "judge.run.verdict_writer", "judge.factory": "judge.run.factory",
    "judge.migrations": "judge.store.migrations", "judge.gold_splits": "judge.gold.splits",
    "judge.gold_io": "judge.gold.interchange", "judge.annotator_agreement": "judge.gold.agreement",
    "judge.metrics": "judge.evaluate.metrics", "judge.calibrate": "judge.evaluate.calibrate",
    "judge.order_robustness": "judge.evaluate.order_robustness", "judge.reliability": "judge.evaluate.reliability",
    "judge.tasks": "judge.medbench.tasks", "judge.extract": "judge.medbench.extract",
    "judge.item_score": "judge.medbench.grading", "judge.score": "judge.medbench.scoring_run",
    "judge.signatures": "judge.report.signatures", "judge.report_data": "judge.report.data",
    "judge.report_plots": "judge.report.plots",
}
"""Module paths of earlier releases and where their contents live now; the old paths keep importing."""

__all__ = sorted([*_EXPORTS, *_OPTIONAL, "__version__"])


class _MovedModuleFinder:
    """Imports an old module path (`judge.llm_judge`) as the module that holds its contents now."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname in MOVED_MODULES:
            return importlib.machinery.ModuleSpec(fullname, self)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        # the import system returns whatever sys.modules holds under the old name once this returns
        sys.modules[module.__name__] = importlib.import_module(MOVED_MODULES[module.__name__])


if not any(isinstance(f, _MovedModuleFinder) for f in sys.meta_path):
    sys.meta_path.append(_MovedModuleFinder())


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
    from judge.core.exceptions import (  # noqa: F401
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
    from judge.core.models import Item, JudgeOutput, RunSummary, Verdict  # noqa: F401
    from judge.core.protocol import BatchJudge, Judge  # noqa: F401
    from judge.core.settings import JudgeSettings  # noqa: F401
    from judge.core.taxonomy import CATEGORY_CODES, Taxonomy, load_taxonomy  # noqa: F401
    from judge.evaluate.calibrate import CalibrationResult, acalibrate, calibrate  # noqa: F401
    from judge.evaluate.metrics import AgreementReport, agreement_report, cohen_kappa  # noqa: F401
    from judge.gold.gold_set import GoldItem, GoldLabel, compute_consensus, load_gold, save_gold  # noqa: F401
    from judge.gold.splits import load_splits, make_splits  # noqa: F401
    from judge.ingest.items import read_items  # noqa: F401
    from judge.llm.judge import LLMJudge  # noqa: F401
    from judge.llm.prompt import PromptTemplate, load_prompt  # noqa: F401
    from judge.llm.transport import DirectTransport, LitellmTransport  # noqa: F401
    from judge.run.runner import alabel, label  # noqa: F401
    from judge.store.store import Store  # noqa: F401
