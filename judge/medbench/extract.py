"""Pull the chosen option letter(s) out of a model's free-text answer to a choice question.

Strategies, tried in this order on the NFKC-normalised response (full-width ＜Ｂ＞ becomes <B>)
after any `<think>...</think>` reasoning block has been dropped:

1. ``angle``: the MedBench answer format, letters inside angle brackets: ``<A>``, ``<A,C>``,
   ``< B, D >``, ``<答：C>``. An angle bracket holding an option's text (``<否>``) counts as ``option_text``.
2. ``bare``: the whole response is letters: ``C``, ``A,B``, ``AB``, ``B**``.
3. ``answer_prefix`` / ``reasoning_tail``: an explicit assertion such as ``答：C``, ``答案：B``,
   ``正确答案是D``, ``故选E``, ``选项B正确``. ``answer_prefix`` when it opens the response, ``reasoning_tail``
   when it concludes a longer text (``综上所述，正确答案是D``).
4. ``option_line``: one line restating an option with its letter: ``D. 扩张型心肌病``.
5. ``option_text``: no letter at all, but the response names exactly one option's content (``嗜铬细胞瘤``).

When several *different* answers are asserted at the same level (two angle answers that disagree,
or conclusions that disagree even in the last paragraph) the status is ``ambiguous`` and no letter is
returned; when nothing is found it is ``unextractable``. Letters outside the option range are not
accepted as answers. A single-choice answer naming several letters is returned as given, with a note.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Literal

from pydantic import BaseModel, Field

from judge.core.models import Item

ExtractionStatus = Literal["ok", "unextractable", "ambiguous"]

_OPTION_PREFIX = re.compile(r"^\s*(?:[\(（\[]\s*([A-Za-z])\s*[\)）\]]|([A-Za-z])(?![A-Za-z0-9]))\s*[.．、:：]?\s*")
_SEP = r"(?:\s*(?:[,、;/&+]|和|及|与|and)\s*|\s+)"
_ANGLE = re.compile(r"<\s*(?:(?:正确)?答案?\s*[:]?\s*|选项\s*)?([^<>\n]{1,60}?)\s*>")
_LETTER_LIST = re.compile(rf"^[A-Za-z](?:{_SEP}?[A-Za-z])*$")
_LIST = rf"(?<![A-Za-z])([A-Z](?:{_SEP}?[A-Z])*)(?![A-Za-z])"
_ASSERTIONS = [
    # 答案：B / 正确答案是D / 答案应为 选项C / 最终答案: A, C
    re.compile(rf"(?:答案|[Aa]nswer)\s*(?:应该?|应当|就|最终)?\s*(?:是|为|is)?\s*[:]?\s*(?:选项|选|[Oo]ption)?\s*{_LIST}"),
    # 答：C / 答: C.右气胸 (the answer line of the prompt's format)
    re.compile(rf"答\s*[:]\s*(?:选项|选)?\s*{_LIST}"),
    # 正确的选项是C / 最佳选项为B
    re.compile(rf"(?:正确|最佳|最合适|最恰当)的?选项\s*(?:应该?|应当)?\s*(?:是|为)?\s*[:]?\s*{_LIST}"),
    # 故选E / 应选D / 选择A、C (not 选项, not 不选)
    re.compile(rf"(?<![不未])选(?:择)?\s*[:]?\s*{_LIST}"),
    # 选项B正确 / B选项是正确的 / 选项D是对的
    re.compile(rf"(?:选项\s*)?{_LIST}\s*(?:选项|项)?\s*(?:是|为)?(?:正确|对)的?(?![^\n。]{{0,3}}[吗?？])"),
]
_PARAGRAPH = re.compile(r"\n\s*\n")


class Extraction(BaseModel):
    """The option letter(s) a response commits to, and how they were found."""

    letters: list[str] = Field(default_factory=list)
    """Chosen option letters, upper case, sorted, without repeats; empty unless status is ok."""
    method: str = "none"
    """Strategy that found them: angle, bare, answer_prefix, reasoning_tail, option_line, option_text, none."""
    status: ExtractionStatus = "unextractable"
    """ok = a clear answer; ambiguous = different answers asserted; unextractable = none found."""
    note: str = ""
    """Extra detail, e.g. conflicting candidates or several letters for a single-choice question."""


def option_content(option: str, index: int | None = None) -> str:
    """Strip the leading letter label ("A. ", "(B)", "C ") from one option; keep the content.

    With `index` given, a label is only stripped when it is the letter expected at that position,
    so content that itself starts with a letter (e.g. "ACTH") is left intact.
    """
    m = _OPTION_PREFIX.match(option)
    if m and (index is None or (m.group(1) or m.group(2)).upper() == chr(ord("A") + index)):
        rest = option[m.end():]
        if rest.strip() or index is not None:
            return rest.strip()
    return option.strip()


def option_contents(options: list[str]) -> list[str]:
    """Contents of all options, in order, with their letter labels removed."""
    return [option_content(o, i) for i, o in enumerate(options)]


def normalize(text: str) -> str:
    """NFKC-normalise (full-width letters and punctuation to ASCII), unify line ends, drop markdown `*`/`` ` ``."""
    text = unicodedata.normalize("NFKC", text).replace("\r\n", "\n").replace("\r", "\n")
    return re.sub(r"[*`]+", "", text)


