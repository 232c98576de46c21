"""Unit tests of every public hmnet.report function that builds a table, a figure or a page's text, on small
constructed inputs (matplotlib's Agg backend), checking content. Executing the notebooks
(tests/test_notebooks.py) only shows that they run together.

Covered elsewhere: table1_comparison, table1_html, table1_long, table1_difference_figure, show_table,
parameter_display, matrix_comparison_html, peak_contrast and majority_baseline (tests/test_report.py),
layer_grid (tests/test_reproduce.py), the configs of each plan (tests/test_campaign.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import matplotlib
import numpy as np
import pandas as pd
import pytest

from hmnet import report
from hmnet.sections import affinity, layer_grid

matplotlib.use("Agg")

TASKS = ["A", "B", "C", "D"]


@pytest.fixture
def params(tmp_path):
    return report.check_parameters(profile="smoke", out_dir=str(tmp_path))


@pytest.fixture
def shown(monkeypatch):
    """What the report displays (IPython.display.display), in order."""
    import IPython.display

    out = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: out.append(obj))
    return out


def _matrix(values, tasks=TASKS) -> pd.DataFrame:
    m = pd.DataFrame(np.asarray(values, dtype=float), index=list(tasks), columns=list(tasks))
    m.index.name, m.columns.name = "source", "target"
    return m


def _findings(params, section: str) -> dict[str, str]:
    rows = json.loads((params.figures_dir.parent / "findings" / f"{section}.json").read_text())
    return {r["finding"]: r["measured"] for r in rows}


def _titles(fig) -> list[str]:
    return [ax.get_title() for ax in fig.axes if ax.get_title()]  # colour bars have no title


def _texts(shown) -> list[str]:
    return [o.data for o in shown if type(o).__name__ == "Markdown"]


PAPER = _matrix([[100, 10, -5, 3], [20, 100, 4, -2], [1, 2, 100, 7], [-8, 6, 9, 100]])
OURS = PAPER + 1.0


# ---------------------------------------------------------------------------------------------------------
# the page: setup, prose, plan lines


def test_setup_checks_everything_and_displays_the_banner(tmp_path, shown):
    findings = tmp_path / "findings" / "04.json"
    findings.parent.mkdir(parents=True)
    findings.write_text("[]")
    p = report.setup("04", out_dir=str(tmp_path), k=3)
    assert p.seeds == (0, 1) and p.extra == {"k": 3} and not findings.exists()
    assert len(shown) == 1 and 'class="hmnet-banner hmnet-profile-smoke"' in shown[0].data
    with pytest.raises(report.ParameterError, match="parameter 'k' must be >= 2, got 1"):
        report.setup("02", out_dir=str(tmp_path), k=1)
    with pytest.raises(report.ParameterError, match="'probe_examples' must be an integer >= 1"):
        report.setup("06", out_dir=str(tmp_path), probe_examples="64")
    with pytest.raises(report.ParameterError, match="'depth' is unknown"):
        report.check_section_parameters(depth=3)


def test_show_text_and_plan_text(params, shown):
    report.show_text(None)
    report.show_text("")
    report.show_text("**bold**")
    assert _texts(shown) == ["**bold**"]
    assert report.plan_text(params, ["RTE", "CB"]) == f"tasks: RTE, CB; seeds: {list(params.seeds)}."
    assert report.plan_text(params, ["RTE"], depth=4, splits=[(2, 1, 1), (3, 1, 0)]).startswith(
        "backbone depth 4; splits {2, 1, 1}, {3, 1, 0}; tasks: RTE;")
    assert report.plan_text(params).startswith(f"tasks: {', '.join(params.tasks)};")


# ---------------------------------------------------------------------------------------------------------
# side-by-side tables and agreement


def test_side_by_side_and_long_comparison():
    table = report.side_by_side(OURS, PAPER)
    assert table.shape == (4, 12) and list(table.columns[:3]) == [("A", "ours"), ("A", "paper"), ("A", "diff")]
    assert (table.xs("diff", axis=1, level=1) == 1).all().all()
    long = report.long_comparison(OURS, PAPER)
    assert list(long.columns) == ["source", "target", "ours", "paper", "diff"] and len(long) == 16
    assert long.set_index(["source", "target"]).loc[("B", "A"), "ours"] == 21
    part = report.matrix_side_by_side(OURS.loc[["A", "B"], ["A", "B"]], PAPER)
    assert list(part.index) == ["A", "B"] and part.shape == (2, 6)


def test_agreement_summary_and_its_sentence():
    s = report.agreement_summary(OURS, PAPER)
    assert s["cells"] == 12 and s["mean_abs_diff"] == pytest.approx(1) and s["pearson"] == pytest.approx(1)
    text = report.describe_agreement(s, "Table 2")
    assert text.startswith("Table 2: over 12 off-diagonal cells the correlation with the paper is strong and "
                           "positive (Pearson 1.00, Spearman 1.00)")
    few = report.agreement_summary(OURS.iloc[:1, :1], PAPER)
    assert report.describe_agreement(few, "x") == "x: too few comparable cells to measure agreement."
    styler = report.style_comparison(report.side_by_side(OURS, PAPER))
    assert "background-color" in styler.to_html()


def test_agreement_finding_records_and_shows(params, shown):
    report.agreement_finding(params, "01", "Table 2 regenerated", OURS, PAPER, "Table 2")
    assert _findings(params, "01")["Table 2 regenerated"].startswith("smoke: over 12 off-diagonal cells")
    assert _texts(shown)[0].startswith("Table 2 on the smoke profile: over 12")


def test_banner_text_names_profile_data_backbone_and_seeds(params, tmp_path):
    import re

    text = report.banner_text(params)
    assert text.startswith("SMOKE profile") and "backbone: tiny" in text and f"seeds: {list(params.seeds)}" in text
    assert "not comparable with the paper" in text
    paper = report.check_parameters(profile="paper", out_dir=str(tmp_path / "paper"))
    banners = {p.profile: report.banner_html(p) for p in (params, paper)}
    assert all(f'class="hmnet-banner hmnet-profile-{name}"' in html for name, html in banners.items())
    colours = {re.search(r"background:\s*(#[0-9a-fA-F]{6})", html).group(1) for html in banners.values()}
    assert len(colours) == 2, "a reader tells a smoke page from a paper page at a glance"


# ---------------------------------------------------------------------------------------------------------
# figures and files


def test_save_table_figure_and_heatmap(params):
    import matplotlib.pyplot as plt

    df = pd.DataFrame({"a": [1, 2]})
    assert pd.read_csv(report.save_table(df, params.out_dir, "t")).equals(df)
    ax = report.heatmap(PAPER, "title", fmt=".0f")
    assert ax.get_title() == "title" and ax.get_xlabel() == "target"
    assert sorted(t.get_text() for t in ax.texts)[:2] == ["-2", "-5"]  # annotated cells
    png, csv = report.save_figure(ax.figure, df, params.out_dir, "f")
    assert png.read_bytes()[:4] == b"\x89PNG" and pd.read_csv(csv).equals(df)
    plt.close("all")


def test_record_and_reset_findings(tmp_path):
    report.record_finding(tmp_path, "05", "x", "1")
    report.record_finding(tmp_path, "05", "x", "2")  # the same finding is replaced, not repeated
    report.record_finding(tmp_path, "05", "y", "3")
    rows = json.loads((tmp_path / "findings" / "05.json").read_text())
    assert [(r["finding"], r["measured"]) for r in rows] == [("x", "2"), ("y", "3")]
    report.reset_findings(tmp_path, "05")
    assert not (tmp_path / "findings" / "05.json").exists()


def test_tables_as_the_book_shows_them(params, shown):
    assert report.csv_link("t1") == "Download this table as CSV: [t1.csv](../tables/t1.csv)"
    html = report.readable(pd.DataFrame({"mean_ARI": [0.12345]}), decimals=2).to_html()
    assert "mean ARI" in html and "0.12" in html and "0.123" not in html
    report.show_matrix_comparison(OURS, PAPER, params.out_dir, "cmp")
    saved = pd.read_csv(params.tables_dir / "cmp.csv")
    assert len(saved) == 16 and saved["diff"].eq(1).all()
    assert _texts(shown)[-1] == report.csv_link("cmp")


# ---------------------------------------------------------------------------------------------------------
# 01: relevance


def test_matrix_figure_three_panels_and_tidy_data(params):
    fig = report.matrix_figure(OURS, PAPER, "Gain", params, "m", center=0)
    assert _titles(fig) == ["Gain: ours (smoke)", "Gain: paper", "ours − paper"]
    data = pd.read_csv(params.figures_dir / "m.csv")
    assert len(data) == 16 and data["diff"].eq(1).all()


def test_influence_frame_pivot_signs_and_figure2(params, shown):
    ours = _matrix(OURS.to_numpy(), ["BoolQ", "B", "C", "D"])
    paper = _matrix(PAPER.to_numpy(), ["BoolQ", "B", "C", "D"])
    frame = report.influence_frame(ours, paper)
    assert len(frame) == 2 * 2 * 3 and set(frame["source"]) == {"ours", "paper"}
    on = frame[(frame["direction"] == "influence on BoolQ") & (frame["source"] == "paper")]
    assert on.set_index("other task")["gain (%)"].to_dict() == {"B": 20, "C": 1, "D": -8}  # the BoolQ column
    pivot = report.influence_pivot(frame)
    assert list(pivot.columns) == ["ours", "paper"] and len(pivot) == 6
    assert report.influence_signs(pivot) == ("influence of BoolQ: 67% of our gains are positive against 67% of the "
                                             "paper's; influence on BoolQ: 67% of our gains are positive against "
                                             "67% of the paper's")
    assert report.influence_signs(pivot[["paper"]]) is None
    fig, table = report.figure2(params, ours, paper)
    assert [ax.get_title() for ax in fig.axes] == ["Influence on boolq", "Influence of boolq"]
    assert table.equals(pivot) and (params.tables_dir / "figure2_influence.csv").exists()
    report.influence_finding(params, table)
    assert _findings(params, "01")["Figure 2 direction of the BoolQ gains"] == report.influence_signs(pivot)
    shown.clear()
    fig, table = report.figure2(params, OURS, paper)  # BoolQ not among ours: the paper's bars only
    assert _texts(shown)[0] == "BoolQ is not among relevance_tasks: only the paper's bars are shown."
    assert list(table.columns) == ["paper"]
    report.influence_finding(params, table)  # nothing to compare: nothing recorded or shown
    assert len(_texts(shown)) == 2


def test_affinity_scatter_and_comparison(params):
    fig = report.affinity_scatter(OURS, PAPER, params)
    data = pd.read_csv(params.figures_dir / "affinity_vs_pairwise.csv")
    assert len(data) == 12 and list(data.columns) == ["source", "target", "lookahead affinity (%)",
                                                      "pairwise gain, Eq. 4 (%)"]
    assert fig.axes[0].get_xlabel() == "lookahead affinity (%)"
    runs = [SimpleNamespace(wall_time=2.0), SimpleNamespace(seconds=3.5)]
    table, groups = report.affinity_comparison(params, OURS, PAPER, runs[:1], runs)
    values = table["value"].to_dict()
    assert values["tasks compared (both matrices)"] == 4 and values["Spearman (off-diagonal)"] == 1.0
    assert values["runs (pairwise)"] == 2 and values["Spearman 95% CI (bootstrap over pairs)"] == "[1.00, 1.00]"
    assert values["cost, seconds (cheap / pairwise)"] == "2.0 / 5.5"
    assert values["cost ratio (cheap / pairwise)"] == round(2.0 / 5.5, 3)
    assert list(groups["grouping"]) == ["cheap", "pairwise"]
    assert "Spearman 1.00 (95% CI 1.00 to 1.00)" in _findings(params, "01")["Lookahead affinity against pairwise Eq. 4"]
    # The estimate covers more tasks than the pairwise runs: compared on the overlap, grouped on all its tasks.
    wide = pd.DataFrame(np.arange(36.0).reshape(6, 6) % 7, index=[*TASKS, "E", "F"], columns=[*TASKS, "E", "F"])
    wide.loc[TASKS, TASKS] = OURS
    table, groups = report.affinity_comparison(params, wide, PAPER, runs[:1], runs)
    assert table["value"]["tasks compared (both matrices)"] == 4 and table["value"]["tasks of the cheap estimate"] == 6
    assert list(groups["grouping"]) == ["cheap", "pairwise", "cheap, all 6 tasks"]
    table, groups = report.affinity_comparison(params, OURS.iloc[:2, :2], PAPER, [], [])
    assert groups is None and table["value"]["Spearman (off-diagonal)"] is None
    assert table["value"]["cost ratio (cheap / pairwise)"] is None
    assert values["ordered pairs measured (cheap / pairwise)"] == "12 / 12 of 12"
    # A store still being filled: one pair of Eq. 4 not measured yet. Nothing is compared or grouped, and
    # the table says how many pairs each matrix has.
    partial = PAPER.copy()
    partial.loc[TASKS[0], TASKS[1]] = np.nan
    table, groups = report.affinity_comparison(params, OURS, partial, runs[:1], runs)
    assert groups is None and table["value"]["Spearman (off-diagonal)"] is None
    assert table["value"]["ordered pairs measured (cheap / pairwise)"] == "12 / 11 of 12"
    assert table["value"]["cost ratio (cheap / pairwise)"] is None  # the pairwise cost is not all spent yet


def test_lookahead_configs_default_to_one_run_on_the_first_seed(params):
    configs = affinity.configs(params, ["RTE", "MRPC", "CB"])
    assert [c.seed for c in configs] == [params.seeds[0]] and configs[0].affinity
    assert configs[0].affinity_every == params.run_profile.affinity_every
    configs = affinity.configs(params, ["RTE", "MRPC"], seeds=[0, 1], every=50)
    assert [c.seed for c in configs] == [0, 1] and {c.affinity_every for c in configs} == {50}
    with pytest.raises(report.ParameterError, match="'affinity_every' must be >= 1"):
        affinity.configs(params, ["RTE", "MRPC"], every=0)
    with pytest.raises(report.ParameterError, match="'affinity_seeds'"):
        affinity.configs(params, ["RTE", "MRPC"], seeds="0")


def test_save_and_load_relevance(params):
    assert report.load_relevance(params, "model") is None
    report.save_relevance(params, "model", OURS, eq=4)
    back = report.load_relevance(params, "model")
    assert back.equals(OURS) or np.allclose(back.to_numpy(), OURS.to_numpy())
    meta = json.loads((params.tables_dir / "relevance_model.json").read_text())
    assert "eq" in json.dumps(meta) and "smoke" in json.dumps(meta)


def test_manual_design_matches_the_paper(params, shown):
    report.show_manual_design(params)
    table = pd.read_csv(params.tables_dir / "manual_groupings.csv")
    assert list(table["grouping"]) == ["ours (hmnet.tasks)", "paper (Section 4.1)"]
    assert table["groups"].nunique() == 1 and _texts(shown)[-1] == "Identical to the paper's: True."


def test_word_definitions_need_real_files(params, shown):
    report.show_word_definitions(params)
    assert _texts(shown) == ["The smoke profile reads synthetic data: the word definitions are compared on real "
                             "files only (run with `-p profile local -p data_dir DIR`)."]


# ---------------------------------------------------------------------------------------------------------
# groupings, 02


GROUPS = {"data": [["A", "B"], ["C", "D"]], "model": [["A"], ["B", "C", "D"]]}


def test_grouping_frame_text_dict_and_table():
    frame = report.grouping_frame(GROUPS)
    assert len(frame) == 8 and frame[frame["grouping"] == "model"]["cluster"].tolist() == [1, 2, 2, 2]
    assert report.grouping_text(GROUPS["data"]) == "{A, B}  {C, D}"
    assert report.grouping_dict([["A"], [], ["B"]]) == {"g1": ("A",), "g3": ("B",)}
    table = report.groupings_table(GROUPS)
    assert table.to_dict("records")[1] == {"grouping": "model", "clusters": 2, "groups": "{A}  {B, C, D}"}


def test_appendix_a_and_the_papers_matrices():
    appendix = report.appendix_a()
    assert list(appendix) == ["data", "model", "manual"]
    covered = {name: sorted(t for g in groups for t in g) for name, groups in appendix.items()}
    assert all(len(tasks) == 13 and tasks == covered["manual"] for tasks in covered.values())
    matrices = report.paper_matrices()
    assert matrices["data"].shape == matrices["model"].shape == (13, 13)
    assert matrices["data"].loc["MNLI", "RTE"] == pytest.approx(97.64)


def test_cluster_agreement_and_stability():
    m = _matrix([[100, 90, 0, 0], [90, 100, 0, 0], [0, 0, 100, 90], [0, 0, 90, 100]])
    groups = report.cluster_relevance({"data": m, "tiny": m.iloc[:2, :2]}, k=2)
    assert set(groups) == {"data"} and sorted(map(sorted, groups["data"])) == [["A", "B"], ["C", "D"]]
    table = report.agreement_table({"data": groups["data"], "other": [["A"]]}, GROUPS)
    row = table.iloc[0]
    assert len(table) == 1 and row["ARI"] == pytest.approx(1) and row["identical"] and row["tasks compared"] == 4
    # the lookahead estimate of the model-based relevance is held against the model-based grouping
    table = report.agreement_table({"lookahead": [["A", "C"], ["B", "D"]]}, {"model": GROUPS["data"]})
    assert table.iloc[0]["reference grouping"] == "model" and table.iloc[0]["ARI"] < 0.5
    stab, detail = report.stability_summary({"data": m}, k=2, seeds=5, reference=GROUPS)
    assert stab.iloc[0]["share reproducing it"] == pytest.approx(1) and stab.iloc[0]["seeds"] == 5
    assert detail["data"].coassignment.loc["A", "B"] == pytest.approx(1)


def test_coassignment_figure_labels_panels(params):
    m = _matrix([[100, 90, 0, 0], [90, 100, 0, 0], [0, 0, 100, 90], [0, 0, 90, 100]])
    _, detail = report.stability_summary({"data": m, "model": m}, k=2, seeds=3)
    fig = report.coassignment_figure(detail, params, "co", label="paper Table {table}")
    assert _titles(fig) == ["paper Table 2", "paper Table 3"]
    data = pd.read_csv(params.figures_dir / "co.csv")
    assert set(data["matrix"]) == {"paper Table 2", "paper Table 3"} and len(data) == 32
    fig = report.coassignment_figure(detail, params, "co2", label="ours: {name} ({profile})")
    assert fig.axes[0].get_title() == "ours: data (smoke)"
    assert report.coassignment_figure({}, params) is None


def test_groupings_for_notebooks_03_and_05(params, shown):
    assert report.load_relevance_matrices(params) == {}
    assert _texts(shown) == ["not available in this build: the data, model, lookahead matrix (run notebook 01 with "
                             "the same out_dir first)"]
    report.save_relevance(params, "model", _matrix(np.eye(4) * 100))
    assert list(report.load_relevance_matrices(params)) == ["model"]
    groups = report.our_groupings(params, {"model": _matrix(np.eye(4) * 100)}, k=3)
    assert list(groups) == ["model", "manual"]
    ours, note = report.load_groupings(params, "ours")
    assert ours["model"] == groups["model"] and note.startswith("Groupings: ours, regenerated by notebook 02")
    with pytest.raises(report.ParameterError, match="'paper' or 'ours'"):
        report.load_groupings(params, "mine")


def test_agreement_findings_and_summary(params):
    paper = pd.DataFrame([{"grouping": "data", "tasks compared": 13, "ARI": 1.0, "identical": True},
                          {"grouping": "model", "tasks compared": 13, "ARI": 0.5, "identical": False}])
    ours = pd.DataFrame([{"grouping": "manual", "tasks compared": 4, "ARI": 0.25, "identical": False,
                          "reference grouping": "manual"}])
    assert report.agreement_findings(params, paper, "paper") == [
        "ARI 1.00 with Appendix A; identical: True", "ARI 0.50 with Appendix A; identical: False"]
    assert report.agreement_findings(params, ours, "ours") == ["ARI 0.25 over 4 tasks"]
    assert set(_findings(params, "02")) == {"k-means on the paper's table for 'data'",
                                            "k-means on the paper's table for 'model'",
                                            "our 'manual' grouping against Appendix A"}
    lookahead = ours.assign(grouping="lookahead", **{"reference grouping": "model"})
    report.agreement_findings(params, lookahead, "ours")
    assert "our 'lookahead' grouping against Appendix A's 'model'" in _findings(params, "02")
    assert report.groupings_summary(paper, ours, "smoke").splitlines() == [
        "- k-means on the paper's table for **data** gives back Appendix A exactly.",
        "- k-means on the paper's table for **model** differs from Appendix A (ARI 0.50).",
        "- Our **manual** grouping (smoke profile) against the paper's: ARI 0.25 over 4 tasks."]


# ---------------------------------------------------------------------------------------------------------
# 03: Table 1


def _run(variant, seed, scores, split=None):
    config = SimpleNamespace(variant=variant, method=variant.split(":")[0], seed=seed, split=split,
                             tasks=tuple(scores))
    return SimpleNamespace(config=config, scores=scores, score=scores.__getitem__,
                           average=float(np.mean(list(scores.values()))))


def test_published_averages_recompute_the_paper_from_its_own_cells():
    from hmnet import paper

    table = report.published_averages().set_index("method")
    assert list(table.index) == list(paper.TABLE1_METHODS)
    assert "reachable_with_rounding" in table.columns
    assert not table.loc["HMNet_m", "reachable_with_rounding"]  # 84.0 cannot come from its printed cells
    assert table.loc["Single-task", "reachable_with_rounding"]


def test_ranking_sentence_and_finding(params, shown):
    rows = [{"variant": v, "column": v, "task": "Average", "n": 3, "mean": m, "ci_low": m - 1, "ci_high": m + 1}
            for v, m in [("Multi-task", 60.0), ("HMNet_m", 61.5), ("Single-task", 50.0)]]
    summary = pd.DataFrame(rows)
    sentence = report.ranking_sentence(summary)
    assert sentence == ("Measured averages, best first: HMNet_m 61.5, Multi-task 60.0, Single-task 50.0. The best "
                        "is HMNet_m, as in the paper. The 95% intervals of HMNet_m overlap the multi-task one.")
    report.ranking_finding(params, summary)
    assert _findings(params, "03")["Table 1 ranking of the averages"] == sentence == _texts(shown)[0]
    assert report.ranking_sentence(summary.iloc[:0]) == "No averages were measured."


def test_table1_figure_bars_ours_beside_the_paper(params):
    from hmnet import paper

    summary = pd.DataFrame([{"variant": v, "column": v, "task": "Average", "n": 2, "mean": 50.0, "std": 1.0,
                             "ci_low": 49.0, "ci_high": 51.0} for v in ("Single-task", "HMNet_m")])
    fig = report.table1_figure(summary, params)
    data = pd.read_csv(params.figures_dir / "table1_averages.csv")
    assert list(data["method"]) == ["Single-task", "HMNet_m"]
    assert data["paper"].tolist() == [paper.table1_averages()["Single-task"], paper.table1_averages()["HMNet_m"]]
    assert len(fig.axes[0].patches) == 4


def test_single_vs_majority_judges_the_interval():
    results = [_run("single", s, {t: v + s}) for s in range(3) for t, v in [("RTE", 60.0), ("CB", 40.0),
                                                                            ("WNLI", 30.0)]]
    table = report.single_vs_majority(results, {"RTE": 50.0, "CB": 45.0, "WNLI": 56.0}).set_index("task")
    assert table.loc["RTE", "above the majority class"] == "above" and table.loc["RTE", "n"] == 3
    assert table.loc["CB", "above the majority class"] == "not above"
    assert table.loc["WNLI", "above the majority class"] == "exempt"
    one = report.single_vs_majority(results[:1], {"RTE": 50.0})
    assert one.iloc[0]["above the majority class"] == "one seed: no interval"
    assert table.loc["RTE", "best constant"] == 50.0  # no best constant given: the majority class
    # a constant prediction above the majority class (MultiRC's "true" everywhere) is the stricter floor
    strict = report.single_vs_majority(results, {"RTE": 50.0, "CB": 30.0, "WNLI": 56.0},
                                       best={"RTE": 61.0, "CB": 20.0}).set_index("task")
    assert strict.loc["RTE", "above the majority class"] == "above"
    assert strict.loc["RTE", "best constant"] == 61.0 and strict.loc["RTE", "above every constant"] == "not above"
    assert strict.loc["CB", "best constant"] == 30.0  # never below the majority class
    assert strict.loc["CB", "above every constant"] == "above"
    assert strict.loc["WNLI", "above every constant"] == "exempt"
    assert report.not_learned(strict.reset_index()) == ["RTE"]


def test_floor_note_names_the_cells_that_clear_no_constant_prediction():
    rows = [("single", "MultiRC", 3, 4.6, -5.6), ("multi", "MultiRC", 3, 31.9, 20.5), ("multi", "RTE", 3, 58.2, 55.1),
            ("single", "RTE", 1, 56.0, float("nan")), ("single", "Average", 3, 10.0, 5.0),
            ("multi", "MNLI-m", 3, 50.0, 48.0)]
    summary = pd.DataFrame([{"variant": v, "task": t, "n": n, "mean": m, "ci_low": lo} for v, t, n, m, lo in rows])
    floors = pd.DataFrame({"task": ["MultiRC", "RTE", "MNLI"], "best constant": [61.3, 52.7, 49.0]})
    note = report.floor_note(summary, floors)
    assert note == ("Cells whose 95% interval does not clear the best constant prediction (one label for every row), "
                    "so that they measure no learning: MultiRC (all 2 columns; best constant 61.3); MNLI-m "
                    "(1 of 1: multi; best constant 49.0).")  # RTE: one seed is not judged; Average is no task
    assert report.floor_note(summary[summary["task"] == "RTE"], floors).startswith("Every Table 1 cell")


# ---------------------------------------------------------------------------------------------------------
# 04: shared layers; 05: layer grid


def _shared_layers_per_seed():
    runs = [_run("hmnet", seed, {"BoolQ": 50 + 3 * x - (x == 4) * 8 + seed, "MNLI": 40 + x}, split=(x, 4 - x, 0))
            for seed in range(2) for x in range(5)]
    return report.scores_frame(runs)


def test_scores_frame_and_ci_frame():
    per_seed = _shared_layers_per_seed()
    assert len(per_seed) == 20 and set(per_seed.columns) == {"variant", "seed", "split", "shared layers", "task",
                                                             "score", "average"}
    row = per_seed[(per_seed["task"] == "BoolQ") & (per_seed["seed"] == 1) & (per_seed["shared layers"] == 2)]
    assert row["score"].item() == 57 and row["split"].item() == "2-2-0"
    summary = report.ci_frame(per_seed, ["task", "shared layers"])
    boolq = summary[summary["task"] == "BoolQ"].set_index("shared layers")
    assert boolq.loc[2, "mean"] == 56.5 and boolq.loc[2, "n"] == 2 and boolq.loc[2, "ci_low"] < 56.5


def test_shared_layers_lines_findings_and_figure3(params, shown):
    per_seed = _shared_layers_per_seed()
    summary = report.ci_frame(per_seed, ["task", "shared layers"])
    contrasts = report.peak_contrast(per_seed, "BoolQ", 3)
    lines = report.shared_layers_lines(summary, contrasts, {"BoolQ": 62.0})
    assert lines[0] == ("- **BoolQ**: best mean at 3 shared layers (59.5); the means span 9.0 points over the depths; "
                        "the majority class scores 62.0, and the seed CI lies above it at no depth.")
    assert lines[1] == "- **MNLI**: best mean at 4 shared layers (44.0); the means span 4.0 points over the depths."
    assert lines[2].startswith("- BoolQ, shared layers 3 - 0: +9.0 points (95% CI [+9.0, +9.0], 2 seeds)")
    # at a lower majority class the CIs of 2 and 3 shared layers clear it (lower ends 50.2 and 53.2), 4's not
    assert report.shared_layers_lines(summary, contrasts, {"BoolQ": 50.0})[0].endswith(
        "the majority class scores 50.0, and the seed CI lies above it at 2, 3 shared layers.")
    one = summary.assign(mean=summary["mean"].where(summary["shared layers"] != 1, 99.0))
    first = report.shared_layers_lines(one, contrasts, {})[0]
    assert first.startswith("- **BoolQ**: best mean at 1 shared layer (99.0);")
    assert report.paper_peak(12) == 8 and report.paper_peak(4) == 3
    out = report.shared_layers_findings(params, summary, per_seed, {"BoolQ": 62.0}, ["BoolQ", "MNLI"])
    assert list(out["comparison"]) == ["shared layers 3 - 0", "shared layers 3 - 4"] * 2  # tiny: depth 4, peak 3
    found = _findings(params, "04")
    assert found["Figure 3: BoolQ"].startswith("BoolQ: best mean at 3 shared layers")
    assert "Figure 3: MNLI shared layers 3 - 4" in found and len(found) == 6
    fig = report.figure3(params, summary, per_seed, {"BoolQ": 62.0}, ["BoolQ", "MNLI"])
    assert fig.axes[0].get_title() == "Figure 3: BoolQ and MNLI against shared layers (smoke)"
    assert fig.axes[0].get_xlim() == (-0.25, 4.25)  # the planned depths 0..4 of the tiny backbone
    assert "BoolQ: majority class (62.0)" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert len(pd.read_csv(params.figures_dir / "figure3_shared_layers.csv")) == 20


def test_figure3_findings_on_a_store_still_being_filled(params, shown):
    """A reference store renders Figure 3 as its runs land: a task without the peak or an end stored yet
    gets a line saying which depths it has, not a failure, and the contrasts use the full range's ends."""
    per_seed = _shared_layers_per_seed()
    partial = per_seed[~((per_seed["task"] == "BoolQ") & per_seed["shared layers"].isin([3, 4]))]
    summary = report.ci_frame(partial, ["task", "shared layers"])
    out = report.shared_layers_findings(params, summary, partial, {"BoolQ": 62.0}, ["BoolQ", "MNLI"])
    assert list(out["task"]) == ["MNLI", "MNLI"]
    assert list(out["comparison"]) == ["shared layers 3 - 0", "shared layers 3 - 4"]
    found = _findings(params, "04")
    assert found["Figure 3: BoolQ peak contrasts"] == ("BoolQ: the peak contrasts need 3, 0 and 4 shared layers; "
                                                      "not stored yet (stored: 0, 1, 2).")
    with pytest.raises(report.ParameterError, match="shared layers = 4 was not run for BoolQ; ran"):
        report.peak_contrast(partial, "BoolQ", 2, ends=(0, 4))
    # nothing of the peak stored: no contrasts table, only the lines
    assert report.shared_layers_findings(params, summary, partial, {}, ["BoolQ"]).empty


