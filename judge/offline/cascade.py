"""The cascade judge: rules first, then the baseline when it is confident enough, else (optionally) an LLM judge.

Routing of one item:
1. a deterministic rule fires -> the rule's verdict (source "rules");
2. otherwise the baseline classifier; if its confidence >= tau -> its verdict (source "baseline");
3. otherwise, with an LLM judge -> the LLM's verdict (source "llm", including its failed/needs_review statuses);
   without one (the pure offline judge, the default) -> the baseline's verdict, flagged `below_tau`.
So the offline cascade labels every item; `below_tau` marks the labels an LLM judge or a person should check.

tau is chosen on the baseline's out-of-fold probabilities on train+dev when it is trained (judge.offline.tau) and
stored with the baseline artifact.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel

from judge.core.models import Item, Verdict
from judge.core.protocol import Judge
from judge.core.settings import make_judge_id
from judge.evaluate.abstention import AbstentionPoint
from judge.evaluate.metrics import AgreementReport, agreement_report
from judge.gold.gold_set import GoldItem
from judge.offline.rules_judge import RulesJudge
from judge.offline.screen import quote_of, screen, screen_all
from judge.offline.workers import judge_on_cpus, processes_for

if TYPE_CHECKING:
    from judge.offline.baseline import BaselineJudge

BELOW_TAU = "below_tau"
"""Flag of an offline verdict whose baseline confidence is below tau."""


class CascadeJudge:
    """Rules -> baseline (confidence >= tau) -> LLM judge or, without one, the flagged baseline verdict."""

    def __init__(self, rules: RulesJudge, baseline: BaselineJudge, llm: Judge | None = None,
                 tau: float | None = None, workers: int | None = None) -> None:
        self.workers = workers
        """Processes a large `judge_batch` is judged in (None: `judge.offline.workers.default_workers()`)."""
        self.rules = rules
        self.baseline = baseline
        self.llm = llm
        self.tau = float(baseline.tau if tau is None else tau)
        if not 0.0 <= self.tau <= 1.0:
            raise ValueError(f"tau must be in [0, 1], got {self.tau}")
        self.model = "offline" if llm is None else f"cascade:{llm.model}"
        self.judge_id = make_judge_id(self.identity())

    def identity(self) -> dict[str, object]:
        """The stages' identities and tau."""
        return {"judge": "cascade", "rules": self.rules.identity(), "baseline": self.baseline.identity(),
                "tau": round(self.tau, 6), "llm": self.llm.identity() if self.llm is not None else None}

    def preflight(self) -> None:
        """The LLM stage's checks before a run (nothing to check offline)."""
        check = getattr(self.llm, "preflight", None)
        if callable(check):
            check()

    def _stamp(self, v: Verdict, flags: Sequence[str] = (), response: str | None = None) -> Verdict:
        update: dict[str, object] = {"judge_id": self.judge_id, "model": self.model, "flags": [*v.flags, *flags]}
        if response is not None:  # a rule's quote of the screened response must quote the original one
            update["evidence"] = quote_of(v.evidence, response)
        return v.model_copy(update=update)

    def cv_abstention(self) -> list[AbstentionPoint] | None:
        """The offline cascade's abstention curve on out-of-fold verdicts of the baseline's training pool (every item
        gets a category whatever tau, so the curve does not depend on it); None with an LLM stage or other rules."""
        if self.llm is not None or self.rules.identity() != RulesJudge().identity():
            return None
        return self.baseline.baseline.meta.oof_abstention.get("offline") or None

    @property
    def batchable(self) -> bool:
        """Whether `judge_batch` can run: only without an LLM stage."""
        return self.llm is None

    @property
    def processes(self) -> int:
        """The processes a large `judge_batch` runs in here (judge.offline.workers)."""
        return processes_for(self.workers)

    def judge_batch(self, items: Sequence[Item]) -> list[Verdict]:
        """Judge many items offline: rules one by one, the baseline in one call for the rest (no LLM stage); a
        large batch is shared out over `workers` processes (judge.offline.workers)."""
        if self.llm is not None:
            raise TypeError("a cascade with an LLM stage judges items one by one (ajudge)")
        return judge_on_cpus(self._judge_here, items, self.workers)

    def _judge_here(self, items: Sequence[Item]) -> list[Verdict]:
        seen, flags = screen_all(items)
        ruled = [self.rules.fired_screened(it, f) for it, f in zip(seen, flags, strict=True)]
        rest = [i for i, v in enumerate(ruled) if v is None]
        silent = self.rules.silent_hits()
        based = iter(self.baseline.verdicts_screened([seen[i] for i in rest], [flags[i] for i in rest],
                                                     None if silent is None else [silent] * len(rest)))
        out = []
        for it, v in zip(items, ruled, strict=True):
            if v is not None:
                out.append(self._stamp(v, response=it.response))
                continue
            base = next(based)
            out.append(self._stamp(base) if (base.confidence or 0.0) >= self.tau else self._stamp(base, [BELOW_TAU]))
        return out

    async def ajudge(self, item: Item) -> Verdict:
        """Judge one item through the stages (see module doc)."""
        seen, flags = screen(item)
        ruled = self.rules.judge_screened(seen, flags)
        if ruled.status == "ok":
            return self._stamp(ruled, response=item.response)
        silent = self.rules.silent_hits()
        base = self.baseline.verdicts_screened([seen], [flags], None if silent is None else [silent])[0]
        if (base.confidence or 0.0) >= self.tau:
            return self._stamp(base)
        if self.llm is None:
            return self._stamp(base, [BELOW_TAU])
        return self._stamp(await self.llm.ajudge(item))


