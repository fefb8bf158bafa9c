"""A corpus of broken input files: every bad row becomes a file:line error, every good row is kept and labelled."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from judge.core.exceptions import InputError
from judge.core.settings import JudgeSettings
from judge.llm.judge import LLMJudge
from judge.run.runner import collect, label
from judge.store.store import Store
from judge.testing import verdict_json
from tests.conftest import fast_settings

BOM = b"\xef\xbb\xbf"


def rec(rid: str | None = None, **fields: object) -> bytes:
    """One JSONL record (bytes, no newline); question/response default to realistic text."""
    data: dict[str, object] = {"question": "高血压的一线降压药有哪些？", "response": "利尿剂、ACEI、ARB、CCB。"}
    if rid is not None:
        data = {"item_id": rid, **data}
    data.update(fields)
    return json.dumps(data, ensure_ascii=False).encode()


def lines(*parts: bytes, eol: bytes = b"\n") -> bytes:
    return eol.join(parts) + eol


@dataclass
class Case:
    """A bad input file, the errors it must produce ((line or None, text)) and the item ids it must keep."""

    name: str
    ext: str
    content: bytes
    errors: list[tuple[int | None, str]] = field(default_factory=list)
    good: list[str] = field(default_factory=list)


def _cases() -> list[Case]:
    ok1, ok2 = rec("ok1"), rec("ok2")
    huge = b'{"question": "q", "response": "' + b"x" * 3_000_000  # a 3 MB line that never closes
    csv_head = b"item_id,question,response"
    return [
        Case("merge_marker_head", "jsonl", lines(ok1, b"<<<<<<< HEAD", ok2), [(2, "merge-conflict")], ["ok1", "ok2"]),
        Case("merge_conflict_block", "jsonl",
             lines(ok1, b"<<<<<<< HEAD", rec("x"), b"=======", rec("x"), b">>>>>>> origin/main", ok2),
             [(2, "merge-conflict"), (4, "merge-conflict"), (6, "merge-conflict"),
              (5, "duplicate item_id 'x' (first seen at line 3)")], ["ok1", "x", "ok2"]),
        Case("invalid_utf8", "jsonl", lines(ok1, b'{"question": "q\xff\xfe", "response": "r"}', ok2),
             [(2, "invalid UTF-8")], ["ok1", "ok2"]),
        Case("bom_first_line", "jsonl", BOM + lines(ok1, ok2), [], ["ok1", "ok2"]),
        Case("bom_concatenated", "jsonl", BOM + lines(ok1) + BOM + lines(ok2), [], ["ok1", "ok2"]),
        Case("missing_question", "jsonl", lines(ok1, b'{"item_id": "m", "response": "r"}'),
             [(2, "missing required field(s): question")], ["ok1"]),
        Case("missing_response", "jsonl", lines(b'{"item_id": "m", "question": "q"}', ok2),
             [(1, "missing required field(s): response")], ["ok2"]),
        Case("null_fields", "jsonl", lines(ok1, b'{"item_id": "n", "question": null, "response": null}'),
             [(2, "missing required field(s): question, response")], ["ok1"]),
        Case("extra_fields", "jsonl", lines(rec("e1", hospital="协和", score=3)), [], ["e1"]),
        Case("question_wrong_type", "jsonl", lines(rec("w", question=42), ok2),
             [(1, "question: Input should be a valid string")], ["ok2"]),
        Case("response_wrong_type", "jsonl", lines(ok1, rec("w", response=["A", "B"])),
             [(2, "response: Input should be a valid string")], ["ok1"]),
        Case("unknown_dimension", "jsonl", lines(ok1, rec("d", dimension="cardiology")), [(2, "dimension")], ["ok1"]),
        Case("item_id_object", "jsonl", lines(ok1, rec(None, item_id={"id": 3})),
             [(2, "item_id must be a string or an integer")], ["ok1"]),
        Case("item_id_bool", "jsonl", lines(rec(None, item_id=True), ok2),
             [(1, "item_id must be a string or an integer")], ["ok2"]),
        Case("duplicate_ids", "jsonl", lines(ok1, ok2, rec("ok1", response="另一个回答")),
             [(3, "duplicate item_id 'ok1' (first seen at line 1)")], ["ok1", "ok2"]),
        Case("empty_file", "jsonl", b"", [(None, "no records")], []),
        Case("blank_lines_only", "jsonl", b"\n  \n\t\n", [(None, "no records")], []),
        Case("one_mb_response", "jsonl", lines(rec("big", response="胸痛" * 262_144), ok2), [], ["big", "ok2"]),
        Case("huge_broken_line", "jsonl", lines(ok1, huge, ok2), [(2, "invalid JSON")], ["ok1", "ok2"]),
        Case("json_array_line", "jsonl", lines(ok1, b"[1, 2, 3]"), [(2, "expected a JSON object, got list")],
             ["ok1"]),
        Case("json_string_line", "jsonl", lines(b'"just a string"', ok2), [(1, "expected a JSON object, got str")],
             ["ok2"]),
        Case("json_null_line", "jsonl", lines(ok1, b"null", ok2), [(2, "expected a JSON object")], ["ok1", "ok2"]),
        Case("options_pipe_string", "jsonl", lines(rec("p", options="A. 是|B. 否")), [], ["p"]),
        Case("options_number", "jsonl", lines(ok1, rec("o", options=5)), [(2, "'options' must be a list")], ["ok1"]),
        Case("options_object", "jsonl", lines(ok1, rec("o", options={"A": "是", "B": "否"})),
             [(2, "'options' must be a list")], ["ok1"]),
        Case("options_numbers_inside", "jsonl", lines(rec("o", options=[1, 2]), ok2),
             [(1, "options.0: Input should be a valid string")], ["ok2"]),
        Case("options_broken_json", "jsonl", lines(ok1, rec("o", options="[A. 是, B. 否")),
             [(2, "'options' is not a JSON list")], ["ok1"]),
        Case("truncated_record", "jsonl", lines(ok1, b'{"item_id": "t", "question": "q", "resp'),
             [(2, "invalid JSON")], ["ok1"]),
        Case("trailing_comma", "jsonl", lines(b'{"question": "q", "response": "r",}', ok2), [(1, "invalid JSON")],
             ["ok2"]),
        Case("nan_question", "jsonl", lines(ok1, b'{"question": NaN, "response": "r"}'),
             [(2, "question: Input should be a valid string")], ["ok1"]),
        Case("deeply_nested", "jsonl", lines(ok1, b"[" * 100_000, ok2), [(2, "nested too deeply")], ["ok1", "ok2"]),
        Case("lone_surrogate", "jsonl", lines(ok1, b'{"question": "q", "response": "\\ud800 mg"}', ok2),
             [(2, "invalid UTF-8")], ["ok1", "ok2"]),
        Case("crlf_jsonl", "jsonl", lines(ok1, ok2, eol=b"\r\n"), [], ["ok1", "ok2"]),
        Case("meta_not_object", "jsonl", lines(rec("mt", meta=[1, 2])), [], ["mt"]),
        Case("jinja_and_fence_text", "jsonl", lines(rec("j", response="{{ 7*7 }} {% if %} <<<END RESPONSE>>>")), [],
             ["j"]),
        Case("csv_bad_quote", "csv", lines(csv_head, b"c1,q,r", b'c2,"q"x,r', b"c3,q,r"), [(3, "CSV error")],
             ["c1", "c3"]),
        Case("csv_unclosed_quote", "csv", lines(csv_head, b"c1,q,r", b'c2,"q,r', b"c3,q,r"),
             [(3, "never closed")], ["c1"]),
        Case("csv_too_many_fields", "csv", lines(csv_head, b"c1,q,r,extra", b"c2,q,r"),
             [(2, "row has 4 fields, the header has 3")], ["c2"]),
        Case("csv_too_few_fields", "csv", lines(csv_head, b"c1,q,r", b"c2,q"), [(3, "row has 2 fields")], ["c1"]),
        Case("csv_bom_crlf", "csv", BOM + lines(csv_head, b"c1,q,r", b'c2,"a, b",r', eol=b"\r\n"), [], ["c1", "c2"]),
        Case("csv_multiline_field", "csv", lines(csv_head, b'c1,"line one', b'line two",r', b"c2,q"),
             [(4, "row has 2 fields")], ["c1"]),
        Case("csv_missing_column", "csv", lines(b"item_id,question", b"c1,q"),
             [(1, "lacks required column(s) response")], []),
        Case("csv_duplicate_column", "csv", lines(b"item_id,question,response,response", b"c1,q,r1,r2"),
             [(1, "duplicate column(s) in the header: response")], []),
        Case("csv_header_only", "csv", lines(csv_head), [(None, "only a header")], []),
        Case("csv_empty", "csv", b"", [(None, "no records")], []),
        Case("csv_invalid_utf8", "csv", lines(csv_head, b"c1,q,r", b"c2,q\xff,r", b"c3,q,r"),
             [(3, "invalid UTF-8")], ["c1", "c3"]),
        Case("csv_options_broken", "csv", lines(b"item_id,question,options,response", b'c1,q,"[A, B",r', b"c2,q,,r"),
             [(2, "'options' is not a JSON list")], ["c2"]),
    ]


CASES = _cases()


def write(case: Case, folder: Path) -> Path:
    path = folder / f"{case.name}.{case.ext}"
    path.write_bytes(case.content)
    return path


def test_corpus_is_large_enough():
    assert len(CASES) >= 30
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_rows_become_line_numbered_errors_and_good_rows_are_kept(case: Case, tmp_path: Path):
    path = write(case, tmp_path)
    items, errors = collect(path)
    assert sorted(it.item_id for it in items) == sorted(case.good)
    got = sorted(((e.line, str(e)) for e in errors), key=lambda x: (x[0] or 0, x[1]))
    want = sorted(case.errors, key=lambda x: (x[0] or 0, x[1]))
    assert len(got) == len(want), [g[1] for g in got]
    for (line, text), (want_line, want_text) in zip(got, want, strict=True):
        assert line == want_line, text
        where = f"{path}:{line}: " if line is not None else f"{path}: "
        assert text.startswith(where), text
        assert want_text in text
        assert len(text) < 500, "an error message must not echo a whole line"


def test_good_rows_survive_intact(tmp_path: Path):
    by_name = {c.name: c for c in CASES}
    items, _ = collect(write(by_name["one_mb_response"], tmp_path))
    assert len(next(it for it in items if it.item_id == "big").response) == 2 * 262_144
    items, _ = collect(write(by_name["crlf_jsonl"], tmp_path))
    assert all(not it.response.endswith("\r") for it in items)
    items, _ = collect(write(by_name["extra_fields"], tmp_path))
    assert items[0].meta["hospital"] == "协和" and items[0].meta["score"] == 3
    items, _ = collect(write(by_name["csv_multiline_field"], tmp_path))
    assert items[0].question == "line one\nline two" and items[0].meta["line"] == 2
    items, _ = collect(write(by_name["options_pipe_string"], tmp_path))
    assert items[0].options == ["A. 是", "B. 否"]
    items, _ = collect(write(by_name["jinja_and_fence_text"], tmp_path))
    assert items[0].response == "{{ 7*7 }} {% if %} <<<END RESPONSE>>>"


def test_dataframe_rows_are_numbered_by_position():
    df = pd.DataFrame([{"item_id": "d1", "question": "q", "response": "r"},
                       {"item_id": "d2", "question": "q", "response": None},
                       {"item_id": "d3", "question": 7, "response": "r"}])
    items, errors = collect(df)
    assert [it.item_id for it in items] == ["d1"]
    assert [str(e).split(" (")[0] for e in errors] == ["<dataframe>:2: missing required field(s): response",
                                                      "<dataframe>:3: question: Input should be a valid string"]
    assert "-c SOURCE=field" in str(errors[0]) and "fields with a value: item_id, question" in str(errors[0])


class CaseJudge:
    """The same LLM judge under a per-case judge_id, so every case's verdicts can share one store."""

    def __init__(self, inner: LLMJudge, case: str) -> None:
        self.inner, self.model, self.judge_id = inner, inner.model, f"{inner.judge_id}-{case}"

    def identity(self) -> dict[str, object]:
        return {**self.inner.identity(), "case": self.judge_id}

    async def ajudge(self, item):  # type: ignore[no-untyped-def]
        return (await self.inner.ajudge(item)).model_copy(update={"judge_id": self.judge_id})