def test_layer_grid_text_finding_figure4_and_splits(params, shown):
    summary = pd.DataFrame([{"method": g, "split": s, "n": 2, "mean": m, "ci_low": m - 1, "ci_high": m + 1}
                            for g, s, m in [("HMNet_d", "2-1-1", 50.0), ("HMNet_d", "3-1-0", 55.0),
                                            ("HMNet_m", "2-1-1", 48.0), ("HMNet_m", "3-1-0", 52.5)]])
    text = report.layer_grid_text(summary, 51.0)
    assert text == ("Best split: 3-1-0 for HMNet_d (55.0, 95% CI [54.0, 56.0] over 2 seeds); 2 of 4 "
                    "method-split combinations average above multi-task (51.0), by their means (the claims ledger "
                    "pairs them with it seed by seed).")
    report.layer_grid_finding(params, summary, 51.0)
    assert _findings(params, "05")["Figure 4 layer combinations"] == text == _texts(shown)[0]
    fig = report.figure4(params, summary, summary, 51.0)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["HMNet_d", "HMNet_m", "multi-task"] and fig.axes[0].get_ylabel() == "average score"
    # a partly run store: the multi-task baseline is not stored yet, so nothing is compared with it
    one = summary.assign(n=1)
    assert report.layer_grid_text(one, None) == ("Best split: 3-1-0 for HMNet_d (55.0, one seed); the "
                                                 "multi-task baseline is not stored yet, so no combination is "
                                                 "compared with it.")
    fig = report.figure4(params, summary, summary, None)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["HMNet_d", "HMNet_m"]
    assert report.grid_splits(params) == report.layer_grid(4)
    assert report.grid_splits(params, [[2, 1, 1]]) == [(2, 1, 1)]
    with pytest.raises(report.ParameterError, match="sums to 5, but the backbone has 4 layers"):
        report.grid_splits(params, [[3, 1, 1]])


