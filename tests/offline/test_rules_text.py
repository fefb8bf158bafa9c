"""Text helpers of the rules: the fast NFKC form equals unicodedata's on every input it can meet."""

from __future__ import annotations

import random
import unicodedata

from judge.gold.gold_set import load_gold
from judge.offline.rules.text import _COMMON_COMPAT, nfkc, nfkc_compact
from tests.conftest import GOLD, load_items


def _every_code_point() -> str:
    return "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000)


def test_nfkc_equals_unicodedata_on_every_code_point_alone_and_all_at_once():
    text = _every_code_point()
    for ch in text:
        assert nfkc(ch) == unicodedata.normalize("NFKC", ch)
    assert nfkc(text) == unicodedata.normalize("NFKC", text)


def test_nfkc_equals_unicodedata_where_replaced_characters_meet_combining_marks():
    # the replaced characters beside combining marks, Hangul jamo and other compatibility characters: the cases where
    # a character-by-character replacement could go wrong if the fast path were not exact
    pieces = ([c for c, _ in _COMMON_COMPAT] + ["\u0301", "\u0308", "\u0323", "\u0345", "\u1100", "\u1161", "\u11a8",
              "\uac00", "e", "A", "ﬁ", "①", "Ⅻ", "㍿", "ｶ", "ﾞ", "\u3099", "か", "字", "\U0001d400", " ", "\n"])
    rng = random.Random(7)
    for _ in range(20_000):
        s = "".join(rng.choices(pieces, k=rng.randint(1, 12)))
        assert nfkc(s) == unicodedata.normalize("NFKC", s), repr(s)


def test_nfkc_compact_equals_the_plain_definition_on_real_texts():
    texts = [t for g in load_gold(GOLD) for t in (g.question, g.response, g.reference_answer or "")]
    texts += [t for it in load_items() for t in (it.question, it.response)]
    assert any(c in t for t in texts for c, _ in _COMMON_COMPAT)
    for t in texts:
        assert nfkc_compact(t) == "".join(unicodedata.normalize("NFKC", t).split())
    assert nfkc_compact(None) == ""


def test_format_instruction_keys_cover_every_character_the_patterns_match():
    import re

    from judge.offline.rules import format_spec

    for key in ("m", "g", "j"):  # the Latin keys of _MULTIPLE, _SINGLE and _JSON
        rx = re.compile(key, re.IGNORECASE)
        assert {c for c in _every_code_point() if rx.fullmatch(c)} == {key, key.upper()}
    assert "M" in format_spec._MULTIPLE_KEYS and "G" in format_spec._SINGLE_KEYS
    spec = format_spec.format_spec
    assert spec("以下是一道多项选择题，请用<>给出答案。").choice == "multiple"
    assert spec("Answer this Multiple-Choice question.").choice == "multiple"
    assert spec("以下是一道单项选择题。").choice == "single"
    assert spec("Single choice: pick one.").choice == "single"
    assert spec("请以JSON格式输出。").json_required and not spec("请以表格形式输出。").json_required
