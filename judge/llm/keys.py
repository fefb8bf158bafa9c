"""Where a judge's API key comes from, the checks made before a run starts, and which errors mean "fix the setup".

Key sources, first found wins, the same for both transports:
1. the key given explicitly: `--api-key` or `JudgeSettings(api_key=...)`;
2. the `MEDJUDGE_API_KEY` environment variable;
3. the provider's own variable: `OPENAI_API_KEY` for `openai/...` (also with `--api-base`: a key-protected vLLM
   server or proxy gets it), `DEEPSEEK_API_KEY` for `deepseek/...`, `HOSTED_VLLM_API_KEY` for `hosted_vllm/...`,
   and so on (`<PROVIDER>_API_KEY`);
4. none: with `--api-base` the request goes without a key (a keyless local server); without, litellm looks for the
   provider's other variables itself (Azure, Bedrock, ...), and a missing key stops the run before it starts.

Errors that no retry can fix (HTTP 401 / 403, an unknown model 404, an unknown provider) become
`EndpointConfigError`, whose message names the fix; the run stops at the first one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from judge.core.exceptions import EndpointConfigError
from judge.core.settings import JudgeSettings

KEY_ENV = "MEDJUDGE_API_KEY"
"""The environment variable medjudge reads a key from before the provider's own."""
_SPECIAL_VARS = {"openai": "OPENAI_API_KEY", "azure": "AZURE_API_KEY", "gemini": "GEMINI_API_KEY",
                 "vertex_ai": "GOOGLE_APPLICATION_CREDENTIALS", "bedrock": "AWS_ACCESS_KEY_ID",
                 "together_ai": "TOGETHERAI_API_KEY", "hosted_vllm": "HOSTED_VLLM_API_KEY"}
_OPENAI_LIKE = ("openai", "openai_like", "custom_openai", "lm_studio", "llamafile", "vllm")


@dataclass(frozen=True)
class ResolvedKey:
    """The key a judge will send, and where it came from (the name of its source, never the key)."""

    value: str | None
    """The key, or None."""
    source: str
    """`--api-key`, an environment variable's name, or `none`."""


def provider_of(model: str) -> str:
    """The provider prefix of a litellm model string (`openai` for a bare name such as gpt-4o-mini)."""
    return model.split("/", 1)[0] if "/" in model else "openai"


def provider_key_var(model: str) -> str:
    """The environment variable the provider's key is usually in, e.g. OPENAI_API_KEY."""
    provider = provider_of(model)
    if provider in _OPENAI_LIKE:
        return "OPENAI_API_KEY"
    return _SPECIAL_VARS.get(provider, f"{provider.upper()}_API_KEY")


def resolve_api_key(settings: JudgeSettings) -> ResolvedKey:
    """The key for `settings` by the precedence in the module docstring."""
    if settings.api_key is not None and settings.api_key.get_secret_value():
        return ResolvedKey(settings.api_key.get_secret_value(), "--api-key")
    for var in (KEY_ENV, provider_key_var(settings.model)):
        value = os.environ.get(var)
        if value:
            return ResolvedKey(value, var)
    return ResolvedKey(None, "none")


def openai_base_from_env(model: str) -> str | None:
    """The base URL litellm would send an openai/... model to from the environment (OPENAI_BASE_URL, then
    OPENAI_API_BASE), for clients that do not read those variables themselves; None for other providers."""
    if provider_of(model) != "openai":
        return None
    return os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_BASE") or None


def _key_hint(settings: JudgeSettings) -> str:
    return f"set {provider_key_var(settings.model)} or {KEY_ENV}, or pass --api-key"


def preflight(settings: JudgeSettings, transport: str) -> None:
    """Stop before a run when it cannot work: an unknown provider, or no key for a hosted provider (litellm)."""
    if transport != "litellm" or settings.api_base:
        return
    from judge.llm.transport import load_litellm

    litellm = load_litellm()
    try:
        litellm.get_llm_provider(settings.model)
    except Exception as e:  # noqa: BLE001 - litellm raises BadRequestError for an unknown provider
        raise EndpointConfigError(f"{settings.model}: unknown provider ({str(e).splitlines()[0][:160]}); use a "
                                  "provider prefix such as openai/, deepseek/, anthropic/ or ollama/, or "
                                  "openai/<served-name> with --api-base") from None
    if resolve_api_key(settings).value is not None:
        return
    missing = [k for k in litellm.validate_environment(model=settings.model).get("missing_keys", [])
               if k.endswith(("_KEY", "_TOKEN", "_KEY_ID", "CREDENTIALS"))]
    if missing:
        raise EndpointConfigError(f"no API key for {settings.model}: set {' or '.join(missing)} (or {KEY_ENV}), "
                                  "or pass --api-key")


def config_error(exc: BaseException, settings: JudgeSettings) -> EndpointConfigError | None:
    """The `EndpointConfigError` an error of a chat call stands for, or None when it is not one."""
    status = getattr(exc, "status_code", None)
    text = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
    name = type(exc).__name__
    where = f" at {settings.api_base}" if settings.api_base else ""
    if status in (401, 403) or name in ("AuthenticationError", "PermissionDeniedError"):
        return EndpointConfigError(f"{settings.model}{where}: the API key was refused ({text}); "
                                   f"{_key_hint(settings)} with a valid key")
    if status == 404 or name == "NotFoundError":
        check = (f"the names the server serves: GET {settings.api_base.rstrip('/')}/models" if settings.api_base
                 else "the provider's model list")
        return EndpointConfigError(f"{settings.model}{where}: model or endpoint not found ({text}); check the model "
                                   f"name against {check}")
    if "LLM Provider NOT provided" in text:
        return EndpointConfigError(f"{settings.model}: unknown provider; use a provider prefix such as openai/, "
                                   "deepseek/ or anthropic/, or openai/<served-name> with --api-base")
    if "Missing credentials" in text or "api_key client option must be set" in text:
        return EndpointConfigError(f"no API key for {settings.model}: {_key_hint(settings)}")
    return None
