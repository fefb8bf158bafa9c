"""Score MedBench model outputs into the store: ingest, extract choices, decide correctness, measure robustness.

`score_outputs` is what `medjudge score` runs. Afterwards the items table holds every ingested answer with
`correct` (TRUE / FALSE / NULL = unknown), `score`, `extracted` and `score_method` (see judge.medbench.grading),
the robustness table holds option-shuffle consistency per model and task, coverage the answered / empty /
missing counts per model and task, and ingest_problems every skipped input line and every line that could not
be fully mapped (unknown task, no options), with its file and line number. With `key="consensus"` the silver
key (judge.medbench.silver_key) is rebuilt from every model in the store, stored in silver_key with its
support, and the choice answers without a gold verdict are scored against it. `medjudge label --only-wrong`
then labels the items with correct = FALSE. Re-running on the same inputs rewrites the same rows, so the
database ends up the same.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, Field
from rich.progress import track

from judge.core.models import Item
from judge.medbench.answer_key import load_answer_key
from judge.medbench.extract import extract_items
from judge.medbench.grading import ItemScore, judge_label, score_items
from judge.medbench.outputs import Coverage, IngestProblem, output_files, read_medbench, read_prompt_set
from judge.medbench.recall import BigramRecallJudge, RecallJudge
from judge.medbench.robustness import RobustnessRow, robustness_groups
from judge.medbench.robustness import robustness_report as build_robustness
from judge.medbench.silver_key import (
    DEFAULT_MIN_AGREEMENT,
    ChoiceAnswer,
    SilverEntry,
    build_silver_key,
    silver_label,
    silver_scores,
)
from judge.store import Store

CONSENSUS = "consensus"
"""The `key` value that asks for a silver key built from the models' consensus."""


class CorrectnessCounts(BaseModel):
    """Correct / wrong / unknown counts of a group of scored items."""

    n: int
    """Items scored."""
    n_correct: int
    """Items with correct = TRUE against a gold key or reference (silver verdicts are counted apart)."""
    n_wrong: int
    """Items with correct = FALSE without the silver key: unreadable, empty, or wrong against a gold key."""
    n_unknown: int
    """Items with correct = NULL: no key or reference says what is right."""
    n_graded: int
    """Items with a gold answer (key or reference), unextractable ones included: the accuracy denominator."""
    n_choice: int
    """Items scored as choice questions (they have options)."""
    n_silver: int = 0
    """Items scored against the silver (consensus) key; never part of n_graded."""
    n_silver_correct: int = 0
    """Of those, items that agree with the silver key."""

    @property
    def n_silver_wrong(self) -> int:
        """Silver-keyed items that disagree with the key (or could not be read); `label --only-wrong` takes them."""
        return self.n_silver - self.n_silver_correct


class TaskScore(CorrectnessCounts):
    """Correctness counts of one model on one task."""

    model: str
    """Model name."""
    task: str
    """Task name."""
    dimension: str | None
    """MedBench dimension of the task; None for tasks not in the task table."""
    n_unextractable: int
    """Choice items where no option letter could be found, empty responses included."""
    n_ambiguous: int
    """Choice items asserting different answers."""
    unextractable_share: float | None
    """(n_unextractable + n_ambiguous) / n_choice: no single answer could be read; None without choice items."""
    accuracy: float | None
    """n_correct / n_graded; None when no item has a gold answer."""
    mean_recall: float | None = None
    """Mean answer-point recall of the open items that had a reference; None when there were none."""
    n_recall_fallback: int = 0
    """Open items the LLM recall judge failed on, scored by the offline recall instead."""
    silver_accuracy: float | None = None
    """n_silver_correct / n_silver; None without silver-keyed items."""
    silver_label: str | None = None
    """How the silver figures are labelled, e.g. "silver (2 of 2 models agree)"; None without them."""


