"""Open-ended answers: split a reference into answer points and measure how many a response covers (offline)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Protocol

_CIRCLED = re.compile("[\u2460-\u2473\u2776-\u277f]")  # ① .. ⑳, ❶ .. ❿
_NUMBERING = re.compile(
    r"(?:^|(?<=[\s,:;。]))(?:\d{1,2}(?:[、)]|\.(?!\d))|\(\d{1,2}\)|[一二三四五六七八九十]{1,2}[、.])"
)
_SEPARATORS = re.compile(r"[\n;。]+")
_PUNCT = re.compile(r"[\W_]+", re.UNICODE)


def split_points(reference: str) -> list[str]:
    """Split a reference answer into answer points at numbering (1. / (1) / ① / 一、), semicolons, 。 and line breaks."""
    text = unicodedata.normalize("NFKC", _CIRCLED.sub("\n", reference or ""))
    text = _NUMBERING.sub("\n", text)
    text = re.sub(r"(?m)^\s*[-•·*]+\s*", "", text)
    points = []
    for part in _SEPARATORS.split(text):
        part = part.strip(" \t,:、")
        if len(_PUNCT.sub("", part)) >= 2:
            points.append(part)
    return points


def _clean_text(text: str) -> str:
    return _PUNCT.sub("", unicodedata.normalize("NFKC", text).lower())


def _bigrams(text: str) -> set[str]:
    return {text[i:i + 2] for i in range(len(text) - 1)}


def point_coverage(point: str, response: str) -> float:
    """Share of the point's distinct character bigrams that also occur in the response (0..1).

    A one-character point counts as covered when the character occurs in the response.
    """
    return point_coverages([point], response)[0]


def point_coverages(points: Sequence[str], response: str) -> list[float]:
    """`point_coverage` of each point against one response (the response is cleaned once)."""
    r = _clean_text(response)
    r_bigrams: set[str] | None = None
    out = []
    for point in points:
        p = _clean_text(point)
        if len(p) <= 1:
            out.append(float(bool(p) and p in r))
            continue
        if r_bigrams is None:
            r_bigrams = _bigrams(r)
        want = _bigrams(p)
        out.append(len(want & r_bigrams) / len(want))
    return out


def recall_offline(points: list[str], response: str, point_threshold: float = 0.5) -> float:
    """Offline answer-point recall: share of points whose character-bigram coverage reaches `point_threshold`.

    A lexical stand-in for an LLM recall judge: it credits points the response states in similar words and
    misses paraphrases, so it under-estimates recall for free-style answers.
    """
    if not points:
        raise ValueError("no answer points to recall")
    return sum(point_coverage(p, response) >= point_threshold for p in points) / len(points)


class RecallJudge(Protocol):
    """Anything that scores how many answer points a response covers (0..1), e.g. an LLM judge."""

    def recall(self, points: list[str], response: str) -> float:
        """Share of `points` the response covers."""
        ...


class BigramRecallJudge:
    """The offline RecallJudge: character-bigram coverage per point (see `recall_offline`)."""

    def __init__(self, point_threshold: float = 0.5) -> None:
        self.point_threshold = point_threshold

    def recall(self, points: list[str], response: str) -> float:
        """Share of points covered lexically."""
        return recall_offline(points, response, self.point_threshold)


def is_wrong_open(recall: float, threshold: float = 0.6) -> bool:
    """An open answer counts as wrong when its answer-point recall is below `threshold`."""
    return recall < threshold
