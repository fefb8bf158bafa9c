"""Bulk labelling: the judge for a model string, the runner, concurrent dispatch, worker processes, the writer, Ray."""

from judge.core.lazy import lazy_exports

_EXPORTS = {
    "make_judge": "judge.run.factory", "label": "judge.run.runner", "alabel": "judge.run.runner",
    "judge_each": "judge.run.dispatch", "judge_in_processes": "judge.run.sharding",
    "VerdictWriter": "judge.run.verdict_writer", "label_on_ray": "judge.run.ray_engine",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
