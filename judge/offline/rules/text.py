"""Text helpers shared by the rules: reading MedBench-style prompts and normalising responses."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from functools import lru_cache

# A worked example follows the format instruction in MedBench prompts ("任务示例：", "示例：", "示例1").
_EXAMPLE_MARKER = re.compile(r"任务示例|示例\s*(?:如下)?\s*[：:1１一]")
# A line that is only a label, e.g. "题目：", "答: ", "医学文本：".
_LABEL_LINE = re.compile(r"^\s*([^\s：:，,。；;<>{}\[\]]{1,12}?)\s*[：:]\s*$")
# An option line of a choice question, e.g. "A. 右气胸", "(B)否", " C 最大限度...".
_OPTION_LINE = re.compile(r"^\s*[(（]?([A-Z])(?:[)）.．、]|\s+[^\s：:])")


def split_instruction(question: str) -> tuple[str, str]:
    """Split a prompt into (instruction head, worked example and query); the tail is "" without an example."""
    m = _EXAMPLE_MARKER.search(question)
    if m is None:
        return question, ""
    return question[: m.start()], question[m.start() :]


_LETTER = re.compile(r"[\u4e00-\u9fffA-Za-z]")
_NON_CONTENT = re.compile(r"[\W_]+")
"""Runs of characters that are neither letters nor digits: `\\w` matches a letter, a digit (Unicode categories
L* and N*, the same for every code point) or "_"."""


def content_chars(text: str) -> str:
    """Letters and digits of `text` only (punctuation, symbols and whitespace removed)."""
    return _NON_CONTENT.sub("", text)


_COMMON_COMPAT = tuple((c, unicodedata.normalize("NFKC", c)) for c in "，：；（）？！～－／＋＞＜．％℃\u3000")
"""Compatibility characters frequent in Chinese text (fullwidth punctuation, ℃, the ideographic space), each with its
NFKC form."""


def nfkc(text: str) -> str:
    """`unicodedata.normalize("NFKC", text)`, about six times faster on Chinese text.

    Replacing a character by its own NFKC form leaves the NFKC form of the whole text unchanged (NFKD of a text is
    the characters' NFKD forms, canonically reordered, and NFKD(NFKC(c)) = NFKD(c)). So the frequent compatibility
    characters are replaced by `str.replace` first; when the result already is NFKC (`unicodedata.is_normalized`, a
    quick table check that only answers True for a normalised text) it is the answer, else it is normalised in full.
    """
    for char, form in _COMMON_COMPAT:
        if char in text:
            text = text.replace(char, form)
    return text if unicodedata.is_normalized("NFKC", text) else unicodedata.normalize("NFKC", text)


def nfkc_compact(text: str | None) -> str:
    """`text` NFKC-normalised, with all whitespace removed ("" for None)."""
    return "".join(nfkc(text or "").split())  # str.split() splits where `\s` matches


def matches_near(pattern: re.Pattern[str], key: re.Pattern[str], text: str, reach: int) -> Iterator[re.Match[str]]:
    """`pattern.finditer(text)` for a pattern (without anchors or lookbehind) each match of which holds a match of
    `key` starting at most `reach` characters after its own start: the search starts `reach` characters before each
    key instead of trying every position. No match starts earlier: its own key starts at or after the first key
    found from where the search resumes."""
    pos = 0
    while (k := key.search(text, pos)) is not None:
        m = pattern.search(text, max(pos, k.start() - reach))
        if m is None:
            return
        yield m
        pos = m.end() if m.end() > m.start() else m.end() + 1


def has_letters(text: str) -> bool:
    """True when `text` contains a CJK character or a Latin letter."""
    return _LETTER.search(text) is not None


def label_of(line: str) -> str | None:
    """The label of a label-only line ("题目：" -> "题目"), else None."""
    m = _LABEL_LINE.match(line)
    return m.group(1) if m else None


def nonempty_lines(text: str) -> list[str]:
    """The lines of `text` that are not blank."""
    return [ln for ln in text.splitlines() if ln.strip()]


@lru_cache(maxsize=4096)
def output_label(question: str) -> str | None:
    """The label the prompt ends with, i.e. where the answer goes ("答", "实体识别", "医生"), if any."""
    lines = nonempty_lines(question)
    return label_of(lines[-1]) if lines else None


@lru_cache(maxsize=8192)
def last_line_content(question: str) -> str:
    """The letters and digits of the prompt's last non-empty line ("" without one)."""
    lines = nonempty_lines(question)
    return content_chars(lines[-1]) if lines else ""


def input_labels(question: str, exclude: Iterable[str] = ()) -> set[str]:
    """Labels that introduce the query input in a few-shot template ("题目", "医学文本", "输入报告").

    Found by walking up from the final output label to the previous answer, or to the blank line above the
    query block; only labels that occur at least twice in the prompt (once in the worked example, once in the
    query) count. `exclude` removes
    labels that belong to the required output format (e.g. CMeEE entity types).
    """
    return set(_input_labels(question, frozenset(exclude)))


@lru_cache(maxsize=4096)
def _input_labels(question: str, excluded: frozenset[str]) -> frozenset[str]:
    out = output_label(question)
    if out is None:
        return frozenset()
    answer = re.compile(rf"{re.escape(out)}\s*[：:]")
    lines = question.rstrip().splitlines()
    found: set[str] = set()
    for line in reversed(lines[:-1]):
        stripped = line.strip()
        if not stripped:
            if found:
                break  # the blank line above the query block: what lies above is the worked example's answer
            continue
        if answer.match(stripped) or _EXAMPLE_MARKER.match(stripped):
            break
        label = label_of(line)
        if label and label != out and label not in excluded and question.count(label + "：") + question.count(label + ":") >= 2:
            found.add(label)
    return frozenset(found)


@lru_cache(maxsize=8192)
def query_part(question: str) -> str:
    """The last question of the prompt: the text after the worked example's answer (whole prompt if none)."""
    out = output_label(question)
    lines = question.splitlines()
    if out is None:
        return question
    answer = re.compile(rf"\s*{re.escape(out)}\s*[：:]")
    idx = [i for i, ln in enumerate(lines[:-1]) if out in ln and answer.match(ln)]
    return "\n".join(lines[idx[-1] + 1 :]) if idx else question


@lru_cache(maxsize=8192)
def query_offset(question: str) -> int:
    """Where the query (`query_part`) starts in the prompt, right after the line break that ends the worked example's
    answer; 0 when there is no worked example, or the query is not the prompt's tail as it stands. What comes before
    (instruction and worked example) is the same for every prompt of a benchmark task."""
    query = query_part(question)
    if query is question or not query or not question.endswith(query):
        return 0
    cut = len(question) - len(query)
    return cut if question[cut - 1] == "\n" else 0


def option_letters(question: str, options: list[str] | None) -> set[str]:
    """Option letters of a choice question, from `options` or else from the query's option lines."""
    if options:
        return {m.group(1) for o in options if (m := _OPTION_LINE.match(o))}
    return set(_query_option_letters(question))


@lru_cache(maxsize=4096)
def _query_option_letters(question: str) -> frozenset[str]:
    return frozenset(m.group(1) for o in query_part(question).splitlines() if (m := _OPTION_LINE.match(o)))


def option_texts(question: str, options: list[str] | None) -> list[str]:
    """The wording of each option without its letter ("A. 左侧气胸" -> "左侧气胸"), from `options` or the query."""
    lines = options if options else query_part(question).splitlines()
    return [text for o in lines if (m := _OPTION_LINE.match(o)) and (text := o[m.end(1):].lstrip(")）.．、 \t"))]


def is_dialogue_turn(question: str) -> bool:
    """True for prompts asking for the doctor's next turn of a dialogue (asking back is then legitimate)."""
    return "下一句" in question or (output_label(question) or "") in {"医生", "Doctor", "doctor"}
