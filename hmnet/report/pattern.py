"""Table 1's pattern (page 03): what a reader of a reproduction asks before any absolute number. Does each method
gain over single-task fine-tuning as much as the paper says, and each HMNet grouping over multi-task learning,
and in the paper's order?

One figure per family of gains: a panel per method, a row per task and the average on top; our gain as the mean
of the per-seed paired differences (same seed: same data order and head initialisation) with its 95% interval
over seeds, the paper's gain on the same entry beside it, and zero. The average is over the entries the ledger
tests on (a protocol's analysis set, where it registers one; the tasks left out are marked), and the paper's
average gain is its cells' over the same entries, like for like. One sentence under each figure says whether
the pattern reproduces. The intervals are raw 95% intervals; the claims ledger adjusts them within each claim.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from hmnet import paper
from hmnet.metrics import mean_ci
from hmnet.protocol import get_protocol
from hmnet.report.figures import record_finding, save_figure
from hmnet.report.page import show_text
from hmnet.sections import table1
from hmnet.sections.parameters import RunParameters

# family -> (what it shows, the baseline column, the columns compared with it)
FAMILIES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "single": ("gain over single-task fine-tuning", "Single-task",
               ("Multi-task", "SkillNet", "HMNet_d", "HMNet_md", "HMNet_m")),
    "multi": ("gain of HMNet over multi-task learning", "Multi-task", ("HMNet_d", "HMNet_md", "HMNet_m")),
}
AVERAGE = "Average"
COLOURS = {"above": "#1f6fb4", "below": "#c0392b", "unresolved": "#7f7f7f"}


def analysis_tasks(params: RunParameters) -> tuple[str, ...] | None:
    """The tasks the ledger tests Table 1 on: the protocol's registered analysis set, None without one."""
    registered = get_protocol(params.profile, params.run_profile.protocol)
    tasks = (registered.document.get("analysis") or {}).get("table1_tasks") if registered else None
    return tuple(tasks) if tasks else None


def seed_scores(results: Sequence) -> pd.DataFrame:
    """One row per Table 1 column, seed and task: the run's score (MNLI: its matched accuracy, as in the ledger)."""
    rows = [{"column": col, "seed": r.config.seed, "task": t, "score": r.score(t)}
            for r in results if (col := table1.column(r.config)) is not None for t in r.scores]
    return pd.DataFrame(rows, columns=["column", "seed", "task", "score"])


def _paper_task_gain(column: str, baseline: str, task: str) -> float:
    t1 = paper.table1()
    entry = (task, table1.PAPER_METRIC.get(task, "accuracy"))
    if entry not in t1.index or column not in t1.columns:
        return float("nan")
    return float(t1.loc[entry, column] - t1.loc[entry, baseline])


def gains(results: Sequence, family: str, analysis: Sequence[str] | None = None) -> pd.DataFrame:
    """Our gains and the paper's for one family: a row per compared column and entry (every task, and the average
    over the analysis set), with the mean and 95% interval over seeds of the paired differences, the paper's
    gain, and whether the entry is in the analysis set."""
    _, baseline, compared = FAMILIES[family]
    scores = seed_scores(results)
    every = [t for t in dict.fromkeys(scores["task"])]
    kept = [t for t in every if analysis is None or t in analysis]
    averages = table1.seed_averages(results, [t for t in every if t not in kept])
    present = set(scores["column"])
    columns = [c for c in (*compared, *sorted(present - set(table1.COLUMNS))) if c in present]
    if family == "single":
        columns = [c for c in columns if c != baseline]
    rows = []
    for col in columns:
        paper_avg = table1.paper_effect(col if col in table1.COLUMNS else "HMNet_m", baseline, kept)
        rows.append(_row(col, AVERAGE, table1.paired(averages, col, baseline), paper_avg, True))
        wide = scores[scores["column"].isin([col, baseline])].pivot_table(index="seed", columns=["column", "task"],
                                                                         values="score")
        for task in every:
            diffs = (wide[(col, task)] - wide[(baseline, task)]).dropna().tolist() \
                if (col, task) in wide and (baseline, task) in wide else []
            paper = _paper_task_gain(col, baseline, task) if col in table1.COLUMNS else float("nan")
            rows.append(_row(col, task, diffs, paper, task in kept))
    return pd.DataFrame(rows, columns=["column", "task", "n", "mean", "ci_low", "ci_high", "paper", "in analysis"])


