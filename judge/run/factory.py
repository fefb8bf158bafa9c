"""Build a judge from a model string: an LLM judge over litellm, or the offline judges."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from judge.core.exceptions import ConfigError
from judge.core.protocol import Judge
from judge.core.settings import JudgeSettings
from judge.llm.judge import LLMJudge

OFFLINE_MODELS = ("offline", "rules", "baseline")


def make_judge(model: str, *, api_base: str | None = None, api_key: str | None = None, prompt: str | None = None,
               min_confidence: float | None = None, offline_workers: int | None = None, **settings: Any) -> Judge:
    """Return the judge for `model`: `offline` (rules + baseline), `rules`, `local`, any litellm model string, or
    `cascade:<model>` (rules -> baseline at confidence >= tau -> the judge for <model>).

    With `min_confidence`, verdicts below it are stored as needs_review with the category they would have had
    (judge.offline.abstain.AbstainingJudge). `offline_workers` is the processes an offline judge shares a large
    batch out over (default: every available CPU; judge.offline.workers)."""
    if min_confidence is not None:
        from judge.offline.abstain import AbstainingJudge

        return AbstainingJudge(make_judge(model, api_base=api_base, api_key=api_key, prompt=prompt,
                                          offline_workers=offline_workers, **settings), min_confidence)
    if model in OFFLINE_MODELS:
        from judge.offline.factory import make_offline_judge

        return make_offline_judge(model, workers=offline_workers)
    if model.startswith("cascade:"):
        from judge.offline.factory import make_cascade_judge

        inner = model.removeprefix("cascade:")
        if not inner or inner in OFFLINE_MODELS or inner.startswith("cascade:"):
            raise ConfigError(f"{model!r}: cascade needs an LLM judge model after 'cascade:', e.g. cascade:openai/gpt-4o-mini")
        return make_cascade_judge(make_judge(inner, api_base=api_base, api_key=api_key, prompt=prompt, **settings))
    if model == "local" or model.startswith("local:"):
        from judge.llm.local import make_local_judge

        return make_local_judge(model, prompt=prompt, **settings)
    kw: dict[str, Any] = {k: v for k, v in settings.items() if v is not None}
    if prompt:
        kw["prompt"] = prompt
    return LLMJudge(JudgeSettings(model=model, api_base=api_base, api_key=SecretStr(api_key) if api_key else None,
                                  **kw))
