"""The decoding schema: whatever it admits must validate as a JudgeOutput for that response."""

from __future__ import annotations

import importlib.util
import json

import jsonschema
import pytest

from judge.core.models import Item, JudgeOutput
from judge.core.taxonomy import CATEGORY_CODES
from judge.llm.batch import validate_entries
from judge.llm.decoding import (
    QUOTE_MAX_CHARS,
    RATIONALE_MAX_CHARS,
    batch_decoding_schema,
    batch_schema_response_format,
    quote_candidates,
    schema_response_format,
    verdict_decoding_schema,
)


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


def test_batch_schema_admits_exactly_one_valid_entry_per_item_in_order():
    items = [Item(item_id=f"b{i}", question="问", response=r)
             for i, r in enumerate(["头痛三天。建议布洛芬。", "发热，咳嗽。", "血压升高，需复查。"])]
    schema = batch_decoding_schema([it.response for it in items])
    entries = [{"index": i, **_answer(evidence=quote_candidates(it.response)[0])} for i, it in enumerate(items, 1)]
    jsonschema.validate({"verdicts": entries}, schema)
    assert all(isinstance(o, JudgeOutput) for o in validate_entries(items, entries))
    rejected = {
        "an item skipped": entries[:2],
        "one entry too many": [*entries, entries[0]],
        "out of order": [entries[1], entries[0], entries[2]],
        "another item's quote": [{**entries[0], "evidence": "发热，"}, *entries[1:]],
        "an unknown category": [{**entries[0], "category": "wrong_answer"}, *entries[1:]],
    }
    for reason, verdicts in rejected.items():
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({"verdicts": verdicts}, schema)
            pytest.fail(f"admitted: {reason}")


def test_batch_response_format_carries_the_batch_schema(items):
    fmt = batch_schema_response_format([it.response for it in items[:2]])
    assert fmt["type"] == "json_object"
    assert fmt["schema"] == batch_decoding_schema([it.response for it in items[:2]])


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python is not installed")
def test_llama_cpp_compiles_the_batch_schema_into_a_grammar(items):
    from llama_cpp.llama_grammar import LlamaGrammar

    grammar = LlamaGrammar.from_json_schema(json.dumps(batch_decoding_schema([it.response for it in items[:4]])),
                                            verbose=False)
    for i in range(4):
        assert f"verdicts-tuple-{i}-evidence-kv" in grammar._grammar
    assert "verdicts-tuple-4" not in grammar._grammar
