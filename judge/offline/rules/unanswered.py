"""Rule `unanswered`: empty output, refusals, restating the question, asking back, asking for the question, or
only "see a doctor".

A response is split into clauses; every clause is classified as refusal, request for information,
referral to a doctor, meta remark about the question, or filler. The response is unanswered only when
(almost) nothing is left that is none of these. A choice answer such as "<A>" is always substantive.

Confidences (fixed per pattern):
    empty or whitespace-only                          0.99
    only punctuation / empty brackets                 0.95
    only the prompt's answer label ("答：")            0.90
    refusal without substantive content               0.90
    refusal after a reason clause ("由于…，我无法…")     0.85
    only "please consult a doctor"                    0.85
    only asks to be given the question ("请提供题目")     0.85
    only a request for more information               0.80
    only a greeting or acknowledgement ("嗯嗯")         0.80
    only a restatement of the question                0.75
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from difflib import SequenceMatcher
from functools import lru_cache

from judge.core.models import Item
from judge.offline.rules.hit import RuleHit, clip
from judge.offline.rules.text import content_chars, is_dialogue_turn, last_line_content, option_letters, output_label

_SPECIAL = re.compile(r"<\|[a-z_]+\|>|</?s>|\[/?INST\]|<end_of_turn>|<start_of_turn>|</?think>")

_REFUSAL = re.compile(
    r"抱歉|对不起|很遗憾|恕我|"
    r"(?:无法|不能|不便|没法|难以|不适合|不宜)[^，。,.！？!?]{0,8}?(?:回答|作答|答复|回复|提供|给出|确定|判断|完成|简述|处理|帮助|"
    r"协助|满足|解答|诊断|选择|生成|撰写|编写|讨论|分类|归类|评估|标注|抽取|提取)|"
    r"作为(?:一个|一名)?(?:AI|人工智能|语言模型|AI助手|智能助手|机器人)|"
    r"\bI'?m sorry|\bI am sorry|\bsorry\b|\bI (?:cannot|can ?not|can'?t|am unable|am not able)|\bI'm (?:unable|not able)|"
    r"\bas an AI\b|\bas a (?:large )?language model\b|\bunable to (?:answer|provide|help)",
    re.IGNORECASE,
)
_INFO_REQUEST = re.compile(
    r"(?:请|需|需要)(?:您)?(?:提供|补充|描述|说明|详细|重新提供|告诉|上传)|提供更多|如果?(?:您|你)?需要(?:详细|更多|进一步)|(?:更多|具体|详细|背景)(?:的)?(?:信息|细节|资料|情况)|"
    r"(?:能否|可否|是否可以|可以|能)(?:告诉|提供|描述|说)|(?:我)?才能(?:判断|回答|作答|给出|确定|分析)|以便(?:我)?(?:进一步)?(?:判断|分析|诊断|回答)|请问|麻烦(?:您)?(?:提供|告诉|描述)|需要(?:知道|了解)|需更多信息|"
    r"\bplease (?:provide|share|tell|describe|clarify)|\b(?:could|can|would) you (?:please )?(?:tell|provide|share|describe|clarify)|"
    r"\bmore (?:information|details|context)\b",
    re.IGNORECASE,
)
_CONSULT = re.compile(
    r"(?:咨询|请教|询问|找)(?:一下)?(?:专业|您的|你的|主治|相关){0,2}(?:的)?(?:[\u4e00-\u9fff]{1,3}科)?(?:医生|医师|药师|专家|医疗|医务|大夫)|"
    r"就医|就诊|看医生|(?:到|去|至|前往)(?:正规|专业)?医院|面诊|专业医生|专业人士|遵医嘱|医生(?:的)?指导|"
    r"(?:进一步|及时|尽快)(?:检查|诊治|诊断)|"
    r"\b(?:consult|see|talk to|ask) (?:a|your|with a) (?:doctor|physician|healthcare|medical|pharmacist)|\bseek medical\b",
    re.IGNORECASE,
)
_ASKS_QUESTION = re.compile(
    r"(?:提供|给出|给我|发送|发给|发来|告诉我|贴出|输入|补充)(?:一下)?(?:具体|完整|您|你)?(?:的)?"
    r"(?:题目|试题|题干|问题内容|具体问题|选项|原题)|"
    r"把(?:题目|试题|题干|问题|选项)(?:和选项|及选项)?(?:发|发送|给|告诉|贴)(?:给)?我|"
    r"(?:题目|试题|题干|选项)(?:是什么|在哪)|"
    r"\b(?:please )?(?:provide|share|send|give me) (?:the|your) (?:question|options|exam question)\b",
    re.IGNORECASE,
)
_META = re.compile(
    r"不是(?:一个|一道)?(?:多选题|选择题|单选题|多项选择题)|(?:没有|未|未能|缺少|缺乏|没)(?:提供|给出|给)?.{0,6}选项|"
    r"不符合.{0,12}格式|开放性问题|问题不完整|(?:信息|条件|文本信息|内容)(?:不足|不够|不全|有限)|"
    r"(?:没有|缺乏|缺少|未)(?:提供)?(?:足够|充分|完整|具体)的?(?:信息|资料|条件|病史)|只输出选项|按照要求|比较复杂|十分复杂|因人而异|具体情况具体分析|需(?:要)?(?:根据|结合)(?:具体|个人|实际)情况|"
    r"\bnot a (?:multiple[- ]choice|choice) question\b|\bno options\b",
    re.IGNORECASE,
)
_FILLER = re.compile(
    r"^(?:您好|你好|谢谢|感谢|好的?|嗯+|哦+|是的|明白了?|了解了?|收到了?|没问题|当然|可以|以下是|答案(?:是|为)?|回答(?:是|如下)?)$|"
    r"希望(?:对您|对你|能)?(?:有所)?帮助|如果您?(?:还)?有其他(?:问题|疑问)|如有(?:其他|任何)?(?:问题|疑问)|需要进一步(?:的)?帮助|"
    r"我(?:将|会|可以|来)(?:根据要求|按照要求|按照格式|为您|为你|帮您|帮你|继续)?(?:作答|解答|回答|帮助)|"
    r"^\s*(?:hello|hi|thanks?|thank you|ok(?:ay)?)\s*$|\bhope (?:this|it) helps\b",
    re.IGNORECASE,
)
# An apostrophe inside a word ("I'm", "can't") is not a clause boundary.
_CLAUSE_SPLIT = re.compile(
    r"(?:[，,。！!？?；;：:\n（）()<>＜＞“”\"「」]|(?<![A-Za-z])'|'(?![A-Za-z]))+|\.(?=\s|$)|因为|由于|所以|但是|但|不过"
)
# A reason clause in front of a refusal: "由于涉及孕妇用药安全，", "鉴于…，", "考虑到…，", "该问题涉及…，" (up to its
# first comma).
_REASON_CLAUSE = re.compile(
    r"(?:^|(?<=[。！？!?\n，,]))\s*(?:(?:由于|鉴于|考虑到|出于|基于|因为|因)|(?:该|这个|这道|此|本)?(?:问题|对话|题目|内容|病例|话题)?涉及)"
    r"[^，,。；;！？!?\n]{1,40}[，,]")
# A refusal spoken by the answerer about answering ("我无法…", "我不能提供…", "无法为您给出…"), not "无法使用某药".
_SELF_REFUSAL = re.compile(
    r"(?:我|本人|AI|模型|助手)[^，。,.；;]{0,6}?(?:无法|不能|不便|没法|难以)|抱歉|对不起|很遗憾|恕我|"
    r"(?:无法|不能|不便|没法)(?:为您|向您|给您|为你|给你)?(?:回答|作答|答复|回复|提供|给出|解答)|"
    r"\bI (?:cannot|can ?not|can'?t|am unable)",
    re.IGNORECASE,
)
_EXAMPLES = re.compile(r"(?:例如|比如|譬如|如|包括|such as|e\.g\.|for example)", re.IGNORECASE)
_CHOICE_ANSWER = re.compile(r"[<＜]\s*[A-Ja-j](?:\s*[,，、和及]?\s*[A-Ja-j])*\s*[>＞]")
_LEADING_LETTER = re.compile(r"^\W*(?:答案?|回答|正确答案|选)?\s*[：:]?\s*\**\s*([A-Z])(?![A-Za-z])")


_LONG_CLAUSE = 60
"""Content characters beyond which a clause is not read as a bare referral or a request for information."""


def _clause_kind(clause: str, dialogue: bool) -> str | None:
    """Kind of a non-substantive clause, or None when the clause carries content."""
    if _ASKS_QUESTION.search(clause):
        return "ask_question"
    if _REFUSAL.search(clause):
        return "refusal"
    if _META.search(clause):
        return "meta"
    if _FILLER.search(clause.strip()):
        return "filler"
    if dialogue or len(content_chars(clause)) > _LONG_CLAUSE:
        return None  # a run-on clause that ends in "及时就诊" is a record or an answer, not a referral
    if _CONSULT.search(clause):
        return "consult"
    if _INFO_REQUEST.search(clause):
        return "info"
    return None


def _is_choice_answer(item: Item, text: str) -> bool:
    if _CHOICE_ANSWER.search(text):
        return True
    letters = option_letters(item.question, item.options)
    m = _LEADING_LETTER.match(text)
    return bool(letters and m and m.group(1) in letters)


def _restates_question(item: Item, said: str) -> bool:
    """True when the response (`said`: its letters and digits) only repeats the final question line, adding at
    most one character of its own."""
    if len(said) < 6:
        return False
    ask = last_line_content(item.question)
    if len(ask) < 6 or output_label(item.question):
        return False
    # the matching blocks share at most min(len(said), len(ask)) characters
    if len(said) - len(ask) > 1 or len(said) < 0.7 * len(ask):
        return False
    # the matching blocks share at most the characters both hold: too few of those, and they share too few
    common = (Counter(said) & Counter(ask)).total()
    if len(said) - common > 1 or common < 0.7 * len(ask):
        return False
    shared = sum(b.size for b in SequenceMatcher(None, said, ask, autojunk=False).get_matching_blocks())
    return len(said) - shared <= 1 and shared >= 0.7 * len(ask)


def check_unanswered(item: Item) -> RuleHit | None:
    """Flag responses that give no substantive answer at all."""
    response = item.response
    text = _SPECIAL.sub("", response).strip()
    if not text:
        evidence = response.strip()
        why = "The response is empty." if not evidence else "The response holds only special tokens."
        return RuleHit(rule="unanswered", category="unanswered", evidence=evidence, confidence=0.99, rationale=why)
    if text in {"[]", "{}"} or _is_choice_answer(item, text):
        return None
    said = content_chars(text)
    if not said:
        return RuleHit(rule="unanswered", category="unanswered", evidence=clip(response), confidence=0.95,
                       rationale="The response holds no letters or digits, only punctuation or empty brackets.")
    label = output_label(item.question)
    if label and said == content_chars(label):
        return RuleHit(rule="unanswered", category="unanswered", evidence=clip(response), confidence=0.9,
                       rationale="The response only repeats the answer label of the prompt.")
    dialogue = is_dialogue_turn(item.question)
    kinds, rest = _clause_kinds(text, dialogue)
    if rest > 2 and _REASON_CLAUSE.search(text) and _SELF_REFUSAL.search(text):
        # "由于涉及孕妇用药安全，我无法提供…": the reason in front is not an answer; a real answer keeps content
        # after the reason clauses are set aside ("由于患者肾功能不全，应选用胰岛素" is still substantive).
        kinds, rest = _clause_kinds(_REASON_CLAUSE.sub("，", text), dialogue)
        if rest <= 2 and "refusal" in kinds:
            return RuleHit(rule="unanswered", category="unanswered", evidence=clip(response), confidence=0.85,
                           rationale="The response gives a reason and then refuses, with no substantive answer.")
        return None if rest > 2 else _restated(item, said, response)
    if rest == 0 and kinds == {"filler"} and len(content_chars(text)) <= 8:
        return RuleHit(rule="unanswered", category="unanswered", evidence=clip(response), confidence=0.8,
                       rationale="The response holds only a greeting or acknowledgement (\"嗯嗯\", \"好的\").")
    if rest <= 2 and kinds - {"filler"}:
        if "refusal" in kinds:
            return RuleHit(rule="unanswered", category="unanswered", evidence=clip(response), confidence=0.9,
                           rationale="The response is a refusal with no substantive answer.")
        if "ask_question" in kinds:
            return RuleHit(rule="unanswered", category="unanswered", evidence=clip(response), confidence=0.85,
                           rationale="The response only asks to be given the question instead of answering it.")
        if "consult" in kinds:
            return RuleHit(rule="unanswered", category="unanswered", evidence=clip(response), confidence=0.85,
                           rationale="The response only tells the user to see a doctor.")
        if "info" in kinds:
            return RuleHit(rule="unanswered", category="unanswered", evidence=clip(response), confidence=0.8,
                           rationale="The response only asks for more information.")
        return RuleHit(rule="unanswered", category="unanswered", evidence=clip(response), confidence=0.8,
                       rationale="The response only comments on the question without answering it.")
    return _restated(item, said, response)


def _restated(item: Item, said: str, response: str) -> RuleHit | None:
    if _restates_question(item, said):
        return RuleHit(rule="unanswered", category="unanswered", evidence=clip(response), confidence=0.75,
                       rationale="The response only restates the question.")
    return None


def _clauses(text: str) -> Iterator[str]:
    """`_CLAUSE_SPLIT.split(text)`, one clause at a time (every separator match is at least one character long)."""
    at = 0
    for m in _CLAUSE_SPLIT.finditer(text):
        yield text[at : m.start()]
        at = m.end()
    yield text[at:]


@lru_cache(maxsize=8192)
def _clause_kinds(text: str, dialogue: bool) -> tuple[frozenset[str], int]:
    """The kinds of non-substantive clauses found, and how many content characters the other clauses hold;
    remembered by text (a short answer recurs over many items).

    Counting stops at the first clause that takes that number above 2: the response is then substantive, and
    `check_unanswered` reads neither the kinds nor the exact number."""
    kinds: set[str] = set()
    rest = 0
    previous: str | None = None
    for clause in _clauses(text):
        if not content_chars(clause):
            continue
        kind = _clause_kind(clause, dialogue)
        if kind is None and previous == "info" and _EXAMPLES.match(clause.strip()):
            kind = "info"  # "请提供更多信息，例如年龄和病程" lists what is asked for
        previous = kind
        if kind is None:
            rest += len(content_chars(clause))
            if rest > 2:
                break
        else:
            kinds.add(kind)
    return frozenset(kinds), rest
