"""Features of an item for the baseline classifier: hand-made signals plus the sklearn transformer over them.

`item_features` turns one item into named numbers (lengths, reference-point coverage, new numbers/doses/drugs,
case-consistency signals, option-letter patterns, rule outputs, format instruction, repetition, register);
`items_frame` puts items into a DataFrame with those numbers plus the text and task/dimension columns;
`make_preprocessor` builds the ColumnTransformer (character n-gram TF-IDF of the response and optionally of
the prompt's instruction, standardised and clipped numbers, one-hot task/dimension). Bump FEATURES_VERSION whenever a feature
changes meaning: saved baseline models refuse to load under another version.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from judge.core.models import Item
from judge.llm.injection import clear_injection_memos
from judge.medbench.recall import point_coverages, split_points
from judge.offline.case_signals import case_signals, clear_case_memos, option_case_signals
from judge.offline.claims import clear_claim_memos, normed_claim_features
from judge.offline.register import clear_register_memos, register_features
from judge.offline.rules import CHECKS, RuleHit, clear_rule_memos, rule_hits
from judge.offline.rules.format_spec import format_spec
from judge.offline.rules.text import matches_near, nfkc_compact, query_offset, split_instruction

FEATURES_VERSION = "2"
"""Version of the feature definitions; part of every baseline artifact and judge_id."""
_PKG = Path(__file__).resolve().parents[1]
_FEATURE_SOURCES = ("offline/features.py", "offline/case_signals.py", "offline/claims.py", "offline/register.py",
                    "medbench/recall.py", "offline/rules/*.py", "offline/screen.py", "llm/injection.py")

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_DOSE = re.compile(r"(\d+(?:\.\d+)?)\s*(?:~|～|-|–)?\s*(?:\d+(?:\.\d+)?)?\s*"
                   r"(mg|g|μg|ug|mcg|ml|mL|L|U|IU|mmol|万U|毫克|克|微克|毫升|单位|片|粒|支)(?![A-Za-z])")
_DRUG = re.compile(r"[\u4e00-\u9fff]{1,6}?(?:西林|霉素|沙星|头孢[\u4e00-\u9fff]{1,4}|唑|普利|沙坦|洛尔|地平|他汀|格列[\u4e00-\u9fff]{1,3}|"
                   r"双胍|胰岛素|替尼|单抗|韦|嗪|尼松|米松|泮|拉唑|肝素|芬|卡因|匹林|霉素)")
_DRUG_ENDS = re.compile(r"西林|霉素|沙星|头孢|唑|普利|沙坦|洛尔|地平|他汀|格列|双胍|胰岛素|替尼|单抗|韦|嗪|尼松|米松|泮|肝素|芬|卡因|匹林")
"""A literal every `_DRUG` match holds (its ending, or the head of 头孢…/格列…): one fast scan rules drugs out."""
_DRUG_REACH = 7
"""How far after its start a `_DRUG` match holds a `_DRUG_ENDS` literal: 6 characters, and the "拉" of "拉唑"."""
_AUTHORITY = re.compile(r"指南|共识|研究(?:表明|证实|显示|发现)|证实|文献|报道|Meta分析|荟萃分析|《[^》]{2,30}》|\d+(?:\.\d+)?%")
_CAUSAL = re.compile(r"因为|所以|因此|导致|由于|从而|故而|既然|那么|说明|提示|可见|推出|引起|造成|继发于")
_COLLOQUIAL = re.compile(r"挺|好几|肚子|拉肚子|啥|咋|这孩子|吧[。！，]|呢[。！，？]|啊|哈|嗯|特别|真的|让人|咱|俺|一大堆|厉害|"
                         r"老是|有点|心疼|态度|谢谢|不客气")
_FORMAL_LETTER = re.compile(r"此致|敬礼|尊敬的|特此|予以|知悉|现将")
_REFUSAL = re.compile(r"抱歉|对不起|无法|不能|不便|恕|sorry|can't|cannot|unable|作为(?:一个|一名)?(?:AI|人工智能|语言模型)",
                      re.IGNORECASE)
_REQUEST = re.compile(r"请(?:您)?(?:提供|补充|上传|描述|告知)|请问|需要您|以便|提供更多|更多信息|please provide|could you",
                      re.IGNORECASE)
_CONSULT = re.compile(r"咨询|就医|就诊|医院|医生|药师|面诊|pharmacist|physician|doctor|consult", re.IGNORECASE)
_TERMINAL = set("。！？.!?>）)」”】】」…\"'")
_GARBLED = re.compile(r"[\ufffd\u00c0-\u00ff\u0080-\u00bf]")
_SPECIAL = re.compile(r"<\|[a-z_]+\|>|</?s>|<pad>|<unk>|\[/?INST\]|<end_of_turn>|<start_of_turn>")
_LATIN = re.compile(r"[A-Za-z]")
_HEADING = re.compile(r"(?m)^#+\s")
_LINE_BREAK = re.compile(r"[\n。！？!?]")
_CHOICE_LINE = re.compile(r"(?m)^\s*[A-E][.．、]")

CLIP = 3.0
"""Standardised numeric features are clipped to [-CLIP, CLIP]: a signal seen once in training stays bounded."""
TEXT_COLUMNS: tuple[str, ...] = ("response", "instruction")
CATEGORICAL_COLUMNS: tuple[str, ...] = ("task", "dimension")


def features_code_hash() -> str:
    """Short hash of the code the features are computed by (these modules and the rules they run)."""
    digest = hashlib.sha256()
    for pattern in _FEATURE_SOURCES:
        for path in sorted(_PKG.glob(pattern)):
            digest.update(path.relative_to(_PKG).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


_PAIR_SHIFT = np.uint64(21)
"""Bits of a code point (every one is below 2**21): a character pair (a, b) is the number a << 21 | b."""


def _pair_codes(text: str) -> np.ndarray:
    """The text's adjacent character pairs as sorted numbers (repeats kept): a two-character string occurs in the
    text exactly when its number is among them."""
    points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    if len(points) < 2:
        return np.empty(0, dtype=np.uint64)
    codes = points[:-1].astype(np.uint64)
    codes <<= _PAIR_SHIFT
    codes |= points[1:]
    codes.sort()
    return codes


def _distinct_pair_codes(text: str) -> np.ndarray:
    """`_pair_codes` without repeats: one number per distinct character bigram of the text."""
    codes = _pair_codes(text)
    if len(codes) < 2:
        return codes
    keep = np.empty(len(codes), dtype=bool)
    keep[0] = True
    np.not_equal(codes[1:], codes[:-1], out=keep[1:])
    return codes[keep]


def _among(codes: np.ndarray, sorted_codes: np.ndarray) -> np.ndarray:
    """For each of `codes`, whether it is in `sorted_codes` (ascending)."""
    if not len(sorted_codes):
        return np.zeros(len(codes), dtype=bool)
    at = sorted_codes.searchsorted(codes)
    at[at == len(sorted_codes)] = 0
    return sorted_codes[at] == codes


_log = math.log1p
"""log(1 + x) of a count or a length (never negative: a negative x would raise or give a negative number)."""


def repetition_ratio(text: str, n: int = 4) -> float:
    """1 - distinct character n-grams / all character n-grams (0 for text shorter than n)."""
    total = len(text) - n + 1
    return 1.0 - len({text[i : i + n] for i in range(total)}) / total if total > 0 else 0.0


def _max_line_repeat(text: str) -> float:
    pieces = [p for p in map(str.strip, _LINE_BREAK.split(text)) if len(p) >= 4]
    if len(set(pieces)) == len(pieces):  # no piece repeats: each is there once (or there are none)
        return 1.0 if pieces else 0.0
    return float(max(Counter(pieces).values()))


# --- facts of a prompt or a reference, shared by every response to it (memoised by text) ---------------------------

class _Known(NamedTuple):
    """Normalised text of a prompt or reference, with its numbers and its character pairs."""

    norm: str
    numbers: frozenset[str]
    pairs: np.ndarray
    """`_pair_codes` of `norm`."""


def _known_alone(text: str) -> _Known:
    norm = nfkc_compact(text)
    return _Known(norm, frozenset(_NUMBER.findall(norm)), _pair_codes(norm))


_known_head = lru_cache(maxsize=8192)(_known_alone)
"""`_known_alone` of a prompt's instruction and worked example, remembered by text (a task's prompts share them)."""


def _number_char(ch: str) -> bool:
    return ch.isdecimal() or ch == "."  # `\d` is a decimal digit of any script


@lru_cache(maxsize=8192)
def _known(text: str) -> _Known:
    """`_known_alone(text)`, from the facts of the shared instruction and worked example and those of the query.

    The two parts meet after a line break, which NFKC never combines with a neighbour, so the normalised text is
    the parts' normalised texts one after the other; its character pairs are theirs plus the pair across the
    seam, and its numbers theirs, unless digits meet at the seam (then they are read again)."""
    cut = query_offset(text)
    if not cut:
        return _known_alone(text)
    head, tail = _known_head(text[:cut]), _known_alone(text[cut:])
    if not head.norm or not tail.norm:
        return head if not tail.norm else tail
    norm = head.norm + tail.norm
    seam = np.array([(ord(head.norm[-1]) << int(_PAIR_SHIFT)) | ord(tail.norm[0])], dtype=np.uint64)
    pairs = np.concatenate((head.pairs, tail.pairs, seam))
    pairs.sort()
    numbers = (frozenset(_NUMBER.findall(norm)) if _number_char(head.norm[-1]) and _number_char(tail.norm[0])
               else head.numbers | tail.numbers)
    return _Known(norm, numbers, pairs)


_normalised = lru_cache(maxsize=8192)(nfkc_compact)
"""`nfkc_compact` of a response, remembered by text (a short answer such as "<A>" recurs over many items)."""


class _Said(NamedTuple):
    """What a normalised response states, whatever the prompt: the sets the novelty features compare with it."""

    numbers: frozenset[str]
    doses: frozenset[str]
    drugs: frozenset[str]
    authority: frozenset[str]
    bigrams: np.ndarray
    """Its distinct character bigrams (`_distinct_pair_codes`)."""


@lru_cache(maxsize=8192)
def _said(resp: str) -> _Said:
    return _Said(numbers=frozenset(_NUMBER.findall(resp)), doses=frozenset(m.group(0) for m in _DOSE.finditer(resp)),
                 drugs=frozenset(m.group(0) for m in matches_near(_DRUG, _DRUG_ENDS, resp, _DRUG_REACH)),
                 authority=frozenset(m.group(0) for m in _AUTHORITY.finditer(resp)),
                 bigrams=_distinct_pair_codes(resp))


@lru_cache(maxsize=8192)
def _reference_points(reference: str) -> tuple[str, ...]:
    return tuple(split_points(reference))


@lru_cache(maxsize=8192)
def _is_choice_prompt(question: str) -> bool:
    return _CHOICE_LINE.search(question) is not None


@lru_cache(maxsize=8192)
def _instruction(question: str) -> str:
    return split_instruction(question)[0][:400]


def clear_memos() -> None:
    """Empty the memos of the features and the rules: facts of each prompt, and of each response text (they only
    ever hold derived facts of texts)."""
    for fn in (_known, _known_head, _reference_points, _is_choice_prompt, _instruction, _format_features, _normalised, _said,
               _style_of, _response_size):
        fn.cache_clear()
    clear_case_memos()
    clear_claim_memos()
    clear_injection_memos()
    clear_register_memos()
    clear_rule_memos()


# --- feature groups -------------------------------------------------------------------------------------------------

class ItemView:
    """One item as the feature groups read it: its texts, and the rule hits (given by the caller, or run once)."""

    __slots__ = ("item", "question", "reference", "response", "_hits", "_norm_response")

    def __init__(self, item: Item, hits: Mapping[str, RuleHit | None] | None = None) -> None:
        self.item = item
        self.question, self.reference, self.response = item.question, item.reference_answer, item.response
        self._hits = hits
        self._norm_response: str | None = None

    @property
    def norm_response(self) -> str:
        """The response NFKC-normalised and without whitespace (computed once for every group reading it)."""
        if self._norm_response is None:
            self._norm_response = _normalised(self.response)
        return self._norm_response

    @property
    def hits(self) -> Mapping[str, RuleHit | None]:
        """Each rule's hit (None: it did not fire), by rule name."""
        if self._hits is None:
            self._hits = rule_hits(self.item)
        return self._hits


