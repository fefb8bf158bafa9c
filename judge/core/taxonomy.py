"""The error taxonomy: eight category codes, their definitions and the decision order."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel

from judge.core.exceptions import ConfigError
from judge.core.hashing import content_version
from judge.core.resources import resource_dir

CategoryCode = Literal[
    "omission",
    "hallucination",
    "format_mismatch",
    "causal_reasoning_deficiency",
    "contextual_inconsistency",
    "unanswered",
    "output_error",
    "medical_language_generation_deficiency",
]
CATEGORY_CODES: tuple[str, ...] = get_args(CategoryCode)


class Category(BaseModel):
    """One error category of the taxonomy."""

    code: CategoryCode
    """Stable machine code, e.g. `omission`."""
    zh: str
    """Chinese name, e.g. 遗漏."""
    en: str
    """English name."""
    definition: str
    """What a response must show to belong here."""
    example: str
    """One short illustrative example."""


class Taxonomy(BaseModel):
    """A versioned set of categories with a decision order for picking one primary category."""

    version: str
    """Version string; part of every judge_id."""
    decision_order: list[CategoryCode]
    """Priority order used when several categories apply."""
    categories: list[Category]
    """The categories, in presentation order."""
    content_hash: str = ""
    """sha256 of the taxonomy file, first 12 hex digits."""

    def get(self, code: str) -> Category:
        """Return the category with this code."""
        for c in self.categories:
            if c.code == code:
                return c
        raise KeyError(code)

    @property
    def version_tag(self) -> str:
        """Version and content hash, as judge identities record the taxonomy: "<version>:<hash>"."""
        return f"{self.version}:{self.content_hash}"

    @property
    def codes(self) -> list[str]:
        """Category codes in presentation order."""
        return [c.code for c in self.categories]

    def primary(self, codes: list[str]) -> str:
        """Pick the primary category among several by the decision order."""
        ranked = sorted(set(codes), key=self.decision_order.index)
        if not ranked:
            raise ValueError("no category given")
        return ranked[0]


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Load and check a taxonomy TOML file (default: the shipped prompts/taxonomy.toml)."""
    return _load(str(path) if path else str(resource_dir("prompts") / "taxonomy.toml"))


@lru_cache(maxsize=8)
def _load(path: str) -> Taxonomy:
    raw = Path(path).read_bytes()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
        tax = Taxonomy(**data, content_hash=content_version(raw))
    except Exception as e:  # noqa: BLE001 - any parse problem is a config problem
        raise ConfigError(f"invalid taxonomy file {path}: {e}") from e
    if sorted(tax.codes) != sorted(CATEGORY_CODES) or sorted(tax.decision_order) != sorted(CATEGORY_CODES):
        raise ConfigError(f"taxonomy {path} must define each of the 8 codes exactly once: {CATEGORY_CODES}")
    return tax
