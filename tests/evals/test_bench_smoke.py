"""The benchmark runs end to end in --quick mode and produces its tables (timings are not checked)."""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPO

pytest.importorskip("dspy")


def test_quick_bench_produces_every_table(tmp_path):
    from evals.bench.run import main

    out = tmp_path / "RESULTS.md"
    report = main(["--quick", "--items", "12", "--rows", "3000", "--out", str(out)])
    text = out.read_text(encoding="utf-8")
    assert text == report.markdown()
    for title in ("## Bulk labelling throughput", "## Throughput ratios", "## Batched judging",
                  "## Offline judging", "## DuckDB verdict store at 3,000 items", "## Store write ratios"):
        assert title in text, title
    # every tool parsed the stub server's answers for every item
    tools = dict(re.findall(r"^\| (medjudge|medjudge --transport litellm|dspy Evaluate|phoenix classifier) \|.*"
                            r"\| (\d+/\d+) \|", text, re.M))
    expected = {"medjudge", "medjudge --transport litellm", "dspy Evaluate"}
    expected |= {"phoenix classifier"} if "Phoenix not measured" not in text else set()
    assert set(tools) == expected and set(tools.values()) == {"12/12"}
    batch = re.search(r"^\| batch k=4 \| (\d+) \| \1 \| (\d+) \| ([\d.]+) \|", text, re.M)
    assert batch and float(batch.group(3)) < 1.0, "a batch of 4 sends fewer prompt tokens per verdict"
    assert re.search(r"κ\(A, B\): SQL (0\.\d+), sklearn \1", text), "SQL and sklearn agree on κ"
    assert "needs a real model" in text
    if "Ray engine not measured" not in text:  # the ray extra is installed
        rows = re.findall(r"^\| (local, [^|]+|ray, [^|]+) \| (\d+) \| [\d.]+ \| [\d.]+ \| [\d.]+ \| (\d+)/(\d+) \|",
                          text, re.M)
        # LLM judge: local and ray at 2 sizes; offline judge: local in 1 process, in every CPU's, and ray at 2 sizes
        assert {r[0].split(",")[0] for r in rows} == {"local", "ray"} and len(rows) == 10
        assert sum("processes (every CPU)" in r[0] for r in rows) == 2
        assert all(r[2] == r[3] == r[1] for r in rows), "every engine labelled every item with the scripted answer"
        assert text.count("overhead per verdict vs local") == 2


def test_batched_and_single_kappa_on_gold_through_a_real_server(stub_server, tmp_path):
    """The κ path of the batching bench, against a server that answers the gold consensus for most items."""
    import json
    import re as _re

    from evals.bench.batching import kappa_on_gold
    from judge.core.settings import JudgeSettings
    from judge.core.taxonomy import CATEGORY_CODES
    from judge.gold.gold_set import load_gold
    from judge.gold.splits import load_splits, select_split
    from judge.llm.prompt import fence

    root = REPO / "gold_labels"
    gold = select_split(load_gold(root / "gold.jsonl"), load_splits(root / "splits.json").splits, "test")
    truth = {fence("RESPONSE", g.response): g.consensus for g in gold}
    wrong_every = 5  # every 5th item gets a wrong answer, so κ is below 1 and the same for both judges
    order = {k: n for n, k in enumerate(truth)}

    def label_of(block: str) -> str:
        key = _re.search(r"<<<RESPONSE>>>\n.*?\n<<<END RESPONSE>>>", block, _re.S).group(0)  # type: ignore[union-attr]
        right = truth[key]
        if order[key] % wrong_every:
            return right
        return CATEGORY_CODES[(CATEGORY_CODES.index(right) + 1) % len(CATEGORY_CODES)]

    def responder(body: dict) -> str:
        user = body["messages"][-1]["content"]
        blocks = _re.findall(r"<<<ITEM (\d+)>>>(.*?)<<<END ITEM \1>>>", user, _re.S)
        verdict = {"rationale": "oracle", "evidence": "", "confidence": 0.9}
        if blocks:
            return json.dumps({"verdicts": [{"index": int(i), "category": label_of(b), **verdict} for i, b in blocks]})
        return json.dumps({"category": label_of(user), **verdict})

    server = stub_server(responder)
    settings = JudgeSettings(model="openai/stub", api_base=server.base_url)
    rows = {r.judge: r for r in kappa_on_gold(settings, [4], tmp_path, gold=root / "gold.jsonl",
                                               splits=root / "splits.json")}
    assert set(rows) == {"single", "batch k=4"}
    for r in rows.values():
        assert r.n == len(gold) and r.ok == len(gold)
        assert 0.6 < r.kappa < 1.0
    assert rows["single"].kappa == pytest.approx(rows["batch k=4"].kappa)
    assert rows["batch k=4"].prompt_per_verdict < rows["single"].prompt_per_verdict
