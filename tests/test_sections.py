"""Sections as first-class objects: a section from outside the package (one module and its notebook, found through
the ``hmnet.sections`` entry point group) is planned, exported, stored, printed and tested by the ledger with no
edit to the package; a task added as one entry of hmnet/tasks.py trains with every method; the pipeline keeps no
module-global mutable state and never reads a run's label back."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from hmnet.sections import registry

REPO = Path(__file__).resolve().parents[1]
PIPELINE = ("sections", "campaign", "store", "book", "report")

TOY_SECTION = '''
"""A toy section: RTE and MRPC trained together, per seed; its claim, that RTE scores above MRPC."""
from pathlib import Path

from hmnet.analysis.verdicts import compare, decide
from hmnet.sections.base import Plan, Section, seeds_first


class Toy(Section):
    name = "toy"
    page = "08"
    title = "A toy section"
    notebook = Path(__file__).with_name("08_toy.ipynb")

    def plan(self, params, extra):
        profile = params.experiment_profile()
        runs = [profile.run_config("multi", tasks=("RTE", "MRPC"), seed=s, name="RTE & MRPC",
                                   tags={"section": self.name, "role": "pair"}) for s in params.seeds]
        return Plan(seeds_first(runs, params.seeds))

    def claims(self, evidence):
        diffs = [r.score("RTE") - r.score("MRPC") for r in evidence.of(self.name)]
        return [decide("RTE scores above MRPC when trained together (toy)", "not in the paper", self.page,
                       [compare("RTE - MRPC", diffs, float("nan"))])]


SECTION = Toy()
'''

TOY_NOTEBOOK_CELLS = [
    ('profile = "smoke"\nout_dir = None\nstore_only = False\ntasks = None\nseeds = None', ["parameters"]),
    ("# A toy section", None),
    ("from hmnet import report, sections\n\nP = report.setup(\"08\", profile=profile, out_dir=out_dir, "
     "store_only=store_only, tasks=tasks, seeds=seeds)\nsection = sections.get_section(\"toy\")\n"
     "results = sections.run(section.plan(P, {}).runs, P, \"toy\")\n"
     "report.show_text(f\"{len(results)} toy runs\")", None),
]


def _plugin(tmp_path: Path) -> Path:
    """A folder holding the toy section's module, its notebook and the metadata that declares its entry point
    (what `pip install` of a project with ``[project.entry-points."hmnet.sections"]`` writes)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "toy_section.py").write_text(textwrap.dedent(TOY_SECTION))
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(src) if tags is None and src.startswith("#") else
                nbformat.v4.new_code_cell(src, metadata={"tags": tags} if tags else {})
                for src, tags in TOY_NOTEBOOK_CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, site / "08_toy.ipynb")
    info = site / "toy_section-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-section\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[hmnet.sections]\ntoy = toy_section:SECTION\n")
    return site


def test_a_section_from_outside_the_package_is_planned_exported_stored_printed_and_tested(tmp_path, monkeypatch,
                                                                                            capsys):
    from hmnet.cli import main
    from hmnet.store import ledger_for

    site = _plugin(tmp_path)
    monkeypatch.syspath_prepend(str(site))  # what `pip install` of the plug-in's project gives
    monkeypatch.setenv("HMNET_TORCH_THREADS", "1")
    assert "toy" in registry().names and registry().names[-1] == "toy"  # after the built-in sections
    store = tmp_path / "store"
    params = ["-p", "tasks", '["RTE", "MRPC"]', "-p", "seeds", "[0, 1]"]
    assert main(["campaign", "export", "--profile", "smoke", "--store", str(store), "--sections", "toy", *params]) == 0
    exported = capsys.readouterr().out.splitlines()
    assert len(exported) == 2 and all('"tasks":["RTE","MRPC"]' in line for line in exported)
    assert main(["campaign", "run", "--profile", "smoke", "--store", str(store), "--sections", "toy",
                 "--workers", "1", *params]) == 0
    assert "campaign done: 2 runs stored" in capsys.readouterr().out
    manifest = json.loads((store / "manifest.json").read_text())
    toy = manifest["sections"]["toy"]
    assert toy["notebook"] == "08" and toy["complete"] == toy["planned"] == 2
    assert {r["tags"]["section"] for r in toy["runs"]} == {"toy"}
    assert main(["results", "toy", "--store", str(store)]) == 0
    printed = capsys.readouterr().out
    assert "toy: 2 of 2 planned runs stored" in printed and "(n=2)" in printed
    # its page: the section's own notebook, rendered from the stored runs (its kernel sees the plug-in too)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), str(REPO)]))
    assert main(["reproduce", "--profile", "smoke", "--out", str(store), "--sections", "08", *params]) == 0
    executed = nbformat.read(store / "notebooks" / "08_toy.ipynb", as_version=4)
    assert "2 toy runs" in json.dumps(executed.cells[-1]["outputs"])  # the page read the stored runs
    ledger = ledger_for(store).set_index("claim")
    claim = ledger.loc["RTE scores above MRPC when trained together (toy)"]
    assert claim["section"] == "08" and len(claim["members"]) == 1 and claim["members"][0]["n"] == 2


def test_a_section_that_is_not_one_is_named(tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "broken-0.1.dist-info").mkdir(parents=True)
    (site / "broken_section.py").write_text("SECTION = 42\n")
    (site / "broken-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: broken\nVersion: 0.1\n")
    (site / "broken-0.1.dist-info" / "entry_points.txt").write_text(
        "[hmnet.sections]\nbroken = broken_section:SECTION\n")
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(ValueError, match="entry point 'broken'.*is not an hmnet.sections.Section"):
        registry()