def _row(column: str, task: str, diffs: Sequence[float], paper: float, kept: bool) -> dict:
    stats = mean_ci(diffs) if len(diffs) else {"n": 0, "mean": np.nan, "ci_low": np.nan, "ci_high": np.nan}
    return {"column": column, "task": task, "n": stats["n"], "mean": stats["mean"], "ci_low": stats["ci_low"],
            "ci_high": stats["ci_high"], "paper": paper, "in analysis": kept}


def side(row) -> str:
    """Where a gain's interval lies: above zero, below zero, or across it (or no interval)."""
    if row["n"] >= 2 and row["ci_low"] > 0:
        return "above"
    if row["n"] >= 2 and row["ci_high"] < 0:
        return "below"
    return "unresolved"


def pattern_figure(frame: pd.DataFrame, params: RunParameters, family: str, name: str | None = None):
    """A pair of panels per compared method, at most three methods a row: on top the average (its own, closer
    scale), below every task; ours (mean, 95% interval) and the paper's gain (an open diamond), zero as a line;
    saved with its tidy data."""
    import math

    import matplotlib.pyplot as plt

    what = FAMILIES[family][0]
    columns = list(dict.fromkeys(frame["column"]))
    tasks = [t for t in dict.fromkeys(frame["task"]) if t != AVERAGE]
    ncols = min(3, len(columns))
    nrows = math.ceil(len(columns) / ncols)
    fig = plt.figure(figsize=(2.45 * ncols + 1.5, nrows * (0.24 * len(tasks) + 1.6) + 1.0))
    outer = fig.add_gridspec(nrows, ncols, hspace=0.28, wspace=0.08)
    top, bottom = {}, {}
    for i, col in enumerate(columns):
        r, c = divmod(i, ncols)
        inner = outer[r, c].subgridspec(2, 1, height_ratios=[1.3, len(tasks)], hspace=0.35)
        top[col] = fig.add_subplot(inner[0], sharex=next(iter(top.values()), None))
        bottom[col] = fig.add_subplot(inner[1], sharex=next(iter(bottom.values()), None))
        rows = frame[frame["column"] == col]
        _panel(top[col], rows[rows["task"] == AVERAGE], {AVERAGE: 0}, big=True)
        _panel(bottom[col], rows[rows["task"] != AVERAGE], {t: -k for k, t in enumerate(tasks)})
        top[col].set_title(col, fontsize=9)
        first = c == 0
        top[col].set_yticks([0], [_label(AVERAGE, frame)] if first else [""], fontsize=8, fontweight="bold")
        bottom[col].set_yticks([-k for k in range(len(tasks))],
                               [_label(t, frame) for t in tasks] if first else [""] * len(tasks), fontsize=8)
        bottom[col].set_xlabel("points", fontsize=8)
    handles = [plt.Line2D([], [], marker="o", color=COLOURS["above"], ls="-", label="ours: interval above 0"),
               plt.Line2D([], [], marker="o", color=COLOURS["below"], ls="-", label="ours: below 0"),
               plt.Line2D([], [], marker="o", color=COLOURS["unresolved"], ls="-", label="ours: across 0"),
               plt.Line2D([], [], marker="D", mfc="none", mec="black", ls="none", label="the paper")]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=8, frameon=False, bbox_to_anchor=(0.5, 0.0))
    fig.suptitle(f"Table 1's pattern: {what}\n({params.profile}; mean and 95% interval over seeds)", fontsize=10)
    fig.subplots_adjust(left=0.16, right=0.98, top=1 - 0.7 / fig.get_figheight(), bottom=0.85 / fig.get_figheight())
    save_figure(fig, frame, params.out_dir, name or f"table1_pattern_{family}")
    return fig


def _panel(ax, rows: pd.DataFrame, y: dict, big: bool = False) -> None:
    for _, r in rows.iterrows():
        colour, alpha = COLOURS[side(r)], 1.0 if r["in analysis"] else 0.45
        if r["n"] >= 2:
            ax.plot([r["ci_low"], r["ci_high"]], [y[r["task"]]] * 2, color=colour, lw=2.2 if big else 1.6, alpha=alpha)
        ax.plot(r["mean"], y[r["task"]], "o", color=colour, ms=6.5 if big else 4.5, alpha=alpha)
        if np.isfinite(r["paper"]):
            ax.plot(r["paper"], y[r["task"]], "D", mfc="none", mec="black", ms=6 if big else 5, alpha=alpha)
    ax.axvline(0, color="black", lw=0.8)
    ax.tick_params(labelsize=7.5)
    ax.grid(False)
    if big:
        ax.set_ylim(-0.6, 0.6)
    else:
        ax.set_ylim(-len(y) + 0.4, 0.6)


