"""Read MedBench (OpenCompass-style) prompt and model-output JSONL files into items, reporting bad lines.

Each output line is one record: `question` (full prompt), `options` (list or absent), `answer` (the model's
raw output, may be null) and `other` {`source` = task, `id`, `level`}. Both releases are read: the current
(v4) one writes `other` as a Python-literal string, the options inside the question text and a versioned
`other.source`; judge.medbench.layout undoes that. A record becomes an `Item` with

    item_id = "{model}/{task}/{id}/{perm_key}"

- `id` is `other.id`; records without one (most open tasks) use "q" + the first 10 hex digits of the
  sha1 of the question text, which is stable across re-runs, file orders and models.
- `perm_key` tells apart the option permutations MedBench asks under one `other.id`: the first 8 hex digits
  of the sha1 of the option strings in their listed order ("0" when the record has no options). It depends
  only on the record itself, so re-ordering or re-running a file never changes an item_id. Records of one
  (model, task, id) with different option orders are the shuffle variants of one question: they have
  different item ids and are all kept.

Skipped lines, each reported as an `IngestProblem` with file and 1-based line number:
- `merge_conflict_marker`: git conflict lines (<<<<<<<, |||||||, =======, >>>>>>>).
- `duplicate`: a record whose item_id was already read with the same response (the real deepseek-32b files
  repeat every record in both halves of a merge conflict).
- `conflicting_duplicate`: same item_id but a different response; the first one read is kept.
- `invalid_json`: not UTF-8, not JSON, or not a JSON object.
- `missing_field` / `invalid_record`: no `question` or `answer` key, or fields of the wrong type.

Lines that are read but could not be fully mapped are reported too, with `skipped = False`: `unknown_task`,
`unknown_source`, `task_mismatch`, `no_options`, `options_conflict` (see judge.medbench.layout).
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
from judge.medbench.layout import LayoutError, RecordLayout, parse_other, question_id, read_layout
from judge.medbench.tasks import TaskInfo, load_aliases, load_task_table

ProblemKind = Literal[
    "merge_conflict_marker", "duplicate", "conflicting_duplicate", "invalid_json", "missing_field", "invalid_record",
    "unknown_task", "unknown_source", "task_mismatch", "no_options", "options_conflict",
]
WARNING_KINDS = frozenset({"unknown_task", "unknown_source", "task_mismatch", "no_options", "options_conflict"})
"""Problem kinds of lines that were still read into items."""


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
    skipped: bool = True
    """True when the line was not read; False for a warning about a line that was read (e.g. an unknown task)."""


class Coverage(BaseModel):
    """How completely one model answered one task's prompts."""

    model: str
    """Model name."""
    task: str
    """Task name."""
    dimension: str | None = None
    """MedBench dimension of the task; None for tasks not in the task table."""
    n_prompts: int | None = None
    """Prompt records for the task; None when no prompts folder was given."""
    n_expected: int = 0
    """What a complete model answers: n_prompts, else the most any model answered for the task."""
    n_answered: int = 0
    """Distinct items read for this model and task."""
    n_empty: int = 0
    """Items whose response is empty (answer null or blank)."""
    n_missing: int = 0
    """Expected records with no output record (prompt records without an answer, or fewer than other models)."""
    n_unexpected: int = 0
    """Output records matching no prompt record (0 without a prompts folder)."""

    @property
    def incomplete(self) -> bool:
        """True when the model missed or left empty some of the expected answers."""
        return self.n_missing > 0 or self.n_empty > 0


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
    try:
        other = parse_other(record.get("other"))
    except LayoutError:
        other = {}
    return question_id(str(record.get("question", "")), other)


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


def to_item(record: dict[str, Any], model: str, path: Path, line: int, table: dict[str, TaskInfo],
            layout: RecordLayout | None = None) -> Item:
    """Turn one checked output record into an Item (see the module docstring for the id scheme)."""
    layout = layout or read_layout(record, path, table)
    other, options, info = layout.other, layout.options, layout.info
    rid, pk = layout.record_id, perm_key(options)
    reference = record.get("reference_answer", other.get("reference_answer"))
    return Item(
        item_id=f"{model}/{layout.task}/{rid}/{pk}",
        dimension=info.dimension,
        task=layout.task,
        question=record["question"],
        options=options,
        reference_answer=None if reference is None else str(reference),
        model=model,
        response=record["answer"] or "",
        meta={"source_file": str(path), "line": line, "other_id": other.get("id"), "level": other.get("level"),
              "perm_key": pk, "record_id": rid, "task_type": info.type, "source": other.get("source"),
              "options_from": layout.options_from},
    )


