"""The DuckDB store: schema migrations, every SQL statement medjudge runs, batched writes, read-only queries."""

from judge.core.lazy import lazy_exports

_EXPORTS = {
    "Store": "judge.store.store", "migrate": "judge.store.store", "MIGRATIONS": "judge.store.migrations",
    "check_verdict_table": "judge.store.verdicts", "VERDICT_COLUMNS": "judge.store.verdicts",
    "ITEM_COLUMNS": "judge.store.items", "query_shards": "judge.store.shards", "write_shard": "judge.store.shards",
    "verdict_rows": "judge.store.shards", "shard_files": "judge.store.shards", "SHARD_COLUMNS": "judge.store.shards",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
