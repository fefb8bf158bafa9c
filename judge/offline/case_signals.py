"""Lexical signals of a response contradicting its case or itself, or adding content the case does not contain.

Each function is a cheap pattern check over (question, reference, response) that returns a number; none of them
decides a category on its own. They feed the baseline classifier (judge.offline.features) as features.
"""

from __future__ import annotations

import re
from functools import lru_cache

_FEMALE = re.compile(r"女性|女士|女孩|女婴|女童|妇女|孕妇|产妇|[，,、\s(（]女[，,、\s)）]|患者女|^女[，,]|女，\d|（女")
_MALE = re.compile(r"男性|男士|男孩|男婴|男童|[，,、\s(（]男[，,、\s)）]|患者男|^男[，,]|男，\d|（男")
_FEMALE_ONLY = re.compile(r"子宫|卵巢|月经|妊娠|怀孕|宫颈|阴道|乳腺癌")
_MALE_ONLY = re.compile(r"前列腺|睾丸|阴囊|精索")
_AGE = re.compile(r"(\d{1,3})\s*(?:岁|周岁)")
_LEFT, _RIGHT = re.compile(r"左"), re.compile(r"右")
_NEGATED_ALLERGY = re.compile(r"(?:无|否认|未发现|没有)[^，。；\n]{0,6}过敏")
_ALLERGEN = re.compile(r"([\u4e00-\u9fffA-Za-z]{2,6}?)(?:类)?(?:药物)?过敏")
_ALLERGY_CLASSES: dict[str, str] = {
    "青霉素": r"青霉素|西林",
    "头孢": r"头孢",
    "磺胺": r"磺胺|复方新诺明",
    "阿司匹林": r"阿司匹林|布洛芬|双氯芬酸|萘普生",
    "碘": r"碘(?!伏)|造影",
    "喹诺酮": r"沙星",
    "大环内酯": r"霉素",
}
_PREGNANT = re.compile(r"妊娠|孕\d|孕妇|怀孕|孕周|停经\d|早孕|孕期")
_PREGNANCY_RISK = re.compile(r"普利|沙坦|他汀|华法林|沙星|四环素|多西环素|米诺环素|甲氨蝶呤|利巴韦林|米索前列醇|异维A酸|"
                             r"丙戊酸|卡马西平|苯妥英|氨基糖苷|庆大霉素|链霉素|来曲唑|非那雄胺")
_RENAL = re.compile(r"肾衰|肾功能不全|肾功能衰竭|eGFR|肌酐清除率|透析|尿毒症|CKD\s*[4-5]|慢性肾脏病\s*[4-5]期")
_RENAL_RISK = re.compile(r"二甲双胍|布洛芬|双氯芬酸|吲哚美辛|萘普生|庆大霉素|阿米卡星|万古霉素|造影剂|螺内酯|氯化钾|补钾")

_DENIED = re.compile(r"(?:否认|无|未见|未诉|没有)([\u4e00-\u9fff]{2,4}?)(?=[，,、。；;\s及和或]|$)")
_NEGATION_BEFORE = re.compile(r"(?:否认|无|未见|未|没有|不伴|否定|阴性)[^，。；\n]{0,6}$")
_LETTER_WRONG = re.compile(r"(?<![A-Za-z])([A-J])(?:项|选项)?[^。；;\n<>A-J]{0,24}?(?:错误|不正确|不对|不选|排除|不符合)")
_LETTER_RIGHT = re.compile(r"(?<![A-Za-z])([A-J])(?:项|选项)?[^。；;\n<>A-J]{0,24}?(?<!不)(?:正确|符合题意|应选)")
_BRACKET = re.compile(r"[<＜]\s*([A-J](?:\s*[,，、]?\s*[A-J])*)\s*[>＞]")
_LEAD_LETTERS = re.compile(r"^\W*(?:答案|正确答案|选)?\s*[：:是为]?\s*([A-J](?:\s*[,，、]?\s*[A-J])*)(?![A-Za-z])")
_REF_LETTERS = re.compile(r"^\W*([A-J](?:\s*[,，、|]?\s*[A-J])*)\W*$")
_STATED = re.compile(r"(?:答案|选项|应选|选择|故选|选)\s*(?:是|为|应为|应是)?\s*[：:]?\s*\**\s*([A-J](?:\s*[,，、]?\s*[A-J])*)(?![A-Za-z])")


def _has(pattern: re.Pattern[str], text: str) -> bool:
    return pattern.search(text) is not None


def sex_conflict(question: str, response: str) -> float:
    """1 when the case states one sex and the response speaks of the other (person words or sex-specific organs)."""
    female, male = _has(_FEMALE, question), _has(_MALE, question)
    if female == male:
        return 0.0
    if female:
        return float(_has(_MALE, response) or _has(_MALE_ONLY, response))
    return float(_has(_FEMALE, response) or _has(_FEMALE_ONLY, response))


