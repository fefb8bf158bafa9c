"""Gold-set importers and exporters: long-format CSV and Label Studio JSON.

CSV (long format, one row per label): columns item_id, dimension, task, question, options, reference_answer,
model, response, annotator, category, note. The item fields repeat on every row of the item and must agree;
a row with empty annotator and category stands for an item without labels. Empty cells mean null (except
question and response, which stay strings). `options` is a JSON list (`["A. ...", "B. ..."]`) or "|"-separated
text. Only item_id, question and response columns are required; other columns are ignored. Files may carry a
UTF-8 byte-order mark (Excel).

Label Studio: tasks carry the item fields in `data` (plus `options_text` for display) and one annotation per
label, with a `category` choices result and a `note` textarea result; see `label_studio_config()`. On import,
`completed_by` becomes the annotator (a string as is; an integer user id as its decimal string; an object by its
email, else username, else id), cancelled annotations and predictions are ignored.
"""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from judge.core.taxonomy import CATEGORY_CODES, load_taxonomy
from judge.gold.gold_set import GOLD_KEYS, GoldItem, GoldLabel, format_validation_error, problems_error

ITEM_FIELDS: tuple[str, ...] = tuple(k for k in GOLD_KEYS if k not in ("labels", "consensus"))
LABEL_FIELDS: tuple[str, ...] = ("annotator", "category", "note")
CSV_COLUMNS: tuple[str, ...] = ITEM_FIELDS + LABEL_FIELDS
_REQUIRED = ("item_id", "question", "response")
_KEEP_EMPTY = ("question", "response")


def _parse_options(text: str) -> list[str] | None:
    text = text.strip()
    if not text:
        return None
    if text.startswith("["):
        value = json.loads(text)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("options JSON must be a list of strings")
        return value
    return [part.strip() for part in text.split("|")]


def _build(
    source: str,
    fields: dict[str, dict[str, Any]],
    labels: dict[str, list[GoldLabel]],
    where: dict[str, int | None],
    problems: list[tuple[int | None, str]],
) -> list[GoldItem]:
    items = []
    for item_id, data in fields.items():
        try:
            items.append(GoldItem(**data, labels=labels[item_id]))
        except ValidationError as e:
            problems.append((where[item_id], f"item {item_id!r}: {format_validation_error(e)}"))
    if problems:
        raise problems_error(source, sorted(problems, key=lambda p: p[0] or 0))
    return items


def import_csv(path: str | Path, column_map: Mapping[str, str] | None = None) -> list[GoldItem]:
    """Read a long-format CSV (see module doc) into gold items; one InputError lists every bad row.

    `column_map` renames the file's columns to ours, {csv column: gold field}, e.g. {"id": "item_id"}.
    Line numbers are physical lines of the file (the header is line 1; a row is located where it ends).
    """
    rename = dict(column_map or {})
    fields: dict[str, dict[str, Any]] = {}
    labels: dict[str, list[GoldLabel]] = {}
    where: dict[str, int | None] = {}
    problems: list[tuple[int | None, str]] = []
    with Path(path).open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        header = [rename.get(c, c) for c in reader.fieldnames or []]
        missing = [c for c in _REQUIRED if c not in header]
        if missing:
            raise problems_error(str(path), [(1, f"missing column(s) {missing}; columns are {header}")])
        reader.fieldnames = header
        for row in reader:
            line = reader.line_num
            cells = {k: (v or "") for k, v in row.items() if k in CSV_COLUMNS}
            item_id = cells.get("item_id", "").strip()
            if not item_id:
                problems.append((line, "empty item_id"))
                continue
            try:
                data = {k: cells[k] if k in _KEEP_EMPTY else (cells.get(k, "") or None) for k in ITEM_FIELDS}
                data["item_id"] = item_id
                data["options"] = _parse_options(cells.get("options", ""))
            except ValueError as e:
                problems.append((line, f"options: {e}"))
                continue
            if item_id not in fields:
                fields[item_id], labels[item_id], where[item_id] = data, [], line
            elif fields[item_id] != data:
                diff = sorted(k for k in data if data[k] != fields[item_id][k])
                problems.append((line, f"item {item_id!r}: fields {diff} differ from line {where[item_id]}"))
                continue
            annotator, category = cells.get("annotator", "").strip(), cells.get("category", "").strip()
            if not annotator and not category:
                continue
            try:
                labels[item_id].append(GoldLabel(annotator=annotator, category=category, note=cells.get("note", "")))
            except ValidationError as e:
                problems.append((line, format_validation_error(e)))
    return _build(str(path), fields, labels, where, problems)


