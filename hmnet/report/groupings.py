"""Task groupings as a reader sees them (the paper's, ours from notebook 02; the groupings themselves are
:mod:`hmnet.sections.groupings`'), and page 02: clustering the relevance matrices, the groupings' agreement
with Appendix A and their stability."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from hmnet import paper
from hmnet.analysis.clustering import agreement, kmeans_groups, restrict, seed_stability
from hmnet.analysis.relevance import load_matrix, manual_grouping
from hmnet.paper import PAPER_GROUPINGS
from hmnet.report.figures import heatmap, record_finding, save_figure
from hmnet.report.page import show_text
from hmnet.sections.groupings import extra_groupings, load_groupings, save_groupings
from hmnet.sections.parameters import RunParameters

# ---------------------------------------------------------------------------------------------------------
# groupings


def grouping_frame(groupings: Mapping[str, Sequence[Sequence[str]]]) -> pd.DataFrame:
    """{name: [[tasks], ...]} -> tidy frame (grouping, cluster, task) with clusters numbered from 1."""
    rows = []
    for name, groups in groupings.items():
        for i, group in enumerate(groups, 1):
            rows.extend({"grouping": name, "cluster": i, "task": t} for t in group)
    return pd.DataFrame(rows)


def grouping_text(groups: Iterable[Iterable[str]]) -> str:
    return "  ".join("{" + ", ".join(g) + "}" for g in groups)


def table1_groupings(params: RunParameters, source: str = "paper", extra: Sequence[str] | None = None
                     ) -> tuple[dict[str, list[list[str]]], dict[str, list[list[str]]], str]:
    """Table 1's HMNet groupings (:func:`hmnet.sections.groupings.load_groupings`, `source`), our groupings for
    its extra rows (:func:`hmnet.sections.groupings.extra_groupings`, `extra`), and one note for both."""
    groupings, note = load_groupings(params, source)
    ours, more_note = extra_groupings(params, extra)
    return groupings, ours, f"{note} {more_note}".strip()


def groupings_table(groupings: Mapping[str, Sequence[Sequence[str]]],
                    ours: Mapping[str, Sequence[Sequence[str]]] | None = None) -> pd.DataFrame:
    """One row per grouping with its clusters written out; our groupings (Table 1's extra rows) named so."""
    named = {**groupings, **{f"ours: {k}": v for k, v in (ours or {}).items()}}
    return pd.DataFrame([{"grouping": k, "clusters": len(v), "groups": grouping_text(v)} for k, v in named.items()])


# ---------------------------------------------------------------------------------------------------------
# 02: clustering


def cluster_relevance(matrices: Mapping[str, pd.DataFrame], k: int = 3) -> dict[str, list[list[str]]]:
    """k-means (rows as features, Section 3.3) of each matrix; k is lowered to n-1 for small matrices."""
    out = {}
    for name, m in matrices.items():
        n = len(m)
        if n < 3:
            continue
        out[name] = kmeans_groups(m.fillna(0.0), min(k, n - 1))
    return out


# Our groupings that estimate one of the paper's under another name: the one-run lookahead affinity estimates
# the model-based relevance of Eq. 4, so it is compared with Appendix A's model-based grouping.
ESTIMATES = {"lookahead": "model"}


def agreement_table(ours: Mapping[str, Sequence[Sequence[str]]],
                    reference: Mapping[str, Sequence[Sequence[str]]]) -> pd.DataFrame:
    """Adjusted Rand index of each of our groupings with the reference grouping of the same name (or the one
    it estimates, :data:`ESTIMATES`), on the tasks both cover."""
    rows = []
    for name, groups in ours.items():
        against = name if name in reference else ESTIMATES.get(name)
        if against not in reference:
            continue
        tasks = sorted({t for g in groups for t in g} & {t for g in reference[against] for t in g})
        a, b = restrict(groups, tasks), restrict(reference[against], tasks)
        rows.append({"grouping": name, "tasks compared": len(tasks), "ours": grouping_text(a),
                     "reference": grouping_text(b), "ARI": agreement(a, b, tasks) if len(tasks) >= 2 else np.nan,
                     "identical": a == b, "reference grouping": against})
    return pd.DataFrame(rows)


def stability_summary(matrices: Mapping[str, pd.DataFrame], k: int = 3, seeds: int = 30,
                      reference: Mapping[str, Sequence[Sequence[str]]] | None = None) -> tuple[pd.DataFrame, dict]:
    """Seed stability of k-means (one initialisation per seed) for each matrix: mean ARI with the
    reference grouping and the share of seeds that find it. Returns (table, {name: Stability})."""
    rows, detail = [], {}
    for name, m in matrices.items():
        n = len(m)
        if n < 3:
            continue
        ref = restrict(reference[name], list(m.index)) if reference and name in reference else None
        st = seed_stability(m.fillna(0.0), min(k, n - 1), seeds=range(seeds), reference=ref)
        detail[name] = st
        rows.append({"matrix": name, "tasks": n, "k": min(k, n - 1), "seeds": seeds,
                     "mean ARI with reference": st.mean_ari, "share reproducing it": st.reproduced_share,
                     "distinct groupings": len(st.groupings)})
    return pd.DataFrame(rows), detail


# The paper's table each matrix name stands for (labels of the co-assignment panels).
PAPER_TABLE_OF = {"data": 2, "model": 3}


def coassignment_figure(detail: Mapping[str, Any], params: RunParameters, name: str = "coassignment",
                        label: str = "{name}"):
    """Heatmaps of how often each pair of tasks shares a cluster across k-means seeds; tidy CSV saved.

    `label` titles each panel; it may use {name} (the matrix), {profile} and {table} (the paper's table
    number of that matrix: 2 for data, 3 for model)."""
    import matplotlib.pyplot as plt

    items = [(label.format(name=n, profile=params.profile, table=PAPER_TABLE_OF.get(n, "?")), st)
             for n, st in detail.items()]
    if not items:
        return None
    fig, axes = plt.subplots(1, len(items), figsize=(5.2 * len(items), 4.6), squeeze=False)
    tidy = []
    for ax, (label, st) in zip(axes[0], items):
        m = st.coassignment.copy()
        m.index.name, m.columns.name = "task", "task"
        heatmap(m, label, ax, fmt=".2f", cmap="Blues", annot=len(m) <= 8, cbar_label="share of seeds")
        long = m.rename_axis(index="task_a", columns="task_b").stack().rename("share").reset_index()
        long.insert(0, "matrix", label)
        tidy.append(long)
    fig.tight_layout()
    save_figure(fig, pd.concat(tidy, ignore_index=True), params.out_dir, name)
    return fig


def appendix_a() -> dict[str, list[list[str]]]:
    """Appendix A's groupings (data, model) and Section 4.1's (manual), all 13 tasks."""
    return {name: PAPER_GROUPINGS[name] for name in ("data", "model", "manual")}


def paper_matrices() -> dict[str, pd.DataFrame]:
    """The paper's printed relevance tables by grouping name: Table 2 (data) and Table 3 (model)."""
    return {"data": paper.table2(), "model": paper.table3()}


def load_relevance(params: RunParameters, name: str) -> pd.DataFrame | None:
    """A relevance matrix saved by notebook 01 (``relevance_<name>.json``), or None when it is missing."""
    path = params.tables_dir / f"relevance_{name}.json"
    return load_matrix(path) if path.exists() else None


def load_relevance_matrices(params: RunParameters) -> dict[str, pd.DataFrame]:
    """The data and model matrices and the one-run affinity estimate ("lookahead") notebook 01 saved; a note
    is shown for each one that is missing. A matrix without a measured value counts as missing, and one
    with some pairs not measured yet (a store still being filled) is left out too, as k-means on it would
    group tasks by the pairs that happen to be stored."""
    found = {name: load_relevance(params, name) for name in ("data", "model", "lookahead")}
    measured = {n: _off_diagonal_values(m) for n, m in found.items() if m is not None}
    missing = [n for n in found if not measured.get(n, (0, 0))[0]]
    partial = {n: v for n, v in measured.items() if 0 < v[0] < v[1]}
    if missing:
        show_text(f"not available in this build: the {', '.join(missing)} matrix (run notebook 01 with the same "
                  "out_dir first)")
    if partial:
        show_text("not grouped, as not every pair is measured yet: "
                  + ", ".join(f"the {n} matrix ({k} of {total} pairs)" for n, (k, total) in partial.items()))
    return {n: m for n, m in found.items() if m is not None and n not in missing and n not in partial}


def _off_diagonal_values(m: pd.DataFrame) -> tuple[int, int]:
    """How many of a matrix's off-diagonal values are measured, and how many it has (a section not run yet
    saves only NaN)."""
    values = m.to_numpy(dtype=float).copy()
    np.fill_diagonal(values, np.nan)
    return int(np.isfinite(values).sum()), len(m) * (len(m) - 1)


def our_groupings(params: RunParameters, matrices: Mapping[str, pd.DataFrame], k: int) -> dict[str, list[list[str]]]:
    """k-means of our matrices plus the manual categories of the registry; saved for notebooks 03 and 05."""
    groups = cluster_relevance(matrices, k)
    groups["manual"] = manual_grouping(params.tasks)
    save_groupings(groups, params)
    return groups


def agreement_findings(params: RunParameters, agreement: pd.DataFrame, source: str, section: str = "02") -> list[str]:
    """Record one finding per row of an :func:`agreement_table`: k-means on the paper's tables (source
    "paper") or our groupings (source "ours") against Appendix A. Returns the measured texts."""
    texts = []
    for row in agreement.to_dict("records"):
        if source == "paper":
            finding = f"k-means on the paper's table for '{row['grouping']}'"
            text = f"ARI {row['ARI']:.2f} with Appendix A; identical: {row['identical']}"
        else:
            against = "" if row["reference grouping"] == row["grouping"] else f"'s '{row['reference grouping']}'"
            finding = f"our '{row['grouping']}' grouping against Appendix A{against}"
            text = f"ARI {row['ARI']:.2f} over {row['tasks compared']} tasks"
        record_finding(params.out_dir, section, finding, text)
        texts.append(text)
    return texts


def groupings_summary(from_paper: pd.DataFrame, ours: pd.DataFrame, profile: str) -> str:
    """A Markdown list: does k-means on the paper's tables give Appendix A back, and how close are ours."""
    lines = [f"- k-means on the paper's table for **{row['grouping']}** "
             + ("gives back Appendix A exactly." if row["identical"] else
                f"differs from Appendix A (ARI {row['ARI']:.2f}).") for row in from_paper.to_dict("records")]
    lines += [f"- Our **{row['grouping']}** grouping ({profile} profile) against the paper's: ARI {row['ARI']:.2f} "
              f"over {row['tasks compared']} tasks" + (" (identical)." if row["identical"] else ".")
              for row in ours.to_dict("records")]
    return "\n".join(lines)