def test_band_figure_draws_a_band_per_group_when_seeds_allow(params):
    summary = pd.DataFrame({"g": ["a", "a", "b", "b"], "x": [0, 1, 0, 1], "n": [2, 2, 1, 1],
                            "mean": [1.0, 2.0, 3.0, 4.0], "ci_low": [0.5, 1.5, np.nan, np.nan],
                            "ci_high": [1.5, 2.5, np.nan, np.nan]})
    fig = report.band_figure(summary, "x", "g", params, "band", "T", "y", reference={"ref": 2.5})
    ax = fig.axes[0]
    assert len(ax.collections) == 1  # one CI band: group b has a single seed
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "ref"]
    assert pd.read_csv(params.figures_dir / "band.csv").shape == (4, 6)


# ---------------------------------------------------------------------------------------------------------
# 06: attention


def _tidy():
    rows = []
    for kind, pair, task, base in [("positive", "QQP & RTE", "RTE", 0.9), ("negative", "MRPC & RTE", "RTE", 0.5)]:
        for layer in range(4):
            for head in range(2):
                rows.append({"kind": kind, "pair": pair, "task": task, "seed": 0, "layer": layer, "head": head,
                             "similarity": base - 0.1 * layer + 0.01 * head})
    return pd.DataFrame(rows)


