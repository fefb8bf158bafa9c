"""Read MedBench (OpenCompass-style) prompt and model-output JSONL files into items, reporting bad lines.

Each output line is one record: `question` (full prompt), `options` (list or absent), `answer` (the model's
raw output, may be null) and `other` {`source` = task, `id`, `level`}. A record becomes an `Item` with

    item_id = "{model}/{task}/{id}/{perm_key}"

- `id` is `other.id`; records without one (most open tasks) use "q" + the first 10 hex digits of the
  sha1 of the question text, which is stable across re-runs, file orders and models.
- `perm_key` tells apart the option permutations MedBench asks under one `other.id`: the first 8 hex digits
  of the sha1 of the option strings in their listed order ("0" when the record has no options). It depends
  only on the record itself, so re-ordering or re-running a file never changes an item_id.

Skipped lines, each reported as an `IngestProblem` with file and 1-based line number:
- `merge_conflict_marker`: git conflict lines (<<<<<<<, |||||||, =======, >>>>>>>).
- `duplicate`: a record whose item_id was already read with the same response (the real deepseek-32b files
  repeat every record in both halves of a merge conflict).
- `conflicting_duplicate`: same item_id but a different response; the first one read is kept.
- `invalid_json`: not UTF-8, not JSON, or not a JSON object.
- `missing_field` / `invalid_record`: no `question` or `answer` key, or fields of the wrong type.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from judge.core.models import Item
from judge.ingest.jsonl import iter_jsonl_lines
from judge.medbench.tasks import TaskInfo, load_task_table, task_info

ProblemKind = Literal[
    "merge_conflict_marker", "duplicate", "conflicting_duplicate", "invalid_json", "missing_field", "invalid_record"
]


class IngestProblem(BaseModel):
    """One input line that was not turned into an item."""

    source_file: str
    """Path of the file holding the line."""
    line: int
    """1-based line number."""
    kind: ProblemKind
    """What was wrong with it."""
    message: str
    """Human-readable detail."""


class Coverage(BaseModel):
    """How completely one model answered one task's prompts."""

    model: str
    """Model name."""
    task: str
    """Task name."""
    n_prompts: int = 0
    """Prompt records for the task (0 when no prompts folder was given)."""
    n_answered: int = 0
    """Distinct items read for this model and task."""
    n_empty: int = 0
    """Items whose response is empty (answer null or blank)."""
    n_missing: int = 0
    """Prompt records with no output record."""
    n_unexpected: int = 0
    """Output records matching no prompt record."""


class IngestResult(BaseModel):
    """Everything read from a set of MedBench output files."""

    items: list[Item] = Field(default_factory=list)
    """Ingested items, in file and line order."""
    problems: list[IngestProblem] = Field(default_factory=list)
    """Skipped lines, with reasons."""
    coverage: list[Coverage] = Field(default_factory=list)
    """Per model and task: answered, empty and missing counts."""

    def problem_counts(self) -> dict[str, int]:
        """Number of problems by kind."""
        return dict(Counter(p.kind for p in self.problems))


def record_id(record: dict[str, Any]) -> str:
    """The record's question id: `other.id`, else a short hash of the question text."""
    other = record.get("other") if isinstance(record.get("other"), dict) else {}
    if other.get("id") is not None:
        return str(other["id"])
    return "q" + hashlib.sha1(str(record.get("question", "")).encode("utf-8")).hexdigest()[:10]


def perm_key(options: list[str] | None) -> str:
    """Short stable hash of the option order; "0" without options."""
    if not options:
        return "0"
    return hashlib.sha1("\x1f".join(options).encode("utf-8")).hexdigest()[:8]


def _check(record: Any, required: tuple[str, ...]) -> tuple[str, str] | None:
    """Return (kind, message) when the parsed line cannot become an item."""
    if not isinstance(record, dict):
        return "invalid_json", f"expected a JSON object, got {type(record).__name__}"
    for field in required:
        if field not in record:
            return "missing_field", f"record has no `{field}` field"
    if not isinstance(record["question"], str) or not record["question"].strip():
        return "invalid_record", "`question` must be a non-empty string"
    if record.get("answer") is not None and not isinstance(record["answer"], str):
        return "invalid_record", f"`answer` must be a string or null, got {type(record['answer']).__name__}"
    opts = record.get("options")
    if opts is not None and not (isinstance(opts, list) and all(isinstance(o, str) for o in opts)):
        return "invalid_record", "`options` must be a list of strings or null"
    if record.get("other") is not None and not isinstance(record["other"], dict):
        return "invalid_record", "`other` must be an object"
    return None


def iter_jsonl(
    path: Path, required: tuple[str, ...] = ("question", "answer")
) -> Iterator[tuple[int, dict[str, Any] | None, IngestProblem | None]]:
    """Stream (line number, record or None, problem or None) from a JSONL file; blank lines are skipped."""
    for ln in iter_jsonl_lines(path):
        if ln.problem is not None:
            kind = "merge_conflict_marker" if ln.problem == "merge_conflict_marker" else "invalid_json"
            yield ln.line, None, IngestProblem(source_file=str(path), line=ln.line, kind=kind, message=ln.message)
            continue
        bad = _check(ln.value, required)
        if bad:
            yield ln.line, None, IngestProblem(source_file=str(path), line=ln.line, kind=bad[0], message=bad[1])
            continue
        yield ln.line, ln.value, None


