"""The vocabulary every package shares: data models, the taxonomy, judge settings, exceptions, hashing."""

from judge.core.lazy import lazy_exports

_EXPORTS = {
    "Item": "judge.core.models", "Verdict": "judge.core.models", "JudgeOutput": "judge.core.models",
    "RunSummary": "judge.core.models", "Dimension": "judge.core.models", "DIMENSIONS": "judge.core.models",
    "Status": "judge.core.models",
    "Taxonomy": "judge.core.taxonomy", "Category": "judge.core.taxonomy", "CategoryCode": "judge.core.taxonomy",
    "CATEGORY_CODES": "judge.core.taxonomy", "load_taxonomy": "judge.core.taxonomy",
    "JudgeSettings": "judge.core.settings", "DEFAULT_PROMPT": "judge.core.settings",
    "Judge": "judge.core.protocol", "BatchJudge": "judge.core.protocol", "batch_judge_of": "judge.core.protocol",
    "content_version": "judge.core.hashing", "make_judge_id": "judge.core.hashing",
    "resource_dir": "judge.core.resources", "prompt_path": "judge.core.resources",
    "run_sync": "judge.core.sync", "lazy_exports": "judge.core.lazy",
    "MedjudgeError": "judge.core.exceptions", "InputError": "judge.core.exceptions",
    "ConfigError": "judge.core.exceptions", "ReadOnlyError": "judge.core.exceptions",
    "TransportError": "judge.core.exceptions", "EndpointError": "judge.core.exceptions",
    "RateLimitError": "judge.core.exceptions", "EndpointTimeout": "judge.core.exceptions",
    "EndpointConnectionError": "judge.core.exceptions",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
