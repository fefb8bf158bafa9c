"""Build the benchmark report (self-contained HTML or Markdown with PNG files) from a medjudge database.

Sections: accuracy and option-shuffle robustness per dimension and model; the error distribution per dimension
(rows = dimension, columns = the 8 categories) for one judge; the latest calibration run's confusion matrix and
reliability diagram; and the failure signatures (judge.report.signatures) that fire, each with its measured value.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Literal

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from judge.core.taxonomy import CATEGORY_CODES
from judge.report.data import ReportData, load_report_data
from judge.report.plots import abstention_png, confusion_png, distribution_png, drift_png, reliability_png
from judge.report.signatures import MIN_N, SIGNATURES
from judge.store import Store

ReportFormat = Literal["html", "md"]
_TEMPLATES = Path(__file__).resolve().parent / "templates"


def pct(x: float | None, digits: int = 1) -> str:
    """A fraction as a percentage ("41.0 %"); an em dash for None."""
    return "—" if x is None else f"{x * 100:.{digits}f} %"


def num(x: float | None, digits: int = 3) -> str:
    """A number with `digits` decimals; an em dash for None."""
    return "—" if x is None else f"{x:.{digits}f}"


def figures(data: ReportData) -> dict[str, bytes]:
    """PNG figures for the report, by name: distribution, drift, confusion, reliability, abstention (those that have
    data)."""
    out: dict[str, bytes] = {}
    if data.distribution:
        out["distribution"] = distribution_png([(r.dimension, r.shares) for r in data.distribution], CATEGORY_CODES)
    drift = [(p.series + f" · {p.split}", p.created_at, p.kappa, p.kappa_lo, p.kappa_hi) for p in data.drift
             if p.kappa is not None]
    if drift:
        out["drift"] = drift_png(drift)
    agreement = data.calibration.agreement if data.calibration else None
    if agreement is not None:
        out["confusion"] = confusion_png(agreement.labels, agreement.confusion)
        if any(b.count for b in agreement.reliability):
            out["reliability"] = reliability_png(agreement.reliability)
    if data.calibration is not None and data.calibration.abstention is not None and data.calibration.abstention.curve:
        out["abstention"] = abstention_png(data.calibration.abstention, data.calibration.split)
    return out


def render(data: ReportData, fmt: ReportFormat, images: dict[str, str]) -> str:
    """Render the report template; `images` maps figure names to an <img> src (data URI or file name)."""
    env = Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(["html.j2"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["pct"] = pct
    env.filters["num"] = num
    template = env.get_template(f"report.{fmt}.j2")
    return template.render(d=data, images=images, signatures=SIGNATURES, codes=CATEGORY_CODES, min_n=MIN_N)


def build_report(db: str | Path, out: str | Path, fmt: ReportFormat = "html", judge_id: str | None = None) -> Path:
    """Write the report for the store at `db` to `out` and return its path.

    HTML embeds its figures as base64 PNG (one self-contained file); Markdown writes `<out stem>_<figure>.png`
    next to the .md file. `judge_id` picks whose verdicts make the error distribution (default: the newest
    judge) and restricts the calibration section to that judge's runs.
    """
    if fmt not in ("html", "md"):
        raise ValueError(f"format must be html or md, not {fmt!r}")
    db, out = Path(db), Path(out)
    if not db.exists():
        raise FileNotFoundError(f"no database at {db}")
    with Store(db) as store:
        data = load_report_data(store, judge_id)
    out.parent.mkdir(parents=True, exist_ok=True)
    images: dict[str, str] = {}
    for name, png in figures(data).items():
        if fmt == "html":
            images[name] = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        else:
            path = out.with_name(f"{out.stem}_{name}.png")
            path.write_bytes(png)
            images[name] = path.name
    out.write_text(render(data, fmt, images), encoding="utf-8")
    return out