def test_layer_similarity_lines_and_finding(params, shown):
    by_layer = report.layer_similarity(_tidy())
    assert by_layer.shape == (4, 2) and by_layer.loc[0, ("positive", "RTE")] == pytest.approx(0.905)
    lines = report.attention_lines(by_layer)
    assert lines[0] == ("- negative pair, probed on RTE: mean similarity 0.455 in the bottom half, 0.205 in the "
                        "top layer")
    assert lines[-2] == ("- middle layers, probed on RTE (in both pairs): positive pair 0.755, negative pair 0.355 "
                         "(positive more similar, as in the paper)")
    assert lines[-1].startswith("- middle layers, averaged over each pair's tasks: positive pair 0.755")
    # the like-for-like comparison is on the task both pairs hold; the average mixes the probed tasks
    columns = pd.MultiIndex.from_tuples([("negative", "BoolQ"), ("negative", "RTE"), ("positive", "MNLI"),
                                         ("positive", "RTE")], names=["kind", "task"])
    mixed = pd.DataFrame([[0.5, 0.9, 0.9, 0.8]] * 4, columns=columns)
    like = report.attention_lines(mixed)
    assert like[-2] == ("- middle layers, probed on RTE (in both pairs): positive pair 0.800, negative pair 0.900 "
                        "(not more similar for the positive pair)")
    assert like[-1] == ("- middle layers, averaged over each pair's tasks: positive pair 0.850, negative pair 0.700 "
                        "(positive more similar, as in the paper)")
    report.attention_finding(params, by_layer)
    measured = _findings(params, "06")["Appendix C attention similarity"]
    assert measured.startswith("negative pair, probed on RTE") and "- " not in measured
    assert "top layer; positive pair" in measured
    assert _texts(shown) == ["\n".join(lines)]
    only = report.attention_lines(by_layer[["positive"]])
    assert len(only) == 1  # no middle-layer comparison without both kinds