@lru_cache(maxsize=8192)
def _response_size(response: str) -> tuple[int, int]:
    """Characters of the stripped response and its non-blank lines, remembered by text."""
    return len(response.strip()), len([ln for ln in response.splitlines() if ln.strip()])


def _length_features(x: ItemView) -> dict[str, float]:
    q, ref = x.question, x.reference
    n_ref = len((ref or "").strip())
    n_resp, n_lines = _response_size(x.response)
    return {
        "len_response": _log(n_resp),
        "len_question": _log(len(q)),
        "len_reference": _log(n_ref),
        "len_ratio_reference": math.log((n_resp + 1) / (n_ref + 1)) if n_ref else 0.0,
        "n_lines": _log(n_lines),
        "is_choice": float(bool(x.item.options) or _is_choice_prompt(q)),
    }


def _coverage_features(x: ItemView) -> dict[str, float]:
    points = _reference_points(x.reference or "")
    if not points:
        return {"ref_has_points": 0.0, "ref_recall": 0.0, "ref_cov_mean": 0.0, "ref_cov_min": 0.0, "ref_n_points": 0.0}
    cov = point_coverages(points, x.response)
    return {"ref_has_points": 1.0, "ref_recall": sum(c >= 0.5 for c in cov) / len(cov), "ref_cov_mean": sum(cov) / len(cov),
            "ref_cov_min": min(cov), "ref_n_points": _log(len(cov))}