def side_conflict(question: str, response: str) -> float:
    """How far the response's left/right balance departs from the case's (0 when either names no side)."""
    ql, qr = len(_LEFT.findall(question)), len(_RIGHT.findall(question))
    rl, rr = len(_LEFT.findall(response)), len(_RIGHT.findall(response))
    if ql + qr == 0 or rl + rr == 0:
        return 0.0
    return abs(ql / (ql + qr) - rl / (rl + rr))


def new_ages(question: str, response: str) -> float:
    """Ages ("45岁") the response states that the case does not, when the case states an age."""
    asked = set(_AGE.findall(question))
    if not asked:
        return 0.0
    return float(len(set(_AGE.findall(response)) - asked))


def allergy_conflict(question: str, response: str) -> float:
    """1 when the case states a drug allergy and the response names a drug of that class."""
    return float(any(re.search(members, response) for members in _allergy_classes(question)))


@lru_cache(maxsize=8192)
def _allergy_classes(question: str) -> tuple[str, ...]:
    """Member patterns of the drug classes the case states an allergy to (one entry per allergen and class)."""
    if "过敏" not in question:  # every allergen pattern ends with it
        return ()
    if _NEGATED_ALLERGY.search(question):
        question = _NEGATED_ALLERGY.sub("", question)
    return tuple(members for m in _ALLERGEN.finditer(question) for key, members in _ALLERGY_CLASSES.items()
                 if key in m.group(1))


def pregnancy_risk(question: str, response: str) -> float:
    """1 when the case is a pregnancy and the response names a drug usually avoided in pregnancy."""
    return float(_has(_PREGNANT, question) and _has(_PREGNANCY_RISK, response))


def renal_risk(question: str, response: str) -> float:
    """1 when the case states renal failure and the response names a drug usually avoided or dose-adjusted then."""
    return float(_has(_RENAL, question) and _has(_RENAL_RISK, response))


def negation_conflict(question: str, response: str) -> float:
    """Findings the case denies ("否认胸痛") that the response states without a negation nearby."""
    denied = {m.group(1) for m in _DENIED.finditer(question)}
    hits = 0
    for term in denied:
        for m in re.finditer(re.escape(term), response):
            before = response[max(0, m.start() - 12) : m.start()]
            after = response[m.end() : m.end() + 16]
            if not _NEGATION_BEFORE.search(before) and "否定" not in after:
                hits += 1
                break
    return float(hits)


def _letters(text: str) -> frozenset[str]:
    return frozenset(re.findall(r"[A-J]", text))


def final_letters(response: str) -> frozenset[str] | None:
    """Option letters of the final answer: the last <...> span, a leading letter, or the last "答案是X"."""
    spans = _BRACKET.findall(response)
    if spans:
        return _letters(spans[-1])
    m = _LEAD_LETTERS.match(response.strip())
    if m:
        return _letters(m.group(1))
    stated = _STATED.findall(response)
    return _letters(stated[-1]) if stated else None


def reference_letters(reference: str | None) -> frozenset[str] | None:
    """Option letters of a reference answer such as "<A,B>" or "AB"; None when it is not a letter answer."""
    if not reference:
        return None
    spans = _BRACKET.findall(reference)
    if spans:
        return _letters(spans[0])
    m = _REF_LETTERS.match(reference.strip())
    return _letters(m.group(1)) if m else None


def choice_signals(response: str, reference: str | None) -> dict[str, float]:
    """Option-letter patterns: does the final answer match, miss or add letters, or contradict the explanation?"""
    final, ref = final_letters(response), reference_letters(reference)
    out = {"choice_answered": float(final is not None), "choice_keyed": float(ref is not None),
           "choice_correct": 0.0, "choice_subset": 0.0, "choice_superset": 0.0, "choice_disjoint": 0.0,
           "choice_n_final": float(len(final or ())), "choice_self_conflict": 0.0}
    if final is not None and ref is not None:
        out["choice_correct"] = float(final == ref)
        out["choice_subset"] = float(bool(final) and final < ref)
        out["choice_superset"] = float(final > ref)
        out["choice_disjoint"] = float(bool(final) and not final & ref)
    if final:
        body = _BRACKET.sub("", response)
        wrong = {m.group(1) for m in _LETTER_WRONG.finditer(body)}
        right = {m.group(1) for m in _LETTER_RIGHT.finditer(body)} - wrong
        out["choice_self_conflict"] = float(bool(wrong & final) or bool(right - final))
    return out


def case_signals(question: str, reference: str | None, response: str) -> dict[str, float]:
    """All case-consistency and option-letter signals of one item."""
    return {
        "sex_conflict": sex_conflict(question, response),
        "side_conflict": side_conflict(question, response),
        "new_ages": new_ages(question, response),
        "allergy_conflict": allergy_conflict(question, response),
        "pregnancy_risk": pregnancy_risk(question, response),
        "renal_risk": renal_risk(question, response),
        "negation_conflict": negation_conflict(question, response),
        **choice_signals(response, reference),
    }
