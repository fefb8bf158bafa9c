"""The review project's labelling interface, queue entries as Label Studio tasks, and annotations back as labels.

The interface shows the question, options, reference answer and response (the task's `data`), the eight
categories with code, Chinese and English name and a one-line definition, a single-choice primary category, a
multiple-choice field for secondary categories, and a note. Choices store the category code (their `alias`),
so results read back as codes whatever the display text. A note that starts with "adjudication:" makes the
label an adjudication (see `judge.gold.gold_set`).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from judge.core.models import Verdict
from judge.core.taxonomy import CATEGORY_CODES, Taxonomy, load_taxonomy
from judge.review.queue import QueueEntry

SECONDARY_PREFIX = "secondary:"
"""How secondary categories are written into a gold label's note."""


def _one_line(text: str) -> str:
    return " ".join(text.split())


def review_config(taxonomy: Taxonomy | None = None) -> str:
    """The labelling interface (Label Studio XML config) of a review project."""
    tax = taxonomy or load_taxonomy()
    view = ET.Element("View")
    for title, name, var in (("Question 问题", "question", "question"), ("Options 选项", "options", "options_text"),
                             ("Reference answer 参考答案", "reference_answer", "reference_answer"),
                             ("Model response 模型回答", "response", "response"),
                             ("Why this item is in the queue", "review_reason", "review_reason"),
                             ("Judge verdict (pre-selected below)", "judge_verdict", "judge_verdict")):
        ET.SubElement(view, "Header", value=title, size="5")
        ET.SubElement(view, "Text", name=name, value=f"${var}")
    ET.SubElement(view, "Header", value="Categories 错误类别", size="5")
    for c in tax.categories:
        ET.SubElement(view, "Header", size="6", value=f"{c.code} · {c.zh} · {c.en}: {_one_line(c.definition)}")
    ET.SubElement(view, "Header", value="Primary error category 主要错误类别", size="5")
    primary = ET.SubElement(view, "Choices", name="category", toName="response", choice="single", required="true",
                            showInline="false")
    ET.SubElement(view, "Header", value="Secondary categories 次要错误类别 (optional)", size="5")
    secondary = ET.SubElement(view, "Choices", name="secondary", toName="response", choice="multiple")
    for choices in (primary, secondary):
        for c in tax.categories:
            ET.SubElement(choices, "Choice", value=f"{c.code} · {c.zh} · {c.en}", alias=c.code,
                          hint=_one_line(c.definition))
    ET.SubElement(view, "Header", value="Note 备注 (start with 'adjudication:' to adjudicate)", size="5")
    ET.SubElement(view, "TextArea", name="note", toName="response", rows="2", maxSubmissions="1", editable="true")
    ET.indent(view)
    return ET.tostring(view, encoding="unicode")


def choice_results(category: str, secondary: list[str] | None = None) -> list[dict[str, Any]]:
    """Label Studio results selecting a primary category (and secondary ones)."""
    out: list[dict[str, Any]] = [{"from_name": "category", "to_name": "response", "type": "choices",
                                  "value": {"choices": [category]}}]
    others = [c for c in secondary or [] if c != category]
    if others:
        out.append({"from_name": "secondary", "to_name": "response", "type": "choices", "value": {"choices": others}})
    return out


def note_result(text: str) -> dict[str, Any]:
    """A Label Studio result filling the note."""
    return {"from_name": "note", "to_name": "response", "type": "textarea", "value": {"text": [text]}}


def prediction(v: Verdict) -> dict[str, Any]:
    """A judge verdict as a Label Studio prediction: its judge_id is the model version, its confidence the score."""
    return {"model_version": v.judge_id, "score": v.confidence, "result": choice_results(v.category or "", v.secondary)}


def _verdict_text(v: Verdict) -> str:
    conf = f", confidence {v.confidence:.2f}" if v.confidence is not None else ""
    return f"[{v.judge_id}] {v.category}{conf}: {v.rationale or ''}".strip()


