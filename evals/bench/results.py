"""Collect benchmark tables: print each with rich as it is measured, and render them all as Markdown."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table


@dataclass
class Report:
    """The tables, notes and part timings of one benchmark run on one machine."""

    machine: dict[str, str]
    quick: bool = False
    sections: list[tuple[str, list[str], list[list[str]]] | str] = field(default_factory=list)
    timings: list[tuple[str, float]] = field(default_factory=list)
    console: Console = field(default_factory=lambda: Console(width=150))

    def __post_init__(self) -> None:
        self.console.print(" · ".join(f"{k}: {v}" for k, v in self.machine.items()), highlight=False)

    def table(self, title: str, header: list[str], rows: list[list[Any]]) -> None:
        """Add and print a table."""
        cells = [[str(c) for c in r] for r in rows]
        self.sections.append((title, header, cells))
        t = Table(*header, title=title, title_justify="left")
        for r in cells:
            t.add_row(*r)
        self.console.print(t)

    def note(self, text: str) -> None:
        """Add and print a note."""
        self.sections.append(text)
        self.console.print(f"note: {text}", highlight=False)

    def timing(self, part: str, seconds: float) -> None:
        """Record how long a part took."""
        self.timings.append((part, seconds))
        self.console.print(f"[dim]{part} took {seconds:.1f} s[/]")

    def markdown(self) -> str:
        """All tables and notes as a Markdown document."""
        m = self.machine
        lines = ["# medjudge benchmark results", "",
                 f"Measured {m['date']} on {m['nproc']} CPU(s) ({m['cpu']}), {m['ram']} RAM, Python {m['python']}, "
                 f"{m['platform']}; load average at start {m.get('load', 'n/a')}."
                 + (" Quick smoke run (tiny sizes): not for quoting." if self.quick else ""), ""]
        for s in self.sections:
            if isinstance(s, str):
                lines += [f"- {s}", ""]
                continue
            title, header, rows = s
            lines += [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
            lines.append("")
        if self.timings:
            lines += ["Part timings: " + ", ".join(f"{p} {s:.0f} s" for p, s in self.timings), ""]
        return "\n".join(lines)