def _novelty_features(x: ItemView) -> dict[str, float]:
    q, ref = _known(x.question), _known(x.reference or "")
    known = q.norm + "\n" + ref.norm
    said = _said(x.norm_response)
    numbers = said.numbers - q.numbers - ref.numbers
    new_doses = {d for d in said.doses if d not in known}
    new_drugs = {d for d in said.drugs if d not in known}
    authority = said.authority
    r_bi = said.bigrams
    n_bi = len(r_bi)
    # a response bigram is a bigram of the prompt exactly when it is one of the prompt's character pairs
    in_q = _among(r_bi, q.pairs) if n_bi else r_bi
    in_ref = _among(r_bi, ref.pairs) if n_bi and len(ref.pairs) else None
    n_q = int(np.count_nonzero(in_q))
    n_ref = 0 if in_ref is None else int(np.count_nonzero(in_ref))
    n_either = n_q if in_ref is None else int(np.count_nonzero(in_q | in_ref))
    return {
        "new_numbers": _log(len(numbers)),
        "new_doses": _log(len(new_doses)),
        "new_drugs": _log(len(new_drugs)),
        "new_authority": _log(len({a for a in authority if a not in known})),
        "bigrams_in_question": n_q / n_bi if n_bi else 0.0,
        "bigrams_in_reference": n_ref / n_bi if n_bi else 0.0,
        "bigrams_novel": 1.0 - n_either / n_bi if n_bi else 0.0,
    }


