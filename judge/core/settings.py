"""Judge settings: how an LLM judge calls its model, and the identity its judge_id hashes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr

from judge.core.hashing import make_judge_id

DEFAULT_PROMPT = "judge_v1.md"
"""The shipped judge prompt (in prompts/)."""


class JudgeSettings(BaseModel):
    """How an LLM judge calls its model. Everything that changes verdicts goes into the judge_id."""

    model: str
    """litellm model string, e.g. openai/gpt-4o-mini, deepseek/deepseek-chat, ollama/qwen2.5:7b."""
    api_base: str | None = None
    """Base URL of an OpenAI-compatible server (vLLM, llama.cpp, ...)."""
    api_key: SecretStr | None = Field(default=None, exclude=True, repr=False)
    """API key; never stored, logged or hashed."""
    prompt: str = DEFAULT_PROMPT
    """Prompt template file (path or name in prompts/)."""
    taxonomy: str | None = None
    """Taxonomy TOML path (default: shipped)."""
    temperature: float = 0.0
    """Sampling temperature."""
    max_tokens: int = 1024
    """Completion token cap."""
    mode: str = "json"
    """Instructor mode: json, md_json, json_schema (response_format carries the schema) or tools."""
    max_retries: int = 2
    """Re-asks after a validation failure (Instructor)."""
    transport_retries: int = 4
    """Retries after 429/5xx/timeouts/connection errors."""
    timeout_s: float = 60.0
    """Per-request timeout in seconds."""
    backoff_s: float = 1.0
    """Initial backoff between transport retries (doubles, with jitter)."""
    backoff_max_s: float = 30.0
    """Longest backoff (also caps Retry-After)."""
    category_order: list[str] | None = None
    """Present the categories in this order (robustness probes)."""
    category_labels: Literal["codes", "letters"] = "codes"
    """Show the categories by their codes, or as the letters A–H in `category_order` (the label-renaming probe)."""
    transport: Literal["auto", "litellm", "direct"] = "auto"
    """How calls reach the model: litellm (any provider), direct (pooled HTTP to an OpenAI-compatible api_base), or
    auto: direct for an OpenAI-compatible model string (openai/..., hosted_vllm/...) with an api_base, else litellm."""
    max_field_chars: int = Field(default=32_000, ge=1_000)
    """Longest question, options, reference answer or response sent (characters); longer ones are cut with a note
    in the prompt and the verdict flagged `input_truncated`."""
    schema_in_response_format: bool = False
    """Send the verdict JSON schema as response_format={"type": "json_object", "schema": ...} (llama.cpp grammar)."""

    def identity(self, prompt_version: str, taxonomy_version: str) -> dict[str, object]:
        """The fields that define a judge, without secrets or transport details."""
        identity: dict[str, object] = {
            "model": self.model,
            "prompt_version": prompt_version,
            "taxonomy_version": taxonomy_version,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "mode": self.mode,
            "category_order": self.category_order,
        }
        if self.schema_in_response_format:
            identity["schema_in_response_format"] = True
        if self.max_field_chars != 32_000:  # only a changed cap changes prompts (and so the judge_id)
            identity["max_field_chars"] = self.max_field_chars
        if self.category_labels != "codes":
            identity["category_labels"] = self.category_labels
        return identity


__all__ = ["DEFAULT_PROMPT", "JudgeSettings", "make_judge_id"]
