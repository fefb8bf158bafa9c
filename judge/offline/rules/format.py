"""Rule `format_mismatch`: the response ignores the output format its prompt asks for.

Abstains (None) when the prompt has no recognisable format instruction, the response is empty, or a <> answer is
required but the response names no option at all (a refusal or a restatement is not a format error).
Confidences (fixed per pattern):
    answer not inside <> although required (an option letter is named)  0.90
    answer not inside <> as one of the listed words (<合理>/<不合理>)       0.80
    required JSON / literal not parseable at all                        0.85
    required "标签：内容" lines or per-line fields entirely ignored        0.85
    explanation next to the option although "只输出选项" (>= 10 chars)    0.85
    wrong separator between several answers ("A、B", "AB")              0.80
    several options for a single-choice question                       0.75
    structured value wrapped in extra text                             0.70
    extra text beyond the listed labels although "不要赘述"               0.70
    only the empty line template, no filled line                       0.70
    answer not taken from the listed labels                            0.65
    prose lines next to the required per-line output                   0.65
    short extra text next to the option (e.g. the option's wording)    0.60
    bracketed answer that is not option letters ("<否>", "<答：A>")       0.60
    fullwidth variant of the required separator ("A，C" for ",")        0.60
    structured value of the wrong top-level type                       0.60
"""

from __future__ import annotations

import ast
import json
import re
from functools import lru_cache
from typing import Any

from judge.core.models import Item
from judge.offline.rules.format_spec import FormatSpec, format_spec
from judge.offline.rules.hit import RuleHit, clip, trim
from judge.offline.rules.text import (
    content_chars,
    label_of,
    nonempty_lines,
    option_letters,
    option_texts,
    output_label,
)

_SPAN = re.compile(r"[<＜]([^<>＜＞\n]{0,80})[>＞]")
_LETTER_SEPS = re.compile(r"[\s,，、;；/|和及与]+")
_ANSWER_LABEL = re.compile(r"^[\W_]*(?:正确答案|最终答案|答案|回答|答|选项|选择|选)?\s*(?:是|为|应为|应选)?[\W_]*$")
_TRAILING_LABEL = re.compile(r"(?:正确答案|最终答案|答案|回答|答)\s*(?:是|为)?\s*[：:]?[\s*]*$")
_FENCE = re.compile(r"^```[\w-]*\s*|\s*```\s*$")
_FULLWIDTH = {",": "，", ";": "；", "|": "｜", ":": "："}
_DEFAULT_LETTERS = set("ABCDEFGHIJ")
_STANDALONE_LETTER = re.compile(r"(?<![A-Za-z])[A-J](?![A-Za-z])")


def _hit(evidence: str, confidence: float, rationale: str) -> RuleHit:
    return RuleHit(rule="format_mismatch", category="format_mismatch", evidence=evidence, confidence=confidence,
                   rationale=rationale)


def _answer_line(text: str) -> str:
    """The last non-empty line of the response (clipped): where a final answer usually stands."""
    return clip(nonempty_lines(text)[-1])


def _option_content(content: str, letters: set[str]) -> list[str] | None:
    """Option letters in a bracket's content, or None when it holds anything else."""
    compact = _LETTER_SEPS.sub("", content).upper()
    if not compact or not compact.isascii() or not set(compact) <= letters:
        return None
    return list(compact)


def _names_an_option(item: Item, text: str, letters: set[str]) -> bool:
    """True when the response names an option: a standalone option letter ("选C", "答案：B", "A、C"), or the wording
    of some but not all options (listing every option restates the question)."""
    if any(m.group(0) in letters for m in _STANDALONE_LETTER.finditer(text)):
        return True
    wordings = [w for w in option_texts(item.question, item.options) if len(w) >= 2]
    named = sum(w in text for w in wordings)
    return 0 < named < len(wordings)


