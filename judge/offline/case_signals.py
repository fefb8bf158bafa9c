"""Lexical signals of a response contradicting its case or itself, or adding content the case does not contain.

Each function is a cheap pattern check over (question, reference, response) that returns a number; none of them
decides a category on its own. They feed the baseline classifier (judge.offline.features) as features.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import NamedTuple

from judge.offline.rules.text import matches_near, query_part

_FEMALE = re.compile(r"女性|女士|女孩|女婴|女童|妇女|孕妇|产妇|女儿|闺女|[，,、\s(（]女[，,、\s)）]|患者女|^女[，,]|女，\d|（女")
_MALE = re.compile(r"男性|男士|男孩|男婴|男童|儿子|[，,、\s(（]男[，,、\s)）]|患者男|^男[，,]|男，\d|（男")
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
                             r"丙戊酸|卡马西平|苯妥英|氨基糖苷|庆大霉素|链霉素|来曲唑|非那雄胺|放射性碘|131I|¹³¹I|碘-131|"
                             r"维A酸|阿达帕林|沙利度胺|己烯雌酚")
_RENAL = re.compile(r"肾衰|肾功能不全|肾功能衰竭|eGFR|肌酐清除率|透析|尿毒症|CKD\s*[4-5]|慢性肾脏病\s*[4-5]期")
_RENAL_RISK = re.compile(r"二甲双胍|布洛芬|双氯芬酸|吲哚美辛|萘普生|庆大霉素|阿米卡星|万古霉素|造影剂|螺内酯|氯化钾|补钾|"
                         r"格列本脲|高蛋白|多(?:喝|饮)水|大量饮水|饮水\d{4}|香蕉|橙子|含镁|硫酸镁|磷酸钠")

_DENIED = re.compile(r"(?:否认|无|未见|未诉|没有)([\u4e00-\u9fff]{2,4}?)(?=[，,、。；;\s及和或]|$)")
_NEGATION_BEFORE = re.compile(r"(?:否认|无|未见|未|没有|不伴|否定|阴性)[^，。；\n]{0,6}$")
_LETTER_WRONG = re.compile(r"(?<![A-Za-z])([A-J])(?:项|选项)?[^。；;\n<>A-J]{0,24}?(?:错误|不正确|不对|不选|排除|不符合)")
_LETTER_RIGHT = re.compile(r"(?<![A-Za-z])([A-J])(?:项|选项)?[^。；;\n<>A-J]{0,24}?(?<!不)(?:正确|符合题意|应选)")
_BRACKET = re.compile(r"[<＜]\s*([A-J](?:\s*[,，、]?\s*[A-J])*)\s*[>＞]")
_LEAD_LETTERS = re.compile(r"^\W*(?:答案|正确答案|选)?\s*[：:是为]?\s*([A-J](?:\s*[,，、]?\s*[A-J])*)(?![A-Za-z])")
_REF_LETTERS = re.compile(r"^\W*([A-J](?:\s*[,，、|]?\s*[A-J])*)\W*$")
_STATED = re.compile(r"(?:答案|选项|应选|选择|故选|选)\s*(?:是|为|应为|应是)?\s*[：:]?\s*\**\s*([A-J](?:\s*[,，、]?\s*[A-J])*)(?![A-Za-z])")

_CHILD_CASE = re.compile(r"患儿|婴儿|婴幼儿|宝宝|孩子|儿童|男童|女童|男孩|女孩|新生儿|小儿|\d{1,2}\s*个月(?:大|龄)?[，,）)]")
_AGE_WORDS: tuple[tuple[re.Pattern[str], int, int], ...] = (
    (re.compile(r"新生儿|婴儿|婴幼儿|幼儿|患儿|小儿|儿童|学龄前"), 0, 13),
    (re.compile(r"未成年"), 0, 17),
    (re.compile(r"青少年"), 10, 19),
    (re.compile(r"青年|年轻(?:男|女|患者|人)"), 15, 45),
    (re.compile(r"中年"), 35, 65),
    (re.compile(r"老年|高龄|老人"), 60, 130),
    (re.compile(r"成年|成人"), 18, 130),
)
_SINGLE = re.compile(r"未婚|没(?:有)?结婚|还没结婚|无性生活|没有性生活|没(?:有)?怀过孕|未孕|未育|G0P0")
_MARRIED_CLAIM = re.compile(r"已婚|G[1-9]P\d|孕\d次|育有|生育\d|顺产|剖宫产史|流产史")
_NO_DRUGS = re.compile(r"(?:未|没|还没|尚未|未曾)(?:有)?(?:用过|用|吃|服|服用|使用)(?:过)?(?:任何)?药")
_DRUG_TAKEN = re.compile(r"(?:曾|已|自行|自服|自购|在家)(?:自行)?(?:口服|服用|使用|吃了|用了|服)")
_HEPATIC = re.compile(r"肝硬化|肝功能不全|肝功能衰竭|肝衰竭|Child[-\s]?Pugh|失代偿|转氨酶(?:明显|显著)?升高|ALT\s*\d{3}")
_HEPATIC_RISK = re.compile(r"对乙酰氨基酚|酮康唑|甲氨蝶呤|异烟肼|利福平|他汀|胺碘酮|丙戊酸|高蛋白|饮酒")
_CONTRAINDICATIONS: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...] = (
    (re.compile(r"重症肌无力"), re.compile(r"庆大霉素|阿米卡星|链霉素|妥布霉素|氨基糖苷|多黏菌素|沙星|红霉素|阿奇霉素|克拉霉素")),
    (re.compile(r"哮喘|支气管痉挛|慢阻肺|COPD"), re.compile(r"普萘洛尔|心得安|索他洛尔|噻吗洛尔|非选择性β")),
    (re.compile(r"消化性溃疡|溃疡病|消化道出血|胃出血|黑便"), re.compile(r"阿司匹林|布洛芬|双氯芬酸|吲哚美辛|萘普生|泼尼松")),
    (re.compile(r"青光眼|前列腺增生"), re.compile(r"阿托品|山莨菪碱|东莨菪碱|颠茄")),
    (re.compile(r"高钾|血钾\s*(?:[6-9]|5\.[5-9])"), re.compile(r"补钾|氯化钾|螺内酯|依普利酮|香蕉|橙子")),
    (re.compile(r"心动过缓|房室传导阻滞|病态窦房结"), re.compile(r"洛尔|维拉帕米|地尔硫[卓䓬]|地高辛")),
    (re.compile(r"G6PD|蚕豆病"), re.compile(r"磺胺|伯氨喹|呋喃妥因|蚕豆")),
    (re.compile(r"心力衰竭|心衰|LVEF\s*[1-3]\d%"), re.compile(r"维拉帕米|地尔硫[卓䓬]|吡格列酮|罗格列酮|布洛芬")),
    (re.compile(r"痛风|高尿酸"), re.compile(r"氢氯噻嗪|噻嗪类")),
    (re.compile(r"甲亢|甲状腺功能亢进|Graves"), re.compile(r"碘剂|海带|紫菜")),
)
_STATED_CONTRA = re.compile(r"(?:禁用|忌用|不能用|不宜用|避免使用|禁止使用)([\u4e00-\u9fffA-Za-z]{2,6})")
_CHILD_RISK = re.compile(r"沙星|四环素|多西环素|米诺环素|阿司匹林|可待因|尼美舒利")
_OPTION_LETTER = re.compile(r"[A-J]")
_OPTION_TEXT = re.compile(r"(?m)^\s*[(（]?([A-J])[)）.．、]\s*(.+)$")


def _has(pattern: re.Pattern[str], text: str) -> bool:
    return pattern.search(text) is not None


# Each pattern below can only match a text holding one of the literals tested first (every alternative holds one).
def _female(text: str) -> bool:
    return ("女" in text or "妇" in text) and _has(_FEMALE, text)


def _male(text: str) -> bool:
    return ("男" in text or "儿子" in text) and _has(_MALE, text)


def _ages(text: str) -> list[str]:
    return _AGE.findall(text) if "岁" in text else []


def _child_case(text: str) -> bool:
    return any(w in text for w in ("儿", "宝宝", "孩", "童", "个月")) and _has(_CHILD_CASE, text)


def _sex_of(question: str) -> str | None:
    """"f" or "m" when the case states exactly one sex, else None."""
    female, male = _female(question), _male(question)
    return None if female == male else ("f" if female else "m")


def _sex_conflict(sex: str | None, response: str) -> float:
    if sex is None:
        return 0.0
    if sex == "f":
        return float(_male(response) or _has(_MALE_ONLY, response))
    return float(_female(response) or _has(_FEMALE_ONLY, response))


def sex_conflict(question: str, response: str) -> float:
    """1 when the case states one sex and the response speaks of the other (person words or sex-specific organs)."""
    return _sex_conflict(_sex_of(question), response)


def _side_conflict(ql: int, qr: int, response: str) -> float:
    if ql + qr == 0:
        return 0.0
    rl, rr = response.count("左"), response.count("右")
    if rl + rr == 0:
        return 0.0
    return abs(ql / (ql + qr) - rl / (rl + rr))


def side_conflict(question: str, response: str) -> float:
    """How far the response's left/right balance departs from the case's (0 when either names no side)."""
    return _side_conflict(question.count("左"), question.count("右"), response)


def _new_ages(asked: frozenset[str], response: str) -> float:
    return float(len(set(_ages(response)) - asked)) if asked else 0.0


def new_ages(question: str, response: str) -> float:
    """Ages ("45岁") the response states that the case does not, when the case states an age."""
    return _new_ages(frozenset(_ages(question)), response)


def allergy_conflict(question: str, response: str) -> float:
    """1 when the case states a drug allergy and the response names a drug of that class."""
    classes = _allergy_classes(question)
    return float(any(re.search(members, response) for members in classes)) if classes else 0.0


@lru_cache(maxsize=8192)
def _allergy_classes(question: str) -> tuple[str, ...]:
    """Member patterns of the drug classes the case states an allergy to (one entry per allergen and class)."""
    if "过敏" not in question:  # every allergen pattern ends with it
        return ()
    if _NEGATED_ALLERGY.search(question):
        question = _NEGATED_ALLERGY.sub("", question)
    return tuple(members for m in _allergens(question) for key, members in _ALLERGY_CLASSES.items()
                 if key in m.group(1))


_ALLERGEN_REACH = 9
"""How far before its "过敏" an `_ALLERGEN` match can start (6 + 1 + 2 characters)."""
_ALLERGY_WORD = re.compile("过敏")


def _allergens(text: str) -> Iterator[re.Match[str]]:
    """`_ALLERGEN.finditer(text)`, searched near each "过敏" (every match ends with it)."""
    return matches_near(_ALLERGEN, _ALLERGY_WORD, text, _ALLERGEN_REACH)


def pregnancy_risk(question: str, response: str) -> float:
    """1 when the case is a pregnancy and the response names a drug usually avoided in pregnancy."""
    return float(_has(_PREGNANT, question) and _has(_PREGNANCY_RISK, response))


def renal_risk(question: str, response: str) -> float:
    """1 when the case states renal failure and the response names a drug usually avoided or dose-adjusted then."""
    return float(_has(_RENAL, question) and _has(_RENAL_RISK, response))


def _negation_conflict(denied: frozenset[str], response: str) -> float:
    hits = 0
    for term in denied:
        if term not in response:  # every occurrence below is one of the term
            continue
        for m in re.finditer(re.escape(term), response):
            before = response[max(0, m.start() - 12) : m.start()]
            after = response[m.end() : m.end() + 16]
            if not _NEGATION_BEFORE.search(before) and "否定" not in after:
                hits += 1
                break
    return float(hits)


def negation_conflict(question: str, response: str) -> float:
    """Findings the case denies ("否认胸痛") that the response states without a negation nearby."""
    return _negation_conflict(frozenset(m.group(1) for m in _DENIED.finditer(question)), response)


def _case_age(question: str) -> int | None:
    ages = [int(a) for a in _ages(question) if int(a) <= 120]
    if ages:
        return ages[0]
    return 3 if _child_case(question) else None


def _age_group_conflict(age: int | None, response: str) -> float:
    if age is None:
        return 0.0
    for pattern, low, high in _AGE_WORDS:
        if pattern.search(response) and not low <= age <= high:
            return 1.0
    return 0.0


def age_group_conflict(question: str, response: str) -> float:
    """1 when the response calls the patient by an age group ("中年男性", "未成年人") the case's age rules out."""
    return _age_group_conflict(_case_age(question), response)