def iter_records(path: Path, table: dict[str, TaskInfo], aliases: dict[str, str],
                 required: tuple[str, ...] = ("question", "answer"),
                 ) -> Iterator[tuple[int, dict[str, Any] | None, RecordLayout | None, list[IngestProblem]]]:
    """Stream (line, record, layout, problems) of one file; record and layout are None for a skipped line."""
    for line, record, problem in iter_jsonl(path, required):
        if problem is not None or record is None:
            yield line, None, None, [problem] if problem else []
            continue
        try:
            layout = read_layout(record, path, table, aliases)
        except LayoutError as e:
            yield line, None, None, [IngestProblem(source_file=str(path), line=line, kind=e.kind,  # type: ignore[arg-type]
                                                   message=e.message)]
            continue
        warnings = [IngestProblem(source_file=str(path), line=line, kind=k, message=m, skipped=False)  # type: ignore[arg-type]
                    for k, m in layout.warnings]
        yield line, record, layout, warnings


def output_files(outputs: Iterable[Path]) -> list[tuple[str, Path]]:
    """(model, file) pairs: a folder's *.jsonl files named after the folder, or a file named after its parent.

    A folder with no *.jsonl of its own is read as a folder of model folders (`outputs/` holding `gpt40/`, …),
    one level deep; hidden folders are left out.
    """
    pairs: list[tuple[str, Path]] = []
    for p in map(Path, outputs):
        if not p.is_dir():
            pairs.append((p.resolve().parent.name, p))
            continue
        own = sorted(p.glob("*.jsonl"))
        if own:
            pairs += [(p.name, f) for f in own]
            continue
        for d in sorted(d for d in p.iterdir() if d.is_dir() and not d.name.startswith(".")):
            pairs += [(d.name, f) for f in sorted(d.glob("*.jsonl"))]
    return pairs


def iter_medbench(outputs: Iterable[Path], table: dict[str, TaskInfo] | None = None,
                  repeats: dict[tuple[str, str, str], int] | None = None) -> Iterator[Item | IngestProblem]:
    """Stream items and problems from output folders/files, skipping duplicates across all of them.

    `meta["perm_index"]` numbers the option orders of one (model, task, id) in reading order, so 0 is the
    order listed first (the original order in MedBench's files). `repeats` maps (task, id, perm_key) to how
    often the benchmark's prompts file asks that very record (a shuffle that gave an order already drawn);
    that many copies are kept, the n-th with item id and perm_key suffix "~n". Any further copy is a duplicate.
    """
    table = load_task_table() if table is None else table
    aliases = load_aliases()
    repeats = repeats or {}
    seen: dict[str, tuple[str, str]] = {}  # item_id -> (response sha1, where first read)
    copies: Counter[str] = Counter()
    perm_count: Counter[str] = Counter()
    for model, path in output_files(outputs):
        for line, record, layout, problems in iter_records(path, table, aliases):
            yield from problems
            if record is None or layout is None:
                continue
            item = to_item(record, model, path, line, table, layout)
            digest = hashlib.sha1(item.response.encode("utf-8")).hexdigest()
            copies[item.item_id] += 1
            n = copies[item.item_id]
            pk = str(item.meta["perm_key"])
            if n > 1 and n <= repeats.get((item.task or "", layout.record_id, pk), 1):
                item = item.model_copy(update={"item_id": f"{item.item_id}~{n}",
                                               "meta": {**item.meta, "perm_key": f"{pk}~{n}", "repeat": n}})
            elif n > 1:
                first_digest, where = seen[item.item_id]
                same = first_digest == digest
                hint = "" if repeats else " (the prompts folder, --prompts, tells which records the benchmark repeats)"
                yield IngestProblem(
                    source_file=str(path), line=line, kind="duplicate" if same else "conflicting_duplicate",
                    message=f"{item.item_id} already read at {where}" + ("" if same else " with a different response")
                    + hint,
                )
                continue
            seen[item.item_id] = (digest, f"{path}:{line}")
            group = f"{model}\x1f{item.task}\x1f{item.meta['record_id']}"
            item.meta["perm_index"] = perm_count[group]
            perm_count[group] += 1
            yield item


