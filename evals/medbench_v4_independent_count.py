"""Count MedBench v4 option-shuffle groups, consistency, empty answers and the consensus key straight from the raw files.

This is a cross-check of `medjudge score`, written apart from it: it imports nothing from `judge`, finds options
with plain string searches instead of the reader's regular expressions, reads answer letters with its own
narrow rules, and votes with its own code. `tests/medbench/test_v4_sample.py` compares the two on the shared
sample. Usage:

    python evals/medbench_v4_independent_count.py [../shared/data/medbench_v4_sample] [--json]
"""

from __future__ import annotations

import ast
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

SINGLE = {"MedExam", "MedEthics", "MedSafety", "MedRxCheck_SCQ"}
"""v4 files whose questions take one option letter (read from their instructions: 单项选择题 / 单选题)."""
MULTI = {"DDx-advanced", "MedRxCheck_MSQ"}
"""v4 files whose questions take one or more letters (一个或多个 / 多选题)."""
LETTERS = "ABCDEFGHIJ"


def other_of(record: dict[str, Any]) -> dict[str, Any]:
    """`other` as a dict, whether an object or a Python-literal string."""
    o = record.get("other")
    return ast.literal_eval(o) if isinstance(o, str) else (o or {})


def options_of(question: str) -> list[str]:
    """Option contents, by searching "A." then "B." ... forward from the last "A." after the last "##"."""
    text = question.replace("．", ".").replace("、", ".")
    base = text.rfind("##")
    a = text.rfind("A.", max(base, 0))
    if a < 0:
        return []
    starts = [a]
    for letter in LETTERS[1:]:
        nxt = text.find(letter + ".", starts[-1] + 2)
        if nxt < 0:
            break
        starts.append(nxt)
    contents = []
    for i, s in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(text)
        chunk = text[s + 2:end]
        if i + 1 == len(starts):
            chunk = chunk.split("\n\n")[0]
        contents.append("".join(chunk.split()))
    return contents


def letters_of(answer: str, multi: bool) -> list[str] | None:
    """The letters an answer gives: the letters inside <> (every <> agreeing), else a bare answer ("B", "ABC")."""
    text = answer.strip().replace("，", ",").replace("、", ",")
    bracketed = {"".join(sorted(set(re.findall(r"[A-J]", m))))
                 for m in re.findall(r"<\s*([A-J](?:[,\s]*[A-J])*)\s*>", text)}
    if len(bracketed) > 1:
        return None
    if bracketed:
        text = bracketed.pop()
    if not text or not re.fullmatch(r"[A-J](?:[,\s]*[A-J])*", text):
        return None
    got = sorted(set(re.findall(r"[A-J]", text)))
    return got if multi or len(got) == 1 else None


def count(sample: Path, min_agreement: float = 0.6) -> dict[str, Any]:
    """Per model and task file: records, empty answers, choice items, unreadable, groups, consistent; silver key."""
    out: dict[str, Any] = {"tasks": {}, "silver": {}}
    picks: dict[tuple[str, str], dict[str, list[frozenset[str] | None]]] = defaultdict(lambda: defaultdict(list))
    for model_dir in sorted(p for p in (sample / "outputs").iterdir() if p.is_dir()):
        model = model_dir.name
        for f in sorted(model_dir.glob("*.jsonl")):
            task = f.stem
            records = [json.loads(line) for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
            row = {"records": len(records), "empty": sum(not (r.get("answer") or "").strip() for r in records)}
            if task in SINGLE | MULTI:
                by_id: dict[str, list[frozenset[str] | None]] = defaultdict(list)
                unreadable = 0
                for r in records:
                    contents = options_of(r["question"])
                    got = letters_of(r.get("answer") or "", task in MULTI)
                    if got is None or any(LETTERS.index(x) >= len(contents) for x in got):
                        unreadable += 1
                        chosen = None
                    else:
                        chosen = frozenset(contents[LETTERS.index(x)] for x in got)
                    qid = str(other_of(r)["id"])
                    by_id[qid].append(chosen)
                    picks[(task, qid)][model].append(chosen)
                groups = [v for v in by_id.values() if len(v) > 1]
                row.update(choice=len(records), unreadable=unreadable, groups=len(groups),
                           consistent=sum(None not in v and len(set(v)) == 1 for v in groups))
            out["tasks"][f"{model}/{task}"] = row
    agree: Counter[str] = Counter()
    keyed_items: Counter[str] = Counter()
    keyed = 0
    for (task, _qid), by_model in picks.items():
        votes = {}
        for model, chosen in by_model.items():
            ranked = Counter(c for c in chosen if c is not None).most_common()
            if ranked and (len(ranked) == 1 or ranked[0][1] > ranked[1][1]):
                votes[model] = ranked[0][0]
        tally = Counter(votes.values()).most_common()
        if not tally:
            continue
        top, k = tally[0]
        if k < 2 or k / len(by_model) < min_agreement or (len(tally) > 1 and tally[1][1] == k):
            continue
        keyed += 1
        for model, chosen in by_model.items():
            keyed_items[f"{model}/{task}"] += len(chosen)
            agree[f"{model}/{task}"] += sum(c == top for c in chosen)
    out["silver"] = {"keyed_questions": keyed, "questions": len(picks),
                     "items": dict(sorted(keyed_items.items())), "agree": dict(sorted(agree.items()))}
    return out


def main(argv: list[str]) -> None:
    """Print the counts as a table (or JSON with --json)."""
    args = [a for a in argv if not a.startswith("--")]
    sample = Path(args[0]) if args else Path(__file__).resolve().parents[1].parent / "shared/data/medbench_v4_sample"
    result = count(sample)
    if "--json" in argv:
        print(json.dumps(result, ensure_ascii=False, indent=1))
        return
    print(f"{'model/task':40} {'records':>7} {'empty':>5} {'choice':>6} {'unread':>6} {'groups':>6} {'consist':>7}")
    for name, r in result["tasks"].items():
        if "groups" in r or r["empty"]:
            print(f"{name:40} {r['records']:7} {r['empty']:5} {r.get('choice', ''):>6} {r.get('unreadable', ''):>6} "
                  f"{r.get('groups', ''):>6} {r.get('consistent', ''):>7}")
    s = result["silver"]
    print(f"consensus key: {s['keyed_questions']} of {s['questions']} choice questions")
    for name, n in s["items"].items():
        print(f"  {name:40} agree {s['agree'].get(name, 0)} of {n}")


if __name__ == "__main__":
    main(sys.argv[1:])