def _case_features(x: ItemView) -> dict[str, float]:
    return case_signals(x.question, x.reference, x.response)


def _rule_features(x: ItemView) -> dict[str, float]:
    hits = x.hits
    return {f"rule_{name}": hit.confidence if (hit := hits[name]) is not None else 0.0 for name in CHECKS}


@lru_cache(maxsize=8192)
def _format_features(question: str) -> tuple[tuple[str, float], ...]:
    spec = format_spec(question)
    return tuple({
        "fmt_any": float(spec.has_instruction), "fmt_brackets": float(spec.answer_in_brackets),
        "fmt_only_option": float(spec.only_option), "fmt_single": float(spec.choice == "single"),
        "fmt_multiple": float(spec.choice == "multiple"), "fmt_separator": float(spec.separator is not None),
        "fmt_json": float(spec.json_required), "fmt_lines": float(bool(spec.line_labels or spec.line_fields)),
        "fmt_labels": float(bool(spec.allowed_labels)),
    }.items())


def _prompt_format_features(x: ItemView) -> dict[str, float]:
    return dict(_format_features(x.question))


def _style_features(x: ItemView) -> dict[str, float]:
    return dict(_style_of(x.response.strip()))


@lru_cache(maxsize=8192)
def _style_of(text: str) -> dict[str, float]:
    """The style features of a stripped response, remembered by text (copied by every caller)."""
    n = max(len(text), 1)
    return {
        "repetition": repetition_ratio(text),
        "max_line_repeat": _log(_max_line_repeat(text)),
        "garbled_share": len(_GARBLED.findall(text)) / n,
        "special_tokens": _log(len(_SPECIAL.findall(text))),
        "ends_terminal": float(bool(text) and text[-1] in _TERMINAL),
        "causal_per_100": 100 * len(_CAUSAL.findall(text)) / n,
        "colloquial_per_100": 100 * len(_COLLOQUIAL.findall(text)) / n,
        "formal_letter": float(bool(_FORMAL_LETTER.search(text))),
        "refusal_marks": _log(len(_REFUSAL.findall(text))),
        "request_marks": _log(len(_REQUEST.findall(text))),
        "consult_marks": _log(len(_CONSULT.findall(text))),
        "question_marks": _log(text.count("？") + text.count("?")),
        "latin_share": len(_LATIN.findall(text)) / n,
        "markdown": _log(text.count("**") + len(_HEADING.findall(text))),
    }


FEATURE_GROUPS: dict[str, Callable[[ItemView], dict[str, float]]] = {
    "lengths": _length_features,
    "coverage": _coverage_features,
    "novelty": _novelty_features,
    "case": _case_features,
    "option_case": lambda x: option_case_signals(x.question, x.item.options, x.response),
    "claims": lambda x: normed_claim_features(_known(x.question).norm, _known(x.reference or "").norm,
                                              x.norm_response, x.response),
    "register": lambda x: register_features(x.question, x.response),
    "rules": _rule_features,
    "format": _prompt_format_features,
    "style": _style_features,
}
"""The named groups of hand-made features, in column order; a new group is one more entry."""


