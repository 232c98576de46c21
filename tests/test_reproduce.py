"""The runner and the notebooks' parameter checks (fast: tiny throwaway notebooks, no training)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from hmnet import report
from hmnet.book.reproduce import PAGES, ReproduceError, reproduce, resolve_pages

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------------------
# report.check_parameters: bad input fails naming the parameter and the allowed values


def test_defaults_resolve_to_the_smoke_profile(tmp_path):
    p = report.check_parameters(out_dir=tmp_path)
    assert p.profile == "smoke" and p.data_source == "synthetic" and p.data_dir is None
    assert p.backbone == "tiny"
    assert p.seeds and all(isinstance(s, int) for s in p.seeds)
    assert (tmp_path / "figures").is_dir() and (tmp_path / "results").is_dir()
    assert "SMOKE" in report.banner_text(p) and "not comparable" in report.banner_text(p)


def test_unknown_profile_names_the_parameter_and_choices(tmp_path):
    with pytest.raises(report.ParameterError, match=r"'profile'.*smoke, local, paper.*'papr'"):
        report.check_parameters(profile="papr", out_dir=tmp_path)
    with pytest.raises(report.ParameterError, match="'profile'"):
        report.check_parameters(profile=3, out_dir=tmp_path)


def test_unknown_task_lists_the_known_ones(tmp_path):
    with pytest.raises(report.ParameterError, match=r"'tasks'.*'QQQ'.*allowed: MNLI, QNLI"):
        report.check_parameters(tasks=["RTE", "QQQ"], out_dir=tmp_path)
    with pytest.raises(report.ParameterError, match="'tasks'.*list of task names"):
        report.check_parameters(tasks=5, out_dir=tmp_path)
    assert report.check_parameters(tasks=["rte", "sst2"], out_dir=tmp_path).tasks == ("RTE", "SST-2")


def test_seeds_and_caps_must_be_integers(tmp_path):
    with pytest.raises(report.ParameterError, match="'seeds'"):
        report.check_parameters(seeds="0,1", out_dir=tmp_path)
    with pytest.raises(report.ParameterError, match="'seeds'"):
        report.check_parameters(seeds=[0, 1.5], out_dir=tmp_path)
    with pytest.raises(report.ParameterError, match="'max_train_examples'"):
        report.check_parameters(max_train_examples=0, out_dir=tmp_path)
    assert report.check_parameters(seeds=3, out_dir=tmp_path).seeds == (3,)


def test_data_dir_missing_or_without_task_files(tmp_path, monkeypatch):
    with pytest.raises(report.ParameterError, match="'data_dir'.*does not exist"):
        report.check_parameters(profile="local", data_dir=tmp_path / "nope", out_dir=tmp_path)
    empty = tmp_path / "empty"
    (empty / "RTE").mkdir(parents=True)
    (empty / "RTE" / "notes.txt").write_text("nothing here")
    with pytest.raises(report.ParameterError, match="'data_dir'.*no recognisable task files"):
        report.check_parameters(profile="local", data_dir=empty, out_dir=tmp_path)
    monkeypatch.delenv("HMNET_DATA_DIR", raising=False)
    with pytest.raises(report.ParameterError, match="valid local profile.*pass data_dir=... or set HMNET_DATA_DIR"):
        report.check_parameters(profile="local", out_dir=tmp_path)


def test_data_dir_with_real_files(shared_data_dir, tmp_path):
    p = report.check_parameters(profile="local", data_dir=shared_data_dir, tasks=["RTE", "MRPC"], out_dir=tmp_path)
    assert p.data_source == "directory" and p.backbone == "minilm"


# ---------------------------------------------------------------------------------------------------------
# report helpers


def test_side_by_side_and_files(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    ours = pd.DataFrame({"acc": [80.0, 70.0]}, index=["RTE", "CB"])
    paper = pd.DataFrame({"acc": [79.7, 80.3]}, index=["RTE", "CB"])
    cmp = report.side_by_side(ours, paper)
    assert cmp.loc["CB", ("acc", "diff")] == pytest.approx(-10.3)
    assert list(cmp.columns.get_level_values(1)) == ["ours", "paper", "diff"]
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    png, csv = report.save_figure(fig, ours.reset_index(), tmp_path, "demo")
    assert png.read_bytes()[:4] == b"\x89PNG" and csv.read_text().startswith("index,acc")
    report.record_finding(tmp_path, "03", "x", "measured 1")
    report.record_finding(tmp_path, "03", "x", "measured 2")
    rows = json.loads((tmp_path / "findings" / "03.json").read_text())
    assert rows == [{"section": "03", "finding": "x", "measured": "measured 2", "paper": ""}]


# ---------------------------------------------------------------------------------------------------------
# the runner


def test_pages_resolve():
    assert resolve_pages(None) == list(PAGES)
    assert resolve_pages(["3", "01"]) == ["01", "03"]
    assert resolve_pages("04_shared_layers,6") == ["04", "06"]
    with pytest.raises(report.ParameterError, match="page '9' is unknown; known: 01"):
        resolve_pages(["9"])


def _write_notebooks(folder: Path, failing: str | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for section, stem in PAGES.items():
        params = new_code_cell('profile = "smoke"\nout_dir = None')
        params.metadata["tags"] = ["parameters"]
        body = ("import pathlib\n"
                f"pathlib.Path(out_dir, 'count_{section}.txt').open('a').write('x')\n"
                "from hmnet import report\nP = report.check_parameters(profile=profile, out_dir=out_dir)")
        cells = [params, new_code_cell(body)]
        if section == failing:
            cells.append(new_code_cell("x = 1\nraise RuntimeError('boom in the middle')"))
        nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                "language": "python"}})
        nbformat.write(nb, folder / f"{stem}.ipynb")


def test_runner_resumes_and_reports_the_failing_cell(tmp_path):
    nbs, out = tmp_path / "nbs", tmp_path / "out"
    _write_notebooks(nbs, failing="02")
    with pytest.raises(ReproduceError) as info:
        reproduce("smoke", pages=["01", "02"], out=out, notebooks_dir=nbs, progress=False)
    msg = str(info.value)
    assert "page 02 (02_task_clustering) failed in cell" in msg and "boom in the middle" in msg
    assert str(out / "notebooks" / "02_task_clustering.ipynb") in msg and "raise RuntimeError" in msg
    assert info.value.notebook.exists() and info.value.cell is not None
    # fixed notebook: 01 is not run again (done-marker), 02 is
    _write_notebooks(nbs)
    results = reproduce("smoke", pages=["01", "02"], out=out, notebooks_dir=nbs, progress=False)
    assert [r.status for r in results] == ["cached", "ran"]
    assert (out / "count_01.txt").read_text() == "x" and (out / "count_02.txt").read_text() == "xx"
    # other parameters: the section runs again
    results = reproduce("smoke", pages=["01"], out=out, notebooks_dir=nbs, progress=False,
                        extra={"seeds": [5]})
    assert [r.status for r in results] == ["ran"]


def test_runner_rejects_bad_input(tmp_path):
    with pytest.raises(report.ParameterError, match="profile 'big' is unknown"):
        reproduce("big", out=tmp_path)
    with pytest.raises(report.ParameterError, match="local profile needs --data-dir"):
        reproduce("local", out=tmp_path)
    with pytest.raises(report.ParameterError, match="'data_dir'.*does not exist"):
        reproduce("local", data_dir=tmp_path / "missing", out=tmp_path)


def test_code_fingerprint_covers_every_report_and_sections_module(tmp_path, monkeypatch):
    import shutil
    import sys

    from hmnet.book import reproduce

    loaded = {Path(m.__file__).resolve() for name, m in list(sys.modules.items())
              if name.split(".")[:2] in (["hmnet", "report"], ["hmnet", "sections"]) and getattr(m, "__file__", None)}
    assert len(loaded) > 1 and loaded <= set(reproduce.code_sources())
    before = reproduce.code_fingerprint()
    copies = tuple(tmp_path / d.name for d in reproduce.CODE_DIRS)  # copies: the real modules are never modified
    for d, copy in zip(reproduce.CODE_DIRS, copies):
        shutil.copytree(d, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(reproduce, "CODE_DIRS", copies)
    assert reproduce.code_fingerprint() == before
    for path in sorted(p for c in copies for p in c.glob("*.py")):
        source = path.read_bytes()
        path.write_bytes(source + b"\n# changed\n")
        assert reproduce.code_fingerprint() != before, f"a change in {path.parent.name}/{path.name} keeps it"
        path.write_bytes(source)
    assert reproduce.code_fingerprint() == before
    (copies[1] / "new_section.py").write_text("X = 1\n")
    assert reproduce.code_fingerprint() != before


def test_cli_reports_failure(tmp_path, capsys):
    from hmnet.cli import main

    assert main(["reproduce", "--profile", "nope", "--out", str(tmp_path)]) == 1
    assert "profile 'nope' is unknown" in capsys.readouterr().err


def test_stored_notebooks_have_no_outputs_and_a_parameters_cell():
    for stem in PAGES.values():
        nb = nbformat.read(REPO / "notebooks" / f"{stem}.ipynb", as_version=4)
        assert "parameters" in nb.cells[0].metadata.get("tags", []), stem
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{stem} is stored with outputs"
        text = "\n".join(c.source for c in nb.cells)
        assert f"colab.research.google.com/github/{report.GITHUB_REPO}/blob/main/notebooks/{stem}.ipynb" in text
        assert "google.colab" in text and "check_parameters" in text


def test_layer_grid_depends_on_depth():
    assert (8, 2, 2) in report.layer_grid(12) and (8, 1, 3) in report.layer_grid(12)
    for depth in (4, 6, 12):
        grid = report.layer_grid(depth)
        assert grid and all(sum(s) == depth and min(s) >= 0 and s[0] >= 1 for s in grid)
        assert len(set(grid)) == len(grid)
    assert report.check_grid([[2, 1, 1], [3, 1, 0]], 4) == [(2, 1, 1), (3, 1, 0)]
    with pytest.raises(report.ParameterError, match=r"'grid'.*\[8, 2, 2\] sums to 12.*4 layers"):
        report.check_grid([[8, 2, 2]], 4)
    with pytest.raises(report.ParameterError, match="'grid'"):
        report.check_grid([[1, 2]], 3)


def test_attention_pairs_from_the_anchors_gains_or_the_papers(tmp_path, monkeypatch):
    """Eq. 4 gains that do not separate the pairs: the paper's pairs (QQP & RTE, MRPC & RTE), or an error
    naming QQP on a profile without it; gains that do: the largest and the smallest mutual gain with RTE."""
    import pandas as pd

    from hmnet.analysis import relevance
    from hmnet.sections import attention

    tasks = ["RTE", "SST-2", "MRPC"]
    monkeypatch.setattr(attention, "run", lambda configs, params, desc: list(configs))
    monkeypatch.setattr(relevance, "model_relevance_from_results",
                        lambda results: pd.DataFrame(0.0, index=tasks, columns=tasks))
    p = report.check_parameters(out_dir=tmp_path)
    pairs, note = report.choose_attention_pairs(p, "RTE", tasks, stored_runs=False)
    assert pairs == report.PAPER_ATTENTION_PAIRS and "do not separate" in note
    p = report.check_parameters(out_dir=tmp_path, tasks=tasks)
    with pytest.raises(report.ParameterError, match=r"\['QQP'\], which this profile lacks"):
        report.choose_attention_pairs(p, "RTE", tasks, stored_runs=False)
    four = ["RTE", "SST-2", "MRPC", "CB"]  # mutual gains with RTE (both ways): SST-2 +2.5, MRPC -1.0, CB 0.0
    gains = pd.DataFrame(0.0, index=four, columns=four)
    gains.loc["SST-2", "RTE"], gains.loc["RTE", "SST-2"], gains.loc["MRPC", "RTE"], gains.loc["RTE", "MRPC"] = (
        3.0, -0.5, 1.0, -2.0)
    gains.loc["SST-2", "MRPC"] = -9.0  # a gain without RTE plays no part
    monkeypatch.setattr(relevance, "model_relevance_from_results", lambda results: gains)
    params = report.check_parameters(out_dir=tmp_path)
    pairs, note = report.choose_attention_pairs(params, "RTE", four, stored_runs=False)
    assert pairs == {"positive": ("SST-2", "RTE"), "negative": ("MRPC", "RTE")}
    assert "largest mutual gain (2.50)" in note and "the smallest (-1.00)" in note