def _check_brackets(item: Item, spec: FormatSpec, text: str) -> RuleHit | None:
    letters = option_letters(item.question, item.options) or _DEFAULT_LETTERS
    spans = list(_SPAN.finditer(text))
    if spec.bracket_words:
        if any(m.group(1).strip() in spec.bracket_words for m in spans):
            return None  # the answer is one of the words the prompt lists for the brackets
        if not spans and not any(w in text for w in spec.bracket_words):
            return None  # no answer at all to put inside <>: not a question of format
        return _hit(spans[-1].group(0) if spans else _answer_line(text), 0.8,
                    f"The answer is not put inside <> as one of {'/'.join(spec.bracket_words)}.")
    answers = [m for m in spans if _option_content(m.group(1), letters)]
    if not answers:
        others = [m for m in spans if content_chars(m.group(1))]
        if others:
            return _hit(others[-1].group(0), 0.6, "The bracketed answer is not given as option letters.")
        if not _names_an_option(item, text, letters):
            return None  # no option is named (a refusal, a restatement, a text cut off): nothing to put inside <>
        return _hit(_answer_line(text), 0.9, "The answer is not put inside <> as the prompt requires.")
    final = answers[-1]
    chosen = _option_content(final.group(1), letters) or []
    if spec.choice == "single" and len(set(chosen)) > 1:
        return _hit(final.group(0), 0.75, "Several options are given for a single-choice question.")
    if spec.separator and len(chosen) > 1:
        gaps = re.split(r"[A-Za-z]", final.group(1).strip())[1:-1]
        bad = [g for g in gaps if g.strip() != spec.separator]
        if bad:
            fullwidth = all(g.strip() == _FULLWIDTH.get(spec.separator) for g in bad)
            return _hit(final.group(0), 0.6 if fullwidth else 0.8,
                        f"Several answers are not separated by {spec.separator!r} as required.")
    if spec.only_option:
        pieces: list[tuple[int, int]] = []
        start = 0
        for m in answers:
            pieces.append((start, m.start()))
            start = m.end()
        pieces.append((start, len(text)))
        extra = [(a, b) for a, b in pieces if not _ANSWER_LABEL.match(text[a:b]) and content_chars(text[a:b])]
        if extra:
            a, b = max(extra, key=lambda p: len(content_chars(text[p[0]:p[1]])))
            tail = _TRAILING_LABEL.search(text, a, b)
            b = tail.start() if tail and content_chars(text[a : tail.start()]) else b
            size = len(content_chars(text[a:b]))
            return _hit(clip(text, a, b), 0.85 if size >= 10 else 0.6,
                        "Text besides the option is output although only the option was asked for.")
    return None


