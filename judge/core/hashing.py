"""The two hashes medjudge versions things by: a text's content version and a judge identity's id."""

from __future__ import annotations

import hashlib
import json


def content_version(content: str | bytes) -> str:
    """The version of a prompt, taxonomy, gold or other file: the first 12 hex digits of its content's SHA-256."""
    return hashlib.sha256(content.encode() if isinstance(content, str) else content).hexdigest()[:12]


def make_judge_id(identity: dict[str, object]) -> str:
    """Hash a judge identity (model, prompt version, taxonomy version, settings; never a secret) into a stable id."""
    blob = json.dumps(identity, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