def _child_risk(age: int | None, response: str) -> float:
    return float(age is not None and age < 12 and _has(_CHILD_RISK, response))


def child_risk(question: str, response: str) -> float:
    """1 when the case is a child and the response names a drug usually avoided in children."""
    return _child_risk(_case_age(question), response)


def _history_conflict(single: bool, no_drugs: bool, response: str) -> float:
    hits = 0.0
    if single and _has(_MARRIED_CLAIM, response):
        hits += 1.0
    if no_drugs and _has(_DRUG_TAKEN, response):
        hits += 1.0
    return hits


def history_conflict(question: str, response: str) -> float:
    """History the case denies and the response states: marriage or childbirth, or drugs already taken."""
    return _history_conflict(_has(_SINGLE, question), _has(_NO_DRUGS, question), response)


def hepatic_risk(question: str, response: str) -> float:
    """1 when the case states liver failure or cirrhosis and the response names a drug usually avoided then."""
    return float(_has(_HEPATIC, question) and _has(_HEPATIC_RISK, response))


def _contra_of(question: str) -> tuple[tuple[re.Pattern[str], ...], tuple[str, ...]]:
    """The risky-drug patterns of the case's conditions, and the heads of the drugs it says to avoid."""
    return (tuple(risky for cond, risky in _CONTRAINDICATIONS if _has(cond, question)),
            tuple(m.group(1)[:3] for m in _STATED_CONTRA.finditer(question)))