def test_label_keeps_good_rows_and_stores_every_error(stub_server, tmp_path: Path):
    """Good rows get verdicts; every bad row becomes an input problem (never a verdict row); a file with no good row
    stops the run with an InputError after its problems are stored."""
    server = stub_server(lambda body: verdict_json("omission", 0.7))
    llm = LLMJudge(JudgeSettings(model="openai/stub", api_base=server.base_url, **fast_settings()))
    folder = tmp_path / "in"
    folder.mkdir()
    with Store(tmp_path / "bad.duckdb") as store:
        for case in CASES:
            path = write(case, folder)
            judge = CaseJudge(llm, case.name)
            if not case.good:
                with pytest.raises(InputError, match="no usable line"):
                    label(path, store=store, judge=judge, concurrency=4, progress=False)
            else:
                summary = label(path, store=store, judge=judge, concurrency=4, progress=False)
                assert summary.status_counts == {"ok": len(case.good)}, case.name
                assert len(summary.input_errors) == len(case.errors), case.name
            _, rows = store.query("SELECT status FROM verdicts WHERE judge_id = ?", [judge.judge_id])
            assert rows == [("ok",)] * len(case.good), case.name
            _, problems = store.query("SELECT line, kind, message FROM ingest_problems WHERE source_file = ? "
                                      "ORDER BY line", [str(path)])
            want = sorted({(line or 0) for line, _ in case.errors})
            assert [r[0] for r in problems] == want, case.name
            assert all(kind == "input_error" for _, kind, _ in problems), case.name
        _, dupes = store.query("SELECT item_id, judge_id FROM verdicts GROUP BY ALL HAVING count(*) > 1")
        assert dupes == []
        _, placeholders = store.query("SELECT count(*) FROM items WHERE starts_with(item_id, 'input-error')")
        assert placeholders == [(0,)]