def export_csv(items: Iterable[GoldItem], path: str | Path) -> None:
    """Write items as long-format CSV (options as JSON); an item without labels gets one row with empty label cells."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with Path(path).open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(CSV_COLUMNS))
        writer.writeheader()
        for item in items:
            base = {k: getattr(item, k) for k in ITEM_FIELDS}
            base["options"] = json.dumps(item.options, ensure_ascii=False) if item.options is not None else ""
            base = {k: "" if v is None else v for k, v in base.items()}
            for lab in item.labels or [None]:
                writer.writerow(base | (lab.model_dump() if lab else dict.fromkeys(LABEL_FIELDS, "")))


def label_studio_config() -> str:
    """Label Studio labeling config: question, options, reference and response shown; one of the 8 categories."""
    tax = load_taxonomy()
    view = ET.Element("View")
    for title, name, var in (
        ("Question", "question", "question"),
        ("Options", "options", "options_text"),
        ("Reference answer", "reference_answer", "reference_answer"),
        ("Model response", "response", "response"),
    ):
        ET.SubElement(view, "Header", value=title)
        ET.SubElement(view, "Text", name=name, value=f"${var}")
    ET.SubElement(view, "Header", value="Primary error category")
    choices = ET.SubElement(view, "Choices", name="category", toName="response", choice="single", required="true")
    for cat in tax.categories:
        ET.SubElement(choices, "Choice", value=f"{cat.zh} {cat.en}", alias=cat.code, hint=cat.definition)
    ET.SubElement(view, "Header", value="Note (optional)")
    ET.SubElement(view, "TextArea", name="note", toName="response", rows="2", maxSubmissions="1", editable="true")
    ET.indent(view)
    return ET.tostring(view, encoding="unicode")


def _choice_result(category: str) -> dict[str, Any]:
    return {"from_name": "category", "to_name": "response", "type": "choices", "value": {"choices": [category]}}


def export_label_studio(
    items: Iterable[GoldItem],
    path: str | Path,
    predictions: Mapping[str, str] | None = None,
    model_version: str = "medjudge",
    include_annotations: bool = True,
) -> None:
    """Write Label Studio tasks: item fields in `data`, labels as annotations, optional judge categories as predictions.

    `predictions` maps item_id to a category to pre-select for annotators (e.g. the judge's verdicts).
    """
    tasks = []
    for item in items:
        data = {k: getattr(item, k) for k in ITEM_FIELDS}
        data["options_text"] = "\n".join(item.options or [])
        task: dict[str, Any] = {"data": data}
        if include_annotations:
            task["annotations"] = [
                {
                    "completed_by": lab.annotator,
                    "was_cancelled": False,
                    "result": [_choice_result(lab.category)]
                    + (
                        [
                            {
                                "from_name": "note",
                                "to_name": "response",
                                "type": "textarea",
                                "value": {"text": [lab.note]},
                            }
                        ]
                        if lab.note
                        else []
                    ),
                }
                for lab in item.labels
            ]
        if predictions and item.item_id in predictions:
            task["predictions"] = [
                {"model_version": model_version, "result": [_choice_result(predictions[item.item_id])]}
            ]
        tasks.append(task)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(tasks, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def _annotator(completed_by: Any) -> str:
    if isinstance(completed_by, dict):
        for key in ("email", "username", "id"):
            if completed_by.get(key) not in (None, ""):
                return str(completed_by[key])
        raise ValueError(f"completed_by has no email, username or id: {completed_by}")
    if completed_by is None or completed_by == "":
        raise ValueError("annotation without completed_by")
    return str(completed_by)


def _category(choice: str, names: Mapping[str, str]) -> str:
    if choice in names:
        return names[choice]
    raise ValueError(f"choice {choice!r} is not a category (use the codes {CATEGORY_CODES})")


def _label_from_annotation(annotation: dict[str, Any], names: Mapping[str, str]) -> GoldLabel | None:
    categories, notes = [], []
    for result in annotation.get("result") or []:
        value = result.get("value") or {}
        if result.get("from_name") == "category" and result.get("type") == "choices":
            categories.extend(value.get("choices") or [])
        elif result.get("from_name") == "note":
            notes.extend(t for t in value.get("text") or [] if t)
    if not categories:
        return None
    if len(categories) > 1:
        raise ValueError(f"several categories chosen in one annotation: {categories}")
    return GoldLabel(
        annotator=_annotator(annotation.get("completed_by")),
        category=_category(categories[0], names),
        note="\n".join(notes),
    )


def import_label_studio(path: str | Path) -> list[GoldItem]:
    """Read a Label Studio JSON export (list of tasks) into gold items; one InputError lists every bad task.

    Choices may be category codes or the taxonomy's Chinese/English names (or "zh en" as in our config).
    Annotations without a category choice and cancelled annotations are skipped. Problems are reported as
    "task N" (1-based position in the export).
    """
    tasks = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    if not isinstance(tasks, list):
        raise problems_error(str(path), [(None, "a Label Studio export must be a JSON list of tasks")])
    tax = load_taxonomy()
    names = {n: c.code for c in tax.categories for n in (c.code, c.zh, c.en, f"{c.zh} {c.en}")}
    fields: dict[str, dict[str, Any]] = {}
    labels: dict[str, list[GoldLabel]] = {}
    where: dict[str, int | None] = {}
    problems: list[tuple[int | None, str]] = []
    for n, task in enumerate(tasks, start=1):
        data = task.get("data") if isinstance(task, dict) else None
        if not isinstance(data, dict) or not data.get("item_id"):
            problems.append((None, f"task {n}: no data.item_id"))
            continue
        item_id = str(data["item_id"])
        if item_id in fields:
            problems.append((None, f"task {n}: duplicate item_id {item_id!r}"))
            continue
        fields[item_id] = {k: data.get(k) for k in ITEM_FIELDS} | {"item_id": item_id}
        labels[item_id], where[item_id] = [], None
        for annotation in task.get("annotations") or []:
            if annotation.get("was_cancelled"):
                continue
            try:
                label = _label_from_annotation(annotation, names)
            except (ValueError, ValidationError) as e:
                msg = format_validation_error(e) if isinstance(e, ValidationError) else str(e)
                problems.append((None, f"task {n} (item {item_id!r}): {msg}"))
                continue
            if label is not None:
                labels[item_id].append(label)
    return _build(str(path), fields, labels, where, problems)
