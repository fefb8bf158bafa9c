"""Run the medjudge benchmarks and print (and optionally write) their tables.

Usage:
    python -m evals.bench [--quick] [--parts throughput,batching,offline,duckdb,startup,ray] [--out evals/bench/RESULTS.md]
    python evals/bench/run.py ...                       (same, as a script from a checkout)
    python -m evals.bench --parts batching --model openai/gpt-4o-mini --api-base URL   (κ on the gold test split)

Every ratio is between numbers measured in the same run, on the same machine, server and items.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # run as a plain script from a checkout
    sys.path.insert(0, str(REPO))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from evals.bench.results import Report  # noqa: E402
from evals.bench.workload import machine, make_items  # noqa: E402

PARTS = ("throughput", "batching", "offline", "duckdb", "startup", "ray")


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def part_throughput(rep: Report, n: int, latency_s: float, concurrency: int, workdir: Path, shard: bool = True,
                    stub: str = "raw") -> None:
    from evals.bench.stub import StubProcess
    from evals.bench.throughput import (
        bench_bare_http,
        bench_dspy,
        bench_medjudge,
        bench_medjudge_sharded,
        bench_phoenix,
        tool_name,
    )

    items = make_items(n)
    ideal = concurrency / latency_s
    results = []
    with StubProcess(latency_s, kind=stub) as server:
        bare = bench_bare_http(server.base_url, items, concurrency)
        results.append(bench_medjudge(server.base_url, items, concurrency, workdir, "auto"))
        if shard:
            results.append(bench_medjudge_sharded(server.base_url, items, concurrency, 2, workdir, "auto"))
        else:
            rep.note("quick run: the 2-process medjudge run is skipped")
        results.append(bench_medjudge(server.base_url, items, concurrency, workdir, "litellm"))
        try:
            results.append(bench_dspy(server.base_url, items, concurrency))
            results.append(bench_dspy(server.base_url, items, concurrency, engine="litellm"))
        except ImportError as e:
            rep.note(f"DSPy not measured: {e}")
        try:
            results.append(bench_phoenix(server.base_url, items, concurrency, rate_per_s=ideal))
        except ImportError as e:
            rep.note(f"Phoenix not measured (pip install arize-phoenix-evals): {e}")
    rep.table(
        f"Bulk labelling throughput: {n} items, stub server in its own process, {latency_s * 1000:.0f} ms latency, "
        f"concurrency {concurrency} (ideal {ideal:.0f} verdicts/s)",
        ["tool", "verdicts/s", "share of ideal", "share of the harness", "client CPU ms/verdict", "correct", "wall s"],
        [[r.tool, f"{r.per_s:.1f}", f"{r.per_s / ideal:.1%}", f"{r.per_s / bare.per_s:.1%}", f"{r.cpu_ms:.2f}",
          f"{r.correct}/{r.n}", f"{r.wall_s:.1f}"] for r in [bare, *results]])
    rep.note("harness row: the same request bodies as plain aiohttp POSTs, replies read and dropped (no parsing, "
             "validation or storage): what this server, latency and concurrency allow a client that does nothing "
             "else. 'share of the harness' divides each tool's rate by it.")
    server_ms = 1000 * server.cpu_s / server.count if server.count and server.cpu_s is not None else None
    if server_ms is not None:
        rep.note(f"stub server ({stub}, its own process): {server.count} requests, {server_ms:.2f} ms of server CPU "
                 "per request (start-up included); client and server share the machine's cores.")
    cores = os.cpu_count() or 1
    for r in results:
        if r.tool.startswith("medjudge") and server_ms is not None and r.cpu_ms:
            bound = min(ideal, 1000 * cores / (r.cpu_ms + server_ms))
            rep.note(f"{r.tool}: at {r.cpu_ms:.2f} ms client + {server_ms:.2f} ms server CPU per verdict, {cores} "
                     f"cores allow at most {bound:.0f} verdicts/s ({bound / ideal:.0%} of ideal); measured "
                     f"{r.per_s:.0f}/s = {r.per_s / bound:.0%} of that.")
        if r.setup_s:
            rep.note(f"{r.tool}: the warm-up run before the timing took {r.setup_s:.2f} s (the first sharded run in "
                     "a process also starts the fork server, which imports the judge's modules once).")
    rep.note("medjudge rows: `judge.run.runner.label` with the LLM judge, verdicts written to a fresh DuckDB file. "
             "`medjudge` is the default transport (auto), which for this openai/... model with an api_base is the "
             "direct pooled aiohttp client; `--transport litellm` sends the same requests through litellm. Same "
             "prompt, same Instructor validation, same judge_id.")
    rep.note("DSPy 3.4's default engine sends these requests through its own HTTP client (lm15), not litellm; "
             "the engine=litellm row routes them through litellm as medjudge's litellm transport does.")
    by = {r.tool: r for r in results}
    ours = [name for name in by if name.startswith("medjudge")]
    ratios = [[f"{mine} / {name}", _ratio(by[mine].per_s, r.per_s), _ratio(r.cpu_ms, by[mine].cpu_ms)]
              for mine in ours for name, r in by.items() if name != mine and not name.startswith("medjudge")]
    if tool_name("auto", 2) in by:
        ratios.append([f"{tool_name('auto', 2)} / {tool_name('auto')}",
                       _ratio(by[tool_name("auto", 2)].per_s, by[tool_name("auto")].per_s),
                       _ratio(by[tool_name("auto")].cpu_ms, by[tool_name("auto", 2)].cpu_ms)])
    rep.table(f"Throughput ratios, {n} items (same run)", ["pair", "verdicts/s ratio", "CPU per verdict (second / first)"],
              ratios)


def part_batching(rep: Report, n: int, ks: list[int], concurrency: int, workdir: Path, model: str | None,
                  api_base: str | None, api_key: str | None) -> None:
    from evals.bench.batching import bench_tokens, gold_settings, kappa_on_gold
    from evals.bench.stub import StubProcess

    items = make_items(n)
    with StubProcess(0.0) as server:
        rows = bench_tokens(server.base_url, items, ks, concurrency, workdir)
    single = rows[0].prompt_per_verdict
    rep.table(f"Batched judging: prompt tokens per verdict, {n} items (stub tokens = characters / 2)",
              ["judge", "verdicts", "ok", "prompt tokens/verdict", "vs single", "completion tokens/verdict"],
              [[r.judge, r.n, r.ok, f"{r.prompt_per_verdict:.0f}", f"{r.prompt_per_verdict / single:.2f}",
                f"{r.completion_per_verdict:.0f}"] for r in rows])
    if model and (api_base or model == "local" or model.startswith("local:")):
        settings = gold_settings(model, api_base, api_key)
        krows = kappa_on_gold(settings, ks, workdir, concurrency=1 if settings.schema_in_response_format else 8)
        rep.table(f"κ on the gold test split with {settings.model}",
                  ["judge", "items", "ok", "needs_review", "failed", "κ", "prompt tokens/verdict", "wall s"],
                  [[r.judge, r.n, r.ok, r.status_counts.get("needs_review", 0), r.status_counts.get("failed", 0),
                    "n/a" if r.kappa is None else f"{r.kappa:.3f}", f"{r.prompt_per_verdict:.0f}", f"{r.wall_s:.0f}"]
                   for r in krows])
    else:
        rep.note("κ of batched vs single judging on the gold test split needs a real model: run with "
                 "--model MODEL --api-base URL [--api-key KEY].")


def part_offline(rep: Report, n: int) -> None:
    from evals.bench.offline_speed import bench_offline, real_items

    items = real_items(n)
    source = "MedBench public sample"
    if len(items) < n:
        items, source = make_items(n), "synthetic workload (MedBench sample not found)"
    rows, note = bench_offline(items)
    rep.table(f"Offline judging: {len(items)} items ({source})",
              ["judge", "verdicts/s", "CPU ms/verdict", "labelled"],
              [[r.judge, f"{r.per_s:,.0f}", f"{1000 * r.cpu_s / r.n:.3f}", f"{r.labelled}/{r.n}"] for r in rows])
    rep.note(note)


def part_duckdb(rep: Report, n: int, workdir: Path) -> None:
    from evals.bench.duckdb_scale import bench_duckdb

    rows, kappa = bench_duckdb(n, workdir)
    rep.table(f"DuckDB verdict store at {n:,} items (judge A: n verdicts, judge B: n/2)",
              ["step", "rows", "seconds", "rows/s", "note"],
              [[r.step, f"{r.rows:,}", f"{r.seconds:.2f}", f"{r.per_s:,.0f}", r.note] for r in rows])
    by = {r.step: r for r in rows}
    write = by["write_verdicts (Verdict objects)"]
    rep.table("Store write ratios (same run)", ["pair", "rows/s ratio"], [
        ["write_verdicts / executemany INSERT", _ratio(write.per_s, by["baseline: duckdb executemany INSERT"].per_s)],
        ["write_verdict_table / executemany INSERT",
         _ratio(by["write_verdict_table (bulk, columns)"].per_s, by["baseline: duckdb executemany INSERT"].per_s)],
        ["write_verdicts / pandas to_parquet", _ratio(write.per_s, by["baseline: pandas to_parquet"].per_s)],
        ["write_verdict_table / pandas to_parquet",
         _ratio(by["write_verdict_table (bulk, columns)"].per_s, by["baseline: pandas to_parquet"].per_s)],
    ])
    rep.note(f"κ(A, B): SQL {kappa['kappa_sql']:.4f}, sklearn {kappa['kappa_sklearn']:.4f} (≈ 0.70 by construction)")


def part_startup(rep: Report, workdir: Path, runs: int) -> None:
    from evals.bench.startup import bench_startup

    rows = bench_startup(workdir, runs)
    base = rows[0].median_s
    rep.table(f"CLI start-up: median wall time of {runs} runs, `python -m judge ...` (the `medjudge` script does the same)",
              ["command", "median s", "min s", "vs bare interpreter"],
              [[r.command, f"{r.median_s:.3f}", f"{r.min_s:.3f}", f"{r.median_s / base:.1f}x"] for r in rows])
    rep.note("The light commands import Typer, the command modules and, for sql, DuckDB; LLM, DSPy, scikit-learn "
             "and llama.cpp libraries load only in the commands that use them (tests/test_architecture.py checks it).")


def part_ray(rep: Report, sizes: list[int], offline_sizes: list[int], latency_s: float, concurrency: int,
             workers: int, workdir: Path, quick: bool = False) -> None:
    try:
        import ray  # noqa: F401
    except ImportError:
        rep.note("Ray engine not measured: pip install -e '.[ray]'")
        return
    from evals.bench.offline_speed import real_items
    from evals.bench.ray_scale import bench_llm, bench_offline, fit, start_ray, stop_ray
    from evals.bench.stub import StubProcess

    ray, start_s, tmp = start_ray(os.cpu_count() or 1)
    try:
        with StubProcess(latency_s) as server:
            llm = bench_llm(server.base_url, sizes, concurrency, workers, workdir, each_at_full=not quick)
        items = real_items(max(offline_sizes))
        source = "MedBench public sample"
        if len(items) < max(offline_sizes):
            items, source = make_items(max(offline_sizes)), "synthetic workload"
        offline = bench_offline(items, offline_sizes, workers, workdir)
    finally:
        stop_ray(ray, tmp)
    ideal = concurrency / latency_s
    for title, runs in ((f"LLM judge, stub server at {latency_s * 1000:.0f} ms latency (ideal at {concurrency} in "
                         f"flight: {ideal:.0f}/s)", llm), (f"offline judge (rules + baseline), {source}", offline)):
        rep.table(f"Ray engine vs local engine: {title}",
                  ["engine", "items", "verdicts/s", "wall s", "CPU ms/verdict (driver + actors)", "correct"],
                  [[r.engine, r.n, f"{r.per_s:.0f}", f"{r.wall_s:.2f}", f"{r.cpu_ms:.2f}",
                    f"{r.correct}/{r.n}"] for r in runs])
        by_engine: dict[str, list] = {}
        for r in runs:
            by_engine.setdefault(r.engine, []).append(r)
        fits = [fit(rs) for rs in by_engine.values() if len(rs) >= 2]
        base = fits[0]
        biggest = {r.engine: r for r in runs if r.n == max(x.n for x in runs)}
        rep.table(f"Ray's cost, {title.split(',')[0]} (wall = fixed + per verdict x n, through the two sizes)",
                  ["engine", "fixed s", "ms per verdict", "verdicts/s vs local (largest run)",
                   "overhead per verdict vs local", "fixed overhead vs local"],
                  [[f.engine, f"{f.fixed_s:.2f}", f"{f.per_verdict_ms:.3f}",
                    _ratio(biggest[f.engine].per_s, biggest[base.engine].per_s),
                    f"{f.per_verdict_ms - base.per_verdict_ms:+.3f} ms", f"{f.fixed_s - base.fixed_s:+.2f} s"]
                   for f in fits])
    rep.note(f"Ray started in this process with {os.cpu_count()} CPUs in {start_s:.1f} s (paid once per run of "
             "`medjudge label --engine ray` without --ray-address; not in the timings above). Each Ray run starts "
             "its actors, which import the judge's modules and rebuild the judge: that is most of the fixed part.")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m evals.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run of every part")
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    p.add_argument("--items", help="items for the throughput part, comma-separated sizes each run in full "
                                   "(default 1000,3000; quick 40)")
    p.add_argument("--latency", type=float, default=0.05, help="stub server latency in seconds (default 0.05)")
    p.add_argument("--concurrency", type=int, default=64, help="concurrent calls (default 64)")
    p.add_argument("--stub", choices=("raw", "asyncio", "threaded"), default="raw",
                   help="throughput stub server: a minimal asyncio HTTP/1.1 server (default), aiohttp, or the "
                        "tests' threaded server")
    p.add_argument("--rows", type=int, help="items for the DuckDB part (default 1,000,000; quick 5,000)")
    p.add_argument("--ks", default="4,8,16", help="batch sizes for the batching part (default 4,8,16)")
    p.add_argument("--model", help="a real litellm model for κ on the gold test split; 'local' or "
                                   "'local:/path/model.gguf' for a llama.cpp model with schema-constrained decoding")
    p.add_argument("--api-base", help="its OpenAI-compatible base URL")
    p.add_argument("--api-key", default=os.environ.get("MEDJUDGE_API_KEY"), help="its API key (never written)")
    p.add_argument("--ray-items", help="items for the Ray part's LLM runs, two sizes (default 1000,4000; quick 24,72)")
    p.add_argument("--ray-workers", type=int, default=2, help="Ray actors in the Ray part (default 2)")
    p.add_argument("--out", type=Path, help="write the results as Markdown here (default: only print)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> Report:
    """Run the chosen parts, print every table, write Markdown if --out is given; return the report."""
    args = parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise SystemExit(f"unknown part(s) {sorted(unknown)}; choose from {', '.join(PARTS)}")
    quick = args.quick
    sizes = [int(x) for x in args.items.split(",")] if args.items else ([40] if quick else [1000, 3000])
    n_rows = args.rows or (5_000 if quick else 1_000_000)
    ks = [int(k) for k in args.ks.split(",")] if not quick else [4]
    rep = Report(machine(), quick=quick)
    with tempfile.TemporaryDirectory(prefix="medjudge-bench-") as tmp:
        workdir = Path(tmp)
        for part in parts:
            t0 = time.perf_counter()
            if part == "throughput":
                for n_items in sizes:
                    part_throughput(rep, n_items, args.latency,
                                    min(args.concurrency, 8) if quick else args.concurrency, workdir,
                                    shard=not quick, stub=args.stub)
            elif part == "batching":
                part_batching(rep, 24 if quick else 480, ks, 16, workdir, args.model, args.api_base, args.api_key)
            elif part == "offline":
                part_offline(rep, 60 if quick else 5000)
            elif part == "duckdb":
                part_duckdb(rep, n_rows, workdir)
            elif part == "startup":
                part_startup(rep, workdir, 3 if quick else 9)
            elif part == "ray":
                ray_sizes = [int(x) for x in args.ray_items.split(",")] if args.ray_items else (
                    [24, 72] if quick else [1000, 4000])
                part_ray(rep, ray_sizes, [100, 300] if quick else [1500, 6000], args.latency,
                         min(args.concurrency, 8) if quick else args.concurrency, args.ray_workers, workdir, quick)
            rep.timing(part, time.perf_counter() - t0)
    if args.out:
        args.out.write_text(rep.markdown(), encoding="utf-8")
        rep.console.print(f"wrote {args.out}")
    return rep


if __name__ == "__main__":
    main()
