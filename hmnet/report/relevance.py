"""Section 01, task relevance: the data-based (Eq. 2) and model-based (Eq. 4) matrices beside the paper's,
Figure 2's influence bars and the cheap lookahead-affinity estimate."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from hmnet import paper
from hmnet.analysis.clustering import kmeans_groups
from hmnet.analysis.relevance import (DEFAULT_VOCAB, VocabularyCache, compare_affinity, cost_fraction, manual_grouping,
                                      model_relevance_from_results, save_matrix, tasks_with_splits,
                                      vocab_candidates_table, vocab_relevance)
from hmnet.report.display import agreement_summary, describe_agreement, long_comparison, side_by_side
from hmnet.report.figures import heatmap, record_finding, save_figure
from hmnet.report.groupings import groupings_table
from hmnet.report.page import show_text
from hmnet.report.tables import show_matrix_comparison, show_table
from hmnet.sections import affinity, pairwise, run
from hmnet.sections.groupings import paper_groupings
from hmnet.sections.parameters import RunParameters

log = logging.getLogger(__name__)


def data_relevance(params: RunParameters, tasks: Sequence[str] | None = None) -> pd.DataFrame:
    """Eq. (2) on this profile's data (synthetic suite, the files of data_dir, or the hub)."""
    prof = params.experiment_profile()
    tasks = list(tasks or params.tasks)
    if params.data_source == "directory":
        usable = set(tasks_with_splits(params.data_dir, [DEFAULT_VOCAB]))
        dropped = [t for t in tasks if t not in usable]
        if dropped:
            log.warning("no training file for %s under %s: left out of the vocabulary matrix", dropped,
                        params.data_dir)
        tasks = [t for t in tasks if t in usable]
    cache = VocabularyCache(params.data_source, params.data_dir, getattr(prof, "scale", 1.0))
    return vocab_relevance(tasks, config=DEFAULT_VOCAB, cache=cache)


