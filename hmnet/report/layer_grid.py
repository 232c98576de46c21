"""Figure 4 (notebook 05): HMNet over {x, y, z} splits of the backbone's layers for each grouping, against
multi-task on the same tasks.

A reference build can narrow the grid to what its budget allows, and say so: ``grid_groupings`` picks the
groupings, and ``ci_splits`` names the splits that run every seed (the others run the first seed only), so the
splits that matter for the paper's claims get confidence intervals and the rest a single point.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from hmnet.report.groupings import grouping_dict
from hmnet.report.parameters import ParameterError, RunParameters
from hmnet.report.results import backbone_depth, band_figure, ci_frame, scores_frame
from hmnet.report.runs import run_plan

Split = tuple[int, int, int]


def layer_grid(depth: int) -> list[Split]:
    """{x, y, z} splits for a backbone of `depth` layers, scaled from the paper's depth-12 setting.

    The figure's exact combinations are not given in the paper's text; it names shared-layer counts from
    2 to 10 and the default {8, 2, 2}. For depth 12: x in {2, 4, 6, 8, 10}, the rest split evenly
    between cluster and task layers (cluster gets the odd one), plus {8, 1, 3} and {8, 3, 1} around the
    default. Smaller backbones scale x by depth/12; duplicates and invalid splits are dropped.
    """
    if not isinstance(depth, int) or depth < 2:
        raise ParameterError(f"the backbone depth must be an integer >= 2 for a layer grid, got {depth!r}")
    out: list[Split] = []
    for x12 in (2, 4, 6, 8, 10):
        split = _even_split(max(1, min(depth - 1, round(x12 * depth / 12))), depth)
        if split not in out:
            out.append(split)
    x = max(1, min(depth - 1, round(8 * depth / 12)))
    r = depth - x
    for y in range(r + 1):
        if abs(y - (r - y)) <= 2 and (x, y, r - y) not in out and y != r - r // 2:
            out.append((x, y, r - y))
    return sorted(out)


def _even_split(x: int, depth: int) -> Split:
    """The grid's main series: x shared layers, the rest split evenly (the cluster layers get the odd one)."""
    r = depth - x
    return x, r - r // 2, r // 2


def check_grid(grid, depth: int, name: str = "grid") -> list[Split]:
    """Validate a `grid` parameter: a list of [x, y, z] with x + y + z == depth."""
    if not isinstance(grid, (list, tuple)) or not grid:
        raise ParameterError(f"parameter {name!r} must be a non-empty list of [x, y, z] splits, got {grid!r}")
    out = []
    for s in grid:
        if (not isinstance(s, (list, tuple)) or len(s) != 3
                or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in s)):
            raise ParameterError(f"parameter {name!r}: {s!r} is not an [x, y, z] triple of integers >= 0")
        if sum(s) != depth:
            raise ParameterError(f"parameter {name!r}: {list(s)} sums to {sum(s)}, but the backbone has {depth} "
                                 f"layers; valid splits: {layer_grid(depth)}")
        out.append(tuple(s))
    return out


def layer_grid_runs(params: RunParameters, tasks: Sequence[str], groupings: Mapping[str, Sequence[Sequence[str]]],
                    grid: Sequence[Split], seeds: Sequence[int], ci_splits: Sequence[Split] | None = None
                    ) -> tuple[list, list]:
    """HMNet over the grid for each grouping, and the multi-task baseline on the same tasks and seeds."""
    grid_configs, baseline_configs = layer_grid_configs(params, tasks, groupings, grid, seeds, ci_splits)
    return run_plan(grid_configs, params, "layer grid"), run_plan(baseline_configs, params, "multi-task")


def layer_grid_configs(params: RunParameters, tasks: Sequence[str], groupings: Mapping[str, Sequence[Sequence[str]]],
                       grid: Sequence[Split], seeds: Sequence[int], ci_splits: Sequence[Split] | None = None
                       ) -> tuple[list, list]:
    """The grid's HMNet runs (every seed for the splits in `ci_splits`, None: all; the first seed for the
    rest) and the multi-task baseline's runs (every seed)."""
    from hmnet.analysis.clustering import restrict
    from hmnet.plans import layer_grid_plan

    prof = params.experiment_profile(tasks=tasks)
    clusters = {name: grouping_dict(restrict(g, tasks)) for name, g in groupings.items()}
    every_seed = set(grid) if ci_splits is None else set(ci_splits)
    runs = [c for c in layer_grid_plan(prof, clusters, grid, seeds) if c.split in every_seed or c.seed == seeds[0]]
    return runs, [prof.run_config("multi", seed=s, name="multi") for s in seeds]


def check_ci_splits(ci_splits, splits: Sequence[Split], depth: int) -> list[Split] | None:
    """The `ci_splits` parameter: None (every split runs every seed), "paper" (:func:`paper_neighbourhood`)
    or splits of the grid."""
    if ci_splits is None:
        return None
    if ci_splits == "paper":
        return paper_neighbourhood(splits, depth)
    out = [tuple(s) for s in check_grid(ci_splits, depth, "ci_splits")]
    outside = [list(s) for s in out if s not in splits]
    if outside:
        raise ParameterError(f"parameter 'ci_splits': {outside} not in the grid {[list(s) for s in splits]}")
    return out


