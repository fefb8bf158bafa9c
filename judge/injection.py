"""Detect text in a judged response that tries to instruct the judge (prompt injection)."""

from __future__ import annotations

import re

_PATTERNS = [
    r"ignore (all |any )?(the )?(previous|above|prior) (instructions|prompts?)",
    r"disregard (all |the )?(previous|above) ",
    r"you are now",
    r"(as|dear) (the )?(judge|grader|evaluator)",
    r"(classify|label|categori[sz]e) (this|the) (response|answer) as",
    r"忽略(以上|上述|之前|前面|先前)(的)?(所有)?(指令|指示|说明|要求|内容)",
    r"(请|务必)?(将|把)(本|此|这个)?(回答|回复|答案)(判定|归类|分类|评为|标记)为",
    r"你(现在)?是(一个|一名)?(评审|评委|裁判|评估)",
    r"(评审|裁判|评委)(请|须|必须)",
    r"\"category\"\s*:",
    r"'category'\s*:",
    r"<\|?\s*(system|im_start|im_end)\s*\|?>",
    r"\[/?(system|inst)\]",
    r"</?system>",
    r"^\s*system\s*[:：]",
    r"^\s*(系统|系统提示)\s*[:：]",
]
_RX = re.compile("|".join(f"(?:{p})" for p in _PATTERNS), re.IGNORECASE | re.MULTILINE)


def injection_evidence(text: str) -> str | None:
    """Return the first span that looks like an instruction aimed at the judge, or None."""
    m = _RX.search(text or "")
    return m.group(0) if m else None
