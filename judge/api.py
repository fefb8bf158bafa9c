"""The Python API behind every command: one function a command, usable directly from Python.

Each function takes plain values (paths, model strings, options), builds what it needs (judge, store, reader)
and returns a result model; the CLI only parses options, calls one of these and prints the result.
Heavy libraries are imported inside the functions that need them, so importing this module is cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from judge.core.models import RunSummary
    from judge.evaluate.calibrate import CalibrationResult
    from judge.gold.gold_set import GoldSummary
    from judge.medbench.scoring_run import ScoreSummary
    from judge.optimize.run import OptimizeResult
    from judge.review.pull import PullResult
    from judge.review.push import PushResult


def label_file(input: str | Path | None, *, db: str | Path, model: str = "offline", api_base: str | None = None,
               api_key: str | None = None, prompt: str | None = None, concurrency: int = 8, rpm: float | None = None,
               limit: int | None = None, only_wrong: bool = False, columns: list[str] | None = None,
               progress: bool = True, processes: int | None = None, engine: str = "local", ray_address: str | None = None,
               workers: int | None = None, shards: str | Path | None = None, min_confidence: float | None = None,
               **settings: Any) -> RunSummary:
    """Label a file (or, with only_wrong, the wrong items already scored in the DB) into the store at `db`.

    `min_confidence`: verdicts below it are stored as needs_review with the category they would have had.

    `processes`: for the offline judges (offline, rules, baseline) the processes each batch is shared out over
    (default: every available CPU); for any other judge, > 1 judges in that many worker processes (default 1).
    `engine="ray"` judges on Ray Data instead (`workers`
    actors on the cluster at `ray_address`, or a Ray started here; Parquet shards in `shards`, default
    `<db>.shards/`, merged into the store at the end). `settings` go to the judge (e.g. transport="direct").
    """
    from judge.ingest.items import input_files, parse_column_map
    from judge.run.factory import OFFLINE_MODELS, make_judge
    from judge.run.runner import check_engine, label
    from judge.store import Store

    check_engine(engine, processes=1 if processes is None else processes, ray_address=ray_address, workers=workers,
                 shards=shards)
    offline = model in OFFLINE_MODELS
    shard = 1 if offline or processes is None else processes  # the offline judges fork their own processes
    column_map = parse_column_map(columns)
    if input is None and not only_wrong:
        raise ValueError("give an INPUT file, or --only-wrong to label the wrong items stored in the DB")
    if input is not None and only_wrong:
        raise ValueError("--only-wrong labels the items already scored in the DB; run 'medjudge score' first and omit "
                         "INPUT")
    if input is not None:
        input_files(Path(input))  # a wrong path or an empty folder stops here, before any database is created
    elif not Path(db).is_file():
        raise FileNotFoundError(f"no database at {db}: --only-wrong labels the items 'medjudge score' stored there")
    judge = make_judge(model, api_base=api_base, api_key=api_key, prompt=prompt, min_confidence=min_confidence,
                       offline_workers=processes if offline else None, **settings)
    preflight = getattr(judge, "preflight", None)
    if callable(preflight):
        preflight()
    with Store(db) as store:
        if input is None:
            source: Any = store.wrong_items()
            desc = f"{db} (correct = FALSE)"
        else:
            source, desc = Path(input), str(input)
        return label(source, store=store, judge=judge, concurrency=concurrency, rpm=rpm, limit=limit,
                     progress=progress, column_map=column_map, input_desc=desc, store_items=input is not None,
                     processes=shard, **_engine_args(engine, ray_address, workers, shards))


def _engine_args(engine: str, ray_address: str | None, workers: int | None, shards: str | Path | None
                 ) -> dict[str, Any]:
    """The runner's engine arguments: only those given, so the local engine can refuse Ray-only ones."""
    given = {"ray_address": ray_address, "workers": workers, "shards": shards}
    return {"engine": engine, **{k: v for k, v in given.items() if v is not None}}