def to_item(record: dict[str, Any], model: str, path: Path, line: int, table: dict[str, TaskInfo]) -> Item:
    """Turn one checked output record into an Item (see the module docstring for the id scheme)."""
    other = record.get("other") or {}
    task = str(other.get("source") or path.stem)
    options = record.get("options") or None
    info = task_info(task, options, record["question"], table)
    rid, pk = record_id(record), perm_key(options)
    reference = record.get("reference_answer", other.get("reference_answer"))
    return Item(
        item_id=f"{model}/{task}/{rid}/{pk}",
        dimension=info.dimension,
        task=task,
        question=record["question"],
        options=options,
        reference_answer=None if reference is None else str(reference),
        model=model,
        response=record["answer"] or "",
        meta={"source_file": str(path), "line": line, "other_id": other.get("id"), "level": other.get("level"),
              "perm_key": pk, "record_id": rid, "task_type": info.type},
    )


def output_files(outputs: Iterable[Path]) -> list[tuple[str, Path]]:
    """(model, file) pairs: a folder's *.jsonl files named after the folder, or a file named after its parent."""
    pairs: list[tuple[str, Path]] = []
    for p in map(Path, outputs):
        if p.is_dir():
            pairs += [(p.name, f) for f in sorted(p.glob("*.jsonl"))]
        else:
            pairs.append((p.resolve().parent.name, p))
    return pairs


def iter_medbench(outputs: Iterable[Path], table: dict[str, TaskInfo] | None = None) -> Iterator[Item | IngestProblem]:
    """Stream items and problems from output folders/files, skipping duplicates across all of them.

    `meta["perm_index"]` numbers the distinct option orders of one (model, task, id) in reading order,
    so 0 is the order listed first (the original order in MedBench's files).
    """
    table = load_task_table() if table is None else table
    seen: dict[str, tuple[str, str]] = {}  # item_id -> (response sha1, where first read)
    perm_count: Counter[str] = Counter()
    for model, path in output_files(outputs):
        for line, record, problem in iter_jsonl(path):
            if problem is not None:
                yield problem
                continue
            assert record is not None
            item = to_item(record, model, path, line, table)
            digest = hashlib.sha1(item.response.encode("utf-8")).hexdigest()
            if item.item_id in seen:
                first_digest, where = seen[item.item_id]
                same = first_digest == digest
                yield IngestProblem(
                    source_file=str(path), line=line, kind="duplicate" if same else "conflicting_duplicate",
                    message=f"{item.item_id} already read at {where}" + ("" if same else " with a different response"),
                )
                continue
            seen[item.item_id] = (digest, f"{path}:{line}")
            group = f"{model}\x1f{item.task}\x1f{item.meta['record_id']}"
            item.meta["perm_index"] = perm_count[group]
            perm_count[group] += 1
            yield item


def read_prompts(prompts: Path) -> tuple[dict[str, set[tuple[str, str]]], list[IngestProblem]]:
    """Per task, the (id, perm_key) pairs of a prompts folder of <task>.jsonl files."""
    keys: dict[str, set[tuple[str, str]]] = defaultdict(set)
    problems: list[IngestProblem] = []
    for path in sorted(Path(prompts).glob("*.jsonl")):
        for _line, record, problem in iter_jsonl(path, required=("question",)):
            if problem is not None or record is None:
                problems += [problem] if problem else []
                continue
            other = record.get("other") or {}
            task = str(other.get("source") or path.stem)
            keys[task].add((record_id(record), perm_key(record.get("options") or None)))
    return dict(keys), problems


def coverage(items: list[Item], prompt_keys: dict[str, set[tuple[str, str]]] | None) -> list[Coverage]:
    """Answered, empty, missing and unexpected counts per model and task."""
    answered: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
    empty: Counter[tuple[str, str]] = Counter()
    for it in items:
        mt = (it.model or "", it.task or "")
        answered[mt].add((str(it.meta["record_id"]), str(it.meta["perm_key"])))
        empty[mt] += not it.response.strip()
    models = sorted({m for m, _ in answered})
    tasks = sorted({t for _, t in answered} | set(prompt_keys or {}))
    rows = []
    for m in models:
        for t in tasks:
            got, want = answered.get((m, t), set()), (prompt_keys or {}).get(t, set())
            rows.append(Coverage(model=m, task=t, n_prompts=len(want), n_answered=len(got), n_empty=empty[(m, t)],
                                 n_missing=len(want - got) if prompt_keys is not None else 0,
                                 n_unexpected=len(got - want) if prompt_keys is not None else 0))
    return rows


def read_medbench(
    prompts: Path | None, outputs: list[Path], table: dict[str, TaskInfo] | None = None
) -> IngestResult:
    """Read model outputs (folders named after the model, or single files) and check them against the prompts."""
    result = IngestResult()
    for obj in iter_medbench(outputs, table):
        (result.items if isinstance(obj, Item) else result.problems).append(obj)
    prompt_keys = None
    if prompts is not None:
        prompt_keys, prompt_problems = read_prompts(prompts)
        result.problems += prompt_problems
    result.coverage = coverage(result.items, prompt_keys)
    return result
