"""Reading input: the one JSONL line reader (items, MedBench outputs and the gold set use it), and items from
JSONL / CSV / Parquet / DataFrames with line-numbered errors."""

from judge.core.lazy import lazy_exports

_EXPORTS = {
    "read_items": "judge.ingest.items", "record_to_item": "judge.ingest.items", "content_id": "judge.ingest.items",
    "parse_column_map": "judge.ingest.items",
    "JsonlLine": "judge.ingest.jsonl", "iter_jsonl_lines": "judge.ingest.jsonl",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