def _contraindication_conflict(contra: tuple[tuple[re.Pattern[str], ...], tuple[str, ...]], response: str) -> float:
    hits = float(sum(1 for risky in contra[0] if _has(risky, response)))
    for head in contra[1]:
        if head in response:
            hits += 1.0
    return hits


def contraindication_conflict(question: str, response: str) -> float:
    """Conditions of the case whose usual contraindicated drugs the response names, plus drugs the case says to
    avoid ("禁用…") that the response names."""
    return _contraindication_conflict(_contra_of(question), response)


def _option_map(lines: Iterable[str]) -> dict[str, str]:
    texts: dict[str, str] = {}
    for line in lines:
        m = _OPTION_TEXT.match(line)
        if m:
            texts[m.group(1)] = m.group(2)  # the last block of option lines is the query's
    return texts


@lru_cache(maxsize=8192)
def _prompt_options(question: str) -> dict[str, str]:
    """The option texts of a prompt's lines by letter (read only: shared by every response to the prompt)."""
    return _option_map(question.splitlines())


def chosen_option_text(question: str, options: list[str] | None, response: str) -> str:
    """The text of the options the response's final answer picks ("" when it picks none or options are unknown)."""
    letters = final_letters(response)
    if not letters:
        return ""
    texts = _option_map(options) if options else _prompt_options(question)
    return "；".join(texts[x] for x in sorted(letters) if x in texts)


