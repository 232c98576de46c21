"""Figure 4's page (05) as a reader sees it: the average score per split and grouping with its interval over
seeds, the multi-task baseline as a line, and the finding. The runs, the grid and its checks are
:mod:`hmnet.sections.layer_grid`'s."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from hmnet.report.figures import record_finding
from hmnet.report.page import show_text
from hmnet.report.results import band_figure, ci_frame
from hmnet.report.tables import show_table
from hmnet.sections import layer_grid as grid_section
from hmnet.sections import run
from hmnet.sections.layer_grid import Split
from hmnet.sections.parameters import RunParameters


def layer_grid_runs(params: RunParameters, tasks: Sequence[str], groupings: Mapping[str, Sequence[Sequence[str]]],
                    grid: Sequence[Split], seeds: Sequence[int], ci_splits: Sequence[Split] | None = None
                    ) -> tuple[list, list]:
    """HMNet over the grid for each grouping, and the multi-task baseline on the same tasks and seeds."""
    grid_configs, baseline_configs = grid_section.configs(params, tasks, groupings, grid, seeds, ci_splits)
    return run(grid_configs, params, "layer grid"), run(baseline_configs, params, "multi-task")


def layer_grid_results(params: RunParameters, tasks: Sequence[str], groupings: Mapping[str, Sequence[Sequence[str]]],
                       splits: Sequence[Split], ci_splits: Sequence[Split] | None = None
                       ) -> tuple[pd.DataFrame, pd.DataFrame, float | None]:
    """Figure 4's runs: per seed the average score of each (method, split), the method being HMNet with a grouping
    under the paper's name (HMNet_m for the model-based one), their mean and CI (shown, split x method) and the
    multi-task baseline's mean average (None while none of its runs is stored, as in a partly run store).
    Returns (per-seed frame, summary, baseline)."""
    grid_results, baseline = layer_grid_runs(params, tasks, groupings, splits, params.seeds, ci_splits)
    per_seed = grid_section.grid_frame(grid_results)
    per_seed.insert(0, "method", per_seed["grouping"].map(lambda g: grid_section.GROUPING_LABELS.get(g, g)))
    summary = ci_frame(per_seed, ["method", "split"], value="average")
    show_table(summary, params.out_dir, "figure4_summary",
               shown=summary.pivot(index="split", columns="method", values="mean").round(2))
    if not baseline:
        return per_seed, summary, None
    base = ci_frame(grid_section.grid_frame(baseline).assign(method="multi"), ["method"], value="average")
    return per_seed, summary, float(base["mean"].iloc[0])


def figure4(params: RunParameters, summary: pd.DataFrame, per_seed: pd.DataFrame, baseline: float | None):
    """Figure 4: the average score per split and method, with the multi-task baseline as a line (when run)."""
    return band_figure(summary, "split", "method", params, "figure4_layer_combinations",
                       f"Figure 4: average score per split ({params.profile})", "average score",
                       reference=None if baseline is None else {"multi-task": baseline}, per_seed=per_seed)


def layer_grid_text(summary: pd.DataFrame, baseline: float | None) -> str:
    """Figure 4's finding: the best split (with its seed interval) and how many combinations average above
    multi-task (None: its runs are not stored yet, and the sentence says so)."""
    best = summary.loc[summary["mean"].idxmax()]
    spread = (f", 95% CI [{best['ci_low']:.1f}, {best['ci_high']:.1f}] over {best['n']} seeds" if best["n"] > 1
              else ", one seed")
    text = f"Best split: {best['split']} for {best['method']} ({best['mean']:.1f}{spread}); "
    if baseline is None:
        return text + "the multi-task baseline is not stored yet, so no combination is compared with it."
    above = summary[summary["mean"] > baseline]
    return text + (f"{len(above)} of {len(summary)} method-split combinations average above multi-task "
                   f"({baseline:.1f}), by their means (the claims ledger pairs them with it seed by seed).")


def layer_grid_finding(params: RunParameters, summary: pd.DataFrame, baseline: float | None,
                       section: str = "05") -> None:
    """:func:`layer_grid_text`, recorded as a finding and shown."""
    text = layer_grid_text(summary, baseline)
    record_finding(params.out_dir, section, "Figure 4 layer combinations", text)
    show_text(text)
