"""Judging without a network: deterministic rules, the scikit-learn baseline, the cascade and its threshold τ."""

from judge.core.lazy import lazy_exports

_EXPORTS = {
    "make_offline_judge": "judge.offline.factory", "make_cascade_judge": "judge.offline.factory",
    "RulesJudge": "judge.offline.rules_judge", "BaselineJudge": "judge.offline.baseline",
    "BaselineModel": "judge.offline.baseline", "train_baseline": "judge.offline.baseline",
    "CascadeJudge": "judge.offline.cascade", "evaluate_cascade": "judge.offline.cascade",
    "choose_tau": "judge.offline.tau", "tau_curve": "judge.offline.tau", "select_tau": "judge.offline.tau",
    "TauChoice": "judge.offline.tau", "TauPoint": "judge.offline.tau",
    "item_features": "judge.offline.features", "items_frame": "judge.offline.features",
    "case_signals": "judge.offline.case_signals", "run_rules": "judge.offline.rules",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
