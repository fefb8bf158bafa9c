"""The benchmark report: numbers from a database populated through the API, signatures, figures, a real browser."""

from __future__ import annotations

import base64
import json
import re
import subprocess
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.image as mpimg
import pytest

from judge.core.models import Verdict
from judge.core.taxonomy import CATEGORY_CODES
from judge.evaluate.metrics import agreement_report
from judge.medbench.scoring_run import score_outputs
from judge.report.build import build_report, pct
from judge.report.data import agreement_from_json, load_report_data
from judge.report.signatures import SIGNATURES, Measure, detect_signatures, measure
from judge.store.store import Store

CHROMIUM = Path("/usr/bin/chromium")

# Option-shuffle design of the synthetic outputs: (model, task) -> (questions, consistent ones). Each question is
# asked under two orders, (甲, 乙) and (乙, 甲), and the key says 甲. A consistent model picks 甲 both times
# (right twice); an inconsistent one answers <A> both times (甲 once = right, 乙 once = wrong).
DESIGN = {("m1", "Med-Exam"): (20, 17), ("m1", "MedSafety"): (20, 16), ("m2", "Med-Exam"): (20, 20)}
# Verdicts of judge j1 per (model, task): category -> count. One extra needs_review verdict must not count.
J1 = {
    ("m1", "Med-Exam"): {"omission": 4, "hallucination": 6},                      # exactly 40 % and 60 %
    ("m1", "MedSafety"): {"omission": 5, "hallucination": 4, "format_mismatch": 1},  # 50 %; format exactly 10 %
    ("m2", "Med-Exam"): {"hallucination": 7, "format_mismatch": 2, "unanswered": 1},  # 70 %, 20 %
}
DIM = {"Med-Exam": "knowledge_qa", "MedSafety": "safety_ethics"}


def _write_outputs(root: Path) -> list[Path]:
    for (model, task), (n, consistent) in DESIGN.items():
        folder = root / model
        folder.mkdir(parents=True, exist_ok=True)
        lines = []
        for i in range(n):
            for opts, answer_if_consistent in ((["A. 甲", "B. 乙"], "<A>"), (["A. 乙", "B. 甲"], "<B>")):
                answer = answer_if_consistent if i < consistent else "<A>"
                lines.append({"question": f"{task} 问题 {i}", "options": opts, "answer": answer,
                              "other": {"source": task, "id": i}})
        (folder / f"{task}.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in lines) + "\n",
                                              encoding="utf-8")
    return sorted(p for p in root.iterdir() if p.is_dir())


def _verdicts(store: Store, judge_id: str, plan: dict[tuple[str, str], dict[str, int]]) -> None:
    out = []
    for (model, task), counts in plan.items():
        ids = [r[0] for r in store.query("SELECT item_id FROM items WHERE model = ? AND task = ? ORDER BY item_id",
                                         [model, task])[1]]
        cats = [c for c, k in counts.items() for _ in range(k)]
        out += [Verdict(item_id=i, judge_id=judge_id, status="ok", category=c, confidence=0.8)
                for i, c in zip(ids, cats, strict=False)]
        out.append(Verdict(item_id=ids[-1], judge_id=judge_id, status="needs_review", error="bad JSON"))
    store.write_verdicts(out)


GOLD = ["omission"] * 6 + ["hallucination"] * 4 + ["format_mismatch"] * 3 + ["unanswered"] * 2
PRED = ["omission"] * 5 + ["hallucination"] + ["hallucination"] * 3 + ["omission"] + ["format_mismatch"] * 3 + \
    ["unanswered", "omission"]
CONF = [0.95, 0.9, 0.9, 0.85, 0.8, 0.6, 0.9, 0.7, 0.75, 0.55, 0.99, 0.95, 0.9, 0.65, 0.3]


def _calibration(store: Store, judge_id: str, kappa: float, nested: bool = False) -> None:
    rep = agreement_report(GOLD, PRED, confidences=CONF, n_boot=50)
    payload = {"report": rep.model_dump(mode="json"), "judge_id": judge_id} if nested else rep.model_dump(mode="json")
    store.con.execute(
        "INSERT INTO calibration_runs (calibration_id, judge_id, model, split, n, kappa, kappa_lo, kappa_hi, macro_f1,"
        " ece, coverage, report) VALUES (?, ?, 'test-model', 'test', ?, ?, 0.5, 0.9, ?, ?, 1.0, ?)",
        [f"cal-{judge_id}", judge_id, len(GOLD), kappa, rep.macro_f1, rep.ece, json.dumps(payload)])


