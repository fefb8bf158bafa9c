"""Shared fixtures: a real OpenAI-compatible HTTP server on 127.0.0.1 and small item sets."""

from __future__ import annotations

import os

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

import json  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from judge.models import Item  # noqa: E402
from judge.testing import OpenAIStubServer  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "medbench_public_sample"


@pytest.fixture
def stub_server() -> Iterator[Callable[..., OpenAIStubServer]]:
    """Factory: start an OpenAIStubServer with a responder; all are stopped after the test."""
    servers: list[OpenAIStubServer] = []

    def start(responder, latency_s: float = 0.0) -> OpenAIStubServer:  # type: ignore[no-untyped-def]
        s = OpenAIStubServer(responder, latency_s=latency_s).start()
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


@pytest.fixture(params=["litellm", "direct"])
def transport(request: pytest.FixtureRequest) -> str:
    """Each LLM-judge test runs over both transports: litellm and the direct OpenAI-compatible client."""
    return str(request.param)


def load_items(name: str = "items_small.jsonl") -> list[Item]:
    """Items of a fixture JSONL file."""
    return [Item(**json.loads(line)) for line in (FIXTURES / name).read_text(encoding="utf-8").splitlines() if line]


@pytest.fixture
def items() -> list[Item]:
    """Six realistic wrong responses."""
    return load_items()


def db_rows(db: Path, sql: str) -> list[tuple]:
    """Rows of a query against a DuckDB file opened read-only."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def fast_settings(**kw):  # type: ignore[no-untyped-def]
    """Judge settings with tiny backoffs for tests."""
    base = dict(backoff_s=0.01, backoff_max_s=0.05, timeout_s=5.0, transport_retries=2, max_retries=1)
    base.update(kw)
    return base
