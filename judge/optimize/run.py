"""Optimize the judge with DSPy on the gold set, export the result as a prompt, and calibrate before vs after."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import dspy  # noqa: E402
from pydantic import BaseModel  # noqa: E402

from judge.core.exceptions import ConfigError, MedjudgeError  # noqa: E402
from judge.core.resources import prompt_path as resolve_prompt  # noqa: E402
from judge.core.taxonomy import load_taxonomy  # noqa: E402
from judge.evaluate.paired import KappaDifference, paired_kappa_difference  # noqa: E402
from judge.gold.gold_set import load_gold  # noqa: E402
from judge.gold.splits import default_splits_path, load_splits, select_split  # noqa: E402
from judge.llm.prompt import DEFAULT_PROMPT, PromptTemplate, load_prompt  # noqa: E402
from judge.optimize.cache import dspy_cache  # noqa: E402
from judge.optimize.evaluate import ProgramScore, score_program  # noqa: E402
from judge.optimize.examples import gold_examples  # noqa: E402
from judge.optimize.export import export_prompt, program_demos, program_instructions  # noqa: E402
from judge.optimize.optimizers import OptimizerBudget, check_optimizer, compile_program  # noqa: E402
from judge.optimize.program import JudgeProgram  # noqa: E402
from judge.optimize.signature import taxonomy_instructions  # noqa: E402


class NotBetterError(MedjudgeError):
    """The optimised program does not beat the base program on dev beyond the bootstrap CI (nothing written)."""

    def __init__(self, message: str, difference: KappaDifference | None) -> None:
        super().__init__(message)
        self.difference = difference


class CalibrationSummary(BaseModel):
    """The headline numbers of one calibration run on the test split."""

    calibration_id: str
    """Id of the calibration_runs row."""
    judge_id: str
    """Judge that was calibrated."""
    prompt: str
    """Prompt file the judge ran."""
    n: int
    """Gold items judged."""
    kappa: float | None
    """Cohen's kappa against the physicians' consensus."""
    kappa_ci: tuple[float | None, float | None]
    """Bootstrap 95% interval of kappa."""
    macro_f1: float | None
    """Macro-F1."""


class OptimizeResult(BaseModel):
    """What an optimization run did and wrote."""

    optimizer: str
    """Optimizer name."""
    model: str
    """Task model (the judge's model)."""
    teacher_model: str | None = None
    """Teacher / instruction-proposal model, when one was given."""
    reflection_model: str | None = None
    """GEPA reflection model actually used (gepa only)."""
    seed: int
    """Random seed."""
    gold: str
    """Gold file."""
    splits: str
    """Splits file."""
    n_train: int
    """Train examples (gold items with a consensus)."""
    n_dev: int
    """Dev examples used for selection and scoring."""
    prompt_path: str
    """Exported prompt file."""
    prompt_version: str
    """Exported prompt's version (hash of the file)."""
    base_prompt: str
    """Base template the export was built on."""
    base_prompt_version: str
    """Base template's version."""
    state_path: str
    """Saved DSPy program state (JSON)."""
    n_demos: int
    """Worked examples written into the prompt."""
    instructions_changed: bool
    """Whether the optimizer rewrote the instructions (then they are in the prompt)."""
    dev_before: ProgramScore | None = None
    """The unoptimized DSPy program on dev."""
    dev_after: ProgramScore
    """The optimized DSPy program on dev."""
    dev_difference: KappaDifference | None = None
    """Dev κ of the optimized minus the base program on the same examples, with a paired bootstrap CI (an example
    without a valid category counts as a disagreement for either program); None without a base score."""
    better: bool | None = None
    """Whether the optimized program beats the base one on dev beyond the CI; None when not compared."""
    forced: bool = False
    """Whether the prompt was written although it is not better (`force`)."""
    calibration_before: CalibrationSummary | None = None
    """Instructor judge with the base prompt on the test split."""
    calibration_after: CalibrationSummary | None = None
    """Instructor judge with the exported prompt on the test split."""
    cache_dir: str | None = None
    """DSPy cache directory (None = caching off)."""
    wall_s: float = 0.0
    """Wall time in seconds."""


def make_lm(model: str, *, api_base: str | None = None, api_key: str | None = None, temperature: float = 0.0,
            max_tokens: int = 1024, cache: bool = True, engine: str | None = None,
            timeout_s: float | None = None) -> dspy.LM:
    """A DSPy LM for a model string, optionally on an OpenAI-compatible server (`api_base`; for openai/... models
    also `OPENAI_BASE_URL` / `OPENAI_API_BASE`, as for the judge). The key comes from the judge's sources
    (`judge.llm.keys`).

    `engine` None picks DSPy's LiteLLM engine when `api_base` is given (the transport the Instructor judge uses;
    it sends `max_tokens`, which self-hosted servers such as llama.cpp honour, whereas DSPy's native OpenAI client
    sends `max_completion_tokens`, which llama-cpp-python ignores), and DSPy's default ("auto") otherwise.
    """
    from judge.core.settings import JudgeSettings
    from judge.llm.keys import openai_base_from_env, resolve_api_key

    api_base = api_base or openai_base_from_env(model)
    key = resolve_api_key(JudgeSettings(model=model, api_key=api_key)).value  # the judge's key precedence
    kw: dict[str, Any] = {}
    if api_base:
        kw["api_base"] = api_base
        kw["api_key"] = key or "sk-no-key"
    elif key:
        kw["api_key"] = key
    if timeout_s is not None:
        kw["timeout"] = timeout_s
    chosen = engine or ("litellm" if api_base else "auto")
    return dspy.LM(model, temperature=temperature, max_tokens=max_tokens, cache=cache, engine=chosen, **kw)


def prompt_output_paths(out: str | Path) -> tuple[Path, Path]:
    """(prompt file, program state file) for `out`: prompts/NAME -> prompts/NAME.md, prompts/NAME.dspy.json."""
    out = Path(out)
    stem = out.with_suffix("") if out.suffix == ".md" else out
    return stem.parent / f"{stem.name}.md", stem.parent / f"{stem.name}.dspy.json"


def resolve_splits(gold: Path, splits: str | Path | None) -> Path:
    """The splits file: as given, else splits.json next to the gold file."""
    path = Path(splits) if splits else default_splits_path(gold)
    if not path.is_file():
        raise ConfigError(f"splits file {path} not found; create train/dev/test splits of the gold set first")
    return path


def _summary(result: Any, prompt: str) -> CalibrationSummary:
    return CalibrationSummary(calibration_id=result.calibration_id, judge_id=result.judge_id, prompt=prompt,
                              n=result.n, kappa=result.kappa, kappa_ci=tuple(result.kappa_ci),
                              macro_f1=result.macro_f1)


def calibrate_prompts(gold: Path, splits: Path, db: str | Path, model: str, prompts: list[str], *,
                      api_base: str | None = None, api_key: str | None = None, concurrency: int = 8,
                      progress: bool = True, **settings: Any) -> list[CalibrationSummary]:
    """Calibrate the Instructor judge on the test split once per prompt (same model and settings)."""
    from judge.evaluate.calibrate import calibrate
    from judge.run.factory import make_judge

    out = []
    for prompt in prompts:
        judge = make_judge(model, api_base=api_base, api_key=api_key, prompt=prompt, **settings)
        result = calibrate(gold, judge=judge, db=db, split="test", splits_path=splits, concurrency=concurrency,
                           progress=progress)
        out.append(_summary(result, prompt))
    return out


def optimize(gold: str | Path, optimizer: str, model: str, out: str | Path, *, api_base: str | None = None,
             api_key: str | None = None, teacher_model: str | None = None, reflection_model: str | None = None,
             splits: str | Path | None = None, seed: int = 0, db: str | Path | None = None,
             calibrate_after: bool = True, base_prompt: str | Path | None = None,
             budget: OptimizerBudget | None = None, cache: bool = True, cache_dir: str | Path | None = None,
             temperature: float = 0.0, max_tokens: int = 1024, timeout_s: float | None = None,
             engine: str | None = None, score_baseline: bool = True,
             student_instructions: str | None = None, concurrency: int = 8, progress: bool = True,
             lm: dspy.BaseLM | None = None, teacher_lm: dspy.BaseLM | None = None,
             reflection_lm: dspy.BaseLM | None = None, force: bool = False) -> OptimizeResult:
    """Optimize the judge with DSPy optimizer `optimizer` and export it as the prompt file `out`.

    Trains on the gold train split and selects on the dev split (splits default to splits.json next to `gold`),
    saves the program state (JSON) and the exported prompt next to each other, and scores the program on dev
    before and after. With `db` and `calibrate_after`, runs the Instructor judge on the test split twice with the
    same model (base prompt, exported prompt) and stores both calibration runs. `engine` selects DSPy's transport
    (see `make_lm`). `lm`, `teacher_lm` and `reflection_lm` replace the LMs built from the model strings (e.g.
    scripted LMs in tests).

    Regression guard: with `score_baseline`, the optimized program must beat the base program on dev beyond the
    paired bootstrap CI of the κ difference; otherwise `NotBetterError` is raised and nothing is written, unless
    `force`. The exported prompt states both dev scores with their CIs and the difference either way.
    """
    t0 = time.perf_counter()
    check_optimizer(optimizer)
    gold = Path(gold)
    splits_path = resolve_splits(gold, splits)
    prompt_path, state_path = prompt_output_paths(out)
    base_name = str(base_prompt or DEFAULT_PROMPT)
    base_tpl = load_prompt(base_name)
    if prompt_path.exists() and prompt_path.resolve() == resolve_prompt(base_name).resolve():
        raise ConfigError(f"refusing to overwrite the base prompt {prompt_path}")
    taxonomy = load_taxonomy()
    items = load_gold(gold)
    split_map = load_splits(splits_path).splits
    trainset = gold_examples(select_split(items, split_map, "train"), taxonomy)
    devset = gold_examples(select_split(items, split_map, "dev"), taxonomy)
    threads = (budget or OptimizerBudget()).num_threads
    with dspy_cache(cache_dir, enabled=cache) as used_cache:
        conn: dict[str, Any] = dict(api_base=api_base, api_key=api_key, cache=cache, engine=engine, timeout_s=timeout_s)
        task_lm = lm or make_lm(model, temperature=temperature, max_tokens=max_tokens, **conn)
        teacher = teacher_lm or (make_lm(teacher_model, temperature=temperature, max_tokens=max_tokens, **conn)
                                 if teacher_model else None)
        reflection = reflection_lm or (make_lm(reflection_model, temperature=1.0, max_tokens=max(4096, max_tokens),
                                               **conn) if reflection_model else None)
        default_instructions = student_instructions or taxonomy_instructions(taxonomy)
        student = JudgeProgram(taxonomy, instructions=default_instructions)
        before = score_program(student, devset, lm=task_lm, num_threads=threads, seed=seed) if (
            score_baseline and devset) else None
        program = compile_program(optimizer, student, trainset, devset, lm=task_lm, taxonomy=taxonomy,
                                  teacher_lm=teacher, reflection_lm=reflection, seed=seed, budget=budget)
        after = score_program(program, devset, lm=task_lm, num_threads=threads, seed=seed)
    difference = dev_difference(devset, before, after, seed) if score_baseline else None
    better = None if not score_baseline else bool(difference is not None and difference.b_better)
    if better is False and not force:
        raise NotBetterError(not_better_message(optimizer, before, after, difference), difference)
    state_path.parent.mkdir(parents=True, exist_ok=True)
    program.save(str(state_path))
    instructions_changed = program_instructions(program).strip() != default_instructions.strip()
    used_reflection = (reflection_model or getattr(reflection_lm, "model", None) or teacher_model or model
                       ) if optimizer == "gepa" else None
    provenance = _provenance(base_tpl, optimizer, model, teacher_model, used_reflection, seed, gold, len(trainset),
                             len(devset), before, after, instructions_changed, len(program_demos(program)),
                             state_path, difference, better)
    exported = export_prompt(program, prompt_path, base=base_name, default_instructions=default_instructions,
                             provenance=provenance)
    result = OptimizeResult(
        optimizer=optimizer, model=model, teacher_model=teacher_model, reflection_model=used_reflection, seed=seed,
        gold=str(gold), splits=str(splits_path), n_train=len(trainset), n_dev=len(devset),
        prompt_path=str(prompt_path), prompt_version=exported.version, base_prompt=base_name,
        base_prompt_version=base_tpl.version, state_path=str(state_path), n_demos=len(program_demos(program)),
        instructions_changed=instructions_changed, dev_before=before, dev_after=after, dev_difference=difference,
        better=better, forced=better is False,
        cache_dir=str(used_cache) if used_cache else None,
    )
    if db is not None and calibrate_after:
        before_cal, after_cal = calibrate_prompts(
            gold, splits_path, db, model, [base_name, str(prompt_path)], api_base=api_base, api_key=api_key,
            concurrency=concurrency, progress=progress, temperature=temperature, max_tokens=max_tokens,
            timeout_s=timeout_s)
        result.calibration_before, result.calibration_after = before_cal, after_cal
    result.wall_s = time.perf_counter() - t0
    return result


def dev_difference(devset: list[Any], before: ProgramScore | None, after: ProgramScore,
                   seed: int = 0) -> KappaDifference | None:
    """Dev κ of `after` minus `before` on the same examples (paired bootstrap; no category = a disagreement)."""
    if before is None or not devset:
        return None
    ids = [str(getattr(ex, "item_id", i)) for i, ex in enumerate(devset)]
    truth = [ex.category for ex in devset]
    return paired_kappa_difference(truth, [before.predictions.get(i) for i in ids],
                                   [after.predictions.get(i) for i in ids], abstain="disagree", seed=seed)


def _score(s: ProgramScore | None) -> str:
    if s is None:
        return "n/a"
    lo, hi = s.kappa_ci

    def f(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.3f}"

    return f"kappa {f(s.kappa)} [{f(lo)}, {f(hi)}], accuracy {f(s.accuracy)}, n {s.n}"


def _diff(d: KappaDifference | None) -> str:
    if d is None or d.difference is None:
        return "n/a (no dev examples to compare on)"
    lo, hi = (f"{x:+.3f}" if x is not None else "n/a" for x in d.ci)
    return f"{d.difference:+.3f} [{lo}, {hi}] over {d.n} dev examples (paired bootstrap, {d.n_boot} resamples)"


def not_better_message(optimizer: str, before: ProgramScore | None, after: ProgramScore,
                       d: KappaDifference | None) -> str:
    """Why an optimized program is not written."""
    return (f"the {optimizer} program is NOT better than the base prompt on dev beyond the bootstrap CI: base "
            f"{_score(before)}; optimized {_score(after)}; difference {_diff(d)}. Nothing was written; rerun with "
            "--force to write it anyway (DSPy's cache answers the repeated calls).")


def _provenance(base: PromptTemplate, optimizer: str, model: str, teacher_model: str | None,
                reflection_model: str | None, seed: int, gold: Path, n_train: int, n_dev: int,
                before: ProgramScore | None, after: ProgramScore, instructions_changed: bool, n_demos: int,
                state_path: Path, difference: KappaDifference | None = None,
                better: bool | None = None) -> dict[str, Any]:
    """What the exported prompt's header records."""
    verdict = {None: "not compared (no base score)", True: "better than the base prompt beyond the CI",
               False: "NOT better than the base prompt beyond the CI (written with --force)"}[better]
    return {
        "base_prompt": f"{Path(base.name).name} (version {base.version})", "optimizer": optimizer,
        "task_model": model, "teacher_model": teacher_model, "reflection_model": reflection_model, "seed": seed,
        "gold": f"{gold.name}: {n_train} train / {n_dev} dev examples",
        "dev_accuracy": _fmt_change(before.accuracy if before else None, after.accuracy),
        "dev_kappa": _fmt_change(before.kappa if before else None, after.kappa),
        "dev_score_base": _score(before), "dev_score_optimized": _score(after),
        "dev_kappa_difference": _diff(difference) if before is not None else "n/a", "dev_verdict": verdict,
        "instructions": "optimized (see guidance below)" if instructions_changed else "unchanged",
        "worked_examples": n_demos, "program_state": state_path.name,
    }


def _fmt_change(before: float | None, after: float | None) -> str:
    def f(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.3f}"

    return f"{f(before)} -> {f(after)}"