def test_attention_figure_and_pairs_table(params):
    fig = report.attention_figure(_tidy(), params)
    assert _titles(fig) == ["positive: QQP & RTE\non RTE", "negative: MRPC & RTE\non RTE"]
    assert len(pd.read_csv(params.figures_dir / "attention_similarity.csv")) == 16
    seeds = pd.concat([_tidy().assign(seed=s, similarity=_tidy()["similarity"] + s) for s in (0, 1)])
    fig = report.attention_figure(seeds, params)  # each panel the mean over seeds
    assert _titles(fig) == [f"{kind}: {pair} & RTE\non RTE, mean of 2 seeds"
                            for kind, pair in (("positive", "QQP"), ("negative", "MRPC"))]
    assert fig.axes[0].collections[0].get_array().max() == pytest.approx(0.91 + 0.5)
    assert report.layer_similarity(seeds).loc[0, ("positive", "RTE")] == pytest.approx(0.905 + 0.5)
    table = report.pairs_table(report.PAPER_ATTENTION_PAIRS)
    assert table.to_dict("index") == {"positive": {"task": "QQP", "anchor": "RTE"},
                                      "negative": {"task": "MRPC", "anchor": "RTE"}}


def test_layer_grid_subset_groupings_and_ci_splits(params):
    """A reference build narrows Figure 4: some groupings, every seed only on the named splits."""
    groupings = report.paper_groupings(["RTE", "MRPC", "CB"])
    assert list(report.select_groupings(groupings, ["model"])) == ["model"]
    assert report.select_groupings(groupings, None) == dict(groupings)
    with pytest.raises(report.ParameterError, match=r"'grid_groupings': \['magic'\] unknown"):
        report.select_groupings(groupings, ["magic"])
    with pytest.raises(report.ParameterError, match="'grid_groupings' must be a non-empty list"):
        report.select_groupings(groupings, "model")
    splits = report.layer_grid(4)
    assert report.check_ci_splits(None, splits, 4) is None
    assert report.check_ci_splits([[2, 1, 1]], splits, 4) == [(2, 1, 1)]
    with pytest.raises(report.ParameterError, match=r"'ci_splits': \[\[1, 1, 2\]\] not in the grid"):
        report.check_ci_splits([[1, 1, 2]], [(2, 1, 1)], 4)
    with pytest.raises(report.ParameterError, match="'ci_splits': \\[2, 2, 2\\] sums to 6"):
        report.check_ci_splits([[2, 2, 2]], splits, 4)
    assert report.check_ci_splits("paper", report.layer_grid(6), 6) == [(3, 2, 1), (4, 1, 1), (5, 1, 0)]
    assert report.check_ci_splits("paper", splits, 4) == [(1, 2, 1), (2, 1, 1), (3, 1, 0)]
    assert report.paper_neighbourhood(report.layer_grid(12), 12) == [(6, 3, 3), (8, 2, 2), (10, 1, 1)]
    with pytest.raises(report.ParameterError, match="the paper's split \\[2, 1, 1\\] is not in the grid"):
        report.check_ci_splits("paper", [(3, 1, 0)], 4)
    chosen = report.select_groupings(groupings, ["model"])
    runs, baseline = layer_grid.configs(params, ["RTE", "MRPC", "CB"], chosen, [(2, 1, 1), (3, 1, 0)],
                                               [0, 1], ci_splits=[(2, 1, 1)])
    assert sorted((c.split, c.seed) for c in runs) == [((2, 1, 1), 0), ((2, 1, 1), 1), ((3, 1, 0), 0)]
    assert [c.seed for c in baseline] == [0, 1] and all(c.method == "multi" for c in baseline)
    every, _ = layer_grid.configs(params, ["RTE", "MRPC", "CB"], chosen, [(2, 1, 1), (3, 1, 0)], [0, 1])
    assert len(every) == 4
    text = report.plan_text(params, ["RTE"], depth=4, splits=[(2, 1, 1), (3, 1, 0)], ci_splits=[(2, 1, 1)],
                            groupings=["model"])
    assert "groupings: model" in text and "seeds: [0, 1] for {2, 1, 1} and the multi-task baseline, seed 0" in text