@lru_cache(maxsize=8192)
def case_text(question: str) -> str:
    """The case of a prompt: its last query (after any worked example) without the option lines."""
    return _OPTION_TEXT.sub("", query_part(question))


def option_case_signals(question: str, options: list[str] | None, response: str) -> dict[str, float]:
    """The case-consistency checks applied to the text of the chosen options: an answer "<B>" whose option is
    "异位妊娠破裂" for a male patient contradicts the case as much as the words would."""
    chosen = chosen_option_text(question, options, response)
    if not chosen:
        return {"option_case_conflict": 0.0}
    case = case_text(question)
    f = _case_facts(case)
    checks = (_sex_conflict(f.sex, chosen), float(f.pregnant and _has(_PREGNANCY_RISK, chosen)),
              float(f.renal and _has(_RENAL_RISK, chosen)), float(f.hepatic and _has(_HEPATIC_RISK, chosen)),
              allergy_conflict(case, chosen), _contraindication_conflict(f.contra, chosen), _child_risk(f.age, chosen),
              _age_group_conflict(f.age, chosen))
    return {"option_case_conflict": float(sum(check > 0 for check in checks))}


def _letters(text: str) -> frozenset[str]:
    return frozenset(_OPTION_LETTER.findall(text))


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
    return dict(_choice_signals(response, reference))


