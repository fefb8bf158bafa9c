"""Answer keys and choice accuracy: a key maps (task, id) to the right option(s), compared as option contents.

Answer keys map (task, id) to an answer. Three forms are understood:
- (task, "<id>/<perm_key>") -> letters in *that record's* option order (one gold answer per permuted record);
- (task, "<id>") -> letters in the option order of the record listed first for that id (meta perm_index 0),
  or the option text(s) themselves ("右气胸", several separated by "|");
both are mapped to option *contents*, so one key serves every permutation of a question.
"""

from __future__ import annotations

import csv
import json
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from judge.core.exceptions import InputError
from judge.core.models import Item
from judge.medbench.extract import Extraction, option_contents

AnswerKey = dict[tuple[str, str], str]
_LETTER_ANSWER = re.compile(r"^\s*[A-Z](?:\s*[,、;/ ]?\s*[A-Z])*\s*$")



def load_answer_key(path: str | Path) -> AnswerKey:
    """Read an answer key from JSONL (objects) or CSV (header row) with fields task, id, answer."""
    path = Path(path)
    key: AnswerKey = {}
    with path.open(encoding="utf-8-sig", newline="") as fh:
        if path.suffix.lower() == ".csv":
            reader = csv.DictReader(fh)
            missing = {"task", "id", "answer"} - set(reader.fieldnames or [])
            if missing:
                raise InputError(str(path), 1, f"missing column(s): {', '.join(sorted(missing))}")
            rows: Iterable[tuple[int, dict]] = ((n, r) for n, r in enumerate(reader, start=2))
        else:
            rows = ((n, _json_row(path, n, line)) for n, line in enumerate(fh, start=1) if line.strip())
        for n, row in rows:
            if any(row.get(f) in (None, "") for f in ("task", "id", "answer")):
                raise InputError(str(path), n, "each row needs task, id and answer")
            key[(str(row["task"]).strip(), str(row["id"]).strip())] = str(row["answer"]).strip()
    return key


def _json_row(path: Path, n: int, line: str) -> dict:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        raise InputError(str(path), n, f"invalid JSON: {e.msg}") from e
    if not isinstance(row, dict):
        raise InputError(str(path), n, "expected a JSON object")
    return row


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def normalized_contents(options: list[str]) -> list[str]:
    return [_norm(c) for c in option_contents(options)]


def chosen_contents(item: Item, extraction: Extraction) -> frozenset[str] | None:
    """Option contents picked by an extraction; None when nothing valid was picked."""
    if extraction.status != "ok" or not extraction.letters or not item.options:
        return None
    contents = normalized_contents(item.options)
    idx = [ord(letter) - ord("A") for letter in extraction.letters]
    if any(not 0 <= i < len(contents) for i in idx):
        return None
    return frozenset(contents[i] for i in idx)


def key_contents(item: Item, key: AnswerKey, ref_options: list[str] | None = None) -> frozenset[str] | None:
    """The keyed answer of `item` as option contents, or None when the key has no entry for it.

    `ref_options` is the option order an id-level letter answer refers to (default: the item's own).
    """
    if not item.options or item.task is None:
        return None
    rid, pk = str(item.meta.get("record_id", item.meta.get("other_id"))), str(item.meta.get("perm_key"))
    if (item.task, f"{rid}/{pk}") in key:
        answer, order = key[(item.task, f"{rid}/{pk}")], item.options
    elif (item.task, rid) in key:
        answer, order = key[(item.task, rid)], ref_options or item.options
    else:
        return None
    contents = normalized_contents(order)
    if _LETTER_ANSWER.match(answer):
        idx = [ord(c) - ord("A") for c in re.findall(r"[A-Z]", answer)]
        return frozenset(contents[i] if i < len(contents) else f"<invalid {chr(65 + i)}>" for i in idx)
    return frozenset(_norm(part) for part in re.split(r"[|｜]", answer) if part.strip())


def score_choice(
    item: Item, extraction: Extraction, key: AnswerKey, ref_options: list[str] | None = None
) -> bool | None:
    """True/False against the key (same option contents chosen); None when the key has no entry."""
    gold = key_contents(item, key, ref_options)
    if gold is None:
        return None
    return chosen_contents(item, extraction) == gold


