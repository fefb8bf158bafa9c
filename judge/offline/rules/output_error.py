"""Rule `output_error`: technically broken generation.

Checks, in this order, each with a fixed confidence:
    leaked special token (<|im_end|>, </s>, [INST], </think>, <｜end▁of▁sentence｜>, ...)  0.95
    leaked template text ({answer}, {{...}}, "### Response:")          0.85
    U+FFFD replacement characters                                       0.90
    mojibake (UTF-8 read as latin-1 / cp1252, e.g. "å»", "Ã©")          0.90
    byte-level tokenizer markers next to Chinese text ("答案Ġ解析Ċ")     0.90
    a short unit repeated >= 5 times in a row ("进行进行进行进行进行")       0.90
    the same line (>= 10 chars) or sentence (>= 6 chars) repeated >= 3 times  0.80
    the few-shot template continued (a new "题目：" block after the answer)  0.80
    a block of the prompt copied into the middle of the response         0.60
    the whole response is the start of a listed label ("Disea")           0.70
    structured output cut off (unclosed [ or {)                          0.75
    the response ends on an opened answer bracket ("因此答案是<")            0.75
    prose ending mid-clause on "，", "、" or a connective                 0.70
    prose ending mid-clause without terminal punctuation, where the
    earlier sentences do end with "。"                                      0.55
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache

from judge.core.models import Item
from judge.offline.rules.format_spec import format_spec
from judge.offline.rules.hit import RuleHit, clip, clip_tail
from judge.offline.rules.text import content_chars, has_letters, input_labels, nonempty_lines

_SPECIAL_TOKENS = (
    "<|im_end|>", "<|im_start|>", "<|endoftext|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>",
    "<|assistant|>", "<|user|>", "<|system|>", "<|end|>", "<end_of_turn>", "<start_of_turn>",
    "</s>", "<s>", "[INST]", "[/INST]", "<think>", "</think>",
)
# DeepSeek-style tokens written with fullwidth bars and "▁" (<｜end▁of▁sentence｜>, <｜Assistant｜>).
_FULLWIDTH_TOKEN = re.compile(r"<｜[A-Za-z▁_]{2,30}｜>")
_TEMPLATE = re.compile(
    r"\{\{[^{}\n]{0,40}\}\}|\{(?:answer|question|input|output|response|context|options?|prompt)\}|"
    r"^#{2,3}\s*(?:Response|Instruction|Input|Output|Answer)\s*:",
    re.IGNORECASE | re.MULTILINE,
)
# A CJK character encoded as UTF-8 (lead byte E4-E9) and decoded as latin-1 or cp1252.
_CONT = "\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122"
_MOJIBAKE_CJK = re.compile(f"[\u00e4-\u00e9][{_CONT}]{{2}}")
_MOJIBAKE_LATIN = re.compile(f"[\u00c2\u00c3][{_CONT}]")
# Byte-level BPE markers a detokenizer failed to undo: Ġ (space), Ċ (newline), ĉ (tab), beside a CJK character.
_BYTE_BPE = re.compile(r"[\u4e00-\u9fff][\u0120\u010a\u0109]|[\u0120\u010a\u0109][\u4e00-\u9fff]")
_LOOP = re.compile(r"(.{2,30}?)\1{4,}", re.DOTALL)
_LOOP_SPANS = (2, 30)
"""Unit lengths `_LOOP` tries."""
_SCAN_FIRST = (10, 20_000)
"""Texts of this many characters are first checked by `_may_loop` (cheaper than the regex there)."""
_MIN_REPEATED = 10
"""No repetition is shorter: a loop is a unit of 2+ characters 5+ times (10); a repeated line or sentence is 3
disjoint pieces of 10 or 6+ characters each (18)."""
_STRUCTURED_LINE = re.compile(r"^\s*[\[\]{}\"',|`#*\-=]|[\"']\s*:")
_SENTENCE_SPLIT = re.compile(r"(?<=[。！？!?])|\n")
_TERMINAL = "。！？!?.…）)」』】》>]}”\"'`|*~"
_FENCE = re.compile(r"^```\w*\s*|\s*```$")
_OPEN_ANSWER = re.compile(r"[<＜][\s*]*$")
_LABEL_PREFIX = re.compile(r"^\W*[^，。,；;：:\s()（）]{1,12}\s*[：:]")


def _leaked(text: str) -> RuleHit | None:
    for token in _SPECIAL_TOKENS:
        if token in text:
            return RuleHit(rule="output_error", category="output_error", evidence=token, confidence=0.95,
                           rationale=f"A special token {token} leaked into the response.")
    m = _FULLWIDTH_TOKEN.search(text)
    if m:
        return RuleHit(rule="output_error", category="output_error", evidence=m.group(0), confidence=0.95,
                       rationale=f"A special token {m.group(0)} leaked into the response.")
    m = _TEMPLATE.search(text)
    if m:
        return RuleHit(rule="output_error", category="output_error", evidence=m.group(0), confidence=0.85,
                       rationale="Prompt-template text leaked into the response.")
    return None


def _garbled(text: str) -> RuleHit | None:
    if "\ufffd" in text:
        i = text.index("\ufffd")
        return RuleHit(rule="output_error", category="output_error", evidence=clip(text, max(0, i - 10), i + 10),
                       confidence=0.9, rationale="The response contains U+FFFD replacement characters.")
    m = _MOJIBAKE_CJK.search(text)
    if m is None and len(_MOJIBAKE_LATIN.findall(text)) >= 2:  # one "Ã©" alone may be a real letter pair
        m = _MOJIBAKE_LATIN.search(text)
    if m is not None:
        return RuleHit(rule="output_error", category="output_error", evidence=clip(text, m.start(), m.start() + 30),
                       confidence=0.9, rationale="The response contains mojibake (UTF-8 decoded as latin-1/cp1252).")
    markers = list(_BYTE_BPE.finditer(text))
    if len(markers) >= 2:
        m = markers[0]
        return RuleHit(rule="output_error", category="output_error", evidence=clip(text, m.start(), m.start() + 30),
                       confidence=0.9, rationale="The response contains byte-level tokenizer markers (Ġ, Ċ) that "
                                                 "were never decoded.")
    return None


def _may_loop(text: str) -> bool:
    """False when `_LOOP` cannot match: a unit of length L repeated 5+ times needs 4L characters in a row that
    equal the character L further on. Checked for every L at once on the code points."""
    import numpy as np  # here: the rules alone start without numpy

    low, high = _LOOP_SPANS
    points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    n = len(points)
    top = min(high, n // 5)
    if top < low:
        return False
    padded = np.empty(n + top, dtype=np.uint32)
    padded[:n] = points
    padded[n:] = 0xFFFFFFFF  # no code point is that
    # [j, L - low]: character j + L (a strided view of the padded points, no copy) equals character j
    ahead = np.ndarray((n, top - low + 1), dtype=np.uint32, buffer=padded, offset=4 * low, strides=(4, 4))
    same = ahead == points[:, None]
    spans = np.arange(low, top + 1)
    if not (np.count_nonzero(same, axis=0) >= 4 * spans).any():  # not even 4L such characters at all
        return False
    pos = np.arange(n)[:, None]
    last_differs = np.maximum.accumulate(np.where(same, -1, pos), axis=0)
    return bool(((pos - last_differs).max(axis=0) >= 4 * spans).any())


def _repetition(text: str) -> RuleHit | None:
    if len(text) < _MIN_REPEATED:
        return None
    skip_loops = _SCAN_FIRST[0] <= len(text) <= _SCAN_FIRST[1] and not _may_loop(text)
    for m in () if skip_loops else _LOOP.finditer(text):
        if has_letters(m.group(1)) and len(m.group(0)) >= 10:
            return RuleHit(rule="output_error", category="output_error", evidence=clip(text, m.start(), m.end()),
                           confidence=0.9, rationale=f"The unit {m.group(1)!r} repeats in a loop.")
    lines = [ln.strip() for ln in text.splitlines()]
    sentences = [s.strip() for s in _SENTENCE_SPLIT.split(text)]
    for pieces, min_len in ((lines, 10), (sentences, 6)):
        long = [p for p in pieces if len(p) >= min_len]
        if len(long) - len(set(long)) < 2:  # no piece is there three times
            continue
        counts = Counter(p for p in long if has_letters(p) and not _STRUCTURED_LINE.search(p))
        if counts:
            piece, n = counts.most_common(1)[0]
            if n >= 3:
                return RuleHit(rule="output_error", category="output_error", evidence=clip(piece), confidence=0.8,
                               rationale=f"The same line or sentence is repeated {n} times.")
    return None


def _template_continued(item: Item, text: str) -> RuleHit | None:
    spec = format_spec(item.question)
    labels = input_labels(item.question, exclude=[*spec.line_labels, *spec.line_fields])
    if not labels:
        return None
    pattern = _labels_pattern(frozenset(labels))
    for m in pattern.finditer(text):
        if not text[: m.start()].strip():
            continue
        evidence = clip(text, m.start(), m.start() + 60)
        if content_chars(text[m.end() : m.end() + 40])[:20] in _prompt_content(item.question):
            return RuleHit(rule="output_error", category="output_error", evidence=evidence, confidence=0.6,
                           rationale="Part of the prompt template is copied into the middle of the response.")
        return RuleHit(rule="output_error", category="output_error", evidence=evidence, confidence=0.8,
                       rationale="After answering, the response goes on generating a new example of the prompt template.")
    return None


@lru_cache(maxsize=4096)
def _labels_pattern(labels: frozenset[str]) -> re.Pattern[str]:
    return re.compile(r"^\W*(?:" + "|".join(map(re.escape, sorted(labels))) + r")\s*[：:]", re.MULTILINE)


@lru_cache(maxsize=4096)
def _prompt_content(question: str) -> str:
    return content_chars(question)


def _open_brackets(text: str) -> int:
    depth, quote = 0, ""
    for ch in text:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
    return depth


def _truncated(text: str) -> RuleHit | None:
    body = _FENCE.sub("", text.strip()) if "```" in text else text.strip()
    if body[:1] in "[{" and len(body) >= 20 and _open_brackets(body) > 0:
        return RuleHit(rule="output_error", category="output_error", evidence=clip_tail(text, 40), confidence=0.75,
                       rationale="The structured output stops before its brackets are closed.")
    m = _OPEN_ANSWER.search(text)
    if m:
        return RuleHit(rule="output_error", category="output_error", evidence=clip_tail(text, 30), confidence=0.75,
                       rationale="The response stops right after opening the answer bracket.")
    lines = nonempty_lines(text)
    if len(text.strip()) < 40 or not lines:
        return None
    last = lines[-1].strip()
    if len(last) < 10 or _LABEL_PREFIX.match(last) or last[-1] in _TERMINAL:
        return None
    sentence = re.split(r"[。！？!?；;]", last)[-1]
    if last[-1] in "，,、（(“《" or re.search(r"[和及与或的、是为在]$", last):
        return RuleHit(rule="output_error", category="output_error", evidence=clip_tail(text, 30), confidence=0.7,
                       rationale="The response stops in the middle of a clause.")
    uses_full_stops = "。" in text[: len(text) - len(sentence)]
    if len(text.strip()) >= 80 and uses_full_stops and len(sentence) >= 15 and re.search(r"[，,]", sentence) and re.search(r"[\u4e00-\u9fff]$", last):
        return RuleHit(rule="output_error", category="output_error", evidence=clip_tail(text, 30), confidence=0.55,
                       rationale="The last sentence stops without terminal punctuation, probably cut off.")
    return None


def check_output_error(item: Item) -> RuleHit | None:
    """Flag technically broken generations; None when the text looks intact."""
    text = item.response
    if not text.strip():
        return None
    return _broken(text) or _template_continued(item, text) or _label_cut(item, text) or _cut_off(text)


@lru_cache(maxsize=8192)
def _broken(text: str) -> RuleHit | None:
    """The checks of the response alone that come first (leaked tokens, garbled text, repetition), remembered by
    text: a short answer recurs over many items. The hit is shared: callers only read it."""
    return _leaked(text) or _garbled(text) or _repetition(text)


@lru_cache(maxsize=8192)
def _cut_off(text: str) -> RuleHit | None:
    """`_truncated`, remembered by text (see `_broken`)."""
    return _truncated(text)


def _label_cut(item: Item, text: str) -> RuleHit | None:
    """The whole response is the start of one of the prompt's listed labels ("Disea" for "Disease")."""
    said = text.strip()
    labels = format_spec(item.question).allowed_labels
    if len(said) < 2 or said in labels or not any(label.startswith(said) for label in labels):
        return None
    return RuleHit(rule="output_error", category="output_error", evidence=said, confidence=0.7,
                   rationale="The response stops partway through one of the listed labels.")
