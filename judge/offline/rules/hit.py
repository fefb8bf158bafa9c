"""The result of one deterministic check: which rule fired, the category it implies, and a verbatim quote."""

from __future__ import annotations

from pydantic import BaseModel, Field

from judge.core.taxonomy import CategoryCode


class RuleHit(BaseModel):
    """A deterministic check that fired on a response."""

    rule: str
    """Name of the check that fired: unanswered, output_error or format_mismatch."""
    category: CategoryCode
    """Error category the hit implies."""
    evidence: str
    """Verbatim substring of the response; empty only when the response itself is empty."""
    confidence: float = Field(ge=0.0, le=1.0)
    """Fixed strength of the pattern that fired, 0..1."""
    rationale: str
    """One short English sentence saying what was found."""


def clip(text: str, start: int = 0, end: int | None = None, limit: int = 120) -> str:
    """Return text[start:end] stripped and cut to `limit` characters: still a verbatim substring of `text`."""
    piece = text[start:end].strip()
    return piece[:limit].rstrip() if len(piece) > limit else piece


def clip_tail(text: str, limit: int = 60) -> str:
    """Return the last `limit` characters of the stripped text (a verbatim substring)."""
    piece = text.strip()
    return piece[-limit:].lstrip() if len(piece) > limit else piece


def trim(text: str, start: int, end: int, limit: int = 120) -> str:
    """Like `clip`, but also drops punctuation and brackets at both ends of text[start:end]."""
    while start < end and not text[start].isalnum():
        start += 1
    while end > start and not text[end - 1].isalnum():
        end -= 1
    return clip(text, start, end, limit)
