"""The warnings at the top of the benchmark report: what a reader must see before trusting its tables.

Pure: computed from the figures `judge.report.data` gathered. Each banner names the count, an example or the
affected tasks, and where to look next.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from judge.report.data import ReportData


def banners(data: ReportData, n_open_unknown: int) -> list[str]:
    """The warnings a reader must see first (pure: computed from the gathered figures)."""
    out = []
    for kind in sorted({p.kind for p in data.problems if not p.skipped}):
        groups = [p for p in data.problems if p.kind == kind and not p.skipped]
        first = groups[0]
        out.append(f"{sum(g.n for g in groups)} input line(s) read with warning {kind} in {len(groups)} file(s), "
                   f"e.g. {first.source_file}:{first.first_line}: {first.message}")
    if data.n_skipped:
        kinds = sorted({p.kind for p in data.problems if p.skipped})
        out.append(f"{data.n_skipped} input line(s) skipped ({', '.join(kinds)}); see section 7")
    unknown = sorted({a.task or "" for a in data.accuracy_by_task if a.dimension == "unknown"})
    if unknown:
        out.append(f"{len(unknown)} task(s) have no dimension (not in the task table): {', '.join(unknown)}")
    incomplete = [c for c in data.coverage if c.incomplete]
    if incomplete:
        shown = ", ".join(f"{c.model}/{c.task} ({c.n_answered - c.n_empty} of {c.n_expected} answered)"
                          for c in incomplete[:8])
        out.append(f"{len(incomplete)} model x task cell(s) with missing or empty answers: {shown}"
                   + (", ..." if len(incomplete) > 8 else "") + "; see section 6")
    if data.unshuffled_choice_tasks:
        out.append("choice task(s) asked under one option order per question, so no shuffle consistency is "
                   f"measured: {', '.join(data.unshuffled_choice_tasks)}")
    n_wrong = sum(a.n_wrong for a in data.accuracy) + sum(r.n_wrong for r in data.silver)
    if n_wrong and not data.distribution:
        out.append(f"{n_wrong} wrong answer(s) are not classified yet: run medjudge label --only-wrong")
    if n_open_unknown:
        out.append(f"{n_open_unknown} open answer(s) have no reference answer: their correctness stays unknown")
    return out
