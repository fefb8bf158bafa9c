"""The rules judge: the deterministic checks of judge.offline.rules as a Judge, abstaining when no rule fires."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from judge.core.exceptions import ConfigError
from judge.core.models import Item, Verdict
from judge.core.settings import make_judge_id
from judge.core.taxonomy import load_taxonomy
from judge.offline.rules import RULE_NAMES, RuleHit, run_rules
from judge.offline.screen import quote_of, screen, screen_version
from judge.offline.workers import judge_on_cpus, processes_for

NO_RULE_FIRED = "no rule fired; the rules judge covers unanswered/output_error/format_mismatch only"
"""Error text of the needs_review verdict given when no rule fires."""

_RULES_DIR = Path(__file__).resolve().parent / "rules"


_CANONICAL_PATHS = ((b"judge.offline.rules", b"judge.rules"), (b"judge.core.models", b"judge.models"),
                    (b"judge.core.exceptions", b"judge.exceptions"), (b"judge.core.taxonomy", b"judge.taxonomy"))
"""Module paths as the rule sources first named them: where a module lives is not part of a rule's version."""


def rules_version() -> str:
    """Short hash of the rule sources: changes whenever a rule changes, so verdicts of old rules are not reused.

    Module paths in the sources are hashed under their first names (`_CANONICAL_PATHS`), so moving a module the
    rules import keeps the version, and existing stores keep resuming; any other change to a rule changes it.
    """
    digest = hashlib.sha256()
    for path in sorted(_RULES_DIR.glob("*.py")):
        source = path.read_bytes()
        for now, first in _CANONICAL_PATHS:
            source = source.replace(now, first)
        digest.update(path.name.encode())
        digest.update(source)
    return digest.hexdigest()[:12]


class RulesJudge:
    """Judge with the deterministic checks only: a category when a rule fires, needs_review otherwise."""

    def __init__(self, enabled: Iterable[str] | None = None, workers: int | None = None) -> None:
        self.workers = workers
        """Processes a large `judge_batch` is judged in (None: `judge.offline.workers.default_workers()`)."""
        names = list(RULE_NAMES if enabled is None else enabled)
        unknown = sorted(set(names) - set(RULE_NAMES))
        if unknown:
            raise ConfigError(f"unknown rule name(s) {unknown}; known: {list(RULE_NAMES)}")
        self.enabled: tuple[str, ...] = tuple(n for n in RULE_NAMES if n in names)
        self.model = "rules"
        taxonomy = load_taxonomy()
        self._taxonomy_version = f"{taxonomy.version}:{taxonomy.content_hash}"
        self.judge_id = make_judge_id(self.identity())

    def identity(self) -> dict[str, object]:
        """Judge name, rule-source version, enabled rules, taxonomy version and injection-screen version."""
        return {"judge": "rules", "rules_version": rules_version(), "enabled": list(self.enabled),
                "taxonomy_version": self._taxonomy_version, "screen": screen_version()}

    def silent_hits(self) -> dict[str, RuleHit | None] | None:
        """Every rule's hit on an item this judge abstained on, when that is known without running them again: with
        every rule enabled, abstaining means that no rule fired. None when only some rules are enabled."""
        return dict.fromkeys(RULE_NAMES) if self.enabled == RULE_NAMES else None

    def judge(self, item: Item) -> Verdict:
        """Judge one item synchronously (the rules see the response without injected spans; see judge.offline.screen)."""
        seen, flags = screen(item)
        verdict = self.judge_screened(seen, flags)
        return verdict if seen is item else verdict.model_copy(update={"evidence": quote_of(verdict.evidence,
                                                                                             item.response)})

    def judge_screened(self, item: Item, flags: list[str]) -> Verdict:
        """Judge an item already screened by judge.offline.screen; `flags` go onto the verdict."""
        t0 = time.perf_counter()
        return self._verdict(item, flags, run_rules(item, self.enabled), t0)

    def fired_screened(self, item: Item, flags: list[str]) -> Verdict | None:
        """`judge_screened`'s verdict when a rule fires, else None (no needs_review verdict is built)."""
        t0 = time.perf_counter()
        hit = run_rules(item, self.enabled)
        return None if hit is None else self._verdict(item, flags, hit, t0)

    def _verdict(self, item: Item, flags: list[str], hit: RuleHit | None, t0: float) -> Verdict:
        common = dict(item_id=item.item_id, judge_id=self.judge_id, model=self.model, source="rules", attempts=0,
                      flags=list(flags))
        if hit is None:
            return Verdict(status="needs_review", error=NO_RULE_FIRED,
                           latency_ms=(time.perf_counter() - t0) * 1000, **common)
        return Verdict(status="ok", category=hit.category, evidence=hit.evidence, confidence=hit.confidence,
                       rationale=f"rule {hit.rule}: {hit.rationale}", latency_ms=(time.perf_counter() - t0) * 1000,
                       **common)

    async def ajudge(self, item: Item) -> Verdict:
        """Judge one item (no I/O, so this runs synchronously)."""
        return self.judge(item)

    @property
    def processes(self) -> int:
        """The processes a large `judge_batch` runs in here (judge.offline.workers)."""
        return processes_for(self.workers)

    def judge_batch(self, items: Sequence[Item]) -> list[Verdict]:
        """Judge many items; a large batch is shared out over `workers` processes (judge.offline.workers)."""
        return judge_on_cpus(self._judge_here, items, self.workers)

    def _judge_here(self, items: Sequence[Item]) -> list[Verdict]:
        return [self.judge(it) for it in items]