def drop_reasoning(text: str) -> str:
    """Keep only what follows the last `</think>` (DeepSeek-R1 reasoning); text without one is returned whole.

    An unclosed `<think>` (reasoning cut off) is left in place so its conclusion can still be read.
    """
    lower = text.lower()
    if "</think>" in lower:
        text = text[lower.rindex("</think>") + len("</think>"):]
    return text.strip()


def _letters(raw: str, n_options: int | None, *, allow_run: bool) -> list[str] | None:
    """Parse "A, C" / "AC" / "a、c" into sorted letters; None when not a valid letter list."""
    tokens = re.findall(r"[A-Za-z]+", raw)
    if not tokens:
        return None
    if len(tokens) == 1 and len(tokens[0]) > 1:
        if not (allow_run and tokens[0].isupper()):
            return None
        letters = list(tokens[0])
        if letters != sorted(set(letters)):
            return None
    elif all(len(t) == 1 for t in tokens):
        letters = [t.upper() for t in tokens]
    else:
        return None
    limit = chr(ord("A") + (n_options or 26) - 1)
    if any(not ("A" <= c <= limit) for c in letters):
        return None
    return sorted(set(letters))


def _clean(s: str) -> str:
    return re.sub(r"[\s*`'\"“”‘’「」《》.,;:!?。,、;:!?()\[\]（）]+", "", s).lower()


def _content_match(text: str, contents: list[str]) -> list[int]:
    """Indices of options whose content occurs in `text`, dropping ones nested inside another match."""
    t, low = _clean(text), text.lower()

    def occurs(content: str) -> bool:
        c = _clean(content)
        if re.fullmatch(r"[a-z0-9]{1,3}", c):  # short Latin content such as grade "X": whole token only
            return re.search(rf"(?<![a-z0-9]){c}(?![a-z0-9])", low) is not None
        return bool(c) and c in t

    found = [i for i, c in enumerate(contents) if occurs(c)]
    return [i for i in found if not any(j != i and _clean(contents[i]) in _clean(contents[j]) for j in found)]


def _ok(letters: list[str], method: str, multi: bool, note: str = "") -> Extraction:
    if not multi and len(letters) > 1:
        note = (note + "; " if note else "") + "several letters for a single-choice question"
    return Extraction(letters=letters, method=method, status="ok", note=note)


def _decide(cands: list[list[str]], method: str, multi: bool) -> Extraction | None:
    distinct = {tuple(c) for c in cands}
    if not distinct:
        return None
    if len(distinct) == 1:
        return _ok(cands[0], method, multi)
    shown = " vs ".join(",".join(c) for c in sorted(distinct))
    return Extraction(method=method, status="ambiguous", note=f"conflicting answers: {shown}")


def _angle(text: str, contents: list[str] | None, multi: bool) -> Extraction | None:
    n = len(contents) if contents else None
    letter_cands: list[list[str]] = []
    text_cands: list[list[str]] = []
    for m in _ANGLE.finditer(text):
        inner = m.group(1).strip().strip("{}[]()").strip()
        if _LETTER_LIST.match(inner):
            got = _letters(inner, n, allow_run=True)
            if got:
                letter_cands.append(got)
        elif contents:
            idx = [i for i, c in enumerate(contents) if _clean(c) and _clean(c) == _clean(inner)]
            if idx:
                text_cands.append([chr(ord("A") + i) for i in idx])
    return _decide(letter_cands, "angle", multi) or _decide(text_cands, "option_text", multi)


def _bare(text: str, n: int | None, multi: bool) -> Extraction | None:
    stripped = re.sub(r"^[\s*`#>]+|[\s*`。.!]+$", "", text)
    if _LETTER_LIST.match(stripped) and len(stripped) <= 40:
        got = _letters(stripped, n, allow_run=True)
        if got:
            return _ok(got, "bare", multi)
    return None


