"""One real Label Studio server for the review tests (started once per test session, from its own venv)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.label_studio_env import SKIP_ENV, LabelStudioServer, ensure, venv_path


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
