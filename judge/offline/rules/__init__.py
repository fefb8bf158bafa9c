"""Deterministic checks that run before any LLM call: unanswered, output_error, format_mismatch.

Each check is a pure function of an Item that returns a RuleHit or None. `run_rules` applies the
enabled checks in the taxonomy's decision order and returns the first hit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from judge.core.exceptions import ConfigError
from judge.core.models import Item
from judge.offline.rules.format import check_format
from judge.offline.rules.format_spec import FormatSpec, parse_format_instruction
from judge.offline.rules.hit import RuleHit
from judge.offline.rules.output_error import check_output_error
from judge.offline.rules.unanswered import check_unanswered

RULE_NAMES: tuple[str, ...] = ("unanswered", "output_error", "format_mismatch")
"""Rule names in the taxonomy decision order (each equals the category code it implies)."""

CHECKS: dict[str, Callable[[Item], RuleHit | None]] = {
    "unanswered": check_unanswered,
    "output_error": check_output_error,
    "format_mismatch": check_format,
}


def rule_hits(item: Item) -> dict[str, RuleHit | None]:
    """Every check's result on one item (None: it did not fire), in decision order."""
    return {name: check(item) for name, check in CHECKS.items()}


def clear_rule_memos() -> None:
    """Empty the rules' memos (format instruction, labels, option letters of each prompt text; the response-only
    output and clause checks of each response text)."""
    from judge.offline.rules import format as format_rule
    from judge.offline.rules import format_spec, output_error, text, unanswered

    for fn in (format_spec.format_spec, format_spec._head_spec, text.output_label, text.query_part, text.query_offset, text._input_labels, text._query_option_letters,
               text.last_line_content, output_error._labels_pattern, output_error._prompt_content, format_rule._label_pattern,
               format_rule._line_label_pattern, output_error._broken, output_error._cut_off, unanswered._clause_kinds):
        fn.cache_clear()


def run_rules(item: Item, enabled: Iterable[str] | None = None) -> RuleHit | None:
    """Run the enabled checks (default: all) in decision order; return the first hit or None."""
    wanted = set(RULE_NAMES if enabled is None else enabled)
    unknown = wanted - set(RULE_NAMES)
    if unknown:
        raise ConfigError(f"unknown rule name(s) {sorted(unknown)}; known: {list(RULE_NAMES)}")
    for name in RULE_NAMES:
        if name in wanted:
            hit = CHECKS[name](item)
            if hit is not None:
                return hit
    return None


__all__ = [
    "CHECKS",
    "RULE_NAMES",
    "FormatSpec",
    "RuleHit",
    "check_format",
    "check_output_error",
    "check_unanswered",
    "clear_rule_memos",
    "parse_format_instruction",
    "rule_hits",
    "run_rules",
]
