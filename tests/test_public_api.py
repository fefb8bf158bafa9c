"""Everything in judge.__all__ resolves (optional pieces included once they exist)."""

from __future__ import annotations

import judge


def test_all_names_resolve():
    missing = [n for n in judge.__all__ if not hasattr(judge, n)]
    assert missing == []


def test_lazy_import_gives_the_real_objects():
    from judge.run.runner import label

    assert judge.label is label