def paper_neighbourhood(splits: Sequence[Split], depth: int) -> list[Split]:
    """The paper's split scaled to `depth` and, along the grid's main series (x shared layers, the rest split
    evenly, see :func:`layer_grid`), the splits just below and just above it in shared layers: the three that
    say whether the average peaks at the paper's choice. For 6 layers {3, 2, 1}, {4, 1, 1}, {5, 1, 0}."""
    from hmnet.choices import default_split

    paper = default_split(depth)
    series = sorted(s for s in splits if s == _even_split(s[0], depth))
    if paper not in series:
        raise ParameterError(f"parameter 'ci_splits': the paper's split {list(paper)} is not in the grid "
                             f"{[list(s) for s in splits]}")
    i = series.index(paper)
    return series[max(0, i - 1): i + 2]


def select_groupings(groupings: Mapping[str, Sequence[Sequence[str]]], names: Sequence[str] | None
                     ) -> dict[str, Sequence[Sequence[str]]]:
    """The `grid_groupings` parameter: the named groupings only (None: all of them)."""
    if names is None:
        return dict(groupings)
    if isinstance(names, str) or not isinstance(names, (list, tuple)) or not names:
        raise ParameterError(f"parameter 'grid_groupings' must be a non-empty list of names from "
                             f"{list(groupings)}, got {names!r}")
    unknown = [n for n in names if n not in groupings]
    if unknown:
        raise ParameterError(f"parameter 'grid_groupings': {unknown} unknown; known: {list(groupings)}")
    return {n: groupings[n] for n in names}


def grid_splits(params: RunParameters, grid=None) -> list[Split]:
    """The `grid` parameter checked against the backbone's depth, or the paper's grid scaled to it (None)."""
    depth = backbone_depth(params)
    return layer_grid(depth) if grid is None else check_grid(grid, depth)


def layer_grid_results(params: RunParameters, tasks: Sequence[str], groupings: Mapping[str, Sequence[Sequence[str]]],
                       splits: Sequence[Split], ci_splits: Sequence[Split] | None = None
                       ) -> tuple[pd.DataFrame, pd.DataFrame, float | None]:
    """Figure 4's runs: per seed the average score of each (grouping, split), their mean and CI (shown, split x
    grouping) and the multi-task baseline's mean average (None while none of its runs is stored, as in a
    partly run store). Returns (per-seed frame, summary, baseline)."""
    from hmnet.report.tables import show_table

    grid_results, baseline = layer_grid_runs(params, tasks, groupings, splits, params.seeds, ci_splits)
    per_seed = scores_frame(grid_results).drop_duplicates(["variant", "seed"])
    per_seed["grouping"] = per_seed["variant"].str.split(":").str[1]
    summary = ci_frame(per_seed, ["grouping", "split"], value="average")
    show_table(summary, params.out_dir, "figure4_summary",
               shown=summary.pivot(index="split", columns="grouping", values="mean").round(2))
    if not baseline:
        return per_seed, summary, None
    base = ci_frame(scores_frame(baseline).drop_duplicates(["seed"]).assign(method="multi"), ["method"],
                    value="average")
    return per_seed, summary, float(base["mean"].iloc[0])


def figure4(params: RunParameters, summary: pd.DataFrame, per_seed: pd.DataFrame, baseline: float | None):
    """Figure 4: the average score per split and grouping, with the multi-task baseline as a line (when run)."""
    return band_figure(summary, "split", "grouping", params, "figure4_layer_combinations",
                       f"Figure 4: average score per split ({params.profile})", "average score",
                       reference=None if baseline is None else {"multi-task": baseline}, per_seed=per_seed)


def layer_grid_text(summary: pd.DataFrame, baseline: float | None) -> str:
    """Figure 4's finding: the best split (with its seed interval) and how many combinations average above
    multi-task (None: its runs are not stored yet, and the sentence says so)."""
    best = summary.loc[summary["mean"].idxmax()]
    spread = (f", 95% CI [{best['ci_low']:.1f}, {best['ci_high']:.1f}] over {best['n']} seeds" if best["n"] > 1
              else ", one seed")
    text = f"Best split: {best['split']} with the {best['grouping']} grouping ({best['mean']:.1f}{spread}); "
    if baseline is None:
        return text + "the multi-task baseline is not stored yet, so no combination is compared with it."
    above = summary[summary["mean"] > baseline]
    return text + (f"{len(above)} of {len(summary)} grouping-split combinations average above multi-task "
                   f"({baseline:.1f}), by their means (the claims ledger pairs them with it seed by seed).")


def layer_grid_finding(params: RunParameters, summary: pd.DataFrame, baseline: float | None,
                       section: str = "05") -> None:
    """:func:`layer_grid_text`, recorded as a finding and shown."""
    from hmnet.report.figures import record_finding
    from hmnet.report.page import show_text

    text = layer_grid_text(summary, baseline)
    record_finding(params.out_dir, section, "Figure 4 layer combinations", text)
    show_text(text)
