"""The shape of the package, checked: ruff clean, and no oversized functions or modules.

Exceptions are listed with a reason: the list is what is left of the layout work (issue 14).
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_FUNCTION = 60
MAX_MODULE = 450
SKIP: tuple[str, ...] = ()
MODULE_EXCEPTIONS: dict[str, str] = {}
FUNCTION_EXCEPTIONS: dict[str, str] = {}


def _sources():
    for path in sorted((ROOT / "hmnet").rglob("*.py")):
        if not any(part in SKIP for part in path.relative_to(ROOT / "hmnet").parts):
            yield path.relative_to(ROOT).as_posix(), path.read_text()


def test_no_module_is_longer_than_the_limit():
    long = {name: len(text.splitlines()) for name, text in _sources() if len(text.splitlines()) > MAX_MODULE}
    assert set(long) <= set(MODULE_EXCEPTIONS), {k: v for k, v in long.items() if k not in MODULE_EXCEPTIONS}
    stale = set(MODULE_EXCEPTIONS) - set(long)
    assert not stale, f"no longer too long, drop from MODULE_EXCEPTIONS: {sorted(stale)}"


def test_no_function_is_longer_than_the_limit():
    long = {}
    for name, text in _sources():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION:
                    long[f"{name}::{node.name}"] = n
    assert set(long) <= set(FUNCTION_EXCEPTIONS), {k: v for k, v in long.items() if k not in FUNCTION_EXCEPTIONS}
    stale = set(FUNCTION_EXCEPTIONS) - set(long)
    assert not stale, f"no longer too long, drop from FUNCTION_EXCEPTIONS: {sorted(stale)}"


def test_ruff_is_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed")
    out = subprocess.run([ruff, "check", "hmnet", "tests", "benchmarks"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_layers_hold_by_import_linter():
    """The layers contract in pyproject.toml ([tool.importlinter]): a module imports only from layers below."""
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    if not Path(exe).exists():
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    out = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert re.search(r"Contracts: (\d+) kept, 0 broken", out.stdout) and "hmnet layers KEPT" in out.stdout
    for package in ("book", "campaign", "store", "sections"):  # each pipeline package is layered inside
        assert f"the {package} inside" in out.stdout
    assert "ignore_imports" not in (ROOT / "pyproject.toml").read_text(), "no import is exempt from the layers"


def test_no_module_imports_another_modules_underscore_names():
    found = []
    for name, text in _sources():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hmnet"):
                found += [f"{name}:{node.lineno} {node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
    assert not found, found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
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
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_anywhere_in_the_package():
    """No two modules import each other, directly or through others, counting the imports inside functions
    (which hide a cycle from Python but not from a reader), package __init__ modules included."""
    grimp = pytest.importorskip("grimp")
    g = grimp.build_graph("hmnet")
    graph = {m: set(g.find_modules_directly_imported_by(m)) for m in g.modules}
    assert not _cycles(graph), _cycles(graph)
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# A function-local import of a package module is there to defer a heavy library (the CLI answers `--help` in
# milliseconds; `hmnet results` and the book build never load transformers); any other belongs at the top, where
# a reader sees it. hmnet/cli/ registers subcommands lazily by design and is exempt.
HEAVY = {"torch", "transformers", "accelerate", "datasets", "huggingface_hub", "safetensors", "sklearn", "scipy",
         "pandas", "matplotlib", "seaborn", "IPython", "nbformat", "papermill", "pyarrow", "yaml"}


def _package_modules() -> dict[str, tuple[ast.Module, bool, str]]:
    out = {}
    for path in sorted((ROOT / "hmnet").rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        out[name] = (ast.parse(path.read_text()), is_package, path.relative_to(ROOT).as_posix())
    return out


def _runs(modules, name: str, is_package: bool, node) -> tuple[set[str], set[str]]:
    """The package modules (parents included) and the outside top-level packages an import statement runs."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        module = node.module or ""
        if node.level:
            base = name.split(".") if is_package else name.split(".")[:-1]
            module = ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else []))
        names = [module] + [f"{module}.{a.name}" for a in node.names]
    inside, outside = set(), set()
    for n in names:
        parts = n.split(".")
        if parts[0] != "hmnet":
            outside.add(parts[0])
        inside |= {m for m in (".".join(parts[:i]) for i in range(1, len(parts) + 1)) if m in modules}
    return inside, outside


def _module_level(body):
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.Try) or (isinstance(node, ast.If) and "TYPE_CHECKING" not in ast.unparse(node.test)):
            yield from _module_level(node.body)


def _heavy_closure(modules) -> dict[str, set[str]]:
    """Per module, the heavy libraries that importing it loads (its parents' and imports' module-level imports)."""
    direct = {}
    for name, (tree, is_package, _) in modules.items():
        parts = name.split(".")
        inside, outside = {".".join(parts[:i]) for i in range(1, len(parts))}, set()
        for node in _module_level(tree.body):
            i, o = _runs(modules, name, is_package, node)
            inside, outside = inside | i, outside | o
        direct[name] = (inside - {name}, outside & HEAVY)
    closure: dict[str, set[str]] = {}

    def visit(name: str, seen: set[str]) -> set[str]:
        if name not in closure and name not in seen:
            seen.add(name)
            inside, heavy = direct[name]
            closure[name] = set(heavy).union(*(visit(i, seen) for i in inside))
        return closure.get(name, set())

    for name in modules:
        visit(name, set())
    return closure


def _needless_local_imports(modules) -> list[str]:
    closure, found = _heavy_closure(modules), []
    for name, (tree, is_package, path) in modules.items():
        if name.startswith("hmnet.cli"):
            continue
        functions = [f for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))]
        for node in {n for f in functions for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}:
            inside, outside = _runs(modules, name, is_package, node)
            deferred = (outside & HEAVY).union(*(closure[i] for i in inside)) - closure[name]
            if not deferred and (inside or not outside - HEAVY):
                found.append(f"{path}:{node.lineno} {ast.unparse(node)}")
    return sorted(found)


def test_a_function_local_import_defers_a_heavy_library():
    found = _needless_local_imports(_package_modules())
    assert not found, "these defer nothing heavy; import them at the top of the module:\n" + "\n".join(found)


def test_the_local_import_check_can_fail():
    modules = _package_modules()
    tree, is_package, path = modules["hmnet.tasks"]
    extra = ast.parse("def f():\n    from hmnet.errors import DataError\n    import json\n    import torch\n")
    modules["hmnet.tasks"] = (ast.Module(body=tree.body + extra.body, type_ignores=[]), is_package, path)
    flagged = [f for f in _needless_local_imports(modules) if f.startswith("hmnet/tasks.py")]
    assert [f.split(" ", 1)[1] for f in flagged] == ["from hmnet.errors import DataError"], flagged
