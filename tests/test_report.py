"""Report helpers behind the analysis notebooks: the majority-class reference and the peak contrast."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from hmnet import report
from hmnet.data import load_task
from hmnet.experiments import RunConfig


def test_majority_baseline_scores_the_most_frequent_training_label_on_the_eval_rows():
    config = RunConfig("multi", ("RTE", "CB", "STS-B", "MultiRC"), scale=0.5, max_examples=80, max_eval_examples=60)
    base = report.majority_baseline(config)
    assert set(base) == {"RTE", "CB", "MultiRC"}  # STS-B is a regression task: no majority class
    for task in ("RTE", "CB"):
        data = load_task(task, scale=0.5, max_examples=80, max_eval_examples=60)
        majority = Counter(ex.label for ex in data["train"]).most_common(1)[0][0]
        dev = np.array([ex.label for ex in data["dev"]])
        assert base[task] == pytest.approx(100 * np.mean(dev == majority))
    assert 0 <= base["MultiRC"] <= 100


def test_the_best_constant_is_the_best_label_for_every_row_and_never_below_the_majority_class():
    from hmnet.metrics import compute_metrics, table1_score, task_score

    config = RunConfig("multi", ("RTE", "CB", "STS-B", "MultiRC"), scale=0.5, max_examples=80, max_eval_examples=60)
    majority, best = report.constant_baselines(config)
    assert majority == report.majority_baseline(config) and set(best) == set(majority)
    for task in ("RTE", "CB"):
        dev = np.array([ex.label for ex in load_task(task, scale=0.5, max_examples=80, max_eval_examples=60)["dev"]])
        assert best[task] == pytest.approx(100 * max(np.mean(dev == c) for c in np.unique(dev)))
        assert best[task] >= majority[task]
    rows = load_task("MultiRC", scale=0.5, max_examples=80, max_eval_examples=60)["dev"]
    gold, groups = np.array([ex.label for ex in rows]), [ex.group for ex in rows]
    everywhere_true = task_score(table1_score("MultiRC", {"dev": compute_metrics("MultiRC", np.ones_like(gold), gold,
                                                                                   groups)}))
    assert best["MultiRC"] == pytest.approx(max(everywhere_true, majority["MultiRC"])) and everywhere_true > 0


def test_majority_baseline_on_the_real_boolq_carve(shared_data_dir):
    config = RunConfig("multi", ("BoolQ",), source="directory", data_dir=str(shared_data_dir), carve_train=0.8,
                       max_examples=512, max_eval_examples=500)
    base = report.majority_baseline(config)["BoolQ"]
    assert 55 < base < 70  # BoolQ is about 62% "True"


def test_peak_contrast_is_paired_by_seed():
    rows = []
    for seed, offset in enumerate([0.0, 10.0, -5.0]):  # seed offsets cancel in the paired difference
        for x, score in zip(range(4), [50, 53, 56, 52]):
            rows.append({"task": "BoolQ", "seed": seed, "shared layers": x, "score": score + offset + 0.5 * seed * x})
    frame = pd.DataFrame(rows)
    out = report.peak_contrast(frame, "BoolQ", 2).set_index("comparison")
    low, high = out.loc["shared layers 2 - 0"], out.loc["shared layers 2 - 3"]
    assert low["mean"] == pytest.approx(6 + 0.5 * 2 * 1) and high["mean"] == pytest.approx(4 - 0.5 * 1)
    assert low["n"] == 3 and low["ci_low"] < low["mean"] < low["ci_high"]
    with pytest.raises(report.ParameterError, match="shared layers = 7 was not run for BoolQ"):
        report.peak_contrast(frame, "BoolQ", 7)


# ---------------------------------------------------------------------------------------------------------
# tables as the book shows them


def _summary(seeds: int = 3) -> pd.DataFrame:
    """A summarize()-shaped frame: every Table 1 entry and method, the paper's number minus 10 ± 2."""
    from hmnet import paper

    t1 = paper.table1()
    entries = {f"{t}-{m.split('_')[-1]}" if t == "MNLI" else t: row for (t, m), row in t1.iterrows()}
    entries["Average"] = paper.table1_averages()
    methods = {"Single-task": "single", "Multi-task": "multi", "SkillNet": "skillnet", "HMNet_d": "hmnet",
               "HMNet_md": "hmnet", "HMNet_m": "hmnet"}
    rows = []
    for entry, row in entries.items():
        for column, method in methods.items():
            mean = float(row[column]) - 10
            rows.append({"variant": column, "column": column, "method": method, "task": entry, "n": seeds,
                         "mean": mean, "std": 1.0, "ci_low": mean - 2, "ci_high": mean + 2})
    return pd.DataFrame(rows)