# --- evaluation -------------------------------------------------------------------------------------------------------

class CascadeReport(BaseModel):
    """How a cascade did on labelled items and how many LLM calls it saves."""

    n: int
    """Items judged."""
    tau: float
    """Threshold used."""
    by_stage: dict[str, int]
    """Items decided per stage: rules, baseline, llm, and below_tau (offline cascade, baseline below tau)."""
    coverage: float
    """Share decided by rules or by the baseline at confidence >= tau."""
    llm_calls_saved: float
    """Share of items an LLM-only judge would send to the LLM that this cascade does not (= coverage)."""
    overall: AgreementReport
    """Agreement of every verdict with gold (below_tau labels included; LLM failures count as abstentions)."""
    decided: AgreementReport
    """Agreement on the items decided by rules or baseline at >= tau."""
    per_stage: dict[str, AgreementReport]
    """Agreement of each stage on the items it decided."""


def _stage(v: Verdict) -> str:
    return BELOW_TAU if BELOW_TAU in v.flags else v.source


async def _judge_all(judge: Judge, items: Sequence[Item], concurrency: int) -> list[Verdict]:
    sem = asyncio.Semaphore(max(1, concurrency))

    async def one(it: Item) -> Verdict:
        async with sem:
            return await judge.ajudge(it)

    return list(await asyncio.gather(*(one(it) for it in items)))


def evaluate_cascade(cascade: CascadeJudge, gold: Sequence[GoldItem], *, concurrency: int = 8, n_boot: int = 1000,
                     verdicts: Sequence[Verdict] | None = None) -> CascadeReport:
    """Run the cascade over gold items (or score given `verdicts`, aligned) and report kappa, coverage, calls saved."""
    gold = [g for g in gold if g.consensus is not None]
    if verdicts is None:
        verdicts = asyncio.run(_judge_all(cascade, [g.to_item() for g in gold], concurrency))
    if len(verdicts) != len(gold):
        raise ValueError(f"{len(verdicts)} verdicts for {len(gold)} gold items")
    y = [g.consensus or "" for g in gold]
    pred = [v.category if v.status == "ok" else None for v in verdicts]
    conf = [v.confidence for v in verdicts]
    stages = [_stage(v) for v in verdicts]
    decided = [s in ("rules", "baseline") for s in stages]

    def report(mask: Sequence[bool]) -> AgreementReport:
        return agreement_report(y, pred, confidences=conf, covered_mask=mask, n_boot=n_boot)

    per_stage: dict[str, AgreementReport] = {}
    for s in sorted(set(stages)):
        per_stage[s] = report([x == s for x in stages])
    coverage = sum(decided) / len(gold) if gold else 0.0
    return CascadeReport(n=len(gold), tau=cascade.tau, by_stage=dict(Counter(stages)), coverage=coverage,
                         llm_calls_saved=coverage, overall=report([True] * len(gold)), decided=report(decided),
                         per_stage=per_stage)