def matrix_side_by_side(ours: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """Rows = source; for each target three columns: ours, paper, diff (only the tasks ours holds)."""
    tasks = [t for t in ours.index if t in paper.index]
    return side_by_side(ours.loc[tasks, tasks], paper.loc[tasks, tasks])


def matrix_figure(ours: pd.DataFrame, paper: pd.DataFrame, what: str, params: RunParameters, name: str,
                  center: float | None = None):
    """Ours, the paper's, and ours - paper as three heatmaps; saved with the tidy CSV. Returns the figure."""
    import matplotlib.pyplot as plt

    tasks = [t for t in ours.index if t in paper.index]
    o, p = ours.loc[tasks, tasks], paper.loc[tasks, tasks]
    size = 0.5 * len(tasks) + 2.5
    if len(tasks) <= 8:
        fig, axes = plt.subplots(1, 3, figsize=(3 * size, size * 0.85))
        axes = list(axes)
    else:  # a page is about 780 pixels wide: three 13-task heatmaps in a row would be illegible
        fig, grid = plt.subplots(2, 2, figsize=(2 * size, 2 * size * 0.85))
        axes = list(grid.ravel())
    heatmap(o, f"{what}: ours ({params.profile})", axes[0], center=center, annot=len(tasks) <= 8)
    heatmap(p, f"{what}: paper", axes[1], center=center, annot=len(tasks) <= 8)
    heatmap(o - p, "ours − paper", axes[2], center=0, annot=len(tasks) <= 8)
    if len(axes) > 3:  # the fourth panel: each off-diagonal cell, ours against the paper's
        cells = long_comparison(o, p)
        cells = cells[cells["source"] != cells["target"]].dropna()
        axes[3].scatter(cells["paper"], cells["ours"], s=12, alpha=0.7)
        axes[3].set_xlabel("paper")
        axes[3].set_ylabel(f"ours ({params.profile})")
        axes[3].set_title("Off-diagonal cells, ours against the paper's")
    fig.tight_layout()
    save_figure(fig, long_comparison(o, p), params.out_dir, name)
    return fig


def influence_frame(ours: pd.DataFrame | None, paper: pd.DataFrame, task: str = "BoolQ") -> pd.DataFrame:
    """Figure 2's data, tidy: the gain of `task` from each other task (column) and of each other task from
    `task` (row), ours and the paper's, in percent (Eq. 4)."""
    rows = []
    for label, m in (("ours", ours), ("paper", paper)):
        if m is None or task not in m.index:
            continue
        others = [t for t in m.index if t != task]
        rows += [{"direction": f"influence on {task}", "other task": t, "gain (%)": float(m.loc[t, task]),
                  "source": label} for t in others]
        rows += [{"direction": f"influence of {task}", "other task": t, "gain (%)": float(m.loc[task, t]),
                  "source": label} for t in others]
    return pd.DataFrame(rows)


def influence_figure(frame: pd.DataFrame, params: RunParameters, task: str = "BoolQ", name: str = "figure2"):
    import matplotlib.pyplot as plt
    import seaborn as sns

    directions = list(dict.fromkeys(frame["direction"]))
    fig, axes = plt.subplots(1, len(directions), figsize=(6 * len(directions), 3.8), squeeze=False)
    for ax, d in zip(axes[0], directions):
        sub = frame[frame["direction"] == d]
        sns.barplot(data=sub, x="other task", y="gain (%)", hue="source", ax=ax)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_title(d.capitalize())
        ax.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    save_figure(fig, frame, params.out_dir, name)
    return fig


def pairwise_relevance(params: RunParameters, tasks: Sequence[str]) -> tuple[pd.DataFrame, list]:
    """Eq. (4) from single-task and pairwise multi-task runs (:mod:`hmnet.sections.pairwise`)."""
    results = run(pairwise.configs(params, tasks), params, "pairwise relevance")
    return model_relevance_from_results(results), results


def lookahead_affinity(params: RunParameters, tasks: Sequence[str], seeds: Sequence[int] | None = None,
                       every: int | None = None):
    """The cheap estimate: lookahead affinity measured inside one multi-task run of `tasks` (see
    :func:`hmnet.sections.affinity.configs`); the mean matrix over its runs, and the runs."""
    results = run(affinity.configs(params, tasks, seeds, every), params, "lookahead affinity")
    mats = [r.affinity for r in results if getattr(r, "affinity", None) is not None]
    if not mats and params.store_only:  # not run yet: an empty matrix, and the page says so
        empty = pd.DataFrame(np.nan, index=list(tasks), columns=list(tasks))
        empty.index.name, empty.columns.name = "source", "target"
        return empty, results
    if not mats:
        raise RuntimeError("the multi-task runs recorded no affinity matrix")
    mats = [m if isinstance(m, pd.DataFrame) else pd.DataFrame(m) for m in mats]
    mean = sum(m.loc[list(tasks), list(tasks)] for m in mats) / len(mats)
    mean.index.name, mean.columns.name = "source", "target"
    return mean, results


def run_seconds(results) -> float:
    """Total training seconds recorded in a list of results (a result's ``wall_time``, or an HF record's
    ``seconds``; 0 for those without either)."""
    total = 0.0
    for r in results:
        value = next((v for v in (getattr(r, "wall_time", None), getattr(r, "seconds", None))
                      if isinstance(v, (int, float))), 0.0)
        total += float(value)
    return total


def affinity_scatter(cheap: pd.DataFrame, pairwise: pd.DataFrame, params: RunParameters,
                     name: str = "affinity_vs_pairwise"):
    """Each ordered pair's cheap affinity against its pairwise Eq. (4) gain; saved with the tidy CSV."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    df = long_comparison(cheap, pairwise).rename(columns={"ours": "lookahead affinity (%)",
                                                          "paper": "pairwise gain, Eq. 4 (%)"})
    df = df[df["source"] != df["target"]].drop(columns="diff").dropna()
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    sns.scatterplot(data=df, x="lookahead affinity (%)", y="pairwise gain, Eq. 4 (%)", hue="target", ax=ax)
    ax.axhline(0, color="grey", linewidth=0.7)
    ax.axvline(0, color="grey", linewidth=0.7)
    ax.set_title("Cheap estimate against pairwise runs (one point per ordered pair)")
    ax.legend(fontsize=7, title="target", title_fontsize=8, loc="best")
    fig.tight_layout()
    save_figure(fig, df, params.out_dir, name)
    return fig


def affinity_comparison(params: RunParameters, cheap: pd.DataFrame, pairwise: pd.DataFrame, cheap_results: list,
                        pair_results: list) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The cheap estimate against the pairwise Eq. (4) matrix: Spearman, ARI of the k-means groupings and
    the cost, as a one-column table, plus the two groupings (None when the matrices cannot be compared:
    fewer than three tasks, or a pair of either not measured yet, as in a store still being filled).
    Records the finding."""
    tasks = [t for t in cheap.index if t in pairwise.index]
    k = max(1, min(3, len(tasks) - 1))
    off = ~np.eye(len(tasks), dtype=bool)
    measured = {name: int(np.isfinite(m.loc[tasks, tasks].to_numpy(dtype=float)[off]).sum())
                for name, m in (("cheap", cheap), ("pairwise", pairwise))}
    comparable = len(tasks) >= 3 and not any(m.loc[tasks, tasks].isna().any().any() for m in (cheap, pairwise))
    cmp = compare_affinity(cheap, pairwise, k=k) if comparable else None
    cost_cheap, cost_pairs = run_seconds(cheap_results), run_seconds(pair_results)
    ci = None if cmp is None else cmp["spearman_ci"]
    summary = {"tasks compared (both matrices)": len(tasks), "tasks of the cheap estimate": len(cheap.index),
               "ordered pairs measured (cheap / pairwise)": f"{measured['cheap']} / {measured['pairwise']} "
                                                            f"of {int(off.sum())}",
               "runs (pairwise)": len(pair_results), "runs (cheap)": len(cheap_results),
               "Spearman (off-diagonal)": None if cmp is None else round(cmp["spearman"], 3),
               "Spearman 95% CI (bootstrap over pairs)": None if ci is None else f"[{ci[0]:.2f}, {ci[1]:.2f}]",
               f"ARI of the k={k} groupings": None if cmp is None else round(cmp["ari"], 3),
               "cost, seconds (cheap / pairwise)": f"{cost_cheap:.1f} / {cost_pairs:.1f}",
               # against a partly run pairwise matrix the ratio would flatter the estimate: only when complete
               "cost ratio (cheap / pairwise)": round(cost_fraction(cost_cheap, cost_pairs), 3)
               if comparable and cost_pairs > 0 else None}
    table = pd.Series(summary, name="value").to_frame()
    if cmp is None:
        return table, None

    record_finding(params.out_dir, "01", "Lookahead affinity against pairwise Eq. 4",
                   f"Spearman {cmp['spearman']:.2f} (95% CI {ci[0]:.2f} to {ci[1]:.2f}), ARI {cmp['ari']:.2f}, "
                   f"{cost_cheap:.0f} s against {cost_pairs:.0f} s of training")
    groups = {"cheap": cmp["cheap_groups"], "pairwise": cmp["pairwise_groups"]}
    if len(cheap.index) > len(tasks) and not cheap.isna().any().any():  # its own grouping of all its tasks
        groups[f"cheap, all {len(cheap.index)} tasks"] = kmeans_groups(cheap, 3, seed=0, n_init=50)
    return table, groupings_table(groups)


# ---------------------------------------------------------------------------------------------------------
# 01 as the notebook shows it: each function computes, saves and displays one part of the page


def save_relevance(params: RunParameters, name: str, matrix: pd.DataFrame, **meta) -> None:
    """Save a matrix as ``tables/relevance_<name>.json`` (read back by
    :func:`hmnet.report.groupings.load_relevance`)."""
    save_matrix(matrix, params.tables_dir / f"relevance_{name}.json", meta={"profile": params.profile, **meta})


def data_relevance_comparison(params: RunParameters) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 2 (Eq. 2) on this profile's data, saved and shown beside the paper's. Returns (ours, paper)."""
    ours, table2 = data_relevance(params), paper.table2()
    save_relevance(params, "data", ours, eq=2)
    show_matrix_comparison(ours, table2, params.out_dir, "table2_comparison")
    return ours, table2


def model_relevance_comparison(params: RunParameters, tasks: Sequence[str]) -> tuple[pd.DataFrame, list, pd.DataFrame]:
    """Table 3 (Eq. 4) from the pairwise runs of `tasks`, saved and shown beside the paper's.
    Returns (ours, the runs, paper)."""
    ours, results = pairwise_relevance(params, tasks)
    save_relevance(params, "model", ours, eq=4)
    show_text(f"{len(results)} runs over {len(tasks)} tasks ({', '.join(tasks)}), seeds {list(params.seeds)}.")
    table3 = paper.table3()
    show_matrix_comparison(ours, table3, params.out_dir, "table3_comparison")
    return ours, results, table3


def agreement_finding(params: RunParameters, section: str, finding: str, ours: pd.DataFrame,
                      paper: pd.DataFrame, what: str) -> None:
    """How close a regenerated matrix is to the paper's: recorded as a finding and shown."""
    summary = agreement_summary(ours, paper)
    record_finding(params.out_dir, section, finding, describe_agreement(summary, params.profile))
    show_text(describe_agreement(summary, f"{what} on the {params.profile} profile"))


def show_word_definitions(params: RunParameters) -> None:
    """On real files, each candidate word definition of Eq. 2 against Table 2 (shown); else a note."""
    if params.data_source != "directory":
        show_text(f"The {params.profile} profile reads {params.data_source} data: the word definitions are compared "
                  "on real files only (run with `-p profile local -p data_dir DIR`).")
        return
    show_table(vocab_candidates_table(params.data_dir), params.out_dir, "table2_word_definitions")


def show_manual_design(params: RunParameters) -> None:
    """Section 4.1's categories from the task registry beside the paper's, and whether they match; shown."""
    ours, paper = manual_grouping(params.tasks), paper_groupings(params.tasks)["manual"]
    show_table(groupings_table({"ours (hmnet.tasks)": ours, "paper (Section 4.1)": paper}), params.out_dir,
               "manual_groupings")
    show_text(f"Identical to the paper's: {ours == paper}.")


def influence_pivot(frame: pd.DataFrame) -> pd.DataFrame:
    """Figure 2's bars as a table: (direction, other task) rows, one column per source (ours, paper)."""
    return frame.pivot_table(index=["direction", "other task"], columns="source", values="gain (%)")


def figure2(params: RunParameters, ours: pd.DataFrame, paper: pd.DataFrame, task: str = "BoolQ"):
    """Figure 2 (the influence on and of `task`), ours beside the paper's: figure and table shown, with a note
    when `task` is not among ours. Returns (figure, the table)."""
    if task not in ours.index:
        show_text(f"{task} is not among relevance_tasks: only the paper's bars are shown.")
    frame = influence_frame(ours, paper, task)
    fig = influence_figure(frame, params, task)
    pivot = influence_pivot(frame)
    show_table(pivot, params.out_dir, "figure2_influence", decimals=2)
    return fig, pivot


def influence_signs(pivot: pd.DataFrame) -> str | None:
    """Per direction, the share of positive gains, ours against the paper's (None without both sources)."""
    if not {"ours", "paper"} <= set(pivot.columns):
        return None
    signs = (pivot.dropna() > 0).astype(int).groupby(level="direction").mean()
    return "; ".join(f"{d}: {signs.loc[d, 'ours']:.0%} of our gains are positive against "
                     f"{signs.loc[d, 'paper']:.0%} of the paper's" for d in signs.index)


def influence_finding(params: RunParameters, pivot: pd.DataFrame, section: str = "01") -> None:
    """Record and show :func:`influence_signs` (nothing when ours is missing)."""
    text = influence_signs(pivot)
    if text is not None:
        record_finding(params.out_dir, section, "Figure 2 direction of the BoolQ gains", text)
        show_text(text)
