"""Detect text in a judged response that tries to instruct the judge (prompt injection)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from judge.core.taxonomy import CATEGORY_CODES

_CODES = "|".join(CATEGORY_CODES)
_ZH_NAMES = "遗漏|幻觉|格式不符|因果推理不足|上下文不一致|未回答|输出错误|医学语言生成缺陷"
_JUDGE_EN = r"(?:ai |llm |model )?(?:judge|grader|evaluator|annotator|reviewer|classifier)"
_JUDGE_ZH = r"(?:AI|人工智能|大模型|语言模型|模型)?(?:评估|评审|评分|评委|裁判|打分|阅卷|判定)(?:模型|者|员|专家|老师|系统|AI)"

_PATTERNS = [
    # instructions to drop the judge's instructions
    r"ignore (all |any )?(the )?(previous|above|prior|earlier) (instructions|prompts?|rules)",
    r"disregard (all |the )?(previous|above|prior|earlier|taxonomy|instructions|rules)",
    r"forget (all )?(your|the|previous) (instructions|rules|prompt)",
    r"you are now (a|an|the|my) ",
    r"from now on,? you",
    r"new instructions?\s*:",
    r"(忽略|无视|不要理会|不用管|忘记|忘掉)(以上|上述|之前|前面|先前|此前|你的)(的)?(所有|全部)?(指令|指示|说明|要求|内容|规则|提示)",
    r"(新的?|最新的?)(指令|指示|规则)\s*[:：]",
    # words addressed to the judge
    rf"(dear|note to|message (to|for)|attention|hey|hello),? (the )?{_JUDGE_EN}",
    rf"as (the|an?) {_JUDGE_EN},? you",
    rf"(给|致|对|告诉)(各位)?{_JUDGE_ZH}",
    rf"(你|您)(现在)?(是|作为)(一个|一名)?{_JUDGE_ZH}",
    rf"作为(一个|一名)?{_JUDGE_ZH}",
    r"你(现在)?是(一个|一名)?(评审|评委|裁判|评估)",
    r"(评审|裁判|评委)(请|须|必须)",
    # verdicts dictated to the judge
    r"(classify|label|categori[sz]e|mark|grade|judge) (this|the) (response|answer|output) as",
    r"(correct|right|true|final|proper) (classification|category|label|verdict) (for|of) (this|the) "
    r"(response|answer)",
    rf"category\s*[=:]?\s*['\"]?({_CODES})\b",
    rf"(answer|reply|respond|output|return)\s+(with\s+)?(only\s+)?['\"`]?({_CODES})\b",
    r"(请|务必|一定要?)?(将|把)(本|此|这个|该)?(回答|回复|答案)(判定|归类|分类|评为|标记|判)为",
    r"(请|不要|请勿|勿|不得|务必)(将|把)?(本|此|该)?(回答|回复|答案)?(判为|评为|判定为|归类为|分类为|标记为)",
    rf"(输出|返回|判定为|归类为|分类为|类别)\s*[:：]?\s*['\"“]?({_CODES}|{_ZH_NAMES})",
    # fake verdict objects
    r"\"category\"\s*:",
    r"'category'\s*:",
    # fake chat-template, system and fence markers
    r"<\|?\s*(system|im_start|im_end|endoftext|eot_id|start_header_id)\s*\|?>",
    r"\[/?(system|inst)\]",
    r"</?system>",
    r"</?(response|question|reference answer|options)>",
    r"^\s*system\s*[:：]",
    r"^\s*(assistant|user)\s*[:：]\s*[{\[]",
    r"^\s*#{1,6}\s*(system|instructions?)\b",
    r"^\s*(系统|系统提示)\s*[:：]",
    r"【\s*(系统|系统提示|system)\s*】",
    r"(<<<|‹‹‹|<)\s*(end\s+)?(response|question|options|reference answer)\s*(>>>|›››|>)",
]
# One regex per pattern: each scans with its own literal-prefix search, about twice as fast as one alternation.
_RXS = [re.compile(p, re.IGNORECASE | re.MULTILINE) for p in _PATTERNS]


def injection_evidence(text: str) -> str | None:
    """Return the first span that looks like an instruction aimed at the judge, or None.

    The leftmost match of any pattern; at the same position, the pattern listed first (as one alternation would).
    """
    best: re.Match[str] | None = None
    for rx in _RXS:
        m = rx.search(text or "")
        if m is not None and (best is None or m.start() < best.start()):
            best = m
    return best.group(0) if best is not None else None


INJECTION_FLAG = "prompt_injection_suspected"
"""The verdict flag set when an item's text looks like an instruction aimed at the judge."""
SCANNED_FIELDS = ("response", "question", "reference_answer", "task", "options")
"""The item fields scanned for instructions aimed at the judge (all the untrusted text a prompt carries)."""


_shared_field_evidence = lru_cache(maxsize=4096)(injection_evidence)
"""`injection_evidence` remembered by text, for the fields many items share (a benchmark's question, options and
reference are the same for every model answering it); each response is scanned afresh."""


def injection_fields(item: Any) -> list[str]:
    """The fields of `item` that hold a span aimed at the judge."""
    found = []
    for name in SCANNED_FIELDS:
        value = getattr(item, name, None)
        text = "\n".join(value) if isinstance(value, list) else value
        scan = injection_evidence if name == "response" else _shared_field_evidence
        if isinstance(text, str) and text and scan(text):
            found.append(name)
    return found


def injection_flags(item: Any) -> list[str]:
    """`[INJECTION_FLAG]` when any untrusted field of the item holds a span aimed at the judge, else `[]`."""
    return [INJECTION_FLAG] if injection_fields(item) else []


def item_flags(item: Any, max_field_chars: int) -> list[str]:
    """The flags a verdict on `item` carries: suspected injection, and `input_truncated` for a cut field."""
    from judge.llm.prompt import TRUNCATED_FLAG

    long = [len(getattr(item, n, None) or "") > max_field_chars for n in ("question", "reference_answer", "response")]
    long.append(sum(len(o) for o in (getattr(item, "options", None) or [])) > max_field_chars)
    return injection_flags(item) + ([TRUNCATED_FLAG] if any(long) else [])
