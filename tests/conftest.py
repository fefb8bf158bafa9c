"""Shared fixtures: a real OpenAI-compatible HTTP server on 127.0.0.1, a real Label Studio server (one per
session, started only by the tests that use it), small item sets and the paths of the data."""

from __future__ import annotations

import os

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

import json  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from judge.core.models import Item  # noqa: E402
from judge.testing import OpenAIStubServer  # noqa: E402
from tests.label_studio_env import SKIP_ENV, LabelStudioServer, ensure, venv_path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
"""The repository root."""
FIXTURES = REPO / "tests" / "fixtures"
"""The test suite's own small fixtures."""
GOLD = REPO / "gold_labels" / "gold.jsonl"
"""The project's gold set."""
SHARED_DATA = REPO.parent / "shared" / "data"
"""Benchmark samples shared beside the repository (absent in some checkouts: tests that need them skip)."""
MEDBENCH_PUBLIC = SHARED_DATA / "medbench_public_sample"
"""MedBench's older public sample: 20 tasks, three models' outputs."""
MEDBENCH_V4 = SHARED_DATA / "medbench_v4_sample"
"""The current MedBench (v4) sample: 38 tasks, two models' outputs."""
SHARED = MEDBENCH_PUBLIC


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


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudioServer]:
    """A Label Studio server on 127.0.0.1 (random port) with an admin and a second reviewer, `reviewer_token`.

    Fails, with the failing step's error, when the server's environment cannot be created or the server does not
    start; skipped only when MEDJUDGE_SKIP_LABEL_STUDIO=1.
    """
    if os.environ.get(SKIP_ENV) == "1":
        pytest.skip(f"{SKIP_ENV}=1: Label Studio tests skipped on request")
    try:
        timings = ensure()
    except Exception as e:  # noqa: BLE001 - reported as the test failure
        pytest.fail(f"could not create Label Studio's environment at {venv_path()} ({e}); fix it, or set "
                    f"{SKIP_ENV}=1 to skip these tests", pytrace=False)
    server = LabelStudioServer(tmp_path_factory.mktemp("label-studio") / "data")
    try:
        server.start()
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"Label Studio did not start: {e}", pytrace=False)
    server.reviewer = "reviewer2@medjudge.test"  # type: ignore[attr-defined]
    server.reviewer_token = server.add_user(server.reviewer)  # type: ignore[attr-defined]
    print(f"label studio: install {timings or 'reused'}, start-up {server.startup_s:.1f} s")
    yield server
    server.stop()