def _parse_literal(text: str) -> Any:
    """Parse JSON or a Python literal; raise ValueError when neither works."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as e:
        raise ValueError(str(e)) from e


def _check_embedded(body: str) -> RuleHit:
    """The body is not a literal as a whole: is one embedded in extra text, or none at all?"""
    i = min((j for j in (body.find("["), body.find("{")) if j >= 0), default=-1)
    if i >= 0:
        closer = "]" if body[i] == "[" else "}"
        j = body.rfind(closer)
        while j > i:
            try:
                _parse_literal(body[i : j + 1])
            except ValueError:
                j = body.rfind(closer, i, j)
                continue
            before, after = body[:i].strip(), body[j + 1 :].strip()
            a, b = (0, i) if len(before) >= len(after) else (j + 1, len(body))
            return _hit(clip(body, a, b), 0.7, "The required structured output is wrapped in extra text.")
    return _hit(clip(nonempty_lines(body)[0]), 0.85, "The required JSON/structured output cannot be parsed.")


def _check_json(item: Item, spec: FormatSpec, text: str) -> RuleHit | None:
    body = _FENCE.sub("", text.strip())
    label = output_label(item.question) or ""
    if label and body.startswith(label):
        body = _FENCE.sub("", re.sub(rf"^{re.escape(label)}\s*[：:]?\s*", "", body)).strip()
    if not body:
        return None
    try:
        value = _parse_literal(body)
    except ValueError:
        return _check_embedded(body)
    expected = {"array": list, "object": dict}.get(spec.json_root or "")
    if expected is not None and not isinstance(value, expected):
        return _hit(clip(body, 0, 60), 0.6, f"The structured output is not a JSON {spec.json_root} as in the example.")
    return None


def _check_line_fields(spec: FormatSpec, text: str) -> RuleHit | None:
    matched, filled, prose = [], 0, []
    for line in nonempty_lines(text):
        if all(f in line for f in spec.line_fields):
            matched.append(line)
            rest = line
            for f in spec.line_fields:
                rest = rest.replace(f, "")
            filled += bool(content_chars(rest))
        elif content_chars(line) and label_of(line) is None:
            prose.append(line)
    if not matched:
        return _hit(clip(nonempty_lines(text)[0]), 0.85, f"The required per-line format ({'，'.join(spec.line_fields)}) is ignored.")
    if not filled:
        return _hit(clip(matched[0]), 0.7, "Only the empty line template is output, no line is filled in.")
    if len(prose) >= 2 or sum(len(content_chars(p)) for p in prose) >= 30:
        return _hit(clip(max(prose, key=len)), 0.65, "Prose lines are mixed into the required one-per-line output.")
    return None


@lru_cache(maxsize=1024)
def _line_label_pattern(labels: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(map(re.escape, sorted(labels, key=len, reverse=True)))
    return re.compile(rf"^[\s\-*#>·•\d.、()（）【\[]*\**\s*(?:{alternatives})\s*\**\s*[】\]]?\s*[：:]", re.MULTILINE)


def _check_line_labels(spec: FormatSpec, text: str) -> RuleHit | None:
    if _line_label_pattern(tuple(spec.line_labels)).search(text):
        return None
    return _hit(clip(nonempty_lines(text)[0]), 0.85, f"The required line format ({'：、'.join(spec.line_labels[:3])}：...) is ignored.")


@lru_cache(maxsize=1024)
def _label_pattern(labels: tuple[str, ...]) -> re.Pattern[str]:
    parts = []
    for label in sorted(labels, key=len, reverse=True):
        p = re.escape(label)
        parts.append(rf"(?<![A-Za-z]){p}(?![A-Za-z])" if label.isascii() else p)
    return re.compile("|".join(parts), re.IGNORECASE)


def _check_labels(item: Item, spec: FormatSpec, text: str) -> RuleHit | None:
    found = list(_label_pattern(tuple(spec.allowed_labels)).finditer(text))
    if not found:
        return _hit(clip(nonempty_lines(text)[0]), 0.65, "The answer is not one of the labels listed in the prompt.")
    if spec.separator:
        for left, right in zip(found, found[1:], strict=False):
            gap = text[left.end() : right.start()]
            if gap.strip() != spec.separator and not content_chars(gap):
                return _hit(clip(text, found[0].start(), found[-1].end()), 0.8,
                            f"Several answers are not separated by {spec.separator!r} as required.")
    if spec.only_option:
        out = output_label(item.question) or ""
        bounds = [0] + [x for m in found for x in (m.start(), m.end())] + [len(text)]
        pieces = [(bounds[i], bounds[i + 1]) for i in range(0, len(bounds), 2)]
        extra = [(a, b) for a, b in pieces if len(content_chars(text[a:b].replace(out, ""))) >= 2]
        if extra:
            a, b = max(extra, key=lambda p: p[1] - p[0])
            return _hit(trim(text, a, b), 0.7,
                        "Text besides the listed labels (prose or an unlisted label) is output although it was not asked for.")
    return None


def check_format(item: Item) -> RuleHit | None:
    """Check the response against the prompt's format instruction; None when fine or nothing to check."""
    spec = format_spec(item.question)
    text = item.response
    if not spec.has_instruction or not text.strip():
        return None
    if spec.answer_in_brackets:
        return _check_brackets(item, spec, text)
    if spec.json_required:
        return _check_json(item, spec, text)
    if spec.line_fields:
        return _check_line_fields(spec, text)
    if spec.line_labels:
        return _check_line_labels(spec, text)
    if spec.allowed_labels:
        return _check_labels(item, spec, text)
    return None