def _stored(config, score, folder):
    from hmnet.results import Result, write_result

    result = Result(config=config, key=config.key(), metrics={}, scores={config.tasks[0]: score}, average=score,
                    params={}, wall_time=1.0, examples_per_second=1.0, env={})
    write_result(result, folder)
    return result


def test_scale_probes_list_what_each_probe_changed(params):
    prof = params.experiment_profile()
    table1 = [_stored(prof.run_config("single", tasks=("BoolQ",), seed=0), 58.9, params.results_dir)]
    majority = pd.DataFrame({"task": ["BoolQ"], "majority class": [64.2], "best constant": [64.2]})
    assert report.scale_probes(params, table1, majority) == (None, "")  # no probes folder: nothing shown
    probe = prof.run_config("single", tasks=("BoolQ",), seed=0, max_length=256, lr=5e-4)
    _stored(probe, 60.5, Path(params.out_dir) / "probes")
    table, text = report.scale_probes(params, table1, majority)
    row = table.iloc[0].to_dict()
    assert row["task"] == "BoolQ" and row["score"] == 60.5 and row["Table 1 run"] == 58.9
    assert row["majority class"] == 64.2 and row["changed"] == "max_length 64 → 256, lr 0.002 → 0.0005"
    assert text.startswith("1 single-task probe run(s)")
    summary = report.probe_summary(table)  # one seed: no interval, no verdict
    assert summary.iloc[0]["above the majority class"] == "one seed: no interval"
    # a second seed of the same change: summarised with its interval against the majority class
    table1.append(_stored(prof.run_config("single", tasks=("BoolQ",), seed=1), 59.9, params.results_dir))
    probes = Path(params.out_dir) / "probes"
    _stored(prof.run_config("single", tasks=("BoolQ",), seed=1, max_length=256, lr=5e-4), 66.5, probes)
    for seed, score in ((0, 70.0), (1, 71.0), (2, 70.5)):  # seed 2 has no Table 1 run
        _stored(prof.run_config("single", tasks=("BoolQ",), seed=seed, epochs=10), score, probes)
    table, text = report.scale_probes(params, table1, majority)
    summary = report.probe_summary(table).set_index("changed")
    assert list(summary.index) == ["epochs 3 → 10", "max_length 64 → 256, lr 0.002 → 0.0005"]  # sorted
    assert list(table["seed"]) == [0, 1, 2, 0, 1]
    row = summary.iloc[1]
    assert (row["n"], row["mean"], row["Table 1, same seeds"]) == (2, 63.5, pytest.approx(59.4))
    assert row["ci_low"] < 64.2 and row["above the majority class"] == "not above"  # 60.5 and 66.5: too wide
    row = summary.iloc[0]
    assert row["n"] == 3 and row["ci_low"] > 64.2 and row["above the majority class"] == "above"
    assert pd.isna(row["Table 1, same seeds"])  # not every probe seed has a Table 1 run
    report.probe_findings(params, table)
    found = _findings(params, "03")
    assert found["Probe: BoolQ with epochs 3 → 10"] == ("BoolQ, single-task with epochs 3 → 10: 70.5 (95% CI [69.3, "
                                                       "71.7], 3 seeds) against the majority class 64.2: above.")
    assert found["Probe: BoolQ with max_length 64 → 256, lr 0.002 → 0.0005"].endswith(
        ": not above; Table 1's recipe on the same seeds: 59.4.")
    assert len(pd.read_csv(params.tables_dir / "table1_scale_probes_summary.csv")) == 2
    report.probe_findings(params, table[table["seed"] == 0])  # one seed each: no interval, so no verdict
    assert _findings(params, "03")["Probe: BoolQ with epochs 3 → 10"] == (
        "BoolQ, single-task with epochs 3 → 10: 70.0 (one seed, no CI) against the majority class 64.2; "
        "Table 1's recipe on the same seed: 58.9.")
    # a best constant above the majority class is a second, stricter verdict
    floors = majority.assign(**{"best constant": [70.8]})
    table, _ = report.scale_probes(params, table1, floors)
    assert report.probe_summary(table).set_index("changed").loc["epochs 3 → 10", "above every constant"] == "not above"
    report.probe_findings(params, table)
    assert _findings(params, "03")["Probe: BoolQ with epochs 3 → 10"] == (
        "BoolQ, single-task with epochs 3 → 10: 70.5 (95% CI [69.3, 71.7], 3 seeds) against the majority class 64.2: "
        "above; against the best constant prediction 70.8: not above.")


def test_learned_note_names_the_tasks_by_verdict():
    verdicts = ["above", "not above", "one seed: no interval", "exempt"]
    majority = pd.DataFrame({"task": ["RTE", "BoolQ", "CB", "WNLI"], "above the majority class": verdicts,
                             "above every constant": verdicts})
    note = report.learned_note(majority)
    assert note.startswith("Above the majority class with the interval clear of it: RTE.")
    assert "best constant" not in note
    stricter = majority.assign(**{"above every constant": ["not above", "not above", "one seed: no interval",
                                                           "exempt"]})
    assert report.learned_note(stricter).startswith("Above the majority class with the interval clear of it: RTE. "
                                                    "Of these, not clear of the best constant prediction: RTE.")
    assert "Not above it within this build's budget: BoolQ; they stay in Table 1" in note
    assert note.endswith("One seed only, no interval yet: CB.") and "WNLI" not in note
    assert "none" in report.learned_note(majority.iloc[1:2])
