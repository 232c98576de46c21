"""The notebooks hold no logic: parameters, one setup call, calls into hmnet.report and prose (issue 14).

Each stored notebook's code cells are parsed with ``ast`` (nothing is executed). Outside the ``parameters`` cell
and the folded Colab install cell a code cell may only

- import ``report`` (``from hmnet import report``);
- call ``report.<name>(...)`` for a name of ``hmnet.report.__all__`` (no other call: no print, display, pandas);
- assign the results to names, subscript them and read their attributes;
- use ``if <name> is not None:`` around such calls (what a page shows when a part exists), without ``else``.

Loops, comprehensions (list, set, dict, generator: they compute results, so they are not allowed either),
conditional expressions, lambdas, function and class definitions, ``raise``, ``try`` and ``with`` fail, and
``report.setup`` must be called exactly once per notebook, in its first code cell after the Colab one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

from hmnet import report
from hmnet.book.reproduce import PAGES

REPO = Path(__file__).resolve().parents[1]

FORBIDDEN = {
    ast.For: "a for loop", ast.AsyncFor: "a for loop", ast.While: "a while loop",
    ast.ListComp: "a list comprehension", ast.SetComp: "a set comprehension", ast.DictComp: "a dict comprehension",
    ast.GeneratorExp: "a generator expression", ast.IfExp: "a conditional expression", ast.Lambda: "a lambda",
    ast.FunctionDef: "a function definition", ast.AsyncFunctionDef: "a function definition",
    ast.ClassDef: "a class definition", ast.Raise: "a raise", ast.Try: "a try block", ast.With: "a with block",
}


def _code_cells(stem: str) -> list:
    nb = nbformat.read(REPO / "notebooks" / f"{stem}.ipynb", as_version=4)
    return [c for c in nb.cells if c.cell_type == "code"]


def _is_colab_cell(cell) -> bool:
    return "google.colab" in cell.source


def _report_call(node: ast.Call) -> str | None:
    """The name of a ``report.<name>(...)`` call, else None."""
    f = node.func
    if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "report":
        return f.attr
    return None


def style_problems(source: str) -> list[str]:
    """What breaks the rules in one (non-parameters, non-Colab) code cell."""
    tree = ast.parse(source)
    problems = []
    for node in ast.walk(tree):
        for kind, what in FORBIDDEN.items():
            if isinstance(node, kind):
                problems.append(f"line {node.lineno}: {what}")
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if not (isinstance(node, ast.ImportFrom) and node.module == "hmnet"
                    and [a.name for a in node.names] == ["report"] and node.names[0].asname is None):
                problems.append(f"line {node.lineno}: an import other than `from hmnet import report`")
        if isinstance(node, ast.Call):
            name = _report_call(node)
            if name is None:
                problems.append(f"line {node.lineno}: a call that is not report.<name>(...): {ast.unparse(node.func)}")
            elif name not in report.__all__:
                problems.append(f"line {node.lineno}: report.{name} is not in hmnet.report.__all__")
        if isinstance(node, ast.If):
            t = node.test
            simple = (isinstance(t, ast.Compare) and isinstance(t.left, ast.Name) and len(t.ops) == 1
                      and isinstance(t.ops[0], ast.IsNot) and isinstance(t.comparators[0], ast.Constant)
                      and t.comparators[0].value is None)
            if not simple or node.orelse or not all(isinstance(s, ast.Expr) for s in node.body):
                problems.append(f"line {node.lineno}: an if that is not `if <name> is not None: <calls>`")
    return problems


def setup_calls(source: str) -> int:
    return sum(1 for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Call) and _report_call(n) == "setup")


@pytest.mark.parametrize("stem", list(PAGES.values()))
def test_notebook_cells_hold_no_logic(stem):
    cells = _code_cells(stem)
    params = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and cells[0] is params[0], f"{stem}: the parameters cell comes first"
    for stmt in ast.parse(params[0].source).body:  # names bound to literal values, nothing else
        assert isinstance(stmt, ast.Assign) and all(isinstance(t, ast.Name) for t in stmt.targets), \
            f"{stem}: the parameters cell holds {ast.unparse(stmt)!r}"
        ast.literal_eval(stmt.value)
    problems = {i: style_problems(c.source) for i, c in enumerate(cells)
                if c is not params[0] and not _is_colab_cell(c)}
    problems = {i: p for i, p in problems.items() if p}
    assert not problems, f"{stem}: " + "; ".join(f"code cell {i}: {', '.join(p)}" for i, p in problems.items())


@pytest.mark.parametrize("stem", list(PAGES.values()))
def test_one_setup_call_right_after_the_colab_cell(stem):
    cells = _code_cells(stem)
    assert sum(setup_calls(c.source) for c in cells) == 1, f"{stem}: report.setup must be called exactly once"
    colab = [i for i, c in enumerate(cells) if _is_colab_cell(c)]
    assert colab == [1], f"{stem}: the Colab install cell is the second code cell"
    assert setup_calls(cells[2].source) == 1, f"{stem}: the setup call opens the page (third code cell)"
    section = stem[:2]
    call = next(n for n in ast.walk(ast.parse(cells[2].source)) if isinstance(n, ast.Call))
    assert isinstance(call.args[0], ast.Constant) and call.args[0].value == section, \
        f"{stem}: report.setup must be called with its section {section!r}"
    tags = cells[1].metadata.get("tags", [])
    assert "hide-cell" in tags, f"{stem}: the Colab install cell stays folded"


def test_the_checker_catches_what_the_issue_names():
    assert style_problems("from hmnet import report\nP = report.setup('01')\nreport.show_text(P.profile)") == []
    assert style_problems("x = report.a()\nif x is not None:\n    report.show_text(x)") == [
        "line 1: report.a is not in hmnet.report.__all__"]
    cases = {
        "for r in rows:\n    report.show_text(r)": "a for loop",
        "while True:\n    report.show_text('x')": "a while loop",
        "lines = [report.show_text(r) for r in rows]": "a list comprehension",
        "d = {k: report.show_text(k) for k in ks}": "a dict comprehension",
        "def f():\n    return 1": "a function definition",
        "class A:\n    pass": "a class definition",
        "x = report.show_text('a') if y else None": "a conditional expression",
        "print('x')": "a call that is not report.<name>(...): print",
        "import pandas as pd": "an import other than",
        "from hmnet import paper": "an import other than",
        "if k < 2:\n    report.show_text('x')": "an if that is not",
        "if x is not None:\n    y = 1": "an if that is not",
        "if x is not None:\n    report.show_text(x)\nelse:\n    report.show_text('none')": "an if that is not",
        "raise report.ParameterError('k')": "a raise",
        "f = lambda x: x": "a lambda",
    }
    for source, expected in cases.items():
        assert any(expected in p for p in style_problems(source)), (source, style_problems(source))
    assert setup_calls("P = report.setup('01')\nQ = report.setup('02')") == 2
