"""LLM judging: prompts, the one call path (Instructor + transports + retries), the single, batch and recall judges,
the local llama.cpp server, constrained decoding and the prompt-injection scan."""

from judge.core.lazy import lazy_exports

_EXPORTS = {
    "LLMJudge": "judge.llm.judge", "BatchLLMJudge": "judge.llm.batch", "LLMRecallJudge": "judge.llm.recall",
    "LLMCall": "judge.llm.call", "CallOutcome": "judge.llm.call", "classify_error": "judge.llm.call",
    "StructuredCall": "judge.llm.structured", "instructor_mode": "judge.llm.structured",
    "PromptTemplate": "judge.llm.prompt", "load_prompt": "judge.llm.prompt", "fence": "judge.llm.prompt",
    "messages_hash": "judge.llm.prompt",
    "DirectTransport": "judge.llm.transport", "LitellmTransport": "judge.llm.transport",
    "make_transport": "judge.llm.transport", "resolve_transport": "judge.llm.transport",
    "make_local_judge": "judge.llm.local", "start_server": "judge.llm.local", "ensure_server": "judge.llm.local",
    "stop_recorded_server": "judge.llm.local", "LocalServer": "judge.llm.local",
    "schema_response_format": "judge.llm.decoding", "batch_decoding_schema": "judge.llm.decoding",
    "injection_evidence": "judge.llm.injection", "injection_flags": "judge.llm.injection",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