class SilverSummary(BaseModel):
    """The silver key built by a consensus run."""

    min_agreement: float
    """Minimum share of the answering models that must agree (and at least two)."""
    n_models: int
    """Models with choice answers in the store."""
    n_questions: int
    """Choice questions (task, id) in the store."""
    n_keyed: int
    """Questions the models agree on enough to key."""
    label: str
    """"silver (k of n models agree)" over all keyed questions."""


class ScoreSummary(BaseModel):
    """What a scoring run read, skipped and found."""

    run_id: str
    """Id of the run row (kind = score) in the store."""
    db: str
    """Database written."""
    n_files: int
    """Output files read."""
    n_ingested: int
    """Distinct items read and stored."""
    problems: list[IngestProblem] = Field(default_factory=list)
    """Skipped input lines, each with file and line number."""
    problem_counts: dict[str, int] = Field(default_factory=dict)
    """Skipped lines by kind."""
    tasks: list[TaskScore] = Field(default_factory=list)
    """Correct / wrong / unknown counts and unextractable share per model and task."""
    robustness: list[RobustnessRow] = Field(default_factory=list)
    """Option-shuffle consistency per model x task, model x dimension and model overall."""
    coverage: list[Coverage] = Field(default_factory=list)
    """Answered / empty / missing counts per model and task (missing needs the prompts folder)."""
    silver: SilverSummary | None = None
    """The silver key, when the run used --key consensus."""
    wall_s: float = 0.0
    """Wall time in seconds."""

    @property
    def skipped(self) -> list[IngestProblem]:
        """Input lines that were not read."""
        return [p for p in self.problems if p.skipped]

    @property
    def warnings(self) -> list[IngestProblem]:
        """Lines that were read but not fully mapped (unknown task, no options, ...)."""
        return [p for p in self.problems if not p.skipped]

    @property
    def unmapped_tasks(self) -> list[str]:
        """Tasks scored without a dimension (not in the task table)."""
        return sorted({t.task for t in self.tasks if t.dimension is None})

    @property
    def unshuffled_choice_tasks(self) -> list[str]:
        """Choice tasks with items but no option-shuffle group (each question asked under one order only)."""
        shuffled = {r.name for r in self.robustness if r.level == "task"}
        return sorted({t.task for t in self.tasks if t.n_choice and t.task not in shuffled})

    @property
    def n_correct(self) -> int:
        """Items scored correct over all models and tasks."""
        return sum(t.n_correct for t in self.tasks)

    @property
    def n_wrong(self) -> int:
        """Items scored wrong over all models and tasks."""
        return sum(t.n_wrong for t in self.tasks)

    @property
    def n_unknown(self) -> int:
        """Items whose correctness is unknown."""
        return sum(t.n_unknown for t in self.tasks)

    @property
    def n_silver(self) -> int:
        """Items scored against the silver key."""
        return sum(t.n_silver for t in self.tasks)

    @property
    def n_silver_correct(self) -> int:
        """Items that agree with the silver key."""
        return sum(t.n_silver_correct for t in self.tasks)

    @property
    def n_recall_fallback(self) -> int:
        """Open items scored by the offline recall because the LLM recall judge failed."""
        return sum(t.n_recall_fallback for t in self.tasks)


def prompt_orders(prompts: Path) -> dict[tuple[str, str], list[str]]:
    """Per (task, id): the options of the first record for the id in the prompts folder (the benchmark's order)."""
    return read_prompt_set(prompts).orders


