"""Locate files shipped with medjudge (prompts, models) in a source checkout or an install."""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parents[1]
"""The judge package folder."""


def resource_dir(name: str) -> Path:
    """Return the shipped folder `name` (e.g. "prompts"): inside the wheel or the checkout."""
    for candidate in (_PKG / "_data" / name, _PKG.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"medjudge resource folder {name!r} not found next to {_PKG}")


def prompt_path(name: str) -> Path:
    """Resolve a prompt file: an existing path as given, else a file in the shipped prompts/."""
    p = Path(name)
    if p.exists():
        return p
    shipped = resource_dir("prompts") / name
    if shipped.exists():
        return shipped
    raise FileNotFoundError(f"prompt file {name!r} not found (looked in . and {resource_dir('prompts')})")
