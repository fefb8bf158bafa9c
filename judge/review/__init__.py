"""The human review loop: a queue of verdicts to check, pushed to Label Studio, reviewed labels pulled into gold."""

from judge.core.lazy import lazy_exports

_EXPORTS = {
    "Selector": "judge.review.queue", "QueueEntry": "judge.review.queue", "parse_selectors": "judge.review.queue",
    "build_queue": "judge.review.queue", "stratified_sample": "judge.review.queue",
    "LabelStudio": "judge.review.label_studio", "LabelStudioError": "judge.review.label_studio",
    "review_config": "judge.review.tasks", "task_for": "judge.review.tasks",
    "push_queue": "judge.review.push", "PushResult": "judge.review.push",
    "pull_into_gold": "judge.review.pull", "PullResult": "judge.review.pull", "agreement_of": "judge.review.pull",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
