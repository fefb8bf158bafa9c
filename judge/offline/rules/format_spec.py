"""Read the output-format instruction of a MedBench-style prompt into a FormatSpec."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, Field

from judge.offline.rules.text import split_instruction

_BRACKETS = re.compile(r"(?:放在|放到|填写到|填写在|填入|写在|写到|置于|包含在|用|以)\s*[<＜][>＞]\s*(?:里|中|内)?|[<＜][>＞]\s*(?:里|中|内)|"
                       r"\bin(?:side)?\s+<>|\bwrap\w*[^.\n]{0,30}<>", re.IGNORECASE)
_ONLY_OPTION = re.compile(r"只输出(?:选项|答案|字母)|仅输出(?:选项|答案|字母)|只(?:需|要)?(?:回答|给出)选项|不(?:要|需要|用|必)?(?:输出|给出|提供)?(?:任何)?(?:解释|解析|理由|分析)|"
                          r"不要赘述|无需赘述|不要输出其他|不输出其他|\bonly (?:output|give|answer with) the (?:option|letter)|\bno explanation", re.IGNORECASE)
_SINGLE = re.compile(r"单项选择|单选|只有一个正确|最佳选择|\bsingle[- ]choice\b", re.IGNORECASE)
_MULTIPLE = re.compile(r"多项选择|多选|不定项|一个或多个|一个或者多个|可能有多个|\bmultiple[- ]choice\b|\bone or more\b", re.IGNORECASE)
_SEPARATOR = re.compile(r"(?:之间|间)?(?:使用|用|以)\s*(.{1,8}?)\s*(?:分隔|隔开|分开|间隔|连接)")
_SEPARATOR_ENDS = ("分隔", "隔开", "分开", "间隔", "连接")
"""Every `_SEPARATOR` match ends with one of these."""
_NAMED_SEPARATORS = (("英文逗号", ","), ("半角逗号", ","), ("中文逗号", "，"), ("全角逗号", "，"), ("逗号", ","),
                     ("顿号", "、"), ("竖线", "|"), ("分号", ";"), ("空格", " "), ("井号", "#"))
_JSON = re.compile(r"(?<![A-Za-z])json(?![A-Za-z])", re.IGNORECASE)
_EXAMPLE_STRUCTURE = re.compile(r"[：:][ \t]*\n?[ \t]*(\[\s*\{|\{\s*['\"])")
_FORMAT_BLOCK = re.compile(r"格式(?:为|如下|是)?\s*[：:]\s*\n((?:[^\n]*“”[^\n]*\n?)+)")
_FIELD = re.compile(r"([^\s：:，,。“”]{1,12})\s*[：:]\s*“”")
_PUT = r"(?:放在|放到|填写到|填写在|填入|写在|写到|置于|包含在)\s*[<＜][>＞]"
_BRACKET_WORDS = re.compile(rf"[（(]([^（）()<>＜＞\n]{{1,30}})[）)]\s*{_PUT}|((?:[“\"「][^”\"」\n]{{1,10}}[”\"」]\s*[或/、]?\s*){{2,}}){_PUT}")
_WORD_SPLIT = re.compile(r"[/／、|｜]|或")
_LABEL_LIST = re.compile(r"(?:列表|候选)[^\n]{0,12}?[：:]\s*\n?\s*([\[{][^\]}]+[\]}])")


_MULTIPLE_KEYS = ("多", "不定项", "m", "M")
"""Every `_MULTIPLE` match holds one of these (no other character matches m or M under re.IGNORECASE)."""
_SINGLE_KEYS = ("单", "只有一个正确", "最佳选择", "g", "G")
"""Every `_SINGLE` match holds one of these (no other character matches g or G under re.IGNORECASE)."""


def _holds_any(text: str, keys: tuple[str, ...]) -> bool:
    return any(k in text for k in keys)


class FormatSpec(BaseModel):
    """The output format a prompt asks for; all defaults mean "no recognisable instruction"."""

    answer_in_brackets: bool = False
    """The answer must be put inside <> ("答案放在<>里", "填写到<>中")."""
    only_option: bool = False
    """Only the option/answer may be output, no explanation ("只输出选项", "不输出解释", "不要赘述")."""
    choice: Literal["single", "multiple"] | None = None
    """Single-choice ("单项选择") or multiple-choice ("多项选择", "不定项", "一个或多个") question."""
    separator: str | None = None
    """Required separator between several answers, e.g. "," or "|"."""
    json_required: bool = False
    """A JSON (or Python-literal) value is required, asked for by name or shown as the example's output."""
    json_root: Literal["array", "object"] | None = None
    """Required top-level type of that value, when the example shows it."""
    line_labels: list[str] = Field(default_factory=list)
    """Labels of the required one-per-line "标签：内容" lines (CMeEE entity types, DBMHG/IMCS sections)."""
    line_fields: list[str] = Field(default_factory=list)
    """Fields every output line must carry (CMeIE: 关系类型, 头实体, 尾实体)."""
    allowed_labels: list[str] = Field(default_factory=list)
    """Closed set the answer must be taken from (CHIP-CTC categories, MedHG departments)."""
    bracket_words: list[str] = Field(default_factory=list)
    """Words the <> answer is chosen from when they are not option letters ("将结论（合理/不合理）放在<>里")."""

    @property
    def has_instruction(self) -> bool:
        """True when any format requirement was recognised."""
        return bool(self.answer_in_brackets or self.only_option or self.separator or self.json_required
                    or self.line_labels or self.line_fields or self.allowed_labels)