def test_table1_in_the_papers_shape():
    bs4 = pytest.importorskip("bs4")
    from hmnet import paper

    comparison = report.table1_comparison(_summary())
    soup = bs4.BeautifulSoup(report.table1_html(comparison)._repr_html_(), "html.parser")
    headers = [th.get_text(strip=True) for th in soup.select("thead th")]
    assert headers == ["task", *paper.TABLE1_METHODS]  # methods as columns
    rows = soup.select("tbody tr")
    assert [r.th.get_text(strip=True) for r in rows][:3] == ["MNLI-m", "MNLI-mm", "QNLI"] and len(rows) == 15
    rte = next(r for r in rows if r.th.get_text() == "RTE").find_all("td")[-1]  # HMNet_m: paper 81.2
    assert rte.b.get_text() == "71.2" and "±2.0" in rte.get_text() and rte.span.find_next("span").get_text() == "81.2"
    assert "background:#" in rte["style"]  # tinted by the difference

    long = report.table1_long(comparison)
    assert list(long.columns) == ["entry", "method", "ours", "ci95_half", "paper", "diff", "paper_inside_ci"]
    assert len(long) == 15 * 6 and long["diff"].eq(-10).all() and not long["paper_inside_ci"].any()


def test_table1_difference_figure_marks_cells_whose_interval_holds_the_paper(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    summary = _summary()
    summary.loc[summary["task"] == "RTE", ["ci_low", "ci_high"]] = [[m - 12, m + 12] for m in
                                                                    summary.loc[summary["task"] == "RTE", "mean"]]
    params = report.check_parameters(profile="smoke", out_dir=str(tmp_path))
    fig = report.table1_difference_figure(report.table1_comparison(summary), params)
    boxes = [p for p in fig.axes[0].patches if not p.get_fill()]
    assert len(boxes) == 6  # the RTE row: every method's interval (± 12) holds the paper (10 above ours)
    data = pd.read_csv(tmp_path / "figures" / "table1_differences.csv")
    assert data["paper_inside_ci"].sum() == 6 and (tmp_path / "figures" / "table1_differences.png").exists()


def test_show_table_saves_the_csv_and_links_it_under_the_table(tmp_path, monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    df = pd.DataFrame({"grouping": ["data", "model"], "mean_ARI": [0.123456, 1.0]})
    report.show_table(df, tmp_path, "groupings")
    assert pd.read_csv(tmp_path / "tables" / "groupings.csv").equals(df)
    html = shown[0].to_html()
    assert "mean ARI" in html and "0.123" in html and "0.123456" not in html  # readable(): wrap, round
    assert shown[1].data == "Download this table as CSV: [groupings.csv](../tables/groupings.csv)"


def test_parameter_rows_keep_their_notes_out_of_the_table():
    table = pd.DataFrame({"grouping": ["-"], "clusters": ["-"], "activated (paper)": ["110M"],
                          "activated (ours)": ["108.9M"], "overall (paper)": ["110M"], "overall (ours)": ["1415.6M"],
                          "activated min": [1], "activated max": [2], "overall": [3],
                          "note": ["Overall: 13 independent encoders."]},
                         index=pd.Index(["Single-task"], name="method"))
    shown, notes = report.parameter_display(table)
    assert list(shown.columns) == ["method", *report.tables.PARAMETER_COLUMNS]
    assert notes == "- **Single-task**: Overall: 13 independent encoders."


def test_matrix_comparison_turns_headers_for_many_tasks():
    from hmnet import paper

    t2 = paper.table2()
    wide = report.matrix_comparison_html(t2 - 1, t2)._repr_html_()
    assert wide.count("writing-mode:vertical-rl") == 13
    small = report.matrix_comparison_html((t2 - 1).iloc[:3, :3], t2)._repr_html_()
    assert "writing-mode" not in small and small.count("<tr>") == 1 + 3
    assert ">97.64</span>" in small and "<b>96.6</b>" in small  # the paper's cells as printed (MNLI -> RTE)
