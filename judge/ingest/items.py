"""Read items from JSONL, CSV, Parquet or a pandas DataFrame; bad rows become line-numbered errors."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from judge.core.exceptions import InputError
from judge.core.models import Item
from judge.ingest.jsonl import iter_jsonl_lines

ReadResult = Item | InputError
_FIELDS = set(Item.model_fields)
_LIST_FIELDS = {"options"}


def content_id(record: Mapping[str, Any]) -> str:
    """A stable item id from content, for inputs without an item_id column."""
    blob = json.dumps([record.get("model"), record.get("task"), record.get("question"), record.get("options"),
                       record.get("response")], ensure_ascii=False, default=str)
    return "h" + hashlib.sha1(blob.encode()).hexdigest()[:15]


def _lone_surrogate(data: Mapping[str, Any]) -> str | None:
    """The first field holding text that cannot be encoded as UTF-8 (a lone surrogate from a JSON escape)."""
    for key, value in data.items():
        texts = value if isinstance(value, list) else [value]
        for t in texts:
            if isinstance(t, str):
                try:
                    t.encode("utf-8")
                except UnicodeEncodeError:
                    return key
    return None


def _short(e: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, err['loc'])) or 'record'}: {err['msg']}" for err in e.errors())


def record_to_item(record: Mapping[str, Any], source: str, line: int | None,
                   column_map: Mapping[str, str] | None = None) -> ReadResult:
    """Map one raw record onto an Item (pure); return an InputError when it does not fit."""
    if not isinstance(record, Mapping):
        return InputError(source, line, f"expected a JSON object, got {type(record).__name__}")
    data: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    for key, value in record.items():
        field = (column_map or {}).get(key, key)
        if field in _FIELDS:
            data[field] = value
        else:
            meta[field] = value
    missing = [f for f in ("question", "response") if data.get(f) is None]
    if missing:
        fields = ", ".join(sorted(str(k) for k, v in record.items() if v is not None)) or "none"
        return InputError(source, line, f"missing required field(s): {', '.join(missing)} (fields with a value: "
                                        f"{fields}); map your names with -c SOURCE=field, e.g. -c answer=response")
    for f in _LIST_FIELDS:
        if isinstance(data.get(f), str):
            text = data[f].strip()
            try:
                data[f] = json.loads(text) if text.startswith("[") else [s for s in text.split("|") if s]
            except json.JSONDecodeError:
                return InputError(source, line, f"field {f!r} is not a JSON list")
        elif isinstance(data.get(f), (Mapping, str, bytes)) or (data.get(f) is not None
                                                                and not hasattr(data[f], "__iter__")):
            return InputError(source, line, f"field {f!r} must be a list of strings, got {type(data[f]).__name__}")
        elif data.get(f) is not None and not isinstance(data[f], list):
            data[f] = list(data[f])
    for f in ("dimension", "task", "reference_answer", "model"):
        if data.get(f) == "":
            data[f] = None
    bad_text = _lone_surrogate(data)
    if bad_text:
        return InputError(source, line, f"field {bad_text!r} holds invalid UTF-8 (undecodable bytes or a lone "
                                        "surrogate escape)")
    item_id = data.get("item_id")
    if isinstance(item_id, float) and item_id.is_integer():
        item_id = int(item_id)
    if item_id is not None and (isinstance(item_id, bool) or not isinstance(item_id, (str, int))):
        return InputError(source, line, f"item_id must be a string or an integer, got {type(item_id).__name__}")
    data["item_id"] = str(item_id) if item_id not in (None, "") else content_id(data)
    base_meta = data.pop("meta", None) or {}
    if isinstance(base_meta, str):
        try:
            base_meta = json.loads(base_meta)
        except json.JSONDecodeError:
            base_meta = {"meta": base_meta}
    if not isinstance(base_meta, Mapping):
        base_meta = {"meta": base_meta}
    data["meta"] = {**base_meta, **meta, "source_file": source, "line": line}
    try:
        return Item(**data)
    except ValidationError as e:
        return InputError(source, line, _short(e))


def _read_jsonl(path: Path, column_map: Mapping[str, str] | None) -> Iterator[ReadResult]:
    src = str(path)
    records = 0
    for ln in iter_jsonl_lines(path):
        records += 1
        if ln.problem is not None:
            yield InputError(src, ln.line, ln.message)
        else:
            yield record_to_item(ln.value, src, ln.line, column_map)
    if records == 0:
        yield InputError(src, None, "no records: the file is empty")


def _counted_lines(text: str, counter: list[int]) -> Iterator[str]:
    for line in io.StringIO(text, newline=""):
        counter[0] += 1
        yield line


def _csv_header_error(header: list[str], column_map: Mapping[str, str] | None) -> str | None:
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        return f"duplicate column(s) in the header: {', '.join(dupes)}"
    fields = {(column_map or {}).get(h, h) for h in header}
    missing = [f for f in ("question", "response") if f not in fields]
    if missing:
        return (f"the header lacks required column(s) {', '.join(missing)} (columns: {', '.join(header)}); map your "
                "names with -c SOURCE=field, e.g. -c answer=response")
    return None


def _read_csv(path: Path, column_map: Mapping[str, str] | None) -> Iterator[ReadResult]:
    src = str(path)
    raw = path.read_bytes()
    # undecodable bytes survive as lone surrogates and are reported per row by record_to_item
    text = raw.removeprefix(b"\xef\xbb\xbf").decode("utf-8", errors="surrogateescape")
    counter = [0]
    reader = csv.reader(_counted_lines(text, counter), strict=True)
    header: list[str] | None = None
    rows = 0
    while True:
        start = counter[0] + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            hint = " (a quote that is never closed?)" if "end of data" in str(e) else ""
            yield InputError(src, start, f"CSV error: {e}{hint}")
            continue
        if not row:
            continue
        if header is None:
            header = [h.strip() for h in row]
            problem = _csv_header_error(header, column_map)
            if problem:
                yield InputError(src, start, problem)
                return
            continue
        rows += 1
        if len(row) != len(header):
            yield InputError(src, start, f"row has {len(row)} fields, the header has {len(header)}")
            continue
        yield record_to_item(dict(zip(header, row, strict=True)), src, start, column_map)
    if header is None:
        yield InputError(src, None, "no records: the file is empty")
    elif rows == 0:
        yield InputError(src, None, "no records: the file has only a header")


def iter_dataframe(df: pd.DataFrame, column_map: Mapping[str, str] | None = None,
                   source: str = "<dataframe>") -> Iterator[ReadResult]:
    """Items from a DataFrame; line numbers are 1-based row positions."""
    for pos, record in enumerate(df.to_dict(orient="records"), start=1):
        clean = {k: (None if _isna(v) else _plain(v)) for k, v in record.items()}
        yield record_to_item(clean, source, pos, column_map)


def _isna(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _plain(v: Any) -> Any:
    return v.tolist() if hasattr(v, "tolist") else v


INPUT_SUFFIXES = (".jsonl", ".json", ".ndjson", ".csv", ".parquet", ".pq")
"""File types `read_items` reads (in a folder, other files are skipped)."""


def input_files(path: Path) -> list[Path]:
    """The input files at `path`: the file itself, or every file of a readable type under a folder (subfolders
    included, hidden ones not), in path order."""
    if not path.exists():
        raise FileNotFoundError(f"input file not found: {path}")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in INPUT_SUFFIXES
                       and not any(part.startswith(".") for part in p.relative_to(path).parts))
        if not files:
            raise InputError(str(path), None, f"the folder holds no {', '.join(INPUT_SUFFIXES)} files")
        return files
    return [path]


def _read_file(path: Path, column_map: Mapping[str, str] | None) -> Iterator[ReadResult]:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        yield from _read_jsonl(path, column_map)
    elif suffix == ".csv":
        yield from _read_csv(path, column_map)
    elif suffix in (".parquet", ".pq"):
        yield from iter_dataframe(pd.read_parquet(path), column_map, source=str(path))
    else:
        raise InputError(str(path), None, f"unsupported input type {suffix!r} (use .jsonl, .csv or .parquet)")


def read_items(source: str | Path | pd.DataFrame, column_map: Mapping[str, str] | None = None) -> Iterator[ReadResult]:
    """Yield Items (or InputErrors for bad rows) from a .jsonl/.json, .csv or .parquet file, a folder of them (every
    such file under it, in path order; other files are skipped) or a DataFrame."""
    if isinstance(source, pd.DataFrame):
        yield from iter_dataframe(source, column_map)
        return
    for path in input_files(Path(source)):
        yield from _read_file(path, column_map)


def parse_column_map(pairs: list[str] | None) -> dict[str, str]:
    """Parse CLI-style `source=field` pairs into a column map."""
    out = {}
    for p in pairs or []:
        if "=" not in p:
            raise ValueError(f"column mapping {p!r} must look like SOURCE_COLUMN=field")
        k, v = p.split("=", 1)
        if v not in _FIELDS:
            raise ValueError(f"unknown item field {v!r}; fields: {', '.join(sorted(_FIELDS))}")
        out[k.strip()] = v.strip()
    return out
