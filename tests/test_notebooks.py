"""The seven notebooks, executed once per session with their default (smoke) parameters.

Execution: `hmnet.reproduce.reproduce(profile="smoke")` runs them with papermill (tests/_companion.py);
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
from hmnet.reproduce import SECTIONS

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


@pytest.mark.parametrize("section", list(SECTIONS))
def test_notebook_executed_cleanly(smoke_out, section):
    path = smoke_out / "notebooks" / f"{SECTIONS[section]}.ipynb"
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


@pytest.mark.parametrize("section", list(SECTIONS))
def test_figures_saved_with_tidy_data(smoke_out, section):
    for name in FIGURES[section]:
        png, csv = smoke_out / "figures" / f"{name}.png", smoke_out / "figures" / f"{name}.csv"
        assert png.read_bytes()[:4] == b"\x89PNG", png
        frame = pd.read_csv(csv)
        assert len(frame) > 0 and frame.columns.is_unique, csv


def test_regenerated_tables_hold_measured_values(smoke_out):
    t1 = pd.read_csv(smoke_out / "tables" / "table1_summary.csv")
    assert {"single", "multi", "skillnet", "hmnet:data", "hmnet:manual", "hmnet:model"} <= set(t1["variant"])
    avg = t1[t1["task"] == "Average"]
    assert (avg["n"] >= 2).all(), "Table 1 needs several seeds for its confidence intervals"
    assert avg["mean"].between(0, 100).all() and avg["ci_low"].notna().all()
    fig3 = pd.read_csv(smoke_out / "tables" / "figure3_summary.csv")
    assert set(fig3["task"]) == {"MNLI", "BoolQ"} and fig3["shared layers"].min() == 0
    assert fig3["shared layers"].max() == 4  # the tiny backbone's depth
    fig4 = pd.read_csv(smoke_out / "tables" / "figure4_summary.csv")
    assert set(fig4["grouping"]) == {"data", "manual", "model"}
    att = pd.read_csv(smoke_out / "tables" / "attention_similarity.csv")
    assert set(att["kind"]) == {"positive", "negative"} and att["similarity"].between(-1.0001, 1.0001).all()


def test_sections_resume_without_rerunning(smoke_out):
    from hmnet.reproduce import reproduce

    results = reproduce("smoke", out=smoke_out, progress=False)
    assert [r.status for r in results] == ["cached"] * len(SECTIONS)


def test_nbval_lax_runs_the_stored_notebooks(smoke_out, tmp_path):
    pytest.importorskip("nbval")
    env = {**os.environ, "HMNET_OUT_DIR": str(smoke_out)}  # the smoke run's cache: no training again
    nbs = [str(REPO / "notebooks" / f"{stem}.ipynb") for stem in SECTIONS.values()]
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                           "--rootdir", str(tmp_path), *nbs], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout
