"""The benchmark runs end to end in --quick mode and produces its tables (timings are not checked)."""

from __future__ import annotations

import re

import pytest

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
    tools = dict(re.findall(r"^\| (medjudge|medjudge --transport direct|dspy Evaluate|phoenix classifier) \|.*"
                            r"\| (\d+/\d+) \|", text, re.M))
    expected = {"medjudge", "medjudge --transport direct", "dspy Evaluate"}
    expected |= {"phoenix classifier"} if "Phoenix not measured" not in text else set()
    assert set(tools) == expected and set(tools.values()) == {"12/12"}
    batch = re.search(r"^\| batch k=4 \| (\d+) \| \1 \| (\d+) \| ([\d.]+) \|", text, re.M)
    assert batch and float(batch.group(3)) < 1.0, "a batch of 4 sends fewer prompt tokens per verdict"
    assert re.search(r"κ\(A, B\): SQL (0\.\d+), sklearn \1", text), "SQL and sklearn agree on κ"
    assert "needs a real model" in text