def test_a_task_added_as_one_entry_of_tasks_py_trains_with_every_method(tmp_path):
    """A copy of the package with one more TaskSpec in hmnet/tasks.py and no other edit: the synthetic suite,
    the skill map, the manual groups and the readers derive from the spec, and the four methods train on it."""
    copy = tmp_path / "hmnet"
    shutil.copytree(REPO / "hmnet", copy, ignore=shutil.ignore_patterns("__pycache__"))
    tasks = copy / "tasks.py"
    source = tasks.read_text()
    anchor = "\n]\n\nTASKS: dict[str, TaskSpec]"
    assert source.count(anchor) == 1
    entry = ('    _glue_tsv("TOY", SENTIMENT, ("bad", "good"), "toy", ("sentence",), ("sentence", "label"),\n'
             '              skill_category="sentiment", synthetic=("beta", 64)),')
    tasks.write_text(source.replace(anchor, "\n" + entry + anchor))
    script = textwrap.dedent("""
        from hmnet.profiles import get_profile
        from hmnet.tasks import TASK_NAMES
        from hmnet.train import train
        import sys
        assert TASK_NAMES[-1] == "TOY", TASK_NAMES
        profile = get_profile("smoke", tasks=("SST-2", "TOY"), max_examples=48, max_eval_examples=32, epochs=1)
        for method in ("single", "multi", "skillnet", "hmnet"):
            tasks = ("TOY",) if method == "single" else None
            r = train(profile.run_config(method, tasks=tasks), sys.argv[1], progress=False)
            print(method, sorted(r.scores), round(r.average, 1))
    """)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "HMNET_TORCH_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "results")], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["single", "multi", "skillnet", "hmnet"]
    assert "['TOY']" in lines[0] and all("'TOY'" in line and "'SST-2'" in line for line in lines[1:])


def _pipeline_sources():
    for package in PIPELINE:
        for path in sorted((REPO / "hmnet" / package).rglob("*.py")):
            yield path.relative_to(REPO).as_posix(), ast.parse(path.read_text())


MUTATORS = {"append", "extend", "insert", "update", "setdefault", "pop", "popitem", "clear", "add", "discard",
            "remove", "__setitem__"}


def _mutable_globals(tree: ast.Module) -> set[str]:
    """Module-level names bound to a list, dict or set (a literal, a comprehension or a constructor call)."""
    out = set()
    for node in tree.body:
        targets = (node.targets if isinstance(node, ast.Assign) else
                   [node.target] if isinstance(node, ast.AnnAssign) else [])
        value = getattr(node, "value", None)
        literal = isinstance(value, (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp))
        call = (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
                and value.func.id in ("list", "dict", "set"))
        mutable = literal or call
        if mutable:
            out |= {t.id for t in targets if isinstance(t, ast.Name)}
    return out


def _mutations(tree: ast.Module, names: set[str]) -> list[str]:
    """Where code changes one of `names`: item assignment or deletion, a mutating method, a `global` rebinding."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
            for t in getattr(node, "targets", None) or [node.target]:
                if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) and t.value.id in names:
                    found.append(f"{t.value.id}[...] at line {node.lineno}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if isinstance(owner, ast.Name) and owner.id in names and node.func.attr in MUTATORS:
                found.append(f"{owner.id}.{node.func.attr}() at line {node.lineno}")
        elif isinstance(node, ast.Global):
            found.append(f"global {', '.join(node.names)} at line {node.lineno}")
    return found


def test_the_pipeline_keeps_no_module_global_mutable_state():
    """No module of the pipeline packages changes a module-level container or rebinds a global: what a call
    found (a plan that waits, a missing run) is returned, never left in a module for another module to read."""
    found = {name: m for name, tree in _pipeline_sources() if (m := _mutations(tree, _mutable_globals(tree)))}
    assert not found, found
    planted = ast.parse("WAITING = {}\ndef f():\n    WAITING['x'] = 1\n    global N\n")
    assert _mutations(planted, _mutable_globals(planted)) == ["WAITING[...] at line 3", "global N at line 4"]
    assert not os.environ.get("HMNET_STORE_ONLY"), "the store-only mode is an argument, not the environment"
    sources = "\n".join(p.read_text() for p in (REPO / "hmnet").rglob("*.py"))
    assert "HMNET_STORE_ONLY" not in sources


LABEL_READS = re.compile(r"\.(variant|name)\s*(\.split|\.startswith|\.endswith|\.count|\.partition|\[|==|!=| in )")


def test_no_code_reads_a_grouping_split_or_section_back_out_of_a_run_label():
    """Runs carry tags; their label (``RunConfig.name``, shown as ``variant``) is for people: no code of the
    package compares it or parses it."""
    found = []
    for path in sorted((REPO / "hmnet").rglob("*.py")):
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"config\.(variant|name)\b|\bc\.(variant|name)\b", line) and LABEL_READS.search(line):
                found.append(f"{path.relative_to(REPO)}:{i}: {line.strip()}")
    assert not found, found
    assert LABEL_READS.search('grid = [r for r in results if r.config.variant.count(":") == 2]')


def test_every_section_names_a_page_and_the_registry_order_is_the_campaigns():
    from hmnet.book.reproduce import page_stems

    known = registry()
    assert known.names[:3] == ("table1", "hf_check", "shared_layers")
    assert all(s.page in page_stems(known) for s in known)
    assert {s.name for s in known.on_page("03")} == {"table1", "hf_check", "table1_ours"}
    with pytest.raises(ValueError, match="section 'table2' is unknown; known: table1"):
        known.get("table2")
