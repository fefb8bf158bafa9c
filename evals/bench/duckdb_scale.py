"""The verdict store at scale: writes, the error-distribution and κ-by-judge queries, and resume.

Judge A gets a verdict for each of n items and judge B for the first half (agreeing with A on 70% of them,
a uniformly random category otherwise, so κ ≈ 0.70 by construction). A's rows go through
`Store.write_verdicts` (Verdict objects, batches of 50k) and B's through the column-wise bulk path
`Store.write_verdict_table`. Baselines: DuckDB `executemany` of a plain INSERT into a table with the same
primary key (timed on 2,000 rows: it manages a few hundred a second) and pandas `DataFrame.to_parquet` of
the same n rows (no database at all).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from judge.core.models import Item, Verdict
from judge.core.taxonomy import CATEGORY_CODES
from judge.store.store import Store

BATCH = 50_000
KAPPA_SQL = """
WITH pairs AS (
    SELECT a.category AS ca, b.category AS cb
    FROM verdicts a JOIN verdicts b ON a.item_id = b.item_id
    WHERE a.judge_id = ? AND b.judge_id = ? AND a.status = 'ok' AND b.status = 'ok'),
n AS (SELECT count(*)::DOUBLE AS n FROM pairs),
po AS (SELECT avg(CASE WHEN ca = cb THEN 1.0 ELSE 0.0 END) AS po FROM pairs),
ma AS (SELECT ca AS c, count(*) AS k FROM pairs GROUP BY 1),
mb AS (SELECT cb AS c, count(*) AS k FROM pairs GROUP BY 1),
pe AS (SELECT sum(ma.k * mb.k) / (SELECT n * n FROM n) AS pe FROM ma JOIN mb USING (c))
SELECT (po - pe) / (1 - pe) AS kappa, (SELECT n FROM n) AS n FROM po, pe
"""


@dataclass
class DbRow:
    """One timed store operation."""

    step: str
    rows: int
    seconds: float
    note: str = ""

    @property
    def per_s(self) -> float:
        """Rows per second."""
        return self.rows / self.seconds if self.seconds else 0.0


def _categories(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    codes = np.array(CATEGORY_CODES)
    a = rng.integers(0, len(codes), n)
    b = np.where(rng.random(n) < 0.7, a, rng.integers(0, len(codes), n))
    return codes[a], codes[b]


def _ids(n: int) -> list[str]:
    return [f"i{i:08d}" for i in range(n)]


def _timed(step: str, rows: int, fn, note: str = "") -> tuple[DbRow, object]:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn()
    return DbRow(step, rows, time.perf_counter() - t0, note), out


def bench_duckdb(n: int, workdir: Path, seed: int = 7) -> tuple[list[DbRow], dict[str, float]]:
    """Run every step over n items; return the timings and the two κ values (SQL and sklearn)."""
    from sklearn.metrics import cohen_kappa_score

    half = n // 2
    ids = _ids(n)
    cat_a, cat_b = _categories(n, seed)
    out: list[DbRow] = []
    with tempfile.TemporaryDirectory(dir=workdir) as tmp, Store(Path(tmp) / "scale.duckdb") as st:
        items = [Item(item_id=i, dimension="knowledge_qa", model=f"m{k % 4}", question="q", response="r")
                 for k, i in enumerate(ids)]
        row, _ = _timed("upsert_items", n, lambda: st.upsert_items(items))
        out.append(row)
        items.clear()

        construct = write = 0.0
        for start in range(0, n, BATCH):
            t0 = time.perf_counter()
            batch = [Verdict(item_id=ids[k], judge_id="judge-A", status="ok", category=str(cat_a[k]),
                             rationale="r", confidence=0.8, model="bench") for k in range(start, min(n, start + BATCH))]
            t1 = time.perf_counter()
            st.write_verdicts(batch, "run-A")
            construct, write = construct + t1 - t0, write + time.perf_counter() - t1
        out.append(DbRow("write_verdicts (Verdict objects)", n, write, f"+ {construct:.1f} s building the objects"))

        table_b = pa.table({"item_id": ids[:half], "judge_id": ["judge-B"] * half, "status": ["ok"] * half,
                            "category": [str(c) for c in cat_b[:half]], "confidence": [0.8] * half})
        row, _ = _timed("write_verdict_table (bulk, columns)", half, lambda: st.write_verdict_table(table_b, "run-B"))
        out.append(row)

        row, dist = _timed("query error_distribution", 2 * half + (n - half),
                           lambda: st.query("SELECT * FROM error_distribution")[1], "rows scanned")
        out.append(row)
        row, kappa_sql = _timed("query κ(A, B) in SQL", half,
                                lambda: st.query(KAPPA_SQL, ["judge-A", "judge-B"])[1][0][0])

        def pull() -> float:
            df = st.con.execute("SELECT a.category, b.category FROM verdicts a JOIN verdicts b USING (item_id) "
                                "WHERE a.judge_id = 'judge-A' AND b.judge_id = 'judge-B' AND a.status = 'ok' "
                                "AND b.status = 'ok'").fetchnumpy()
            return float(cohen_kappa_score(*df.values()))

        out.append(row)
        row, kappa_np = _timed("κ(A, B) pulled into numpy + sklearn", half, pull)
        out.append(row)

        def resume() -> int:
            done = st.done_item_ids("judge-A")
            return sum(1 for i in ids if i not in done)

        row, todo = _timed("resume: done_item_ids + filter", n, resume, "items already done by judge A")
        out.append(row)
        assert todo == 0 and len(dist) > 0

    slice_n = min(n, 2_000)
    frame = pd.DataFrame({"item_id": ids, "judge_id": "judge-A", "status": "ok", "category": cat_a,
                          "confidence": 0.8})
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        import duckdb

        con = duckdb.connect(str(Path(tmp) / "plain.duckdb"))
        con.execute("CREATE TABLE v (item_id VARCHAR, judge_id VARCHAR, status VARCHAR, category VARCHAR, "
                    "confidence DOUBLE, PRIMARY KEY (item_id, judge_id))")
        records = list(frame.head(slice_n).itertuples(index=False, name=None))
        row, _ = _timed("baseline: duckdb executemany INSERT", slice_n,
                        lambda: con.executemany("INSERT INTO v VALUES (?, ?, ?, ?, ?)", records),
                        f"timed on {slice_n:,} rows")
        out.append(row)
        con.close()
        row, _ = _timed("baseline: pandas to_parquet", n, lambda: frame.to_parquet(Path(tmp) / "v.parquet"))
        out.append(row)
    return out, {"kappa_sql": float(kappa_sql), "kappa_sklearn": kappa_np}  # type: ignore[arg-type]
