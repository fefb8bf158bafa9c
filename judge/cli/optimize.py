"""CLI command `optimize`: DSPy optimization of the judge exported as a prompt file (thin layer over judge.optimize)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from judge.cli.options import EXIT_NOT_BETTER, ApiBaseOpt, ApiKeyOpt, fail, user_errors


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _ci(ci: tuple[float | None, float | None]) -> str:
    return f"[{_num(ci[0])}, {_num(ci[1])}]"


def optimize_cmd(
    optimizer: Annotated[str, typer.Option("--optimizer", help="labeled_fewshot, bootstrap_fewshot, "
                                           "bootstrap_random_search, mipro (MIPROv2, auto=light) or gepa.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Task model (the judge's model), a model string such "
                                       "as openai/gpt-4o-mini; with --api-base any OpenAI-compatible server.")],
    out: Annotated[Path, typer.Option("--out", help="Prompt to write, e.g. prompts/judge_opt: writes "
                                      "prompts/judge_opt.md and the program state prompts/judge_opt.dspy.json.")],
    gold: Annotated[Path, typer.Option("--gold", help="Gold JSONL (physician labels).")] = Path(
        "gold_labels/gold.jsonl"),
    api_base: ApiBaseOpt = None,
    api_key: ApiKeyOpt = None,
    teacher_model: Annotated[str | None, typer.Option("--teacher-model", help="Teacher for bootstrapped demos and "
                                                      "MIPROv2 instruction proposals (default: the task model).")] = None,
    reflection_model: Annotated[str | None, typer.Option("--reflection-model", help="GEPA reflection model "
                                                         "(default: teacher, else the task model).")] = None,
    splits: Annotated[Path | None, typer.Option(help="Splits file (default: splits.json beside the gold file).")] = None,
    base_prompt: Annotated[str | None, typer.Option("--base-prompt", help="Template the export builds on "
                                                    "(default prompts/judge_v1.md).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    db: Annotated[Path | None, typer.Option("--db", help="DuckDB file: if given, calibrate the Instructor judge on "
                                            "the test split with the base and the exported prompt.")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not cache LM responses.")] = False,
    cache_dir: Annotated[Path | None, typer.Option("--cache-dir", help="DSPy cache directory (default: "
                                                   "$MEDJUDGE_DSPY_CACHE or ~/.cache/medjudge/dspy).")] = None,
    max_demos: Annotated[int, typer.Option("--max-demos", min=0, help="Most worked examples in the prompt.")] = 8,
    max_tokens: Annotated[int, typer.Option(help="Completion token cap of the task model.")] = 1024,
    timeout: Annotated[float | None, typer.Option(help="Per-request timeout in seconds (DSPy and judge calls).")] = (
        None),
    concurrency: Annotated[int, typer.Option(min=1, help="Concurrent judge calls during calibration.")] = 8,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    force: Annotated[bool, typer.Option("--force", help="Write the optimized prompt even when it does not beat the "
                                        "base prompt on dev beyond the bootstrap CI.")] = False,
) -> None:
    """Optimize the judge prompt with DSPy on the gold train split (selecting on dev) and export it as a prompt file.

    The export is the base template plus the optimized instructions and the demos as worked examples; run it with
    `medjudge label --prompt prompts/NAME.md`. Its content hash is its version, so it gets its own judge_id.
    """
    from judge.api import optimize_prompt
    from judge.cli.console import console, err_console
    from judge.optimize.run import NotBetterError

    try:
        r = optimize_prompt(gold, optimizer, model, out, max_demos=max_demos, api_base=api_base, api_key=api_key,
                            teacher_model=teacher_model, reflection_model=reflection_model, splits=splits, seed=seed,
                            db=db, base_prompt=base_prompt, cache=not no_cache, cache_dir=cache_dir,
                            max_tokens=max_tokens, timeout_s=timeout, concurrency=concurrency, progress=progress,
                            force=force)
    except NotBetterError as e:
        fail(e, EXIT_NOT_BETTER)
    except user_errors() as e:
        fail(e)
    console.print(f"optimizer {r.optimizer} on {r.model}: {r.n_train} train / {r.n_dev} dev examples", highlight=False)
    if r.dev_before is not None:
        console.print(f"dev accuracy {_num(r.dev_before.accuracy)} -> {_num(r.dev_after.accuracy)}, "
                      f"kappa {_num(r.dev_before.kappa)} {_ci(r.dev_before.kappa_ci)} -> {_num(r.dev_after.kappa)} "
                      f"{_ci(r.dev_after.kappa_ci)}", highlight=False)
    d = r.dev_difference
    if d is not None and d.difference is not None:
        console.print(f"dev kappa difference {d.difference:+.3f} [{_num(d.ci[0])}, {_num(d.ci[1])}] (paired bootstrap, "
                      f"{d.n} examples)", highlight=False)
    if r.better is False:
        err_console.print("[red]warning:[/] the optimized prompt is NOT better than the base prompt on dev beyond the "
                          "bootstrap CI; written because of --force", highlight=False)
    console.print(f"wrote {r.prompt_path} (prompt version {r.prompt_version}, {r.n_demos} worked examples, "
                  f"instructions {'optimized' if r.instructions_changed else 'unchanged'}) and {r.state_path}",
                  highlight=False)
    for label, c in (("before (base prompt)", r.calibration_before), ("after (exported prompt)", r.calibration_after)):
        if c is not None:
            console.print(f"test kappa {label}: {_num(c.kappa)} {_ci(c.kappa_ci)}  n={c.n}  macro-F1 "
                          f"{_num(c.macro_f1)}  judge {c.judge_id}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the optimize command."""
    app.command("optimize")(optimize_cmd)
