"""MedBench: reading model output folders, the task table, choice extraction, answer keys, option-shuffle robustness, open-answer recall,
and the scoring run that stores it all."""

from judge.core.lazy import lazy_exports

_EXPORTS = {
    "score_outputs": "judge.medbench.scoring_run", "ScoreSummary": "judge.medbench.scoring_run",
    "load_task_table": "judge.medbench.tasks", "task_info": "judge.medbench.tasks", "TaskInfo": "judge.medbench.tasks",
    "extract_choice": "judge.medbench.extract", "Extraction": "judge.medbench.extract",
    "load_answer_key": "judge.medbench.answer_key", "robustness_groups": "judge.medbench.robustness",
    "robustness_report": "judge.medbench.robustness", "split_points": "judge.medbench.recall",
    "point_coverage": "judge.medbench.recall", "BigramRecallJudge": "judge.medbench.recall",
    "score_items": "judge.medbench.grading", "ItemScore": "judge.medbench.grading",
    "read_medbench": "judge.medbench.outputs", "iter_medbench": "judge.medbench.outputs",
    "IngestProblem": "judge.medbench.outputs", "IngestResult": "judge.medbench.outputs",
    "Coverage": "judge.medbench.outputs", "read_layout": "judge.medbench.layout",
    "options_in_text": "judge.medbench.layout", "RecordLayout": "judge.medbench.layout",
    "source_name": "judge.medbench.tasks", "build_silver_key": "judge.medbench.silver_key",
    "SilverEntry": "judge.medbench.silver_key",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
