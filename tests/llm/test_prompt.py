"""Prompt rendering and the per-call messages hash."""

from __future__ import annotations

import hashlib
import json

from judge.core.taxonomy import load_taxonomy
from judge.gold.gold_set import load_gold
from judge.llm.prompt import load_prompt, messages_hash
from tests.conftest import GOLD


def reference_hash(messages: list[dict]) -> str:
    return hashlib.sha256(json.dumps(messages, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:16]


def test_messages_hash_is_the_sha256_of_the_sorted_json_for_every_gold_item():
    prompt, taxonomy = load_prompt(), load_taxonomy()
    hashes = set()
    for g in load_gold(GOLD):
        messages = prompt.render(g.to_item(), taxonomy)
        assert messages_hash(messages) == reference_hash(messages)
        hashes.add(messages_hash(messages))
    assert len(hashes) == len(load_gold(GOLD)), "different items, different hashes"


def test_messages_hash_of_unusual_messages_matches_the_definition():
    odd = [
        [{"role": "user", "content": 'quote " backslash \\ line\u2028sep \x00 制表\t'}],
        [{"role": "system", "content": "s"}, {"role": "assistant", "content": "a", "name": "n"}],
        [{"role": "user", "content": [{"type": "text", "text": "parts"}]}],
        [],
    ]
    for messages in odd:
        assert messages_hash(messages) == reference_hash(messages)
