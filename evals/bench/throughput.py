"""Bulk labelling throughput against the stub server: medjudge (two transports, 1 and 2 processes), DSPy, Phoenix.

Every tool judges the same items on the same server at the same concurrency; each is warmed up on a few
items first (imports, first-call set-up) and then timed over the whole set. Client CPU is
`time.process_time()` of the client process (all its threads), so the server's CPU is not counted.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.bench.stub import category_for
from judge.core.models import Item

WARMUP = 8


@dataclass
class Throughput:
    """One tool's timed run."""

    tool: str
    n: int
    wall_s: float
    cpu_s: float
    correct: int
    setup_s: float = 0.0
    """One-time set-up before the timed run (the fork server's start in a sharded run's warm-up)."""

    @property
    def per_s(self) -> float:
        """Verdicts per second of wall time."""
        return self.n / self.wall_s if self.wall_s else 0.0

    @property
    def cpu_ms(self) -> float:
        """Client CPU milliseconds per verdict."""
        return 1000 * self.cpu_s / self.n if self.n else 0.0


def _timed(tool: str, n: int, fn: Any) -> Throughput:
    c0, t0 = time.process_time(), time.perf_counter()
    correct = fn()
    return Throughput(tool, n, time.perf_counter() - t0, time.process_time() - c0, correct)


def _expected(item: Item) -> str:
    return category_for(item.response)


# -- medjudge ------------------------------------------------------------------------------------
def _medjudge_judge(base_url: str, transport: str = "auto") -> Any:
    from judge.core.settings import JudgeSettings
    from judge.llm.judge import LLMJudge

    return LLMJudge(JudgeSettings(model="openai/stub", api_base=base_url, timeout_s=60, transport=transport))


def tool_name(transport: str, shards: int = 1) -> str:
    """The row name of a medjudge run ("medjudge" alone: the default transport, auto)."""
    name = "medjudge" if transport == "auto" else f"medjudge --transport {transport}"
    return name if shards == 1 else f"{name} x{shards} processes"


def bench_medjudge(base_url: str, items: list[Item], concurrency: int, workdir: Path, transport: str = "auto",
                   ) -> Throughput:
    """`judge.run.runner.label` into a fresh DuckDB file (verdict writes included)."""
    from judge.run.runner import label
    from judge.store.store import Store

    tool = tool_name(transport)
    judge = _medjudge_judge(base_url, transport)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        warm = [it.model_copy(update={"item_id": f"warm-{it.item_id}"}) for it in items[:WARMUP]]
        label(warm, store=Path(tmp) / "warm.duckdb", judge=judge, concurrency=WARMUP, progress=False)
        db = Path(tmp) / "bench.duckdb"

        def run() -> int:
            label(items, store=db, judge=judge, concurrency=concurrency, progress=False)
            return 0

        result = _timed(tool, len(items), run)
        with Store.readonly(db) as st:
            _, rows = st.query("SELECT item_id, category FROM verdicts WHERE status = 'ok'")
        want = {it.item_id: _expected(it) for it in items}
        result.correct = sum(1 for item_id, cat in rows if want.get(item_id) == cat)
    return result


def bench_medjudge_sharded(base_url: str, items: list[Item], concurrency: int, shards: int, workdir: Path,
                           transport: str = "auto") -> Throughput:
    """`label(..., processes=shards)` into a fresh DuckDB file: worker start-up (the fork, the judge rebuilt from its
    pickle) is inside the timing, as it is for a user. Client CPU counts the parent and the workers (as they report
    it). The fork server's one-time import of the judge's modules is paid in the warm-up run, as it is by a user's
    first sharded run in a process."""
    from judge.run.runner import label
    from judge.store.store import Store

    judge = _medjudge_judge(base_url, transport)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        warm = [it.model_copy(update={"item_id": f"warm-{it.item_id}"}) for it in items[:WARMUP]]
        s0 = time.perf_counter()
        label(warm, store=Path(tmp) / "warm.duckdb", judge=judge, concurrency=WARMUP, processes=shards,
              progress=False)
        setup = time.perf_counter() - s0
        db = Path(tmp) / "sharded.duckdb"
        c0, t0 = time.process_time(), time.perf_counter()
        summary = label(items, store=db, judge=judge, concurrency=concurrency, processes=shards, progress=False)
        wall = time.perf_counter() - t0
        cpu = (time.process_time() - c0) + summary.worker_cpu_s
        with Store.readonly(db) as st:
            _, rows = st.query("SELECT item_id, category FROM verdicts WHERE status = 'ok'")
    want = {it.item_id: _expected(it) for it in items}
    correct = sum(1 for item_id, cat in rows if want.get(item_id) == cat)
    return Throughput(tool_name(transport, shards), len(items), wall, cpu, correct, setup)


