"""Every bash and python block of the README and docs/ runs, as printed, against the real local HTTP server.

Each block runs in a scratch folder holding the files the docs name (`wrong.jsonl`, `answers.jsonl`,
`gold_labels/`, MedBench-style `outputs/` and `prompts/`, `answers.csv`), with `OPENAI_BASE_URL` pointing
`openai/...` models at the test server and a placeholder key in `OPENAI_API_KEY`. What is changed before running,
and why, is listed in `SUBSTITUTIONS` and `skip_reason`: hosts of example servers become the test server, the
shipped model folder becomes a scratch folder, optional `[...]` parts are left out; install commands (what
`.ci/run` itself executes), `export` lines, a foreground server, the user's own GGUF paths and the commands of a
multi-node cluster set-up are not run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from judge.gold.gold_set import load_gold
from judge.llm.recall import SYSTEM_PROMPT as RECALL_PROMPT
from tests.conftest import FIXTURES, GOLD, REPO
from tests.dspy_scripted import Policy, answer, json_verdict

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
HOSTS = ("http://gpu-box:8000/v1", "http://127.0.0.1:8000/v1", "http://127.0.0.1:8080/v1")
HAS_LLAMA = shutil.which("llama") is not None or __import__("importlib").util.find_spec("llama_cpp") is not None


@dataclass(frozen=True)
class Block:
    """One fenced code block of a doc."""

    doc: Path
    index: int
    lang: str
    code: str

    @property
    def id(self) -> str:
        return f"{self.doc.relative_to(REPO)}#{self.index}"


def blocks() -> list[Block]:
    out = []
    for doc in DOCS:
        for i, m in enumerate(re.finditer(r"```(\w*)\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)):
            if m.group(1) in ("bash", "python"):
                out.append(Block(doc, i, m.group(1), m.group(2)))
    return out


def logical_lines(code: str) -> list[str]:
    """Shell lines with backslash continuations joined."""
    return code.replace("\\\n", " ").splitlines()


def strip_install(line: str) -> str:
    """A `python3 -m venv .venv && .venv/bin/pip install ... && .venv/bin/medjudge demo` line without its install
    steps (the test runs in an installed environment) and without the test-suite command itself."""
    if "&&" not in line:
        return line
    kept = [part.strip().removeprefix(".venv/bin/") for part in line.split("&&")
            if "pip install" not in part and "-m venv" not in part and part.strip() != ".venv/bin/pytest"]
    return " && ".join(kept)


def skip_reason(line: str) -> str | None:
    """Why a shell line is not run here, or None to run it."""
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return None
    if "pip install" in stripped or stripped.startswith("python3 -m venv"):
        return "installation: what .ci/run executes"
    if stripped.startswith("export "):
        return "the environment is set by the test"
    if "/models/" in stripped:
        return "a path to the user's own GGUF file"
    if re.match(r"medjudge serve(\s+#|\s*$)", stripped) or ("medjudge serve --gguf" in stripped) \
            or "label_studio_env serve" in stripped:
        return "a foreground server that runs until Ctrl-C"
    if stripped.startswith(("ray start", "vllm serve", "export PATH")) or "HEAD_IP" in stripped \
            or "--ray-address auto" in stripped:
        return "a multi-node cluster: several machines, GPU servers"
    if "--model local" in stripped and "local:http" not in stripped and not HAS_LLAMA:
        return "needs the local extra (llama.cpp)"
    return None


SUBSTITUTIONS = [
    (re.compile(r"\s\[--[^\]]*\]"), ""),  # optional parts shown in brackets
    (re.compile(r"medjudge baseline train\b"), "medjudge baseline train --out trained_models"),  # not the package's
]


def placeholder_values(root: Path, env: dict[str, str]) -> dict[str, str]:
    """Ids a reader looks up in their own store (JUDGE_A, JUDGE_B, PREVIOUS_JUDGE_ID), from the sandbox's store:
    two judges with verdicts on the same items and a judge calibrated there before (offline runs first, as a
    reader's earlier runs)."""
    import duckdb

    db = root / "verdicts.duckdb"
    for model in ("offline", "baseline"):  # two judges on the same items (a reader's earlier runs)
        subprocess.run([sys.executable, "-m", "judge", "label", "wrong.jsonl", "--db", str(db), "--model", model,
                        "--no-progress"], cwd=root, env=env, check=True, capture_output=True, timeout=300)
    subprocess.run([sys.executable, "-m", "judge", "calibrate", "--gold", "gold_labels/gold.jsonl", "--model",
                    "offline", "--db", str(db), "--no-progress"], cwd=root, env=env, check=True, capture_output=True,
                   timeout=300)
    con = duckdb.connect(str(db), read_only=True)
    try:
        pair = con.execute("SELECT a.judge_id, b.judge_id FROM verdicts a JOIN verdicts b USING (item_id) "
                           "WHERE a.judge_id < b.judge_id AND a.status = 'ok' AND b.status = 'ok' "
                           "GROUP BY ALL ORDER BY count(*) DESC LIMIT 1").fetchone()
        previous = con.execute("SELECT judge_id FROM calibration_runs WHERE model = 'offline' LIMIT 1").fetchone()
    finally:
        con.close()
    assert pair and previous, "the sandbox holds two judges and an earlier calibration"
    return {"JUDGE_A": pair[0], "JUDGE_B": pair[1], "PREVIOUS_JUDGE_ID": previous[0]}


def in_progress_shards(folder: Path) -> None:
    """The shard folder of a Ray run in progress (what `medjudge sql --shards` is for): verdicts not merged yet."""
    from judge.core.models import Verdict
    from judge.store.shards import verdict_rows, write_shard

    rows = [Verdict(item_id=f"s{i}", judge_id="ray-run", status="ok", category="omission") for i in range(3)]
    write_shard(folder, verdict_rows(rows, "run-in-progress"))


def runnable_shell(code: str, base_url: str) -> tuple[str, list[str]]:
    lines, skipped = [], []
    for line in map(strip_install, logical_lines(code)):
        reason = skip_reason(line)
        if reason:
            skipped.append(f"{line.strip()}  ({reason})")
            continue
        for host in HOSTS:
            line = line.replace(host, base_url)
        for pattern, repl in SUBSTITUTIONS:
            line = pattern.sub(repl, line)
        if line.strip().startswith("python evals/"):
            line = f"(cd {REPO} && {line.strip()})"
        lines.append(line)
    return "\n".join(lines), skipped


class LearnerPolicy(Policy):
    """A judge that does not follow the base prompt's definitions, but learns from what optimizers add: demos with
    the category, or a learned guidance line "`code`: definition" (a proposed or reflected instruction)."""

    def taught(self, code: str, system: str, demo_turns: list[str]) -> bool:
        from judge.core.taxonomy import load_taxonomy

        if f"`{code}`: {load_taxonomy().get(code).definition}" in system:
            return True
        return super().taught(code, system, demo_turns)


def docs_responder(policy: Policy):  # type: ignore[no-untyped-def]
    """The test server's answers: recall coverage, Instructor judge verdicts, DSPy chat-adapter replies."""

    def respond(body):  # type: ignore[no-untyped-def]
        messages = [{"role": m["role"], "content": m["content"]} for m in body["messages"]]
        if messages[0]["content"] == RECALL_PROMPT:
            n = int(re.findall(r"exactly (\d+) booleans", messages[-1]["content"])[-1])
            return json.dumps({"covered": [True] * n, "rationale": "docs test"})
        dspy_request = "Your input fields are:" in messages[0]["content"] or not body.get("response_format")
        return answer(policy, messages) if dspy_request else json_verdict(policy, messages)

    return respond


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from judge.testing import OpenAIStubServer

    root = tmp_path_factory.mktemp("docs")
    for name in ("wrong.jsonl", "answers.jsonl"):
        shutil.copy(FIXTURES / "items_small.jsonl", root / name)
    shutil.copytree(REPO / "gold_labels", root / "gold_labels")
    shutil.copytree(FIXTURES / "medbench" / "outputs", root / "outputs")
    shutil.copytree(FIXTURES / "medbench" / "prompts", root / "prompts")
    for name in ("answers.csv", "answer_key.csv"):
        shutil.copy(FIXTURES / "medbench" / "answer_key.csv", root / name)
    server = OpenAIStubServer(docs_responder(LearnerPolicy.from_gold(load_gold(GOLD), use_definitions=False))).start()
    env = {**os.environ, "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-docs-test",
           "MEDJUDGE_DSPY_CACHE": str(root / ".dspy"), "MEDJUDGE_LOCAL_STATE": str(root / "local.json"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": str(REPO), "COLUMNS": "120"}
    env.pop("MEDJUDGE_API_KEY", None)
    yield root, server, env
    subprocess.run([sys.executable, "-m", "judge", "serve", "--stop"], env=env, capture_output=True, timeout=60)
    server.stop()


ALL = blocks()


def test_the_docs_have_runnable_blocks():
    assert len([b for b in ALL if b.lang == "python"]) >= 4 and len([b for b in ALL if b.lang == "bash"]) >= 10


@pytest.mark.parametrize("block", ALL, ids=[b.id for b in ALL])
def test_block_runs(block: Block, sandbox, request: pytest.FixtureRequest) -> None:  # type: ignore[no-untyped-def]
    root, server, env = sandbox
    if "--label-studio http://localhost:8080" in block.code:  # a real Label Studio server, started for the tests
        label_studio = request.getfixturevalue("label_studio")
        block = Block(block.doc, block.index, block.lang, block.code.replace("http://localhost:8080", label_studio.url))
        env = {**env, "LABEL_STUDIO_API_KEY": label_studio.token}
    if "--shards verdicts.duckdb.shards" in block.code:  # shards as a run in progress leaves them
        in_progress_shards(root / "verdicts.duckdb.shards")
    if any(name in block.code for name in ("JUDGE_A", "PREVIOUS_JUDGE_ID")):
        code = block.code
        for name, value in placeholder_values(root, env).items():
            code = code.replace(name, value)
        block = Block(block.doc, block.index, block.lang, code)
    if block.lang == "python":
        code = block.code
        for host in HOSTS:
            code = code.replace(host, server.base_url)
        script = root / f"block_{block.doc.stem}_{block.index}.py"
        script.write_text(code, encoding="utf-8")
        done = subprocess.run([sys.executable, str(script)], cwd=root, env=env, capture_output=True, text=True,
                              timeout=900)
    else:
        script, skipped = runnable_shell(block.code, server.base_url)
        if not script.strip() or all(not ln.strip() or ln.strip().startswith("#") for ln in script.splitlines()):
            pytest.skip("nothing runnable here: " + "; ".join(skipped))
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=root, env=env, capture_output=True,
                              text=True, timeout=900)
    assert done.returncode == 0, f"{block.id} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