def _separator(head: str) -> str | None:
    if not any(w in head for w in _SEPARATOR_ENDS):
        return None
    for m in _SEPARATOR.finditer(head):
        raw = m.group(1)
        quoted = re.search(r"[\"“'‘「]\s*(.{1,3}?)\s*[\"”'’」]", raw)
        if quoted:
            return quoted.group(1)
        for name, sep in _NAMED_SEPARATORS:
            if name in raw:
                return sep
        bare = re.fullmatch(r"\s*([,，、|;；/#])\s*", raw)
        if bare:
            return bare.group(1)
    return None


def _labels(block: str) -> list[str]:
    inner = block.strip()[1:-1]
    return [p.strip().strip("'\"‘’“” ") for p in re.split(r"[,，]", inner) if p.strip().strip("'\"‘’“” ")]


def parse_format_instruction(question: str) -> FormatSpec:
    """Read the format instruction at the top of a prompt (before its worked example)."""
    return format_spec(question).model_copy(deep=True)


@lru_cache(maxsize=4096)
def format_spec(question: str) -> FormatSpec:
    """`parse_format_instruction` without the copy: one shared object per prompt, which callers must not change."""
    head, example = split_instruction(question)
    spec = _head_spec(head)
    structure = _EXAMPLE_STRUCTURE.search(example)
    if structure is None:
        return spec
    return spec.model_copy(update={"json_required": True,
                                   "json_root": "array" if structure.group(1).startswith("[") else "object"})


@lru_cache(maxsize=4096)
def _head_spec(head: str) -> FormatSpec:
    """What the instruction head alone says, remembered by head (a benchmark task's prompts share theirs)."""
    spec = FormatSpec(
        answer_in_brackets=("<" in head or "＜" in head) and bool(_BRACKETS.search(head)),  # each pattern holds one
        only_option=bool(_ONLY_OPTION.search(head)),
        separator=_separator(head),
    )
    if _holds_any(head, _MULTIPLE_KEYS) and _MULTIPLE.search(head):
        spec.choice = "multiple"
    elif _holds_any(head, _SINGLE_KEYS) and _SINGLE.search(head):
        spec.choice = "single"
    if ("j" in head or "J" in head) and _JSON.search(head):
        spec.json_required = True
    block = _FORMAT_BLOCK.search(head)
    if block:
        rows = [_FIELD.findall(line) for line in block.group(1).splitlines()]
        rows = [r for r in rows if r]
        if len(rows) == 1 and len(rows[0]) >= 2:
            spec.line_fields = rows[0]
        elif len(rows) >= 2:
            spec.line_labels = [r[0] for r in rows]
    words = _BRACKET_WORDS.search(head) if spec.answer_in_brackets else None
    if words:
        raw = words.group(1) or re.sub(r"[“”\"「」]", "/", words.group(2))
        spec.bracket_words = [w.strip() for w in _WORD_SPLIT.split(raw) if w.strip()]
    listed = _LABEL_LIST.search(head)
    if listed:
        spec.allowed_labels = _labels(listed.group(1))
    return spec
