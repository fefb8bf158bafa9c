"""The register of a response: how it says things, apart from what it says.

Cheap regex counts over the response (and, for the language check, the question), each a number for the baseline
classifier (judge.offline.features); none decides a category on its own:

- colloquial and dialect wording ("啥", "瞅瞅", "胀得慌", "这块儿", "后晌") and lay words for body parts and illness;
- literary wording ("悄然", "如鼓点般", "所幸") in place of clinical description;
- shorthand: arrows, "+"/"-" after a finding ("头晕+，胸闷-"), Latin dosing and disease abbreviations (qd, bid, HTN);
- a narrated conversation in place of a record ("患者说…", "医生又问…");
- an answer in another language than the question.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

_COLLOQUIAL = re.compile(r"啥|咋|俺|瞅|得了|就行|就得了|犯不上|挨刀子|瞎琢磨|别瞎|胀得慌|这块儿|那块儿|老是|一按|吃坏|拉肚子|"
                         r"闹肚子|拉稀|嗓子|掉秤|后晌|黑夜里|打小|害过|闹的|点点|疙瘩|吓自己|早干嘛|该吃吃|挺好|"
                         r"老爷子|老太太|住进来|挂了水|挂水|打点滴|吊瓶|一看|白了一大片|烧到|心口|脑袋|屁股|肚脐那|"
                         r"[\u4e00-\u9fff]儿[，。！、\s]|害[，,]|[～~][。！]?$|哈[。！]|呗|嘛[，。！]")
_LITERARY = re.compile(r"悄然|翻涌|如鼓点|鼓点般|煎熬|所幸|康健|未曾|为伴|夜幕|痛楚|不经意|折磨|袭来|宛如|仿佛|犹如|"
                       r"悠悠|缠绵|纠缠|萦绕|侵袭|肆虐")
_SHORTHAND = re.compile(r"[↑↓→←]|[\u4e00-\u9fff][+\-－](?=[，,、；;\s）)]|$)|"
                        r"(?<![A-Za-z])(?:qd|bid|tid|qid|qn|qod|prn|HTN|DM|CHD|CKD|COPD|AF|\dw|\dd)(?![A-Za-z])")
# Every `_SHORTHAND` match holds a match of this key, which has no class to try at every position: a text without
# any is ruled out in one fast scan.
_SHORTHAND_KEY = re.compile(r"[↑↓→←+\-－]|qd|bid|tid|qid|qn|qod|prn|HTN|DM|CHD|CKD|COPD|AF|\dw|\dd")
_NARRATED = re.compile(r"(?:患者|病人|家属|医生)(?:又)?(?:说|问|表示|回答|提到|告诉)|医生(?:又)?问了?")
_LATIN = re.compile(r"[A-Za-z]")


def _count(pattern: re.Pattern[str], key: re.Pattern[str], text: str) -> int:
    """How many times `pattern` occurs in `text` (none where its `key` does not)."""
    return len(pattern.findall(text)) if key.search(text) else 0


def _per_100(count: int, n: int) -> float:
    return 100.0 * count / n if n else 0.0


@lru_cache(maxsize=8192)
def cjk_share(question: str) -> float:
    """Share of CJK characters (U+4E00..U+9FFF) in a question, remembered by text (every response to a prompt reads
    it); counted on the code points at once."""
    import numpy as np  # here: the register features start without numpy

    points = np.frombuffer(question.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return int(np.count_nonzero(points - np.uint32(0x4E00) <= np.uint32(0x9FFF - 0x4E00))) / max(len(question), 1)


def register_features(question: str, response: str) -> dict[str, float]:
    """Register signals of one response (see module doc); the keys are the same for every item."""
    colloquial, literary, shorthand, narrated, r_latin = _register_of(response.strip())
    return {
        "colloquial2_per_100": colloquial,
        "literary_per_100": literary,
        "shorthand_per_100": shorthand,
        "narrated": narrated,
        "other_language": float(cjk_share(question) > 0.3 and r_latin > 0.5),
    }


@lru_cache(maxsize=8192)
def _register_of(text: str) -> tuple[float, float, float, float, float]:
    """A stripped response's colloquial, literary and shorthand rates, narration and Latin share, remembered by
    text (a short answer recurs over many items)."""
    n = max(len(text), 1)
    return (_per_100(len(_COLLOQUIAL.findall(text)), n), _per_100(len(_LITERARY.findall(text)), n),
            _per_100(_count(_SHORTHAND, _SHORTHAND_KEY, text), n), math.log1p(len(_NARRATED.findall(text))),
            len(_LATIN.findall(text)) / n)


def clear_register_memos() -> None:
    """Empty the memos of the register features (the CJK share of each question, the rates of each response)."""
    cjk_share.cache_clear()
    _register_of.cache_clear()
