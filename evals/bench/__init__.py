"""Benchmarks of medjudge against peers: throughput, batching, offline judging, DuckDB at scale.

Run `python -m evals.bench` (or `python evals/bench/run.py`); `--quick` for a smoke run.
"""