def task_for(entry: QueueEntry) -> dict[str, Any]:
    """A Label Studio task for a queue entry: the item in `data`, the judges' verdicts as predictions."""
    it = entry.item
    data = {"item_id": it.item_id, "dimension": it.dimension, "task": it.task, "question": it.question,
            "options": it.options, "options_text": "\n".join(it.options or []) or "(none)",
            "reference_answer": it.reference_answer or "(not provided)", "model": it.model, "response": it.response,
            "review_reason": ", ".join(entry.reasons),
            "judge_verdict": "\n".join(_verdict_text(v) for v in entry.verdicts) or "(no valid verdict)"}
    return {"data": data, "predictions": [prediction(v) for v in entry.verdicts]}


class PulledLabel(BaseModel):
    """One reviewer's annotation of one task, read back from Label Studio."""

    item_id: str
    """The task's item."""
    annotator: str
    """Who annotated (e-mail, else username, else user id)."""
    category: str
    """Primary category code."""
    secondary: list[str] = []
    """Secondary category codes."""
    note: str = ""
    """The reviewer's note."""
    updated_at: str = ""
    """When the annotation was last changed (the newest of one reviewer's annotations wins)."""

    def gold_note(self) -> str:
        """The note as a gold label stores it: the reviewer's note, then the secondary categories."""
        parts = [self.note.strip()] if self.note.strip() else []
        if self.secondary:
            parts.append(f"{SECONDARY_PREFIX} {', '.join(self.secondary)}")
        return "\n".join(parts)


def _code(choice: str, names: Mapping[str, str]) -> str:
    if choice in names:
        return names[choice]
    raise ValueError(f"choice {choice!r} is not a category (codes: {', '.join(CATEGORY_CODES)})")


def category_names(taxonomy: Taxonomy | None = None) -> dict[str, str]:
    """Every text a choice may carry for a category (code, names, display text), mapped to the code."""
    tax = taxonomy or load_taxonomy()
    return {n: c.code for c in tax.categories
            for n in (c.code, c.zh, c.en, f"{c.zh} {c.en}", f"{c.code} · {c.zh} · {c.en}")}


def annotator_name(completed_by: Any, users: Mapping[int, Mapping[str, Any]]) -> str:
    """A reviewer's identity from an annotation's `completed_by` (a user id or object): e-mail, username or id."""
    user: Mapping[str, Any] = completed_by if isinstance(completed_by, Mapping) else users.get(
        int(completed_by) if str(completed_by).isdigit() else -1, {"id": completed_by})
    for key in ("email", "username", "id"):
        if user.get(key) not in (None, ""):
            return str(user[key])
    raise ValueError(f"annotation without a reviewer (completed_by={completed_by!r})")


def read_annotation(item_id: str, annotation: Mapping[str, Any], users: Mapping[int, Mapping[str, Any]],
                    names: Mapping[str, str]) -> PulledLabel | None:
    """The label in one annotation; None when it was cancelled (skipped); ValueError when it has no category."""
    if annotation.get("was_cancelled"):
        return None
    primary: list[str] = []
    secondary: list[str] = []
    notes: list[str] = []
    for r in annotation.get("result") or []:
        value = r.get("value") or {}
        if r.get("from_name") == "category":
            primary += value.get("choices") or []
        elif r.get("from_name") == "secondary":
            secondary += value.get("choices") or []
        elif r.get("from_name") == "note":
            notes += [t for t in value.get("text") or [] if t]
    who = annotator_name(annotation.get("completed_by"), users)
    if len(primary) != 1:
        raise ValueError(f"annotation {annotation.get('id')} by {who} has {len(primary)} primary categories, "
                         "expected exactly one")
    code = _code(primary[0], names)
    return PulledLabel(item_id=item_id, annotator=who, category=code,
                       secondary=[s for s in dict.fromkeys(_code(s, names) for s in secondary) if s != code],
                       note="\n".join(notes), updated_at=str(annotation.get("updated_at") or ""))
