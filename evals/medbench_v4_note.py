"""Score the shared MedBench v4 sample end to end and write evals/results/medbench_v4.md.

Runs what a user runs (score with --prompts and --key consensus, label --only-wrong offline, the report data) in a
temporary folder, checks the counts against evals/medbench_v4_independent_count.py, and writes per model: choice
items, unextractable share, consistency per choice task, coverage, silver-key accuracy per dimension next to the
publisher's platform scores, and the offline error categories of the wrong answers. Usage:

    python evals/medbench_v4_note.py [../shared/data/medbench_v4_sample] [--out evals/results/medbench_v4.md]
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from judge.api import label_file
from judge.core.models import DIMENSIONS
from judge.medbench.scoring_run import ScoreSummary, score_outputs
from judge.report.data import ReportData, load_report_data
from judge.store import Store

REPO = Path(__file__).resolve().parents[1]
PLATFORM = {  # the publisher's per-dimension platform scores, from the sample's README
    "gpt5.2": {"knowledge_qa": 71.7, "language_generation": 72.1, "complex_reasoning": 61.1,
               "language_understanding": 49.4, "safety_ethics": 18.3},
    "Baichuan-M3": {"knowledge_qa": 66.8, "language_generation": 68.5, "complex_reasoning": 57.2,
                    "language_understanding": 58.3, "safety_ethics": 21.7},
}


def pct(x: float | None) -> str:
    """A share as a percentage, or an em dash."""
    return "—" if x is None else f"{100 * x:.1f} %"


def independent_count(sample: Path) -> dict[str, Any]:
    """The separate count of evals/medbench_v4_independent_count.py."""
    spec = importlib.util.spec_from_file_location("v4count", REPO / "evals" / "medbench_v4_independent_count.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.count(sample)


def cross_check(s: ScoreSummary, count: dict[str, Any]) -> list[str]:
    """Differences between the pipeline and the independent count (empty when they agree)."""
    diffs = []
    rob = {f"{r.model}/{r.name}": (r.n_groups, r.n_consistent) for r in s.robustness if r.level == "task"}
    tasks = {f"{t.model}/{t.task}": t for t in s.tasks}
    for name, row in count["tasks"].items():
        t = tasks.get(name)
        if t is None:
            diffs.append(f"{name}: not scored")
            continue
        if row.get("groups") and rob.get(name) != (row["groups"], row["consistent"]):
            diffs.append(f"{name}: groups/consistent {rob.get(name)} vs {(row['groups'], row['consistent'])}")
        if "unreadable" in row and t.n_unextractable + t.n_ambiguous != row["unreadable"]:
            diffs.append(f"{name}: unreadable {t.n_unextractable + t.n_ambiguous} vs {row['unreadable']}")
        if "choice" in row and t.n_choice != row["choice"]:
            diffs.append(f"{name}: choice items {t.n_choice} vs {row['choice']}")
    empty = {f"{c.model}/{c.task}": c.n_empty for c in s.coverage}
    diffs += [f"{k}: empty {empty.get(k)} vs {v['empty']}" for k, v in count["tasks"].items()
              if empty.get(k) != v["empty"]]
    silver = count["silver"]
    if s.silver is None or s.silver.n_keyed != silver["keyed_questions"]:
        diffs.append(f"silver keyed {s.silver.n_keyed if s.silver else None} vs {silver['keyed_questions']}")
    for name, n in silver["items"].items():
        t = tasks[name]
        if (t.n_silver, t.n_silver_correct) != (n, silver["agree"].get(name, 0)):
            diffs.append(f"{name}: silver {(t.n_silver, t.n_silver_correct)} vs {(n, silver['agree'].get(name, 0))}")
    return diffs


def model_section(model: str, s: ScoreSummary, data: ReportData,
                  verdicts: list[tuple[str, str, str, float]]) -> list[str]:
    """The note's part for one model."""
    tasks = [t for t in s.tasks if t.model == model]
    choice = [t for t in tasks if t.n_choice]
    n_choice = sum(t.n_choice for t in choice)
    unread = sum(t.n_unextractable + t.n_ambiguous for t in choice)
    cov = [c for c in s.coverage if c.model == model]
    out = [f"### {model}", "",
           f"- Choice items: {n_choice} in {len(choice)} tasks; unextractable or ambiguous: {unread} "
           f"({pct(unread / n_choice if n_choice else None)}).",
           f"- Coverage: {sum(c.n_answered for c in cov)} of {sum(c.n_expected for c in cov)} prompt records "
           f"answered, {sum(c.n_missing for c in cov)} missing, {sum(c.n_empty for c in cov)} empty"
           + (" (" + ", ".join(f"{c.task}: {c.n_empty} empty, {c.n_missing} missing" for c in cov if c.incomplete)
              + ")" if any(c.incomplete for c in cov) else "") + ".", "",
           "| choice task | dimension | items | unextractable | shuffle groups | consistent | consistency |"
           " silver-keyed items | agree | silver accuracy |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    rob = {r.name: r for r in s.robustness if r.model == model and r.level == "task"}
    for t in choice:
        r = rob.get(t.task)
        out.append(f"| {t.task} | {t.dimension} | {t.n_choice} | {pct(t.unextractable_share)} | "
                   f"{r.n_groups if r else 0} | {r.n_consistent if r else '—'} | "
                   f"{f'{r.consistency:.3f}' if r else 'one order per question'} | {t.n_silver} | "
                   f"{t.n_silver_correct} | {pct(t.silver_accuracy)} |")
    out += ["", "| dimension | silver-keyed items | silver accuracy | key | publisher's platform score |",
            "|---|---:|---:|---|---:|"]
    silver = {r.dimension: r for r in data.silver if r.model == model}
    for dim in DIMENSIONS:
        r = silver.get(dim)
        has_choice = any(t.dimension == dim for t in choice)
        key = r.label if r else ("no question keyed" if has_choice else "no choice items")
        out.append(f"| {dim} | {r.n_keyed if r else 0} | {pct(r.accuracy) if r else '—'} | {key} | "
                   f"{PLATFORM.get(model, {}).get(dim, '—')} |")
    mine = [v for v in verdicts if v[0] == model]
    if mine:
        out += ["", f"Wrong answers classified by the offline judge ({len(mine)} verdicts):", ""]
        for source in sorted({v[1] for v in mine}):
            got = [v for v in mine if v[1] == source]
            cats: dict[str, int] = {}
            for v in got:
                cats[v[2]] = cats.get(v[2], 0) + 1
            conf = sum(v[3] for v in got) / len(got)
            shown = ", ".join(f"{c} {n}" for c, n in sorted(cats.items(), key=lambda kv: -kv[1]))
            out.append(f"- by the {source} ({len(got)}, mean confidence {conf:.2f}): {shown}")
    return out + [""]


def main(argv: list[str]) -> None:
    """Score, label, cross-check, write the note."""
    args = [a for a in argv if not a.startswith("--")]
    sample = Path(args[0]) if args else REPO.parent / "shared" / "data" / "medbench_v4_sample"
    out = Path(argv[argv.index("--out") + 1]) if "--out" in argv else REPO / "evals" / "results" / "medbench_v4.md"
    if "--out" in argv:
        args = [a for a in args if a != str(out)]
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "v4.duckdb"
        t0 = time.perf_counter()
        s = score_outputs(sorted((sample / "outputs").iterdir()), db=db, prompts=sample / "prompts", key="consensus",
                          progress=False)
        t_score = time.perf_counter() - t0
        run = label_file(None, db=db, model="offline", only_wrong=True, progress=False)
        with Store(db) as store:
            data = load_report_data(store)
            wrong = {it.item_id: it for it in store.wrong_items()}
            verdicts = [(wrong[i].model or "", v.source or "", v.category or v.status, v.confidence or 0.0)
                        for i, v in store.verdicts_for(run.judge_id, list(wrong)).items()]
    diffs = cross_check(s, independent_count(sample))
    models = sorted({t.model for t in s.tasks})
    assert s.silver is not None
    lines = [
        "# MedBench v4 sample: scored without an answer key", "",
        "Generated by `python evals/medbench_v4_note.py` from `../shared/data/medbench_v4_sample` (38 task files, "
        "1,620 prompt lines, outputs of two models run by a third party). Commands it runs:", "",
        "```bash",
        "medjudge score ../shared/data/medbench_v4_sample/outputs/* --prompts ../shared/data/medbench_v4_sample/prompts"
        " --db v4.duckdb --key consensus",
        "medjudge label --only-wrong --db v4.duckdb --model offline",
        "```", "",
        f"- {s.n_ingested} items from {s.n_files} files in {t_score:.1f} s; input problems: "
        f"{sum(s.problem_counts.values())}; tasks without a dimension: {len(s.unmapped_tasks)}.",
        f"- Choice tasks: {', '.join(sorted({t.task for t in s.tasks if t.n_choice}))}; without shuffle groups "
        f"(one order per question in the sample): {', '.join(s.unshuffled_choice_tasks) or 'none'}.",
        f"- Silver key: {s.silver.n_keyed} of {s.silver.n_questions} choice questions keyed, {s.silver.label}, "
        f"minimum agreement {s.silver.min_agreement:g}. With two models a question is keyed only when both "
        "models' majority answers agree, so silver accuracy here measures how often a model's individual "
        "(shuffled) answers agree with the answer both models settle on: it is not correctness.",
        f"- Wrong answers: {s.n_wrong} without the silver key (empty or unreadable), "
        f"{s.n_silver - s.n_silver_correct} disagreeing with it; {run.status_counts.get('ok', 0)} labelled by the "
        f"offline judge ({run.status_counts.get('needs_review', 0)} needs_review).",
        f"- Open answers with no reference stay unknown: {sum(t.n_unknown for t in s.tasks if not t.n_choice)}.",
        "- Cross-check against the independent count (`python evals/medbench_v4_independent_count.py`): "
        + ("groups, consistency, choice items, unreadable and empty answers, and the consensus key match exactly."
           if not diffs else "DIFFERENCES: " + "; ".join(diffs)), "",
        "The publisher's platform scores grade every task (open ones by their own graders) against a key that is "
        "not published; the silver accuracy covers choice items only and compares models with each other. The "
        "two columns are shown side by side, not as the same measure.", "",
        "The offline judge can say little about a wrong bare letter (`B` where the others chose `C`): the rules do "
        "not fire on it and the lexical baseline labels it with a low confidence, so those labels are guesses; "
        "empty answers and answers that only ask for the question are labelled `unanswered` by the rules. An LLM "
        "judge (`--model cascade:<model>` or a hosted model) is the one to classify the disagreeing letters.", "",
        "## Per model", "",
    ]
    for model in models:
        lines += model_section(model, s, data, verdicts)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {out}" + (f" ({len(diffs)} differences from the independent count)" if diffs else ""))
    if diffs:
        raise SystemExit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