class PromptSet(BaseModel):
    """What a prompts folder holds, per task."""

    keys: dict[str, set[tuple[str, str]]] = Field(default_factory=dict)
    """Per task, the (id, perm_key) pairs of its prompt records."""
    orders: dict[tuple[str, str], list[str]] = Field(default_factory=dict)
    """Per (task, id), the options of the id's first record: the order an id-level letter key refers to."""
    repeats: dict[tuple[str, str, str], int] = Field(default_factory=dict)
    """(task, id, perm_key) asked more than once with the very same text, and how often."""
    problems: list[IngestProblem] = Field(default_factory=list)
    """Prompt lines that could not be read or mapped."""


def read_prompt_set(prompts: Path, table: dict[str, TaskInfo] | None = None) -> PromptSet:
    """Read a prompts folder of <task>.jsonl files with the same layout rules as the outputs."""
    table = load_task_table() if table is None else table
    aliases = load_aliases()
    out = PromptSet()
    keys: dict[str, set[tuple[str, str]]] = defaultdict(set)
    counts: dict[tuple[str, str, str], int] = {}
    for path in sorted(Path(prompts).glob("*.jsonl")):
        for _line, record, layout, problems in iter_records(path, table, aliases, required=("question",)):
            out.problems += problems
            if record is None or layout is None:
                continue
            pk = perm_key(layout.options)
            n = counts[(layout.task, layout.record_id, pk)] = counts.get((layout.task, layout.record_id, pk), 0) + 1
            keys[layout.task].add((layout.record_id, pk if n == 1 else f"{pk}~{n}"))
            if layout.options:
                out.orders.setdefault((layout.task, layout.record_id), layout.options)
    out.keys = dict(keys)
    out.repeats = {k: n for k, n in counts.items() if n > 1}
    return out


def read_prompts(prompts: Path) -> tuple[dict[str, set[tuple[str, str]]], list[IngestProblem]]:
    """Per task, the (id, perm_key) pairs of a prompts folder of <task>.jsonl files, and its problems."""
    ps = read_prompt_set(prompts)
    return ps.keys, ps.problems


def coverage(items: list[Item], prompt_keys: dict[str, set[tuple[str, str]]] | None,
             table: dict[str, TaskInfo] | None = None) -> list[Coverage]:
    """Answered, empty, missing and unexpected counts per model and task.

    With prompts, expected = the task's prompt records; without, the most records any model answered for the
    task, so a model that answered 12 where another answered 100 shows 88 missing.
    """
    table = load_task_table() if table is None else table
    answered: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
    empty: Counter[tuple[str, str]] = Counter()
    dims: dict[str, str | None] = {}
    for it in items:
        mt = (it.model or "", it.task or "")
        answered[mt].add((str(it.meta["record_id"]), str(it.meta["perm_key"])))
        empty[mt] += not it.response.strip()
        dims.setdefault(it.task or "", it.dimension)
    models = sorted({m for m, _ in answered})
    tasks = sorted({t for _, t in answered} | set(prompt_keys or {}))
    most = {t: max((len(answered.get((m, t), set())) for m in models), default=0) for t in tasks}
    rows = []
    for m in models:
        for t in tasks:
            got = answered.get((m, t), set())
            dim = dims.get(t, table[t].dimension if t in table else None)
            if prompt_keys is not None:
                want = prompt_keys.get(t, set())
                rows.append(Coverage(model=m, task=t, dimension=dim, n_prompts=len(want), n_expected=len(want),
                                     n_answered=len(got), n_empty=empty[(m, t)], n_missing=len(want - got),
                                     n_unexpected=len(got - want)))
            else:
                rows.append(Coverage(model=m, task=t, dimension=dim, n_expected=most[t], n_answered=len(got),
                                     n_empty=empty[(m, t)], n_missing=most[t] - len(got)))
    return rows


def read_medbench(
    prompts: Path | None, outputs: list[Path], table: dict[str, TaskInfo] | None = None
) -> IngestResult:
    """Read model outputs (folders named after the model, or single files) and check them against the prompts."""
    result = IngestResult()
    ps = read_prompt_set(prompts, table) if prompts is not None else None
    for obj in iter_medbench(outputs, table, ps.repeats if ps else None):
        (result.items if isinstance(obj, Item) else result.problems).append(obj)
    if ps is not None:
        result.problems += ps.problems
    result.coverage = coverage(result.items, ps.keys if ps else None, table)
    return result