@lru_cache(maxsize=8192)
def _choice_signals(response: str, reference: str | None) -> dict[str, float]:
    """`choice_signals`, remembered by texts (a short answer such as "<A>" recurs over many items); copied by
    every caller."""
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


class _CaseFacts(NamedTuple):
    """What the case-consistency signals read of a prompt's case (`case_text`)."""

    sex: str | None
    pregnant: bool
    renal: bool
    hepatic: bool
    age: int | None
    single: bool
    no_drugs: bool
    contra: tuple[tuple[re.Pattern[str], ...], tuple[str, ...]]


@lru_cache(maxsize=8192)
def _case_facts(case: str) -> _CaseFacts:
    return _CaseFacts(sex=_sex_of(case), pregnant=_has(_PREGNANT, case), renal=_has(_RENAL, case),
                      hepatic=_has(_HEPATIC, case), age=_case_age(case), single=_has(_SINGLE, case),
                      no_drugs=_has(_NO_DRUGS, case), contra=_contra_of(case))


class _PromptFacts(NamedTuple):
    """What the case-consistency signals read of one prompt, the same for every response to it."""

    sex: str | None
    left: int
    right: int
    ages: frozenset[str]
    pregnant: bool
    renal: bool
    denied: frozenset[str]
    case: _CaseFacts


@lru_cache(maxsize=8192)
def _prompt_facts(question: str) -> _PromptFacts:
    """The facts of `question` (sex, sides, ages, pregnancy, renal failure, denied findings) and of its case."""
    return _PromptFacts(
        sex=_sex_of(question), left=question.count("左"), right=question.count("右"),
        ages=frozenset(_ages(question)), pregnant=_has(_PREGNANT, question), renal=_has(_RENAL, question),
        denied=frozenset(m.group(1) for m in _DENIED.finditer(question)), case=_case_facts(case_text(question)),
    )


def case_signals(question: str, reference: str | None, response: str) -> dict[str, float]:
    """All case-consistency and option-letter signals of one item."""
    f = _prompt_facts(question)
    case = f.case
    age = case.age
    return {
        "sex_conflict": _sex_conflict(f.sex, response),
        "side_conflict": _side_conflict(f.left, f.right, response),
        "new_ages": _new_ages(f.ages, response),
        "allergy_conflict": allergy_conflict(question, response),
        "pregnancy_risk": float(f.pregnant and _has(_PREGNANCY_RISK, response)),
        "renal_risk": float(f.renal and _has(_RENAL_RISK, response)),
        "negation_conflict": _negation_conflict(f.denied, response),
        "age_group_conflict": _age_group_conflict(age, response),
        "child_risk": _child_risk(age, response),
        "history_conflict": _history_conflict(case.single, case.no_drugs, response),
        "hepatic_risk": float(case.hepatic and _has(_HEPATIC_RISK, response)),
        "contraindication_conflict": _contraindication_conflict(case.contra, response),
        **_choice_signals(response, reference),
    }


def clear_case_memos() -> None:
    """Empty the memos of the case signals (facts of each prompt, its case and its options; the option-letter
    signals of each answer)."""
    for fn in (_allergy_classes, _prompt_options, case_text, _case_facts, _prompt_facts, _choice_signals):
        fn.cache_clear()
