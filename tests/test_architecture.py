"""The package layout holds: no import cycles, no private names across packages, a CLI that starts light, and the
module paths of earlier releases still import."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import judge
from tests.conftest import REPO

PKG = REPO / "judge"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of the imports a module runs when it is imported (not TYPE_CHECKING, not in functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: list[tuple[str, list[str]]] = []

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Import):
                out.extend((a.name, []) for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                out.append((node.module, [a.name for a in node.names]))
            elif isinstance(node, ast.If):
                test = ast.unparse(node.test)
                if "TYPE_CHECKING" not in test:
                    visit(node.body)
                    visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)

    visit(tree.body)
    return out


MODULES = {_module_name(p): p for p in PKG.rglob("*.py")}


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for mod, path in MODULES.items():
        for target, names in _top_level_imports(path):
            candidates = [target] + [f"{target}.{n}" for n in names]
            graph[mod] |= {c for c in candidates if c in MODULES and c != mod}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            strong(v)
    return found


def test_no_import_cycles_between_modules():
    graph = _graph()
    # a package's __init__ importing its own modules is not a cycle of concern; the lazy inits import nothing
    assert _cycles(graph) == []


def test_no_private_name_is_imported_across_packages():
    offenders = []
    for mod, path in MODULES.items():
        own = mod.split(".")[1] if mod.count(".") else ""
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("judge."):
                other = node.module.split(".")[1]
                private = [a.name for a in node.names if a.name.startswith("_") and a.name != "__version__"]
                if private and other != own:
                    offenders.append(f"{mod} imports {private} from {node.module}")
    assert offenders == []


def test_every_package_lists_its_public_names():
    for init in sorted(PKG.glob("*/__init__.py")):
        module = importlib.import_module(_module_name(init))
        if init.parent.name in ("demo", "_models"):
            continue
        assert getattr(module, "__all__", None), f"{module.__name__} has no __all__"
        for name in module.__all__:
            assert getattr(module, name) is not None, f"{module.__name__}.{name}"


def test_the_cli_imports_no_heavy_library_at_start():
    code = ("import sys; import judge.cli.app; heavy = ('litellm', 'instructor', 'dspy', 'llama_cpp', 'sklearn', "
            "'pandas', 'openai', 'duckdb', 'pyarrow', 'matplotlib', 'aiohttp', 'ray'); "
            "print(','.join(sorted(m for m in heavy if m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"imported at CLI start: {done.stdout.strip()}"


def test_sql_command_imports_only_what_it_needs(tmp_path):
    from judge.store import Store

    db = tmp_path / "s.duckdb"
    Store(db).close()
    code = ("import sys; from judge.cli.app import app\n"
            "try:\n    app(['sql', '--db', sys.argv[1], 'SELECT 1'])\nexcept SystemExit:\n    pass\n"
            "heavy = ('litellm', 'instructor', 'dspy', 'sklearn', 'pandas', 'openai', 'matplotlib', 'aiohttp', 'ray')\n"
            "print('HEAVY=' + ','.join(sorted(m for m in heavy if m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code, str(db)], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "HEAVY=\n" in done.stdout + "\n" and done.stdout.rstrip().endswith("HEAVY="), done.stdout


@pytest.mark.parametrize("old", sorted(judge.MOVED_MODULES))
def test_old_module_paths_still_import(old):
    module = importlib.import_module(old)
    assert module is importlib.import_module(judge.MOVED_MODULES[old])


def test_old_names_of_packages_keep_their_public_names():
    from judge.llm_judge import LLMJudge

    from judge.gold import load_gold
    from judge.medbench import read_medbench
    from judge.offline import make_offline_judge
    from judge.report import build_report
    from judge.store import Store

    assert all(callable(x) for x in (load_gold, LLMJudge, read_medbench, make_offline_judge, build_report, Store))


def test_packages_depend_on_each_other_without_cycles():
    graph = _graph()
    packages: dict[str, set[str]] = {}
    for mod, targets in graph.items():
        own = mod.split(".")[1] if mod.count(".") else "judge"
        for target in targets:
            other = target.split(".")[1] if target.count(".") else "judge"
            if other != own:
                packages.setdefault(own, set()).add(other)
    for p in list(packages):
        for q in packages[p]:
            packages.setdefault(q, set())
    assert _cycles(packages) == [], packages
    assert packages.get("core", set()) == set(), "core depends on no other package"
    assert packages.get("cli", set()) <= {"core"}, "the CLI reaches everything else through judge.api, lazily"
