"""A grammar-friendly JSON schema of the verdict, for servers that constrain decoding to a schema (llama.cpp).

Every string the schema admits passes JudgeOutput validation: the category and secondary codes are enums,
confidence is one of 0.0, 0.1, ..., 1.0, the rationale is length-capped, and the evidence is either empty or one
of the response's own clauses, so even a very small model cannot invent a quote. Strings exclude quotes,
backslashes and control characters, which some schema-to-grammar converters mishandle and JSON forbids raw.
"""

from __future__ import annotations

import copy
import re
from functools import cache
from typing import Any

from judge.core.models import JudgeOutput

RATIONALE_MAX_CHARS = 240
QUOTE_MAX_CHARS = 60
QUOTE_MAX_COUNT = 40
SECONDARY_MAX_ITEMS = 3
_CLAUSE_END = re.compile(r"(?<=[。！？；，、!?;,\n])")
_UNSAFE = re.compile(r'["\\\x00-\x1f\x7f]')
_SAFE_TEXT = r'^[^"\\\x00-\x1f\x7f]{0,%d}$'


def quote_candidates(response: str, max_chars: int = QUOTE_MAX_CHARS, max_count: int = QUOTE_MAX_COUNT) -> list[str]:
    """Verbatim clauses of `response` (split at punctuation and newlines, cut to `max_chars`), first seen first.

    Clauses holding quotes, backslashes or control characters are left out.
    """
    out: list[str] = []
    for piece in _CLAUSE_END.split(response):
        quote = piece.strip()[:max_chars].strip()
        if quote and quote not in out and not _UNSAFE.search(quote):
            out.append(quote)
            if len(out) == max_count:
                break
    return out


@cache
def _base_schema() -> dict[str, Any]:
    schema = JudgeOutput.model_json_schema()
    props = schema["properties"]
    props["rationale"]["pattern"] = _SAFE_TEXT % RATIONALE_MAX_CHARS
    props["confidence"] = {"title": "Confidence", "enum": [i / 10 for i in range(11)]}
    props["secondary"]["maxItems"] = SECONDARY_MAX_ITEMS
    schema["required"] = list(props)
    return schema


def verdict_decoding_schema(response: str | None = None) -> dict[str, Any]:
    """The verdict JSON schema tightened for constrained decoding; with `response`, evidence is one of its clauses."""
    schema = copy.deepcopy(_base_schema())
    evidence = schema["properties"]["evidence"]
    evidence.pop("default", None)
    if response is None:
        evidence["pattern"] = _SAFE_TEXT % QUOTE_MAX_CHARS
    else:
        evidence["enum"] = ["", *quote_candidates(response)]
    return schema


def schema_response_format(response: str | None = None) -> dict[str, Any]:
    """OpenAI-style response_format carrying the decoding schema (llama-cpp-python's server turns it into a grammar)."""
    return {"type": "json_object", "schema": verdict_decoding_schema(response)}


def batch_decoding_schema(responses: list[str]) -> dict[str, Any]:
    """The batch answer's schema: {"verdicts": [...]} with exactly one entry per item, in item order.

    Entry i has `index` fixed to i (1-based) and the verdict fields of `verdict_decoding_schema`, its evidence
    limited to item i's own clauses, so a constrained decoder can neither skip, repeat nor cross-quote items.
    """
    entries = []
    for i, response in enumerate(responses, start=1):
        entry = verdict_decoding_schema(response)
        entry["properties"] = {"index": {"const": i}, **entry["properties"]}
        entry["required"] = ["index", *entry["required"]]
        entries.append(entry)
    return {"type": "object", "properties": {"verdicts": {"type": "array", "prefixItems": entries,
                                                           "minItems": len(entries), "maxItems": len(entries)}},
            "required": ["verdicts"]}


def batch_schema_response_format(responses: list[str]) -> dict[str, Any]:
    """OpenAI-style response_format carrying `batch_decoding_schema` (a grammar for llama-cpp-python's server)."""
    return {"type": "json_object", "schema": batch_decoding_schema(responses)}
