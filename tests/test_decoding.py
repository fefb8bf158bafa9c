"""The decoding schema: whatever it admits must validate as a JudgeOutput for that response."""

from __future__ import annotations

import importlib.util
import json

import jsonschema
import pytest

from judge.decoding import (
    QUOTE_MAX_CHARS,
    RATIONALE_MAX_CHARS,
    quote_candidates,
    schema_response_format,
    verdict_decoding_schema,
)
from judge.models import JudgeOutput
from judge.taxonomy import CATEGORY_CODES


def test_quote_candidates_are_verbatim_clauses():
    response = "答案是A，右侧呼吸音消失。\n结合突发胸痛考虑自发性气胸！Take aspirin; then rest."
    quotes = quote_candidates(response)
    assert quotes == ["答案是A，", "右侧呼吸音消失。", "结合突发胸痛考虑自发性气胸！", "Take aspirin;", "then rest."]
    assert all(q in response for q in quotes)


def test_quote_candidates_skip_unsafe_duplicate_and_cap_length_and_count():
    assert quote_candidates('他说"停药"，停药。制\t表，a\\b，停药。') == ["停药。"]
    long = "很" * 200
    assert quote_candidates(long) == ["很" * QUOTE_MAX_CHARS]
    many = "，".join(f"第{i}条" for i in range(100))
    got = quote_candidates(many, max_count=5)
    assert len(got) == 5 and got[0] == "第0条，"
    assert quote_candidates("") == [] and quote_candidates("  \n ") == []


def _answer(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {"category": "omission", "rationale": "漏掉了降压治疗", "evidence": "",
                               "confidence": 0.7, "secondary": []}
    base.update(kw)
    return base


def test_every_admitted_evidence_and_confidence_validates(items):
    for item in items:
        schema = verdict_decoding_schema(item.response)
        props = schema["properties"]
        assert set(schema["required"]) == set(JudgeOutput.model_fields)
        assert set(props["category"]["enum"]) == set(CATEGORY_CODES)
        for quote in props["evidence"]["enum"]:
            for conf in props["confidence"]["enum"]:
                answer = _answer(evidence=quote, confidence=conf)
                jsonschema.validate(answer, schema)
                out = JudgeOutput.model_validate_json(json.dumps(answer, ensure_ascii=False),
                                                      context={"response": item.response})
                assert out.evidence == quote


def test_schema_rejects_what_validation_would_reject(items):
    schema = verdict_decoding_schema(items[0].response)
    bad = [
        _answer(category="wrong_drug"),
        _answer(evidence="an invented quote"),
        _answer(confidence=1.5),
        _answer(rationale="x" * (RATIONALE_MAX_CHARS + 1)),
        _answer(rationale='with a "quote"'),
        _answer(rationale="line\nbreak"),
        _answer(secondary=["omission", "hallucination", "unanswered", "output_error"]),
        {k: v for k, v in _answer().items() if k != "evidence"},
    ]
    for answer in bad:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(answer, schema)


def test_without_response_evidence_is_short_plain_text():
    schema = verdict_decoding_schema()
    jsonschema.validate(_answer(evidence="短引文"), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(_answer(evidence="长" * (QUOTE_MAX_CHARS + 1)), schema)
    fmt = schema_response_format("一句话。")
    assert fmt["type"] == "json_object" and fmt["schema"]["properties"]["evidence"]["enum"] == ["", "一句话。"]


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python is not installed")
def test_llama_cpp_compiles_the_schema_into_a_grammar(items):
    from llama_cpp.llama_grammar import LlamaGrammar

    for item in items:
        grammar = LlamaGrammar.from_json_schema(json.dumps(verdict_decoding_schema(item.response)), verbose=False)
        assert "evidence-kv" in grammar._grammar
