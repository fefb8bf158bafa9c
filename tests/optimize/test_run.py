"""End to end through the local OpenAI-compatible HTTP server: DSPy optimization, export, calibration, cache, CLI.

The server's scripted model answers DSPy's chat-adapter requests and the Instructor judge's JSON requests with the
same policy: the gold category only when the prompt carries a demo / worked example of it, else `omission`. The
test split has one item per category, so the base prompt (no worked examples) gets kappa exactly 0 (every answer
`omission`) and a prompt with demos of all eight categories gets kappa 1.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import dspy
import duckdb
import pytest
import typer
from typer.testing import CliRunner

from judge.gold.gold_set import load_gold
from judge.llm.prompt import load_prompt
from judge.optimize import OptimizerBudget, optimize
from judge.optimize.cache import CACHE_ENV, default_cache_dir, dspy_cache
from judge.testing import chat_text
from tests.conftest import FIXTURES
from tests.dspy_scripted import Policy, answer, json_verdict

FIX = FIXTURES / "dspy"
GOLD = FIX / "gold.jsonl"
BUDGET = OptimizerBudget(num_threads=2)


def responder_for(policy: Policy):  # type: ignore[no-untyped-def]
    def respond(body):  # type: ignore[no-untyped-def]
        messages = [{"role": m["role"], "content": m["content"]} for m in body["messages"]]
        if body.get("response_format"):  # the Instructor judge (JSON mode)
            return json_verdict(policy, messages)
        return answer(policy, messages)

    return respond


@pytest.fixture
def server(stub_server):  # type: ignore[no-untyped-def]
    return stub_server(responder_for(Policy.from_gold(load_gold(GOLD), use_definitions=False)))


def test_optimize_over_http_then_calibrate_before_and_after(server, tmp_path):
    db = tmp_path / "m.duckdb"
    r = optimize(GOLD, "bootstrap_fewshot", "openai/stub", tmp_path / "prompts" / "judge_opt", api_base=server.base_url,
                 db=db, cache=False, progress=False, budget=BUDGET, concurrency=2)
    dspy_requests = [b for b in server.requests if not b.get("response_format")]
    judge_requests = [b for b in server.requests if b.get("response_format")]
    # DSPy spoke the chat-adapter protocol to the server, with the taxonomy as instructions
    first = dspy_requests[0]
    assert first["model"] == "stub" and first["messages"][0]["role"] == "system"
    assert first["max_tokens"] == 1024 and "max_completion_tokens" not in first  # what llama.cpp servers honour
    assert "[[ ## category ## ]]" in first["messages"][0]["content"]
    assert "medical_language_generation_deficiency" in first["messages"][0]["content"]
    assert any(len(b["messages"]) > 2 for b in dspy_requests)  # demos sent as earlier turns
    assert r.dev_before is not None and r.dev_before.accuracy == pytest.approx(1 / 8)
    assert r.dev_after.accuracy == 1.0
    assert r.better is True and r.dev_difference is not None and r.dev_difference.ci[0] > 0
    assert "dev_verdict: better than the base prompt beyond the CI" in Path(r.prompt_path).read_text("utf-8")
    assert Path(r.prompt_path) == tmp_path / "prompts" / "judge_opt.md"
    assert json.loads(Path(r.state_path).read_text(encoding="utf-8"))["predict"]["demos"]
    # calibration: same model, base prompt vs exported prompt, on the 8 test items
    before, after = r.calibration_before, r.calibration_after
    assert before is not None and after is not None
    assert before.n == after.n == 8 and len(judge_requests) == 16
    assert before.kappa == pytest.approx(0.0) and after.kappa == pytest.approx(1.0)
    assert before.judge_id != after.judge_id and after.prompt == r.prompt_path
    rows = duckdb.connect(str(db), read_only=True).execute(
        "SELECT judge_id, prompt_version, split, n FROM calibration_runs ORDER BY kappa").fetchall()
    assert rows == [(before.judge_id, load_prompt().version, "test", 8), (after.judge_id, r.prompt_version, "test", 8)]


def test_no_calibration_without_db(server, tmp_path):
    r = optimize(GOLD, "labeled_fewshot", "openai/stub", tmp_path / "p", api_base=server.base_url, cache=False,
                 budget=BUDGET)
    assert r.calibration_before is None and r.calibration_after is None
    assert not any(b.get("response_format") for b in server.requests)


def test_native_dspy_client_can_be_chosen(server, tmp_path):
    r = optimize(GOLD, "labeled_fewshot", "openai/stub", tmp_path / "p", api_base=server.base_url, cache=False,
                 budget=BUDGET, engine="auto", max_tokens=77)
    assert r.dev_after.accuracy == 1.0
    assert {b.get("max_completion_tokens") for b in server.requests} == {77}


def test_disk_cache_answers_a_repeated_run(server, tmp_path):
    cache = tmp_path / "cache"
    kw = dict(api_base=server.base_url, cache_dir=cache, budget=BUDGET, score_baseline=False)
    first = optimize(GOLD, "labeled_fewshot", "openai/stub", tmp_path / "a", **kw)
    n = server.count
    assert n > 0 and first.cache_dir == str(cache) and any(cache.iterdir())
    second = optimize(GOLD, "labeled_fewshot", "openai/stub", tmp_path / "b", **kw)
    assert server.count == n  # every call came from the cache
    assert second.dev_after == first.dev_after
    optimize(GOLD, "labeled_fewshot", "openai/stub", tmp_path / "c", api_base=server.base_url, cache=False,
             budget=BUDGET, score_baseline=False)
    assert server.count == 2 * n  # caching off: the server answers again


def test_cache_location_and_restoring_the_previous_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "env"))
    assert default_cache_dir() == tmp_path / "env"
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "medjudge" / "dspy"
    before = dspy.cache
    with dspy_cache(enabled=False) as path:
        assert path is None and dspy.cache is not before
        assert not dspy.cache.enable_disk_cache and not dspy.cache.enable_memory_cache
    assert dspy.cache is before


def test_cli_optimize(server, tmp_path):
    from judge.cli.optimize import register

    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """medjudge"""

    register(app)
    out = tmp_path / "judge_cli"
    res = CliRunner().invoke(app, ["optimize", "--gold", str(GOLD), "--optimizer", "labeled_fewshot", "--model",
                                   "openai/stub", "--api-base", server.base_url, "--out", str(out), "--no-cache",
                                   "--max-demos", "3", "--db", str(tmp_path / "m.duckdb"), "--no-progress"])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "dev accuracy 0.125 -> " in text and f"wrote {out}.md" in text
    assert re.search(r"test kappa before \(base prompt\): 0\.000", text)
    assert re.search(r"test kappa after \(exported prompt\): \S+ \[", text)
    assert load_prompt(f"{out}.md").text.count("### Example ") == 3
    bad = CliRunner().invoke(app, ["optimize", "--gold", str(GOLD), "--optimizer", "nope", "--model", "openai/stub",
                                   "--out", str(out)])
    assert bad.exit_code == 2 and "unknown optimizer" in bad.output
    assert "worked examples" in chat_text(server.requests[-1]).lower()


class DemoConfused(Policy):
    """A model that knows every category from its definition but answers the default once shown demos."""

    def category(self, messages):  # type: ignore[no-untyped-def]
        if any(m["role"] == "assistant" for m in messages[:-1]) or '"category": "' in messages[0]["content"]:
            return self.default
        return super().category(messages)


def test_a_worse_optimized_prompt_is_refused_unless_forced(stub_server, tmp_path):
    from judge.cli.optimize import register

    server = stub_server(responder_for(DemoConfused.from_gold(load_gold(GOLD), use_definitions=True)))
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """medjudge"""

    register(app)
    out = tmp_path / "judge_worse"
    args = ["optimize", "--gold", str(GOLD), "--optimizer", "labeled_fewshot", "--model", "openai/stub",
            "--api-base", server.base_url, "--out", str(out), "--no-cache", "--no-progress"]
    res = CliRunner().invoke(app, args)
    text = " ".join(res.output.split())
    assert res.exit_code == 3, res.output
    assert "NOT better than the base prompt on dev" in text and "base kappa 1.000" in text
    assert "optimized kappa 0.000" in text and "difference -1.000" in text
    assert not out.with_suffix(".md").exists() and not (tmp_path / "judge_worse.dspy.json").exists()
    forced = CliRunner().invoke(app, [*args, "--force"])
    assert forced.exit_code == 0, forced.output
    assert "NOT better than the base prompt on dev beyond the bootstrap CI; written because of --force" in " ".join(
        forced.output.split())
    header = out.with_suffix(".md").read_text(encoding="utf-8").split("-->")[0]
    assert re.search(r"dev_score_base: kappa 1\.000 \[1\.000, 1\.000\], accuracy 1\.000, n 8", header)
    assert re.search(r"dev_score_optimized: kappa 0\.000 \[\S+, \S+\], accuracy 0\.125, n 8", header)
    assert "dev_kappa_difference: -1.000 [" in header and "dev_verdict: NOT better" in header
