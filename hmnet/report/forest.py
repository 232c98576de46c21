"""The claims ledger as a forest plot: a row per comparison, grouped under its claim, with our effect and its 95%
interval over seeds, the paper's effect (or the reference a protocol registered) as an open diamond, and zero;
coloured by each comparison's verdict (Holm-adjusted within its claim). Effects in different units (points,
relative gains in %, attention similarity) get a panel each, so no scale squeezes another."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd

from hmnet.analysis.verdicts import CONTRADICTED, NOT_RUN, SMALLER, SUPPORTED, UNRESOLVED

VERDICT_COLOURS = {SUPPORTED: "#1a7f37", CONTRADICTED: "#c0392b", SMALLER: "#d4860b", UNRESOLVED: "#7f7f7f",
                   NOT_RUN: "#c8c8c8"}
UNIT_LABELS = {"points": "effect in points (ours − the compared method, paired by seed)",
               "%": "relative gain in % (Eq. 4)", "similarity": "difference in attention similarity"}


def forest_rows(ledger: pd.DataFrame) -> pd.DataFrame:
    """The ledger, one row per comparison (and one per claim without any), in the ledger's order: unit, claim,
    its verdict, the comparison's name, n, mean, interval, the paper's effect and the comparison's verdict."""
    rows = []
    for c in ledger.itertuples(index=False):
        members = list(c.members) or [{"name": "not run", "n": 0, "mean": np.nan, "ci_low": np.nan,
                                        "ci_high": np.nan, "paper": np.nan, "verdict": NOT_RUN}]
        for m in members:
            rows.append({"unit": getattr(c, "unit", "points"), "claim": c.claim, "claim verdict": c.verdict,
                         "comparison": m["name"], "n": m["n"], "mean": m["mean"], "ci_low": m["ci_low"],
                         "ci_high": m["ci_high"], "paper": m["paper"], "verdict": m["verdict"]})
    return pd.DataFrame(rows)


def forest_figure(ledger: pd.DataFrame, title: str = ""):
    """The forest plot of one build's ledger (see the module docstring); returns the figure."""
    import matplotlib.pyplot as plt

    rows = forest_rows(ledger)
    units = list(dict.fromkeys(rows["unit"]))
    heights = [_lines(rows[rows["unit"] == u]) for u in units]
    fig, axes = plt.subplots(len(units), 1, figsize=(7.8, 0.26 * sum(heights) + 1.2 * len(units) + 0.7),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, unit in zip(axes[:, 0], units):
        _unit_panel(ax, rows[rows["unit"] == unit], unit)
    handles = [plt.Line2D([], [], marker="o", color=col, ls="-", label=v) for v, col in VERDICT_COLOURS.items()]
    handles.append(plt.Line2D([], [], marker="D", mfc="none", mec="black", ls="none",
                              label="the paper's effect (or the registered reference)"))
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=8.5, frameon=False, bbox_to_anchor=(0.5, 0.0))
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.6 / (0.26 * sum(heights) + 1.2 * len(units) + 0.7), 1, 0.99))
    return fig


def _lines(rows: pd.DataFrame) -> int:
    """Rows a panel needs: one per comparison and a header per claim."""
    return len(rows) + rows["claim"].nunique()


def _unit_panel(ax, rows: pd.DataFrame, unit: str) -> None:
    y, labels, weights = 0, [], []
    for claim, members in rows.groupby("claim", sort=False):
        verdict = members["claim verdict"].iloc[0]
        labels.append("\n".join(textwrap.wrap(f"{claim} — {verdict}", 46)))
        weights.append("bold")
        ax.axhline(-y + 0.5, color="#dddddd", lw=0.6)
        y += 1
        for m in members.itertuples(index=False):
            colour = VERDICT_COLOURS.get(m.verdict, "#7f7f7f")
            if m.n >= 2:
                ax.plot([m.ci_low, m.ci_high], [-y, -y], color=colour, lw=1.8)
            if m.n >= 1:
                ax.plot(m.mean, -y, "o", color=colour, ms=5)
            if np.isfinite(m.paper):
                ax.plot(m.paper, -y, "D", mfc="none", mec="black", ms=5)
            labels.append(str(m.comparison) + ("" if m.n else " (not run)"))
            weights.append("normal")
            y += 1
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks([-k for k in range(y)], labels, fontsize=8.5)
    for tick, weight in zip(ax.get_yticklabels(), weights):
        tick.set_fontweight(weight)
    ax.set_ylim(-y + 0.4, 0.6)
    ax.set_xlabel(UNIT_LABELS.get(unit, unit), fontsize=9)
    ax.tick_params(axis="x", labelsize=8.5)


__all__ = ["forest_rows", "forest_figure", "VERDICT_COLOURS"]