@pytest.fixture
def db(tmp_path) -> Path:
    path = tmp_path / "report.duckdb"
    key = tmp_path / "key.csv"
    key.write_text("task,id,answer\n" + "".join(f"{t},{i},甲\n" for t in DIM for i in range(20)), encoding="utf-8")
    score_outputs(_write_outputs(tmp_path / "outputs"), db=path, key=key, progress=False)
    with Store(path) as store:
        _verdicts(store, "j0", {("m1", "Med-Exam"): {"output_error": 3}})
        store.con.execute("UPDATE verdicts SET created_at = created_at - INTERVAL 1 DAY WHERE judge_id = 'j0'")
        _verdicts(store, "j1", J1)
        _calibration(store, "j1", kappa=0.6123)
    return path


class _Tables(HTMLParser):
    """Every table row of an HTML page as a list of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs) -> None:  # type: ignore[no-untyped-def]
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _html_rows(path: Path) -> list[list[str]]:
    p = _Tables()
    p.feed(path.read_text(encoding="utf-8"))
    return p.rows


def _expected_shares(plan: dict[tuple[str, str], dict[str, int]], dimension: str) -> tuple[int, list[str]]:
    counts: Counter[str] = Counter()
    for (_, task), cats in plan.items():
        if DIM[task] == dimension:
            counts.update(cats)
    n = sum(counts.values())
    return n, [f"{100 * counts[c] / n:.1f} %" for c in CATEGORY_CODES]


def test_html_report_numbers(db, tmp_path) -> None:
    out = build_report(db, tmp_path / "r.html")
    rows = _html_rows(out)
    # error distribution, pooled over models, judge j1 (the newest): rows = dimension, columns = 8 categories
    for dim in ("knowledge_qa", "safety_ethics"):
        n, shares = _expected_shares(J1, dim)
        assert [dim, str(n), *shares] in rows
    # accuracy: consistent questions are right twice, inconsistent ones once (see DESIGN)
    for (model, task), (n, consistent) in DESIGN.items():
        right = 2 * consistent + (n - consistent)
        acc = f"{100 * right / (2 * n):.1f} %"
        assert [DIM[task], model, str(2 * n), str(right), str(2 * n - right), "0", "0", str(2 * n), acc, str(2 * n),
                "0.0 %"] in rows  # ... unknown, silver-keyed, graded ...
        assert [DIM[task], model, str(n), str(consistent), f"{consistent / n:.3f}",
                f"{consistent / n:.3f}"] in rows  # robustness: strict = consistency here
    html = out.read_text(encoding="utf-8")
    assert "κ = 0.612 [0.500, 0.900]" in html
    assert "<script" not in html and "<link" not in html and "http" not in html.replace("http-equiv", "")
    pngs = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(pngs) == 4  # distribution, κ over time, confusion matrix, reliability diagram
    assert all(base64.b64decode(p)[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


def test_signatures_fire_only_beyond_thresholds(db) -> None:
    with Store(db) as store:
        data = load_report_data(store)
    # every cell of the fixture holds 10-20 verdicts: shares such as 50 % omissions (threshold 40 %) or a consistency
    # of 0.80 (threshold 0.85) cross their thresholds, but their 95 % intervals do not clear them: nothing fires
    crossing = {(m.dimension, m.model, m.metric, round(m.value, 6)) for m in data.measures
                for s in SIGNATURES if s.metric == m.metric and s.crosses(m.value)}
    assert crossing == {("safety_ethics", "m1", "omission", 0.5), ("knowledge_qa", "m2", "hallucination", 0.7),
                        ("knowledge_qa", "m2", "format_mismatch", 0.2), ("safety_ethics", "m1", "robustness", 0.8)}
    assert data.hits == []
    measured = {(m.dimension, m.model, m.metric): m for m in data.measures}
    omission = measured[("safety_ethics", "m1", "omission")]
    assert omission.value == 0.5 and omission.n == 10
    assert (round(omission.ci_lo, 4), round(omission.ci_hi, 4)) == (0.2366, 0.7634)  # Wilson, 5 of 10
    assert measured[("knowledge_qa", "m1", "robustness")].value == 0.85


def test_signatures_need_enough_items_and_an_interval_beyond_the_threshold() -> None:
    def fired(metric: str, k: int, n: int) -> bool:
        return bool(detect_signatures([measure("d", "m", metric, k, n)]))  # type: ignore[arg-type]

    assert not fired("omission", 1, 1), "100 % of one item is no evidence"
    assert not fired("omission", 9, 9), "below the minimum n"
    assert fired("omission", 10, 10) and fired("omission", 120, 200)  # 60 % of 200: CI [0.53, 0.67] > 40 %
    assert not fired("omission", 90, 200)  # 45 %: CI [0.38, 0.52] reaches below 40 %
    assert fired("robustness", 150, 200) and not fired("robustness", 165, 200)  # 0.75 fires, 0.825 does not


def test_signature_table_boundaries() -> None:
    def hits(metric: str, value: float) -> int:  # a huge n: the interval is the value itself
        m = Measure(dimension="d", model="m", metric=metric, value=value, n=10**9, ci_lo=value, ci_hi=value)
        return len(detect_signatures([m]))

    assert {s.metric: (s.op, s.threshold) for s in SIGNATURES} == {
        "omission": (">", 0.40), "hallucination": (">", 0.60), "robustness": ("<", 0.85), "format_mismatch": (">", 0.10)}
    assert (hits("omission", 0.40), hits("omission", 0.4001)) == (0, 1)
    assert (hits("hallucination", 0.60), hits("hallucination", 0.6001)) == (0, 1)
    assert (hits("format_mismatch", 0.10), hits("format_mismatch", 0.1001)) == (0, 1)
    assert (hits("robustness", 0.85), hits("robustness", 0.8499)) == (0, 1)


def test_markdown_report_writes_pngs_next_to_it(db, tmp_path) -> None:
    out = build_report(db, tmp_path / "md" / "bench.md", fmt="md")
    text = out.read_text(encoding="utf-8")
    for name in ("distribution", "confusion", "reliability"):
        png = out.with_name(f"bench_{name}.png")
        assert png.read_bytes()[:4] == b"\x89PNG"
        assert f"]({png.name})" in text
    n, shares = _expected_shares(J1, "safety_ethics")
    assert f"| safety_ethics | {n} | " + " | ".join(shares) + " |" in text
    assert "No failure signature fired: a signature needs n ≥ 10 and its whole 95 % Wilson interval" in text


def test_judge_id_selects_verdicts_and_calibration(db, tmp_path) -> None:
    out = build_report(db, tmp_path / "j0.md", fmt="md", judge_id="j0")
    text = out.read_text(encoding="utf-8")
    assert "| knowledge_qa | 3 | " + " | ".join(pct(float(c == "output_error")) for c in CATEGORY_CODES) + " |" in text
    assert "no calibration run yet for judge `j0`" in text
    assert not out.with_name("j0_confusion.png").exists()
    with pytest.raises(ValueError, match="no verdicts of judge"):
        build_report(db, tmp_path / "x.md", fmt="md", judge_id="nobody")


def test_empty_database_report(tmp_path) -> None:
    Store(tmp_path / "e.duckdb").close()
    text = build_report(tmp_path / "e.duckdb", tmp_path / "e.md", fmt="md").read_text(encoding="utf-8")
    assert "no calibration run yet" in text and "No verdicts yet" in text and "No scored items yet" in text
    html = build_report(tmp_path / "e.duckdb", tmp_path / "e.html").read_text(encoding="utf-8")
    assert "no calibration run yet" in html
    with pytest.raises(FileNotFoundError):
        build_report(tmp_path / "missing.duckdb", tmp_path / "m.html")
    with pytest.raises(ValueError):
        build_report(tmp_path / "e.duckdb", tmp_path / "e.pdf", fmt="pdf")  # type: ignore[arg-type]


def test_calibration_report_json_shapes() -> None:
    rep = agreement_report(GOLD, PRED, confidences=CONF, n_boot=20)
    flat = agreement_from_json(json.dumps(rep.model_dump(mode="json")))
    nested = agreement_from_json({"calibration_id": "c", "report": rep.model_dump(mode="json")})
    assert flat is not None and nested is not None
    assert flat.confusion == nested.confusion == rep.confusion
    assert sum(map(sum, flat.confusion)) == len(GOLD)
    assert agreement_from_json({"kappa": 0.5}) is None


@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium")
def test_html_renders_in_headless_chromium(db, tmp_path) -> None:
    html = build_report(db, tmp_path / "shot.html")
    png = tmp_path / "shot.png"
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}", "--window-size=1280,2000",
           html.resolve().as_uri()]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    assert png.stat().st_size > 30_000
    img = mpimg.imread(png)
    assert img.shape[:2] == (2000, 1280)
    assert img[..., :3].std() > 0.05  # not a blank page


def test_drift_section_from_real_calibration_runs(tmp_path, stub_server) -> None:
    from judge.core.settings import JudgeSettings
    from judge.evaluate.calibrate import calibrate
    from judge.llm.judge import LLMJudge
    from judge.run.factory import make_judge
    from judge.testing import verdict_json
    from tests.conftest import GOLD, fast_settings

    db = tmp_path / "drift.duckdb"
    first = calibrate(GOLD, judge=make_judge("offline"), db=db, split="test", progress=False, n_boot=200)
    server = stub_server(lambda body: verdict_json("omission", 0.5))  # a judge that drifted to one category
    bad = LLMJudge(JudgeSettings(model="openai/drifted", api_base=server.base_url, **fast_settings()))
    second = calibrate(GOLD, judge=bad, db=db, split="test", progress=False, n_boot=200)
    with Store(db) as store:
        data = load_report_data(store)
    assert [p.calibration_id for p in data.drift] == [first.calibration_id, second.calibration_id]
    assert data.drift[0].kappa == pytest.approx(first.kappa) and data.drift[1].kappa == pytest.approx(second.kappa)
    (w,) = data.drift_warnings
    assert w.split == "test" and w.newest.judge_id == bad.judge_id and w.drop == pytest.approx(first.kappa - second.kappa)
    md = build_report(db, tmp_path / "r.md", fmt="md").read_text(encoding="utf-8")
    assert "### Drift: κ over time" in md and f"**Drift on split test:** the newest calibration `{second.calibration_id}`" in md
    assert (tmp_path / "r_drift.png").exists()
    html = build_report(db, tmp_path / "r.html").read_text(encoding="utf-8")
    assert 'alt="kappa over time"' in html and "drift-warning" in html


def test_calibration_section_draws_the_abstention_curve(tmp_path) -> None:
    from judge.evaluate.calibrate import calibrate
    from judge.run.factory import make_judge
    from tests.conftest import GOLD

    db = tmp_path / "abstain.duckdb"
    res = calibrate(GOLD, judge=make_judge("offline"), db=db, split="test", progress=False, n_boot=50)
    assert res.abstention is not None and res.abstention.recommended_tau is not None
    with Store(db) as store:
        data = load_report_data(store)
    assert data.calibration is not None and data.calibration.abstention == res.abstention
    md = build_report(db, tmp_path / "r.md", fmt="md").read_text(encoding="utf-8")
    assert (f"Recommended on out-of-fold verdicts (cross-validated on train+dev): τ = "
            f"{res.abstention.recommended_tau:.2f}") in md and "![abstention curve]" in md
    assert "would be in-sample" in md
    assert (tmp_path / "r_abstention.png").stat().st_size > 5000
    html = build_report(db, tmp_path / "r.html").read_text(encoding="utf-8")
    assert 'alt="abstention curve: kappa and coverage vs tau"' in html


def test_verdicts_without_a_category_are_counted_next_to_the_distribution(db, tmp_path) -> None:
    with Store(db) as store:
        assert load_report_data(store).uncategorised == {"needs_review": len(J1)}
        store.write_verdicts([Verdict(item_id=i, judge_id="j2", status="needs_review", error="below min_confidence")
                              for i in ("m1/Med-Exam/0", "m1/Med-Exam/1")]
                             + [Verdict(item_id="m1/Med-Exam/2", judge_id="j2", status="failed", error="boom")])
    md = build_report(db, tmp_path / "r.md", fmt="md", judge_id="j1").read_text(encoding="utf-8")
    assert f"Not in these tables: {len(J1)} needs_review verdict(s)" in md
    html = build_report(db, tmp_path / "r.html", judge_id="j1").read_text(encoding="utf-8")
    assert f"Not in these tables: {len(J1)} needs_review verdict(s)" in html
    # a judge whose verdicts all lack a category is not reported as having no verdicts
    only = build_report(db, tmp_path / "j2.md", fmt="md", judge_id="j2").read_text(encoding="utf-8")
    assert "gave no category yet: 1 failed, 2 needs_review verdict(s)" in only and "No verdicts yet" not in only
