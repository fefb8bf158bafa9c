"""Score MedBench model outputs into the store: ingest, extract choices, decide correctness, measure robustness.

`score_outputs` is what `medjudge score` runs. Afterwards the items table holds every ingested answer with
`correct` (TRUE / FALSE / NULL = unknown), `score`, `extracted` and `score_method` (see judge.medbench.grading),
the robustness table holds option-shuffle consistency per model and task, and ingest_problems lists every
skipped input line with its file and line number. `medjudge label --only-wrong` then labels the items with
correct = FALSE. Re-running on the same inputs rewrites the same rows, so the database ends up the same.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, Field
from rich.progress import track

from judge.core.models import Item
from judge.medbench.answer_key import load_answer_key
from judge.medbench.extract import extract_items
from judge.medbench.grading import ItemScore, judge_label, score_items
from judge.medbench.outputs import Coverage, IngestProblem, iter_jsonl, output_files, read_medbench, record_id
from judge.medbench.recall import BigramRecallJudge, RecallJudge
from judge.medbench.robustness import RobustnessRow, robustness_groups
from judge.medbench.robustness import robustness_report as build_robustness
from judge.store import Store


class CorrectnessCounts(BaseModel):
    """Correct / wrong / unknown counts of a group of scored items."""

    n: int
    """Items scored."""
    n_correct: int
    """Items with correct = TRUE."""
    n_wrong: int
    """Items with correct = FALSE (these are what `label --only-wrong` labels)."""
    n_unknown: int
    """Items with correct = NULL: no key or reference says what is right."""
    n_graded: int
    """Items with a gold answer (key or reference), unextractable ones included: the accuracy denominator."""
    n_choice: int
    """Items scored as choice questions (they have options)."""


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
    wall_s: float = 0.0
    """Wall time in seconds."""

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
    def n_recall_fallback(self) -> int:
        """Open items scored by the offline recall because the LLM recall judge failed."""
        return sum(t.n_recall_fallback for t in self.tasks)


def prompt_orders(prompts: Path) -> dict[tuple[str, str], list[str]]:
    """Per (task, id): the options of the first record for the id in the prompts folder (the benchmark's order)."""
    orders: dict[tuple[str, str], list[str]] = {}
    for path in sorted(Path(prompts).glob("*.jsonl")):
        for _line, record, _problem in iter_jsonl(path, required=("question",)):
            if record is None or not record.get("options"):
                continue
            other = record.get("other") or {}
            orders.setdefault((str(other.get("source") or path.stem), record_id(record)), record["options"])
    return orders


def task_scores(items: Sequence[Item], scores: Sequence[ItemScore]) -> list[TaskScore]:
    """Aggregate item scores per model and task."""
    by_id = {s.item_id: s for s in scores}
    cells: dict[tuple[str, str], list[tuple[Item, ItemScore]]] = defaultdict(list)
    for it in items:
        cells[(it.model or "", it.task or "")].append((it, by_id[it.item_id]))
    rows = []
    for (model, task), pairs in sorted(cells.items()):
        right = sum(s.correct is True for _, s in pairs)
        wrong = sum(s.correct is False for _, s in pairs)
        graded = sum(s.graded for _, s in pairs)
        n_choice = sum(s.score_method.startswith("choice:") for _, s in pairs)
        unext = sum(s.score_method.startswith("choice:unextractable") for _, s in pairs)
        ambig = sum(s.score_method.startswith("choice:ambiguous") for _, s in pairs)
        recalls = [s.score for _, s in pairs if s.score_method.startswith("open:recall") and s.score is not None]
        rows.append(TaskScore(
            model=model, task=task, dimension=pairs[0][0].dimension, n=len(pairs), n_correct=right, n_wrong=wrong,
            n_unknown=len(pairs) - right - wrong, n_graded=graded, n_choice=n_choice, n_unextractable=unext,
            n_ambiguous=ambig, unextractable_share=(unext + ambig) / n_choice if n_choice else None,
            accuracy=right / graded if graded else None,
            mean_recall=sum(recalls) / len(recalls) if recalls else None,
            n_recall_fallback=sum(s.score_method == "open:recall:offline_fallback" for _, s in pairs),
        ))
    return rows


def score_outputs(
    inputs: Sequence[Path | str],
    *,
    db: Path | str,
    prompts: Path | str | None = None,
    key: Path | str | None = None,
    recall_threshold: float = 0.6,
    recall_judge: RecallJudge | None = None,
    progress: bool = True,
) -> ScoreSummary:
    """Ingest MedBench outputs (per-model folders or <model>/<task>.jsonl files), score them and store the results.

    `prompts` is the benchmark's prompts folder (coverage checks; option order for id-level letter keys);
    `key` an answer key file (judge.medbench.answer_key.load_answer_key). Open answers with a reference are scored by
    `recall_judge` (default: the offline bigram judge) and are wrong below `recall_threshold`.
    """
    t0 = time.perf_counter()
    paths = [Path(p).resolve() for p in inputs]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"no such file or folder: {', '.join(missing)}")
    files = output_files(paths)
    if not files:
        raise ValueError(f"no .jsonl output files under {', '.join(map(str, paths))}")
    prompts_dir = Path(prompts).resolve() if prompts is not None else None
    if prompts_dir is not None and not prompts_dir.is_dir():
        raise FileNotFoundError(f"prompts folder not found: {prompts_dir}")
    answer_key = load_answer_key(key) if key is not None else None
    judge = recall_judge or BigramRecallJudge()

    result = read_medbench(prompts_dir, paths)
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
        wall = time.perf_counter() - t0
        store.finish_run(run_id, n_input=len(result.items) + len(result.problems), n_skipped=len(result.problems),
                         n_ok=len(result.items), wall_s=wall)
    return ScoreSummary(run_id=run_id, db=str(db), n_files=len(files), n_ingested=len(result.items),
                        problems=result.problems, problem_counts=result.problem_counts(),
                        tasks=task_scores(result.items, scores), robustness=robustness, coverage=result.coverage,
                        wall_s=wall)