def _assertions(text: str, n: int | None, multi: bool) -> Extraction | None:
    hits: list[tuple[int, list[str]]] = []
    for pat in _ASSERTIONS:
        for m in pat.finditer(text):
            got = _letters(m.group(1), n, allow_run=multi)
            if got:
                hits.append((m.start(), got))
    if not hits:
        return None
    hits.sort(key=lambda h: h[0])
    method = "answer_prefix" if hits[0][0] <= 3 and len(text) <= 80 else "reasoning_tail"
    decided = _decide([h[1] for h in hits], method, multi)
    if decided and decided.status == "ok":
        return decided
    # Disagreement: trust the concluding paragraph when it is unanimous.
    last_start = 0
    for m in _PARAGRAPH.finditer(text):
        if m.end() <= hits[-1][0]:
            last_start = m.end()
    tail = _decide([h[1] for h in hits if h[0] >= last_start], "reasoning_tail", multi)
    return tail if tail and tail.status == "ok" else decided


def _option_lines(text: str, contents: list[str] | None, multi: bool) -> Extraction | None:
    if not contents:
        return None
    chosen: set[int] = set()
    for line in text.split("\n"):
        m = re.match(r"^\s*(?:(?:正确)?答案?\s*[:]?\s*)?([A-Z])\s*[.、:)]?\s*(.+?)\s*$", line)
        if not m:
            continue
        i = ord(m.group(1)) - ord("A")
        if i < len(contents) and _clean(contents[i]) and _clean(m.group(2)).startswith(_clean(contents[i])):
            chosen.add(i)
    if not chosen or (len(chosen) > 1 and not multi) or len(chosen) == len(contents) > 1:
        return None  # nothing, or the option list echoed back
    return _ok(sorted(chr(ord("A") + i) for i in chosen), "option_line", multi)


def _option_text(text: str, contents: list[str] | None, multi: bool) -> Extraction | None:
    if not contents:
        return None
    longest = max((len(c) for c in contents), default=0)
    scope = text
    if len(text) > 2 * longest + 30:  # long text: only its final sentence can name the answer
        sentences = [s for s in re.split(r"[。\n!?]", text) if s.strip()]
        scope = sentences[-1] if sentences else ""
    idx = _content_match(scope, contents)
    if not idx or (len(idx) > 1 and not multi) or len(idx) == len(contents) > 1:
        return None
    return _ok([chr(ord("A") + i) for i in idx], "option_text", multi)


def extract_choice(response: str, options: list[str] | None, multi: bool) -> Extraction:
    """Find the option letter(s) `response` commits to (see the module docstring for the strategies)."""
    text = drop_reasoning(normalize(response or ""))
    if not text:
        return Extraction(note="empty response")
    contents = option_contents([normalize(o) for o in options]) if options else None
    n = len(contents) if contents else None
    for found in (
        _angle(text, contents, multi),
        _bare(text, n, multi),
        _assertions(text, n, multi),
        _option_lines(text, contents, multi),
        _option_text(text, contents, multi),
    ):
        if found is not None:
            return found
    return Extraction()


def is_multi(item: Item) -> bool:
    """Whether an item's task takes several letters (from `meta["task_type"]`, set at ingestion)."""
    return item.meta.get("task_type") == "multi_choice"


def extract_items(items: Iterable[Item]) -> dict[str, Extraction]:
    """Extract the choice of every single- or multi-choice item with options, keyed by item_id."""
    return {
        it.item_id: extract_choice(it.response, it.options, is_multi(it))
        for it in items
        if it.options and it.meta.get("task_type", "single_choice") in ("single_choice", "multi_choice")
    }


class ExtractionRate(BaseModel):
    """How often answers of one model on one task could be extracted."""

    model: str
    """Model name."""
    task: str
    """Task name."""
    n: int
    """Choice items."""
    n_ok: int
    """Items with a clear answer."""
    n_ambiguous: int
    """Items asserting different answers."""
    n_unextractable: int
    """Items with no answer found (including empty responses)."""
    n_empty: int
    """Items whose response is empty."""
    failure_rate: float
    """(n_ambiguous + n_unextractable) / n."""


def extraction_rates(items: Iterable[Item], extractions: Mapping[str, Extraction]) -> list[ExtractionRate]:
    """Extraction outcome counts per model and task, for the items that have an extraction."""
    counts: dict[tuple[str, str], Counter[str]] = {}
    for it in items:
        ex = extractions.get(it.item_id)
        if ex is None:
            continue
        c = counts.setdefault((it.model or "", it.task or ""), Counter())
        c[ex.status] += 1
        c["empty"] += not it.response.strip()
    rows = []
    for (model, task), c in sorted(counts.items()):
        n = c["ok"] + c["ambiguous"] + c["unextractable"]
        rows.append(ExtractionRate(model=model, task=task, n=n, n_ok=c["ok"], n_ambiguous=c["ambiguous"],
                                   n_unextractable=c["unextractable"], n_empty=c["empty"],
                                   failure_rate=(n - c["ok"]) / n if n else 0.0))
    return rows
