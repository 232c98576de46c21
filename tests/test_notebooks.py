"""The seven notebooks, executed once per session with their default (smoke) parameters.

Execution: `hmnet.book.reproduce.reproduce(profile="smoke")` runs them with papermill (tests/_companion.py);
the executed copies are checked here and reused by tests/test_book.py. nbval (`--nbval-lax`) then runs
the stored notebooks again, in a subprocess, with the same output folder ($HMNET_OUT_DIR), so every
training run is read from the result cache instead of being repeated.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from _companion import smoke_run
from hmnet.book.reproduce import PAGES

REPO = Path(__file__).resolve().parents[1]

# Figures each notebook must save (PNG + tidy CSV next to it).
FIGURES = {
    "01": ["table2_data_property", "table3_model_based", "figure2", "affinity_vs_pairwise"],
    "02": ["coassignment_paper_tables", "coassignment_ours"],
    "03": ["table1_averages"],
    "04": ["figure3_shared_layers"],
    "05": ["figure4_layer_combinations"],
    "06": ["attention_similarity"],
    "07": ["own_vocabulary", "own_model_based", "own_results"],
}


@pytest.fixture(scope="session")
def smoke_out() -> Path:
    return smoke_run()


@pytest.mark.parametrize("section", list(PAGES))
def test_notebook_executed_cleanly(smoke_out, section):
    path = smoke_out / "notebooks" / f"{PAGES[section]}.ipynb"
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), f"{path}: a cell did not run"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{path}: {errors[0].ename}: {errors[0].evalue}"
    html = "".join(str(o.get("data", {}).get("text/html", "")) for c in code for o in c.outputs)
    assert 'class="hmnet-banner hmnet-profile-smoke"' in html and "SMOKE profile" in html
    images = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) >= len(FIGURES[section])
    assert "not available in this build" not in "".join(
        str(o.get("text", "")) for c in code for o in c.outputs), f"{path}: a part is missing"


@pytest.mark.parametrize("section", list(PAGES))
def test_figures_saved_with_tidy_data(smoke_out, section):
    for name in FIGURES[section]:
        png, csv = smoke_out / "figures" / f"{name}.png", smoke_out / "figures" / f"{name}.csv"
        assert png.read_bytes()[:4] == b"\x89PNG", png
        frame = pd.read_csv(csv)
        assert len(frame) > 0 and frame.columns.is_unique, csv


def test_regenerated_tables_hold_measured_values(smoke_out):
    t1 = pd.read_csv(smoke_out / "tables" / "table1_summary.csv")
    assert {"Single-task", "Multi-task", "SkillNet", "HMNet_d", "HMNet_md", "HMNet_m"} <= set(t1["variant"])
    assert (t1["variant"] == t1["column"]).all(), "Table 1's runs are labelled by their column, the paper's names"
    avg = t1[t1["task"] == "Average"]
    assert (avg["n"] >= 2).all(), "Table 1 needs several seeds for its confidence intervals"
    assert avg["mean"].between(0, 100).all() and avg["ci_low"].notna().all()
    fig3 = pd.read_csv(smoke_out / "tables" / "figure3_summary.csv")
    assert set(fig3["task"]) == {"MNLI", "BoolQ"} and fig3["shared layers"].min() == 0
    assert fig3["shared layers"].max() == 4  # the tiny backbone's depth
    fig4 = pd.read_csv(smoke_out / "tables" / "figure4_summary.csv")
    assert set(fig4["method"]) == {"HMNet_d", "HMNet_md", "HMNet_m"}  # the paper's names
    att = pd.read_csv(smoke_out / "tables" / "attention_similarity.csv")
    assert set(att["kind"]) == {"positive", "negative"} and att["similarity"].between(-1.0001, 1.0001).all()


def test_sections_resume_without_rerunning(smoke_out):
    from hmnet.book.reproduce import reproduce

    results = reproduce("smoke", out=smoke_out, progress=False)
    assert [r.status for r in results] == ["cached"] * len(PAGES)


def test_nbval_lax_runs_the_stored_notebooks(smoke_out, tmp_path):
    pytest.importorskip("nbval")
    env = {**os.environ, "HMNET_OUT_DIR": str(smoke_out)}  # the smoke run's cache: no training again
    nbs = [str(REPO / "notebooks" / f"{stem}.ipynb") for stem in PAGES.values()]
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                           "--rootdir", str(tmp_path), *nbs], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout


# Notebook parameters every page shares (the profile's); the rest of a parameters cell is the page's own.
COMMON = {"profile", "tasks", "seeds", "backbone", "data_dir", "out_dir", "max_train_examples", "max_eval_examples",
          "max_length", "protocol", "store_only", "task_file"}


def _page_defaults(page: str) -> dict:
    """A page's own notebook parameters at their defaults, read from its stored parameters cell."""
    nb = nbformat.read(REPO / "notebooks" / f"{PAGES[page]}.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    values: dict = {}
    exec(cell.source, {}, values)  # noqa: S102 - the repository's own parameters cell
    return {k: v for k, v in values.items() if k not in COMMON}


def test_the_sections_plan_exactly_the_runs_the_notebooks_ran(smoke_out):
    """Every section planned from its page's notebook parameters (as the smoke build ran them) holds exactly the
    runs the executed notebooks stored, no more and no fewer: the campaign, which plans the same way, trains
    what the pages show."""
    from hmnet import report
    from hmnet.sections import registry

    stored = {p.name for p in (smoke_out / "results").glob("*.json")}
    params = report.check_parameters(profile="smoke", out_dir=str(smoke_out))
    planned: dict[str, set[str]] = {}
    for section in registry():
        if section.trainer != "hf":  # the HF cross-check runs in the campaign only, never in a notebook
            plan = section.plan(params, _page_defaults(section.page))
            assert not plan.waiting, f"{section.name}: {plan.waiting}"
            planned[section.name] = {c.result_name() for c in plan.runs}
    every = set().union(*planned.values())
    assert every == stored, {"stored, not planned": sorted(stored - every), "planned, not run": sorted(every - stored)}
    assert all(planned[s] for s in ("table1", "pairwise", "affinity", "shared_layers", "layer_grid", "attention"))