def _label(entry: str, frame: pd.DataFrame) -> str:
    if entry == AVERAGE:
        n = frame[(frame["task"] != AVERAGE) & frame["in analysis"]]["task"].nunique()
        return f"Average ({n} tasks)"
    kept = frame.loc[frame["task"] == entry, "in analysis"].all()
    return entry if kept else f"{entry} °"


def pattern_sentence(frame: pd.DataFrame, family: str) -> str:
    """Whether the family's pattern reproduces, from the average's intervals against the paper's sign, and how
    many task cells share the paper's sign (and, for HMNet over multi-task, the order of the groupings)."""
    what, baseline, _ = FAMILIES[family]
    avg = frame[frame["task"] == AVERAGE].set_index("column")
    paper_cols = [c for c in avg.index if c in table1.COLUMNS]
    agree = [c for c in paper_cols if side(avg.loc[c]) == ("above" if avg.loc[c, "paper"] > 0 else "below")]
    against = [c for c in paper_cols if side(avg.loc[c]) == ("below" if avg.loc[c, "paper"] > 0 else "above")]
    verdict = ("reproduces in sign" if len(agree) == len(paper_cols) and paper_cols else
               "does not reproduce" if against else "is not resolved at these seeds")
    inside = [c for c in paper_cols if avg.loc[c, "n"] >= 2 and avg.loc[c, "ci_low"] <= avg.loc[c, "paper"]
              <= avg.loc[c, "ci_high"]]
    listed = "; ".join(f"{c} {_ci(avg.loc[c])} (paper {avg.loc[c, 'paper']:+.1f})" if c in paper_cols else
                       f"{c} {_ci(avg.loc[c])} (not in the paper; HMNet_m's {avg.loc[c, 'paper']:+.1f})"
                       for c in avg.index)
    cells = frame[(frame["task"] != AVERAGE) & frame["column"].isin(paper_cols) & frame["paper"].ne(0)
                  & frame["paper"].notna() & frame["mean"].notna()]
    same = int((np.sign(cells["mean"]) == np.sign(cells["paper"])).sum())
    text = (f"**The {what} {verdict}** on the average: {listed}. Our average's interval lies on the paper's side of "
            f"zero for {len(agree)} of {len(paper_cols)} methods"
            + (f" and on the other side for {', '.join(against)}" if against else "")
            + f", and holds the paper's gain for {len(inside)} of {len(paper_cols)}"
            + f"; per task, our mean gain has the paper's sign in {same} of {len(cells)} cells.")
    if family == "multi" and len(paper_cols) > 1:
        ours = " > ".join(avg.loc[paper_cols, "mean"].sort_values(ascending=False).index)
        theirs = " > ".join(avg.loc[paper_cols, "paper"].sort_values(ascending=False).index)
        text += f" By mean, ours orders the groupings {ours}; the paper, on the same entries, {theirs}."
    return text + " (Raw 95% intervals over seeds; the claims ledger adjusts for the comparisons of each claim.)"


def _ci(row) -> str:
    if row["n"] >= 2:
        return f"{row['mean']:+.1f} [{row['ci_low']:+.1f}, {row['ci_high']:+.1f}]"
    return f"{row['mean']:+.1f} (one seed)" if row["n"] else "not run"


def show_pattern(params: RunParameters, results: Sequence, family: str, section: str = "03") -> None:
    """One family's figure, then its sentence, on the page (the sentence recorded as a finding; the figure's
    tidy data saved beside it)."""
    import matplotlib.pyplot as plt
    from IPython.display import display

    frame = gains(results, family, analysis_tasks(params))
    if frame.empty:
        show_text(f"No {FAMILIES[family][0]} can be measured yet: the runs are not stored.")
        return
    fig = pattern_figure(frame, params, family)
    display(fig)
    plt.close(fig)  # shown here, in its place, not again at the end of the cell
    sentence = pattern_sentence(frame, family)
    left = sorted(set(frame.loc[~frame["in analysis"], "task"]))
    if left:
        sentence += f" ° Left out of the average, as the protocol registers: {', '.join(left)}."
    record_finding(params.out_dir, section, f"Table 1 pattern: {FAMILIES[family][0]}", sentence.replace("**", ""))
    show_text(sentence)


__all__ = ["FAMILIES", "analysis_tasks", "seed_scores", "gains", "side", "pattern_figure", "pattern_sentence",
           "show_pattern"]
