"""A folder of input files reads as every JSONL, CSV and Parquet file under it, with each file's line numbers."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from judge.core.exceptions import InputError
from judge.core.models import Item
from judge.ingest.items import read_items


def test_a_folder_reads_every_input_file_under_it_in_path_order(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "a.jsonl").write_text(json.dumps({"item_id": "j1", "question": "q", "response": "r"}) + "\n{bad\n",
                                      encoding="utf-8")
    pd.DataFrame([{"item_id": "p1", "question": "q", "response": "r"}]).to_parquet(tmp_path / "b" / "c.parquet")
    (tmp_path / "b" / "d.csv").write_text("item_id,question,response\nc1,q,r\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not input", encoding="utf-8")
    (tmp_path / ".hidden" / "e.jsonl").write_text(json.dumps({"item_id": "h", "question": "q", "response": "r"}),
                                                  encoding="utf-8")
    out = list(read_items(tmp_path))
    assert [r.item_id for r in out if isinstance(r, Item)] == ["j1", "p1", "c1"]
    [err] = [r for r in out if isinstance(r, InputError)]
    assert err.source.endswith("a.jsonl") and err.line == 2


def test_a_folder_without_input_files_is_an_error(tmp_path):
    (tmp_path / "readme.md").write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match="no .jsonl"):
        list(read_items(tmp_path))
