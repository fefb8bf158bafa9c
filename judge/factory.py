"""Build a judge from a model string: an LLM judge over litellm, or the offline judges."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from judge.base import Judge
from judge.llm_judge import LLMJudge
from judge.settings import JudgeSettings

OFFLINE_MODELS = ("offline", "rules")


def make_judge(model: str, *, api_base: str | None = None, api_key: str | None = None, prompt: str | None = None,
               **settings: Any) -> Judge:
    """Return the judge for `model`: `offline` (rules + baseline), `rules`, `local`, or any litellm model string."""
    if model in OFFLINE_MODELS:
        from judge.offline import make_offline_judge

        return make_offline_judge(model)
    if model == "local" or model.startswith("local:"):
        from judge.local_llm import make_local_judge

        return make_local_judge(model, prompt=prompt, **settings)
    kw: dict[str, Any] = {k: v for k, v in settings.items() if v is not None}
    if prompt:
        kw["prompt"] = prompt
    return LLMJudge(JudgeSettings(model=model, api_base=api_base, api_key=SecretStr(api_key) if api_key else None,
                                  **kw))
