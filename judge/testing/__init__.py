"""Offline helpers for tests and benchmarks: a real OpenAI-compatible HTTP server on 127.0.0.1."""

from judge.testing.openai_server import Fault, OpenAIStubServer, Reply, chat_text, verdict_json

__all__ = ["Fault", "OpenAIStubServer", "Reply", "chat_text", "verdict_json"]