def view_features(view: ItemView) -> dict[str, float]:
    """Every feature group of one item view, merged in `FEATURE_GROUPS` order."""
    out: dict[str, float] = {}
    for group in FEATURE_GROUPS.values():
        out.update(group(view))
    return out


def item_features(item: Item) -> dict[str, float]:
    """Hand-made numeric features of one item (see module doc); keys are the same for every item."""
    return view_features(ItemView(item))


NUMERIC_COLUMNS: tuple[str, ...] = tuple(item_features(Item(item_id="-", question="", response="")))
"""Names of the hand-made numeric features, in a fixed order."""
_DISJOINT_GROUPS = sum(len(group(ItemView(Item(item_id="-", question="", response=""))))
                       for group in FEATURE_GROUPS.values()) == len(NUMERIC_COLUMNS)
"""No two feature groups share a name, so a view's numbers are its groups' values one after the other."""


def _view_vector(view: ItemView) -> list[float]:
    """`list(view_features(view).values())`."""
    if not _DISJOINT_GROUPS:
        return list(view_features(view).values())
    out: list[float] = []
    for group in FEATURE_GROUPS.values():
        out.extend(group(view).values())
    return out


def items_frame(items: Iterable[Item]) -> pd.DataFrame:
    """One row per item: the text columns, task/dimension ("unknown" when missing) and the numeric features."""
    rows = []
    for it in items:
        rows.append({
            "response": it.response,
            "instruction": split_instruction(it.question)[0][:400],
            "task": it.task or "unknown",
            "dimension": it.dimension or "unknown",
            **item_features(it),
        })
    return pd.DataFrame(rows, columns=[*TEXT_COLUMNS, *CATEGORICAL_COLUMNS, *NUMERIC_COLUMNS])


class FeatureColumns(NamedTuple):
    """Features of many items as columns: what `items_frame` holds, without building a DataFrame row by row."""

    text: dict[str, list[str]]
    """The text columns (`TEXT_COLUMNS`), one string per item."""
    categorical: dict[str, list[str]]
    """The categorical columns (`CATEGORICAL_COLUMNS`), "unknown" when missing."""
    numeric: np.ndarray
    """Hand-made features, one row per item, columns in `NUMERIC_COLUMNS` order."""

    def frame(self) -> pd.DataFrame:
        """The same columns as an `items_frame` DataFrame."""
        numeric = pd.DataFrame(self.numeric, columns=list(NUMERIC_COLUMNS))
        return pd.concat([pd.DataFrame({**self.text, **self.categorical}), numeric], axis=1)


def feature_columns(items: Sequence[Item], hits: Sequence[Mapping[str, RuleHit | None]] | None = None) -> FeatureColumns:
    """The features of many items as columns (the fast path of `items_frame`); `hits` gives each item's rule hits
    when the caller already ran the rules, so they are not run again."""
    views = [ItemView(it, None if hits is None else hits[i]) for i, it in enumerate(items)]
    numeric = np.array([_view_vector(v) for v in views], dtype=float).reshape(len(items), len(NUMERIC_COLUMNS))
    return FeatureColumns(
        text={"response": [it.response for it in items], "instruction": [_instruction(it.question) for it in items]},
        categorical={"task": [it.task or "unknown" for it in items],
                     "dimension": [it.dimension or "unknown" for it in items]},
        numeric=numeric,
    )


def make_preprocessor(ngram_max: int = 3, min_df: int = 2, use_instruction: bool = False,
                      text_weight: float = 1.0) -> ColumnTransformer:
    """The ColumnTransformer turning `items_frame` output into a sparse feature matrix."""
    def tfidf() -> TfidfVectorizer:
        return TfidfVectorizer(analyzer="char_wb", ngram_range=(1, ngram_max), min_df=min_df, sublinear_tf=True,
                               max_features=20000)

    blocks: list[tuple[str, object, object]] = [("response", tfidf(), "response")]
    weights = {"response": text_weight, "numeric": 1.0, "categorical": 1.0}
    if use_instruction:
        blocks.append(("instruction", tfidf(), "instruction"))
        weights["instruction"] = text_weight * 0.5
    blocks += [
        ("numeric", make_pipeline(StandardScaler(), FunctionTransformer(np.clip, kw_args={"a_min": -CLIP, "a_max": CLIP})),
         list(NUMERIC_COLUMNS)),
        ("categorical", OneHotEncoder(handle_unknown="ignore"), list(CATEGORICAL_COLUMNS)),
    ]
    return ColumnTransformer(blocks, transformer_weights=weights, sparse_threshold=1.0)