def task_scores(items: Sequence[Item], scores: Sequence[ItemScore],
                silver: dict[tuple[str, str], SilverEntry] | None = None) -> list[TaskScore]:
    """Aggregate item scores per model and task; `silver` labels the silver-key figures with their support."""
    by_id = {s.item_id: s for s in scores}
    cells: dict[tuple[str, str], list[tuple[Item, ItemScore]]] = defaultdict(list)
    for it in items:
        cells[(it.model or "", it.task or "")].append((it, by_id[it.item_id]))
    rows = []
    for (model, task), pairs in sorted(cells.items()):
        right = sum(s.correct is True and not s.silver for _, s in pairs)
        wrong = sum(s.correct is False and not s.silver for _, s in pairs)
        graded = sum(s.graded for _, s in pairs)
        n_choice = sum(s.score_method.startswith("choice:") for _, s in pairs)
        unext = sum(s.score_method.startswith("choice:unextractable") for _, s in pairs)
        ambig = sum(s.score_method.startswith("choice:ambiguous") for _, s in pairs)
        recalls = [s.score for _, s in pairs if s.score_method.startswith("open:recall") and s.score is not None]
        silvered = [(it, s) for it, s in pairs if s.silver]
        entries = [e for it, _ in silvered if (e := (silver or {}).get((task, str(it.meta.get("record_id")))))]
        n_silver, silver_right = len(silvered), sum(s.correct is True for _, s in silvered)
        rows.append(TaskScore(
            model=model, task=task, dimension=pairs[0][0].dimension, n=len(pairs), n_correct=right, n_wrong=wrong,
            n_unknown=len(pairs) - right - wrong - n_silver, n_graded=graded, n_choice=n_choice, n_unextractable=unext,
            n_ambiguous=ambig, unextractable_share=(unext + ambig) / n_choice if n_choice else None,
            accuracy=right / graded if graded else None,
            mean_recall=sum(recalls) / len(recalls) if recalls else None,
            n_recall_fallback=sum(s.score_method == "open:recall:offline_fallback" for _, s in pairs),
            n_silver=n_silver, n_silver_correct=silver_right,
            silver_accuracy=silver_right / n_silver if n_silver else None,
            silver_label=_label(entries) if entries else None,
        ))
    return rows


def _label(entries: Sequence[SilverEntry]) -> str:
    return silver_label(min(e.support for e in entries), max(e.support for e in entries),
                        min(e.n_models for e in entries), max(e.n_models for e in entries))