# -- the harness itself ----------------------------------------------------------------------------
def bench_bare_http(base_url: str, items: list[Item], concurrency: int) -> Throughput:
    """The same requests medjudge sends (rendered once, up front) as plain aiohttp POSTs whose replies are read and
    dropped: no parsing, validation, retries or storage. What this server, latency and concurrency allow a client
    that does nothing else; every tool's share of it is printed."""
    import aiohttp
    import orjson

    from judge.core.settings import JudgeSettings
    from judge.llm.judge import LLMJudge

    judge = LLMJudge(JudgeSettings(model="openai/stub", api_base=base_url))
    bodies = [orjson.dumps({"model": "stub", "messages": judge.messages(it), "response_format": {"type": "json_object"}})
              for it in items]
    url = base_url.rstrip("/") + "/chat/completions"

    async def run() -> tuple[float, float]:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                         headers={"Content-Type": "application/json"}) as session:
            async def post(body: bytes) -> None:
                async with session.post(url, data=body) as resp:
                    await resp.read()

            await asyncio.gather(*(post(b) for b in bodies[:WARMUP]))
            todo = list(reversed(bodies))

            async def worker() -> None:
                while todo:
                    await post(todo.pop())

            c0, t0 = time.process_time(), time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return time.perf_counter() - t0, time.process_time() - c0

    wall, cpu = asyncio.run(run())
    return Throughput("harness: bare aiohttp POSTs", len(items), wall, cpu, len(items))


# -- DSPy ----------------------------------------------------------------------------------------
def bench_dspy(base_url: str, items: list[Item], threads: int, engine: str = "auto") -> Throughput:
    """`dspy.Evaluate` over a `dspy.Predict` with the same inputs and a category output.

    DSPy 3.4's default engine ("auto") sends representable requests through its own HTTP client (lm15);
    engine="litellm" routes them through litellm, as medjudge does.
    """
    import dspy

    from judge.core.taxonomy import CATEGORY_CODES

    class ClassifyError(dspy.Signature):
        """Classify why the medical response is wrong into one error category."""

        question: str = dspy.InputField()
        reference_answer: str = dspy.InputField()
        response: str = dspy.InputField()
        category: str = dspy.OutputField(desc="one of: " + ", ".join(CATEGORY_CODES))

    lm = dspy.LM("openai/stub", api_base=base_url, api_key="x", cache=False, num_retries=0, engine=engine)
    program = dspy.Predict(ClassifyError)

    def examples(its: list[Item]) -> list[Any]:
        return [dspy.Example(question=it.question, reference_answer=it.reference_answer or "", response=it.response,
                             category=_expected(it)).with_inputs("question", "reference_answer", "response")
                for it in its]

    def metric(example: Any, pred: Any, trace: Any = None) -> bool:
        return bool(pred.category == example.category)

    devset = examples(items)
    with dspy.context(lm=lm):
        dspy.Evaluate(devset=examples(items[:WARMUP]), metric=metric, num_threads=WARMUP, display_progress=False)(
            program)
        evaluate = dspy.Evaluate(devset=devset, metric=metric, num_threads=threads, display_progress=False,
                                 provide_traceback=True)

        def run() -> int:
            res = evaluate(program)
            return sum(1 for _, _, score in res.results if score)

        return _timed("dspy Evaluate" + ("" if engine == "auto" else f" (engine={engine})"), len(items), run)


# -- Phoenix -------------------------------------------------------------------------------------
def bench_phoenix(base_url: str, items: list[Item], concurrency: int, rate_per_s: float) -> Throughput:
    """Phoenix's `create_classifier` over `async_evaluate_dataframe` with the eight categories as labels.

    Its adaptive rate limiter starts at `rate_per_s` (set to the ideal rate so it does not throttle a server that
    never says 429); everything else is Phoenix's default (OpenAI SDK client, structured-output request).
    """
    import logging

    import pandas as pd
    from phoenix.evals import LLM, async_evaluate_dataframe, create_classifier

    from judge.core.taxonomy import CATEGORY_CODES

    logging.getLogger("phoenix").setLevel(logging.ERROR)
    llm = LLM(provider="openai", model="stub", base_url=base_url, api_key="x", initial_per_second_request_rate=rate_per_s)
    template = ("Classify why the medical RESPONSE is wrong into one error category.\nQuestion: {question}\n"
                "Reference answer: {reference_answer}\nRESPONSE: {response}")
    clf = create_classifier(name="error_category", prompt_template=template, llm=llm, choices=list(CATEGORY_CODES))

    def frame(its: list[Item]) -> pd.DataFrame:
        return pd.DataFrame([{"question": it.question, "reference_answer": it.reference_answer or "",
                              "response": it.response} for it in its])

    async def evaluate(df: pd.DataFrame, conc: int) -> pd.DataFrame:
        return await async_evaluate_dataframe(dataframe=df, evaluators=[clf], concurrency=conc, hide_tqdm_bar=True)

    df = frame(items)

    async def warm_then_time() -> tuple[pd.DataFrame, float, float]:
        # one event loop for both: Phoenix's HTTP client keeps connections bound to the loop that opened them
        await evaluate(frame(items[:WARMUP]), WARMUP)
        c0, t0 = time.process_time(), time.perf_counter()
        res = await evaluate(df, concurrency)
        return res, time.perf_counter() - t0, time.process_time() - c0

    res, wall, cpu = asyncio.run(warm_then_time())
    col = next(c for c in res.columns if c.endswith("_score"))
    labels = [s.get("label") if isinstance(s, dict) else getattr(s, "label", None) for s in res[col]]
    correct = sum(1 for lab, it in zip(labels, items, strict=True) if lab == _expected(it))
    return Throughput("phoenix classifier", len(items), wall, cpu, correct)
