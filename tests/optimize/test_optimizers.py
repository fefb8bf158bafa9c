"""Every optimizer, offline, with a scripted LM that only answers right when the prompt teaches the category.

Fixture: 8 train / 8 dev / 8 test items, one per category in each split. The scripted judge answers `omission`
unless the prompt teaches the item's category, so the unoptimized program (bare instructions, no demos) scores
exactly 1/8 on dev (the omission item). A higher dev score can only come from the optimizer's demos or
instructions being used.
"""

from __future__ import annotations

from pathlib import Path

import dspy
import pytest

from judge.core.exceptions import ConfigError
from judge.core.taxonomy import load_taxonomy
from judge.gold.gold_set import load_gold
from judge.gold.splits import load_splits, select_split
from judge.llm.prompt import load_prompt
from judge.optimize import OPTIMIZERS, OptimizerBudget, optimize
from judge.optimize.evaluate import score_program
from judge.optimize.examples import gold_examples
from judge.optimize.program import JudgeProgram
from tests.conftest import FIXTURES
from tests.dspy_scripted import PROPOSAL_MARKER, Policy, scripted_lm

FIX = FIXTURES / "dspy"
GOLD = FIX / "gold.jsonl"
BARE = "Classify why the response is wrong."
BUDGET = OptimizerBudget(num_threads=2, num_candidate_programs=2, gepa_max_metric_calls=48)


def run(optimizer: str, out: Path, policy: Policy, **kw):  # type: ignore[no-untyped-def]
    kw.setdefault("budget", BUDGET)
    return optimize(GOLD, optimizer, "scripted/judge", out, lm=scripted_lm(policy), cache=False,
                    student_instructions=BARE, **kw)


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_every_optimizer_raises_dev_score_and_exports(optimizer, tmp_path):
    # MIPROv2 also bootstraps demos; with demos ignored its gain must come from the instruction it selected.
    policy = Policy.from_gold(load_gold(GOLD), use_demos=optimizer != "mipro")
    reflection = Policy.from_gold(load_gold(GOLD))
    kw = {"reflection_lm": scripted_lm(reflection, "scripted/reflect")} if optimizer == "gepa" else {}
    r = run(optimizer, tmp_path / "opt", policy, **kw)
    assert r.n_train == 8 and r.n_dev == 8
    assert r.dev_before is not None and r.dev_before.accuracy == pytest.approx(1 / 8)
    assert r.dev_after.accuracy is not None and r.dev_after.accuracy > r.dev_before.accuracy
    assert dspy.settings.lm is None  # the LM was only ever passed explicitly
    prompt = load_prompt(r.prompt_path)
    assert prompt.version == r.prompt_version != load_prompt().version
    # the saved state is the optimized program: reloaded, it scores what was reported
    reloaded = JudgeProgram()
    reloaded.load(r.state_path)
    dev = gold_examples(select_split(load_gold(GOLD), load_splits(FIX / "splits.json").splits, "dev"))
    assert score_program(reloaded, dev, lm=scripted_lm(policy)).accuracy == r.dev_after.accuracy
    if optimizer == "gepa":
        assert r.instructions_changed and r.n_demos == 0 and reflection.calls
        assert "Additional guidance" in prompt.sections()[0]
    elif optimizer == "mipro":
        assert r.instructions_changed and PROPOSAL_MARKER in prompt.sections()[0]
    else:
        assert not r.instructions_changed and r.n_demos > 0
        assert prompt.sections()[0].count("### Example ") == r.n_demos


def test_labeled_fewshot_demos_cover_every_train_category(tmp_path):
    r = run("labeled_fewshot", tmp_path / "opt", Policy.from_gold(load_gold(GOLD)))
    assert r.n_demos == 8 and r.dev_after.accuracy == 1.0 and r.dev_after.kappa == 1.0
    system = load_prompt(r.prompt_path).sections()[0]
    for code in load_taxonomy().codes:
        assert f'"category": "{code}"' in system


def test_bootstrap_uses_the_teacher_for_demos(tmp_path):
    items = load_gold(GOLD)
    teacher = Policy.from_gold(items, oracle=True)
    r = run("bootstrap_fewshot", tmp_path / "opt", Policy.from_gold(items), teacher_lm=scripted_lm(teacher, "t/x"),
            budget=OptimizerBudget(num_threads=2, max_bootstrapped_demos=2, max_labeled_demos=4))
    assert teacher.calls and r.n_demos == 4
    text = load_prompt(r.prompt_path).text
    assert text.count("model rationale, category confirmed by physicians") == 2
    assert text.count("(physician-labelled") == 2


def test_unknown_optimizer_and_missing_splits_fail_early(tmp_path):
    policy = Policy.from_gold(load_gold(GOLD))
    with pytest.raises(ConfigError, match="unknown optimizer"):
        run("simba", tmp_path / "x", policy)
    lonely = tmp_path / "gold.jsonl"
    lonely.write_text(GOLD.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(ConfigError, match="splits"):
        optimize(lonely, "labeled_fewshot", "scripted/judge", tmp_path / "x", lm=scripted_lm(policy), cache=False)
    assert not policy.calls


def test_refuses_to_overwrite_the_base_prompt(tmp_path):
    base = tmp_path / "base.md"
    base.write_text(load_prompt().text, encoding="utf-8")
    with pytest.raises(ConfigError, match="overwrite"):
        run("labeled_fewshot", base, Policy.from_gold(load_gold(GOLD)), base_prompt=str(base))


def test_empty_dev_split_is_allowed_only_for_optimizers_that_do_not_select(tmp_path):
    from judge.gold.splits import save_splits

    splits = {k: ("train" if v == "train" else "test") for k, v in load_splits(FIX / "splits.json").splits.items()}
    path = tmp_path / "splits.json"
    save_splits(splits, path, seed=0, ratios=(0.5, 0.0, 0.5))
    policy = Policy.from_gold(load_gold(GOLD))
    from judge.optimize.run import NotBetterError

    with pytest.raises(NotBetterError, match="no dev examples to compare on"):  # nothing shows it is better
        run("labeled_fewshot", tmp_path / "a", policy, splits=path)
    assert not (tmp_path / "a.md").exists()
    r = run("labeled_fewshot", tmp_path / "a", policy, splits=path, force=True)
    assert r.better is False and r.forced and "(written with --force)" in (tmp_path / "a.md").read_text("utf-8")
    assert r.n_dev == 0 and r.dev_before is None and r.dev_after.n == 0 and r.dev_after.accuracy is None
    assert r.n_demos == 8
    with pytest.raises(ConfigError, match="dev split"):
        run("bootstrap_random_search", tmp_path / "b", policy, splits=path)
