"""Batched judging: prompt tokens per verdict for k items per call vs one item per call, and κ on gold.

Token counts come from the server's usage numbers. The stub server estimates them as characters / 2 over
all message text, so the ratios are about text sent, not a particular tokenizer; with `--model` and
`--api-base` the same code counts a real model's tokens and computes κ against the physicians' gold labels.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from judge.core.models import Item
from judge.core.settings import JudgeSettings
from judge.llm.batch import BatchLLMJudge
from judge.llm.judge import LLMJudge
from judge.run.runner import label


@dataclass
class TokenRow:
    """Prompt and completion tokens per verdict of one judge configuration."""

    judge: str
    k: int
    n: int
    ok: int
    prompt_per_verdict: float
    completion_per_verdict: float
    wall_s: float


def _settings(model: str, api_base: str | None, api_key: str | None, timeout_s: float = 120.0) -> JudgeSettings:
    return JudgeSettings(model=model, api_base=api_base, api_key=api_key, timeout_s=timeout_s)


def bench_tokens(base_url: str, items: list[Item], ks: list[int], concurrency: int, workdir: Path,
                 model: str = "openai/stub", api_key: str | None = None) -> list[TokenRow]:
    """Label the same items with the single judge and with the batch judge for each k."""
    rows = []
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        judges = [("single", 1, LLMJudge(_settings(model, base_url, api_key)))]
        judges += [(f"batch k={k}", k, BatchLLMJudge(_settings(model, base_url, api_key), k=k)) for k in ks]
        for name, k, judge in judges:
            s = label(items, store=Path(tmp) / f"{k}.duckdb", judge=judge, concurrency=max(concurrency, k),
                      progress=False)
            n = sum(s.status_counts.values())
            rows.append(TokenRow(name, k, n, s.status_counts.get("ok", 0), s.prompt_tokens / n,
                                 s.completion_tokens / n, s.wall_s))
    return rows


@dataclass
class KappaRow:
    """Agreement of one judge configuration with the gold consensus on a split."""

    judge: str
    n: int
    ok: int
    kappa: float | None
    prompt_per_verdict: float
    status_counts: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0


def kappa_on_gold(settings: JudgeSettings, ks: list[int], workdir: Path,
                  gold: Path = Path("gold_labels/gold.jsonl"), splits: Path = Path("gold_labels/splits.json"),
                  split: str = "test", concurrency: int = 8, progress: bool = False, single: bool = True
                  ) -> list[KappaRow]:
    """κ of the single and the batch judges (same settings) against the gold consensus on `split`.

    Needs a real model. With `settings.schema_in_response_format` (local llama.cpp models) both judges decode
    under their JSON schema: the single verdict's, or the batch's one-entry-per-item schema. A batch judge runs
    with at least k concurrent calls, so that its batches fill (a server that answers one request at a time
    queues the rest). `single=False` leaves the single judge out.
    """
    from judge.evaluate.metrics import cohen_kappa
    from judge.gold.gold_set import load_gold
    from judge.gold.splits import load_splits, select_split
    from judge.store.store import Store

    chosen = [g for g in select_split(load_gold(gold), load_splits(splits).splits, split)  # type: ignore[arg-type]
              if g.consensus is not None]
    truth = {g.item_id: g.consensus for g in chosen}
    items = [g.to_item() for g in chosen]
    out = []
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        judges: list[tuple[str, int, LLMJudge | BatchLLMJudge]] = [("single", 1, LLMJudge(settings))] if single else []
        judges += [(f"batch k={k}", k, BatchLLMJudge(settings, k=k)) for k in ks]
        for name, k, judge in judges:
            db = Path(tmp) / f"{name.replace(' ', '_')}.duckdb"
            s = label(items, store=db, judge=judge, concurrency=max(concurrency, k), progress=progress)
            with Store.readonly(db) as st:
                _, rows = st.query("SELECT item_id, category FROM verdicts WHERE status = 'ok'")
            pairs = [(truth[i], c) for i, c in rows if i in truth]
            kappa = cohen_kappa([p[0] for p in pairs], [p[1] for p in pairs]) if len(pairs) > 1 else None
            out.append(KappaRow(name, len(items), len(pairs), kappa, s.prompt_tokens / max(1, len(items)),
                                dict(s.status_counts), s.wall_s))
    return out


def gold_settings(model: str, api_base: str | None, api_key: str | None) -> JudgeSettings:
    """Judge settings for the κ runs: `local` / `local:/path.gguf` start (or reuse) the llama.cpp server."""
    if model == "local" or model.startswith("local:"):
        from judge.llm.local import ensure_server, local_settings, resolve_gguf

        server = ensure_server(resolve_gguf(model))
        return local_settings(server.model, server.api_base)
    return _settings(model, api_base, api_key)