def score_outputs(
    inputs: Sequence[Path | str],
    *,
    db: Path | str,
    prompts: Path | str | None = None,
    key: Path | str | None = None,
    recall_threshold: float = 0.6,
    recall_judge: RecallJudge | None = None,
    progress: bool = True,
    silver_min_agreement: float = DEFAULT_MIN_AGREEMENT,
) -> ScoreSummary:
    """Ingest MedBench outputs (per-model folders or <model>/<task>.jsonl files), score them and store the results.

    `prompts` is the benchmark's prompts folder (coverage checks; option order for id-level letter keys);
    `key` an answer key file (judge.medbench.answer_key.load_answer_key), or "consensus" for a silver key built from
    every model in the store (`silver_min_agreement`: share of the answering models that must agree). Open answers
    with a reference are scored by `recall_judge` (default: the offline bigram judge) and are wrong below
    `recall_threshold`. Raises ValueError, storing nothing, when an input folder or the prompts folder holds no
    .jsonl file, when no item at all could be read, or when no record of some model holds an answer.
    """
    t0 = time.perf_counter()
    paths = [Path(p).resolve() for p in inputs]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"no such file or folder: {', '.join(missing)}")
    per_input = [output_files([p]) for p in paths]
    empty = [str(p) for p, found in zip(paths, per_input, strict=True) if not found]
    if empty:
        raise ValueError(f"no .jsonl output files in {', '.join(empty)}: each input is a model's folder of "
                         "<task>.jsonl files, a folder of such model folders, or one <model>/<task>.jsonl file")
    files = [pair for found in per_input for pair in found]
    if not files:
        raise ValueError(f"no .jsonl output files under {', '.join(map(str, paths))}")
    prompts_dir = Path(prompts).resolve() if prompts is not None else None
    if prompts_dir is not None and not prompts_dir.is_dir():
        raise FileNotFoundError(f"prompts folder not found: {prompts_dir}")
    if prompts_dir is not None and not any(prompts_dir.glob("*.jsonl")):
        raise ValueError(f"no <task>.jsonl prompt files in {prompts_dir}: --prompts takes the benchmark's prompts "
                         "folder (one <task>.jsonl per task, as the models were asked), not medjudge's own prompts/")
    consensus = key is not None and str(key) == CONSENSUS
    if consensus and not 0.0 < silver_min_agreement <= 1.0:
        raise ValueError(f"the silver key's minimum agreement must be in (0, 1], not {silver_min_agreement}")
    answer_key = load_answer_key(key) if key is not None and not consensus else None
    judge = recall_judge or BigramRecallJudge()

    result = read_medbench(prompts_dir, paths)
    if not result.items:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(result.problem_counts().items())) or "no lines"
        raise ValueError(f"no item could be read from {len(files)} output file(s) ({kinds}); nothing was stored")
    records = Counter(it.model for it in result.items)
    silent = sorted(set(records) - {it.model for it in result.items if it.response.strip()})
    if silent:
        which = ", ".join(f"{m} ({records[m]} records)" for m in silent)
        raise ValueError(f"no record of {which} holds an answer (`answer` is null or blank in every one): these "
                         "look like the benchmark's prompts, not a model's outputs. Pass the models' output folders "
                         "as inputs and the prompts folder to --prompts; nothing was stored")
    extractions = extract_items(result.items)
    orders = prompt_orders(prompts_dir) if prompts_dir is not None else None
    scored = score_items(result.items, extractions, answer_key, recall_judge=judge,
                         recall_threshold=recall_threshold, prompt_orders=orders)
    scores = list(track(scored, total=len(result.items), description="scoring", disable=not progress,
                        transient=True))
    robustness = build_robustness(robustness_groups(result.items), extractions, answer_key)
    cells = {(it.model or "", it.task or ""): it.dimension for it in result.items}
    read_files = [str(f) for _, f in files] + ([str(f) for f in sorted(prompts_dir.glob("*.jsonl"))]
                                               if prompts_dir is not None else [])
    settings = {"inputs": [str(p) for p in paths], "prompts": str(prompts_dir) if prompts_dir else None,
                "key": str(key) if key is not None else None, "recall_threshold": recall_threshold,
                "silver_min_agreement": silver_min_agreement if consensus else None,
                "recall_judge": judge_label(judge), "problem_counts": result.problem_counts()}
    identity = getattr(judge, "identity", None)
    if callable(identity):
        settings["recall_judge_identity"] = identity()
    with Store(db) as store:
        run_id = store.start_run("score", None, ", ".join(map(str, paths)), settings)  # type: ignore[arg-type]
        store.upsert_items(result.items)
        store.write_scores(scores)
        store.replace_robustness(robustness, cells, run_id)
        store.replace_problems(result.problems, read_files, run_id)
        store.replace_coverage(result.coverage, run_id)
        silver, silver_summary = None, None
        if consensus:
            answers = [ChoiceAnswer(**row) for row in store.choice_answer_rows()]
            silver = build_silver_key(answers, silver_min_agreement)
            store.replace_silver_key(silver.values(), run_id)
            regraded = silver_scores(answers, silver)
            store.write_scores(regraded)
            mine = {it.item_id for it in result.items}
            scores = [*({s.item_id: s for s in scores} | {s.item_id: s for s in regraded if s.item_id in mine}).values()]
            silver_summary = SilverSummary(
                min_agreement=silver_min_agreement, n_models=len({a.model for a in answers}),
                n_questions=len({(a.task, a.record_id) for a in answers}), n_keyed=len(silver),
                label=_label(list(silver.values())) if silver else "silver (no question keyed)")
        wall = time.perf_counter() - t0
        store.finish_run(run_id, n_input=len(result.items) + len(result.problems), n_skipped=len(result.problems),
                         n_ok=len(result.items), wall_s=wall)
    return ScoreSummary(run_id=run_id, db=str(db), n_files=len(files), n_ingested=len(result.items),
                        problems=result.problems, problem_counts=result.problem_counts(),
                        tasks=task_scores(result.items, scores, silver), robustness=robustness,
                        coverage=result.coverage, silver=silver_summary, wall_s=wall)