def run_sql(db: str | Path, query: str, shards: str | Path | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run a read-only query against the store; writes raise ReadOnlyError.

    With `shards`, the query runs over that folder of Parquet verdict shards instead (a Ray run in progress): view
    `verdicts` (the newest row per item and judge) and `verdict_shards` (every row with its file).
    """
    from judge.store import Store

    if shards is not None:
        from judge.store.shards import query_shards

        return query_shards(shards, query)

    with Store.readonly(db) as store:
        return store.query(query)


def error_distribution(db: str | Path, judge_id: str | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Share of each category per dimension for one judge (default: the store's default judge)."""
    from judge.store import Store

    with Store.readonly(db) as store:
        return store.error_distribution(judge_id or store.default_judge_id())


def demo(db: str | Path = "medjudge-demo.duckdb", model: str = "offline", progress: bool = True
         ) -> tuple[RunSummary, tuple[list[str], list[tuple[Any, ...]]]]:
    """Label the bundled demo file (offline by default) and return the run summary and error distribution."""
    from judge.demo import DEMO_FILE

    summary = label_file(DEMO_FILE, db=db, model=model, progress=progress)
    return summary, error_distribution(db, summary.judge_id)


def calibrate_model(gold: str | Path, *, model: str, db: str | Path, split: str | None = "test",
                    splits: str | Path | None = None, api_base: str | None = None, api_key: str | None = None,
                    prompt: str | None = None, transport: str = "auto", probe_orders: int = 0,
                    concurrency: int = 8, progress: bool = True, probe_rename: bool = False,
                    compare_to: str | None = None, min_confidence: float | None = None) -> CalibrationResult:
    """Build the judge for `model` and run a calibration against the gold consensus (split None = all items).

    `probe_rename` adds the label-renaming probe; `compare_to` a judge id whose stored verdicts on the same items
    this judge's κ is compared with (paired bootstrap CI of the difference); `min_confidence` calibrates the judge
    that holds back verdicts below it. Every run also reports κ and coverage over the threshold τ and the τ
    recommended on dev, or out of fold for the offline judges (`CalibrationResult.abstention`).
    """
    from judge.evaluate.calibrate import calibrate
    from judge.run.factory import make_judge

    judge = make_judge(model, api_base=api_base, api_key=api_key, prompt=prompt, transport=transport,
                       min_confidence=min_confidence)
    return calibrate(gold, judge=judge, db=db, split=split, splits_path=splits, probe_orders=probe_orders,
                     concurrency=concurrency, progress=progress, probe_rename=probe_rename, compare_to=compare_to)


def gold_summary(gold: str | Path, splits: str | Path | None = None) -> GoldSummary:
    """Counts of a gold file by category, dimension, split and annotator (splits: as given, else beside the file)."""
    from judge.gold.gold_set import load_gold, summarize_gold
    from judge.gold.splits import default_splits_path, load_splits

    items = load_gold(gold)
    path = Path(splits) if splits else default_splits_path(gold)
    return summarize_gold(items, load_splits(path).splits if path.exists() else None)


def split_gold(gold: str | Path, out: str | Path | None = None, seed: int = 13) -> Path:
    """Write a stratified train/dev/test split (50/20/30) of a gold file; returns the splits file written."""
    from judge.gold.gold_set import load_gold
    from judge.gold.splits import DEFAULT_RATIOS, default_splits_path, make_splits, save_splits

    path = Path(out) if out else default_splits_path(gold)
    save_splits(make_splits(load_gold(gold), DEFAULT_RATIOS, seed), path, seed=seed, ratios=DEFAULT_RATIOS)
    return path


def import_gold(src: str | Path, out: str | Path) -> int:
    """Convert a CSV (one row per label) or a Label Studio JSON export into gold JSONL; returns the item count."""
    from judge.gold.gold_set import save_gold
    from judge.gold.interchange import import_csv, import_label_studio

    items = import_csv(src) if Path(src).suffix.lower() == ".csv" else import_label_studio(src)
    save_gold(items, out)
    return len(items)


def export_gold(gold: str | Path, out: str | Path, annotations: bool = True) -> tuple[int, str | None]:
    """Write Label Studio tasks (or, for a .csv `out`, the long CSV); returns (items, labelling config or None)."""
    from judge.gold.gold_set import load_gold
    from judge.gold.interchange import export_csv, export_label_studio, label_studio_config

    items = load_gold(gold)
    if Path(out).suffix.lower() == ".csv":
        export_csv(items, out)
        return len(items), None
    export_label_studio(items, out, include_annotations=annotations)
    return len(items), label_studio_config()


def score(inputs: list[str | Path], *, db: str | Path, prompts: str | Path | None = None, key: str | Path | None = None,
          recall_threshold: float = 0.6, recall_model: str | None = None, api_base: str | None = None,
          api_key: str | None = None, progress: bool = True, silver_min_agreement: float = 0.6) -> ScoreSummary:
    """Ingest and score MedBench outputs into `db`; open answers' recall by `recall_model` (an LLM) or offline.

    `key` is an answer key file, or "consensus" for a silver key built from the models in the store.
    """
    from judge.medbench.scoring_run import score_outputs

    recall_judge = None
    if recall_model:
        from judge.core.settings import JudgeSettings
        from judge.llm.recall import LLMRecallJudge

        recall_judge = LLMRecallJudge(JudgeSettings(model=recall_model, api_base=api_base, api_key=api_key))
    return score_outputs(inputs, db=db, prompts=prompts, key=key, recall_threshold=recall_threshold,
                         recall_judge=recall_judge, progress=progress, silver_min_agreement=silver_min_agreement)


def optimize_prompt(gold: str | Path, optimizer: str, model: str, out: str | Path, *, max_demos: int = 8,
                    **options: Any) -> OptimizeResult:
    """DSPy optimisation of the judge prompt on the gold set (`judge.optimize.optimize`), with at most `max_demos`
    worked examples (at most 4 of them bootstrapped); `options` go to `optimize` (api_base, teacher_model, db, ...)."""
    from judge.optimize import OptimizerBudget, optimize

    budget = OptimizerBudget(max_labeled_demos=max_demos, max_bootstrapped_demos=min(4, max_demos))
    return optimize(gold, optimizer, model, out, budget=budget, **options)


def report(db: str | Path, out: str | Path = "report.html", fmt: str = "html", judge_id: str | None = None) -> Path:
    """Write the benchmark report of the store at `db` (html or md) and return its path."""
    from judge.report.build import build_report

    return build_report(db, out, fmt=fmt, judge_id=judge_id)  # type: ignore[arg-type]


def review_push(db: str | Path, select: str | list[str], *, label_studio: str, project: str, api_key: str | None,
                judge_id: str | None = None, seed: int = 0) -> PushResult:
    """Queue the verdicts chosen by the selectors and push them to the Label Studio project `project`.

    `judge_id` is the judge the needs_review / low-confidence / sample selectors read (default: the store's
    default judge, the one with the newest verdict).
    """
    from judge.review.label_studio import LabelStudio
    from judge.review.push import push_queue
    from judge.review.queue import build_queue, judges_needed, parse_selectors
    from judge.store import Store

    selectors = parse_selectors(select)
    with Store.readonly(db) as store:
        known = store.judges_with_verdicts()
        judge = judge_id or store.default_judge_id()
        needed = judges_needed(selectors, judge)
        missing = [j for j in needed if j not in known]
        if missing:
            raise ValueError(f"no verdicts of judge(s) {', '.join(missing)} in {db} (judges with verdicts: "
                             f"{', '.join(known) or 'none'})")
        rows = {j: store.judged_items(j) for j in needed}
    queue = build_queue(selectors, rows, judge, seed=seed)
    with LabelStudio(label_studio, api_key or "") as ls:
        return push_queue(ls, project, queue, judge_id=judge)


def review_pull(*, label_studio: str, project: str, api_key: str | None, gold: str | Path,
                splits: str | Path | None = None, db: str | Path | None = None) -> PullResult:
    """Import the project's completed annotations into the gold file (and splits); record the pull in `db`."""
    from judge.review.label_studio import LabelStudio, LabelStudioError
    from judge.review.pull import pull_into_gold
    from judge.store import Store

    with LabelStudio(label_studio, api_key or "") as ls:
        found = ls.project_by_title(project)
        if found is None:
            raise LabelStudioError(f"no project called {project!r} in Label Studio at {label_studio}; push to it first "
                                "with 'medjudge review push'")
        pid = int(found["id"])
        tasks, users = ls.export(pid), ls.users()
    result = pull_into_gold(tasks, users, gold, splits, project=project, project_id=pid)
    if db is not None:
        a = result.agreement
        with Store(db) as store:
            store.insert_review_pull({
                "pull_id": result.pull_id, "label_studio_url": label_studio.rstrip("/"), "project": project,
                "project_id": pid, "gold_path": str(gold), "n_tasks": result.n_tasks, "n_labels": result.n_labels,
                "n_items_new": len(result.new_items), "n_items_updated": len(result.updated_items),
                "n_ties": len(result.ties), "annotators": a.annotators, "fleiss_kappa": a.fleiss_kappa,
                "fleiss_n": a.fleiss_n, "krippendorff_alpha": a.krippendorff_alpha,
                "pairwise_kappa": [p.model_dump() for p in a.pairwise], "problems": result.problems,
            })
    return result
