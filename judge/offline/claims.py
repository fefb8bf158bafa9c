"""Claims a response makes that neither the question nor the reference answer contains.

Each function is a cheap regex pass over (question, reference, response), linear in the text length, and returns a
number; none decides a category on its own. They feed the baseline classifier (judge.offline.features):

- quantities (number + unit) the response states that the case and reference do not, and among them those that
  restate a value or a unit of the case or the reference with the other part changed ("血钠125 mmol/L" restated as
  "155 mmol/L", "50 mg/m²" as "50 mg/kg");
- citations: book-title quotes, years, article numbers of a law, names of guideline bodies and trials;
- disease-like terms (…病, …炎, …癌, …综合征) and drug-like terms absent from the question and reference;
- extracted values of a structured answer ("药物：奥美拉唑", "'解剖部位': ['左下肢']") not found in the question;
- categorical wording ("100%", "终身", "完全不会", "无需") that states certainty medicine rarely has.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import NamedTuple

from judge.offline.rules.text import matches_near, nfkc_compact

_UNIT = (r"mmol/L|μmol/L|umol/L|mg/dL|g/L|mg/L|U/L|IU/L|mIU/mL|ng/mL|pg/mL|×10\^?9/L|mmHg|kPa|mg/kg|mg/m²|mg/m2|"
         r"U/\(kg·h\)|ml/\(min·1\.73m²\)|mL/min|ml/min|mg|g|μg|ug|mcg|ml|mL|L|U|IU|kg|cm|mm|"
         r"℃|°C|%|次/分|次/min|bpm|岁|周岁|天|日|周|个月|月|年|小时|分钟|秒|毫克|克|微克|毫升|升|单位|片|粒|支|公斤|斤|度")
_QUANTITY = re.compile(rf"(\d+(?:\.\d+)?(?:\s*[~～\-–]\s*\d+(?:\.\d+)?)?)\s*({_UNIT})(?![A-Za-z])")
_CITATION = re.compile(r"《[^》]{2,40}》|(?:19|20)\d{2}\s*年|第[一二三四五六七八九十百零\d]{1,6}条|"
                       r"\b(?:FDA|WHO|NCCN|ESC|AHA|ACC|ADA|GOLD|KDIGO|NICE|CDC|ACOG|EASL|AASLD|IDSA|ERS|ATS)\b|"
                       r"[A-Z][A-Za-z0-9\-]{2,}\s*(?:研究|试验)")
_CONDITION = re.compile(r"[\u4e00-\u9fff]{1,6}?(?:综合征|病|炎|癌|瘤|症)")
_CONDITION_ENDS = re.compile(r"综合征|病|炎|癌|瘤|症")
"""The endings of `_CONDITION`: one fast scan rules conditions out."""
_DRUG = re.compile(r"[\u4e00-\u9fff]{1,6}?(?:西林|霉素|沙星|头孢[\u4e00-\u9fff]{1,4}|唑|普利|沙坦|洛尔|地平|他汀|"
                   r"格列[\u4e00-\u9fff]{1,3}|双胍|胰岛素|替尼|单抗|韦|嗪|尼松|米松|泮|拉唑|肝素|芬|卡因|匹林|环素|"
                   r"酮|肟|胺)")
_DRUG_ENDS = re.compile(r"西林|霉素|沙星|头孢|唑|普利|沙坦|洛尔|地平|他汀|格列|双胍|胰岛素|替尼|单抗|韦|嗪|尼松|米松|泮|肝素|芬|"
                        r"卡因|匹林|环素|酮|肟|胺")
"""A literal every `_DRUG` match holds (its ending, or the head of 头孢…/格列…): one fast scan rules drugs out."""
_TERM_REACH = 6
"""How far after its start a `_CONDITION` match holds its ending (up to 6 characters before it)."""
_DRUG_REACH = 7
"""How far after its start a `_DRUG` match holds a `_DRUG_ENDS` literal: 6 characters, and the "拉" of "拉唑"."""
_ABSOLUTE = re.compile(r"100\s*%|百分之百|终身|永久|彻底|根治|绝对|完全(?:不会|没有|可以|安全|无害|清除)|一定(?:会|能|可以)|"
                       r"无需|不需要|不用再?|就够了|几乎没有|不存在|没有任何|均可|都可以|一律|马上|立刻就")
_FIELD_VALUE = re.compile(r"[：:][ \t]*([^：:\n]{1,80})")
_QUOTED = re.compile(r"['‘“\"]([^'’”\"\[\]{}]{1,30})['’”\"]")
_SPLIT_VALUES = re.compile(r"[，,、；;。\s]+")
_JSON_KEYS = frozenset({"主体词", "发生状态", "描述词", "解剖部位", "关系类型", "头实体", "尾实体"})


_norm_prompt = lru_cache(maxsize=8192)(nfkc_compact)
"""`nfkc_compact` remembered by text, for the question and reference many answers share."""


_log = math.log1p
"""log(1 + x) of a count or a length (never negative: a negative x would raise or give a negative number)."""


def _quantities(text: str) -> set[tuple[str, str]]:
    return {(m.group(1).replace("～", "~"), m.group(2)) for m in _QUANTITY.finditer(text)}


def quantity_claims(question: str, reference: str | None, response: str) -> dict[str, float]:
    """New quantities of the response, and those that restate a value or unit of the case or reference with the
    other part changed."""
    return _quantity_claims(nfkc_compact(question), nfkc_compact(reference), nfkc_compact(response))


class _Quantities(NamedTuple):
    """The quantities of a normalised text, with their values and their units apart."""

    both: frozenset[tuple[str, str]]
    values: frozenset[str]
    units: frozenset[str]


@lru_cache(maxsize=8192)
def _text_quantities(text: str) -> _Quantities:
    """`_quantities` of a normalised question, reference or response, remembered by text (a prompt is shared by
    every answer to it, and a short answer recurs over many items)."""
    found = frozenset(_quantities(text))
    return _Quantities(found, frozenset(v for v, _ in found), frozenset(u for _, u in found))


def _quantity_claims(q: str, ref: str, resp: str) -> dict[str, float]:
    said, case, keyed = _text_quantities(resp), _text_quantities(q), _text_quantities(ref)
    new = said.both - case.both - keyed.both
    return {
        "new_quantities": _log(len(new)),
        "case_value_conflict": _log(sum(u in case.units or v in case.values for v, u in new)),
        "ref_value_conflict": _log(sum(u in keyed.units or v in keyed.values for v, u in new)),
    }


class _Terms(NamedTuple):
    """The terms a normalised response names, whatever the prompt."""

    citations: frozenset[str]
    conditions: frozenset[str]
    drugs: frozenset[str]
    absolute: int


@lru_cache(maxsize=8192)
def _terms(resp: str) -> _Terms:
    return _Terms(
        citations=frozenset(m.group(0) for m in _CITATION.finditer(resp)),
        conditions=frozenset(m.group(0)[-4:] for m in matches_near(_CONDITION, _CONDITION_ENDS, resp, _TERM_REACH)),
        drugs=frozenset(m.group(0) for m in matches_near(_DRUG, _DRUG_ENDS, resp, _DRUG_REACH)),
        absolute=len(_ABSOLUTE.findall(resp)),
    )


def term_claims(question: str, reference: str | None, response: str) -> dict[str, float]:
    """Citations, disease-like and drug-like terms of the response that the question and reference do not contain."""
    return _term_claims(nfkc_compact(question), nfkc_compact(reference), nfkc_compact(response))


def _term_claims(q: str, ref: str, resp: str) -> dict[str, float]:
    known = q + "\n" + ref
    terms = _terms(resp)
    return {
        "new_citations": _log(sum(c not in known for c in terms.citations)),
        "new_conditions": _log(sum(c not in known for c in terms.conditions)),
        "new_drugs_vs_case": _log(sum(d[-3:] not in q for d in terms.drugs)),
        "absolute_marks": _log(terms.absolute),
    }


@lru_cache(maxsize=8192)
def _values(response: str) -> tuple[str, ...]:
    found = [m.group(1) for m in _QUOTED.finditer(response)]
    if not found:
        found = [m.group(1) for m in _FIELD_VALUE.finditer(response)]
    out = []
    for chunk in found:
        for v in _SPLIT_VALUES.split(chunk):
            v = v.strip("“”\"'‘’[]{}（）()")
            if 2 <= len(v) <= 12 and v not in _JSON_KEYS and not v.isdigit():
                out.append(v)
    return tuple(out)


@lru_cache(maxsize=8192)
def _normed_values(response: str) -> tuple[str, ...]:
    """`nfkc_compact` of each of `_values(response)`, remembered by response text."""
    return tuple(map(nfkc_compact, _values(response)))


def extraction_claims(question: str, response: str) -> dict[str, float]:
    """Short values of a structured answer (fields, quoted strings) that do not occur in the question."""
    return _extraction_claims(nfkc_compact(question), response)


def _extraction_claims(q: str, response: str) -> dict[str, float]:
    values = _normed_values(response)
    if len(values) < 2:
        return {"unsupported_values": 0.0, "unsupported_value_share": 0.0}
    missing = [v for v in values if v not in q]
    return {"unsupported_values": _log(len(missing)), "unsupported_value_share": len(missing) / len(values)}


def claim_features(question: str, reference: str | None, response: str) -> dict[str, float]:
    """All claim signals of one item (see module doc)."""
    return normed_claim_features(_norm_prompt(question), _norm_prompt(reference), nfkc_compact(response), response)


def normed_claim_features(q: str, ref: str, resp: str, response: str) -> dict[str, float]:
    """`claim_features` from the normalised question, reference and response (`nfkc_compact` of each) and the response."""
    return {**_quantity_claims(q, ref, resp), **_term_claims(q, ref, resp), **_extraction_claims(q, response)}


def clear_claim_memos() -> None:
    """Empty the memos of the claim features (normalised texts, their quantities, a response's terms and values)."""
    for fn in (_norm_prompt, _text_quantities, _terms, _values, _normed_values):
        fn.cache_clear()
