"""Pages 03 and 04 as a reader sees them: Table 1 beside the paper's (its runs are
:mod:`hmnet.sections.table1`'s) and Figure 3 (:mod:`hmnet.sections.shared_layers`), with the helpers Figure 4's
page shares (confidence intervals over seeds, a band figure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from hmnet import paper
from hmnet.metrics import check_published_averages, mean_ci
from hmnet.report.figures import record_finding, save_figure, save_table
from hmnet.report.page import show_text
from hmnet.report.tables import show_table
from hmnet.results import scores_frame, summarize
from hmnet.sections import run, shared_layers, table1, table1_ours
from hmnet.sections.layer_grid import depth_of
from hmnet.sections.parameters import ParameterError, RunParameters

# ---------------------------------------------------------------------------------------------------------
# 03: Table 1


def table1_runs(params: RunParameters, groupings: Mapping[str, Sequence[Sequence[str]]], seeds: Sequence[int],
                skillnet_seeds: Sequence[int] | None = None,
                ours: Mapping[str, Sequence[Sequence[str]]] | None = None) -> list:
    """Table 1's runs (:mod:`hmnet.sections.table1`) and its extra rows with our groupings
    (:mod:`hmnet.sections.table1_ours`), trained or read from the store."""
    plan = table1.configs(params, groupings, seeds, skillnet_seeds) + table1_ours.configs(params, ours or {}, seeds)
    return run(plan, params, "Table 1")


def table1_summary(results: Sequence) -> pd.DataFrame:
    """:func:`hmnet.results.summarize` of Table 1's runs, with each row's Table 1 column (from the runs' tags:
    :func:`hmnet.sections.table1.column`)."""
    summary = summarize(results)
    columns = {r.config.variant: table1.column(r.config) for r in results}
    return summary.assign(column=summary["variant"].map(columns))


def _with_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of Table 1's methods (the paper's six and HMNet with our groupings)."""
    return frame[frame["column"].notna()]


def table1_comparison(summary: pd.DataFrame) -> pd.DataFrame:
    """Our Table 1 (mean over seeds, with the CI half-width) beside the paper's, per task and method.

    Rows: Table 1 entries (MNLI-m, MNLI-mm, ..., Average); columns: (method, ours / ± / paper / diff).
    """
    t1 = paper.table1()
    entries = [f"{t}-{m.split('_')[-1]}" if t == "MNLI" else t for t, m in t1.index]
    pub = pd.DataFrame(t1.to_numpy(), index=entries, columns=t1.columns)
    pub.loc["Average"] = paper.table1_averages()
    s = _with_columns(summary)
    s["half"] = (s["ci_high"] - s["ci_low"]) / 2
    mean = s.pivot_table(index="task", columns="column", values="mean", sort=False)
    half = s.pivot_table(index="task", columns="column", values="half", sort=False, dropna=False)
    order = [e for e in pub.index if e in mean.index]
    parts = {}
    ours = sorted(c for c in mean.columns if c not in pub.columns)  # our groupings: no published number
    for col in [*[c for c in pub.columns if c in mean.columns], *ours]:
        published = pub.loc[order, col] if col in pub.columns else pd.Series(np.nan, index=order)
        parts[(col, "ours")] = mean.loc[order, col]
        parts[(col, "±95%")] = half.reindex(order)[col] if col in half else np.nan
        parts[(col, "paper")] = published
        parts[(col, "diff")] = mean.loc[order, col] - published
    out = pd.DataFrame(parts)
    out.columns = pd.MultiIndex.from_tuples(out.columns)
    out.index.name = "entry"
    return out


def ranking_sentence(summary: pd.DataFrame) -> str:
    """Which method has the best measured average, and whether HMNet beats multi-task (measured)."""
    avg = _with_columns(summary[summary["task"] == "Average"])
    if avg.empty:
        return "No averages were measured."
    avg = avg.set_index("column")
    best = avg["mean"].idxmax()
    order = ", ".join(f"{c} {v:.1f}" for c, v in avg["mean"].sort_values(ascending=False).items())
    text = f"Measured averages, best first: {order}. The best is {best}"
    text += " (the paper's best is HMNet_m)." if best != "HMNet_m" else ", as in the paper."
    if "Multi-task" in avg.index:
        hm = [c for c in avg.index if c.startswith("HMNet")]
        overlap = [c for c in hm if avg.loc[c, "ci_low"] <= avg.loc["Multi-task", "ci_high"]
                   and avg.loc["Multi-task", "ci_low"] <= avg.loc[c, "ci_high"]]
        if len(avg["n"].unique()) and avg["n"].min() > 1:
            text += (f" The 95% intervals of {', '.join(overlap)} overlap the multi-task one." if overlap else
                     " No HMNet interval overlaps the multi-task one.")
    return text


def table1_figure(summary: pd.DataFrame, params: RunParameters, name: str = "table1_averages"):
    import matplotlib.pyplot as plt

    avg = _with_columns(summary[summary["task"] == "Average"])
    avg = avg.assign(method=avg["column"])
    avg["paper"] = avg["method"].map(paper.table1_averages())
    fig, ax = plt.subplots(figsize=(8.5, 3.6))
    x = np.arange(len(avg))
    ax.bar(x - 0.2, avg["mean"], 0.4, yerr=[avg["mean"] - avg["ci_low"], avg["ci_high"] - avg["mean"]],
           label=f"ours ({params.profile}, mean ± 95% CI)", capsize=3)
    ax.bar(x + 0.2, avg["paper"], 0.4, label="paper", color="grey")
    ax.set_xticks(x, avg["method"], rotation=20)
    ax.set_ylabel("average score")
    ax.set_title("Table 1: average score per method")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside the bars, never over them
    fig.tight_layout()
    save_figure(fig, avg[["method", "n", "mean", "std", "ci_low", "ci_high", "paper"]], params.out_dir, name)
    return fig


def parameter_rows(params: RunParameters) -> tuple[pd.DataFrame | None, str]:
    """Table 1's parameter rows: :mod:`hmnet.analysis.parameters`' counts for bert-base beside the paper's."""
    from hmnet.analysis.parameters import parameter_table

    return parameter_table("random:bert-base"), "Counts for bert-base (random weights of the same shape)."


# ---------------------------------------------------------------------------------------------------------
# 04: shared layers (Figure 3); 05: layer grid (Figure 4)


def ci_frame(frame: pd.DataFrame, keys: Sequence[str], value: str = "score") -> pd.DataFrame:
    """Mean and Student-t 95% CI of `value` over seeds for each group of `keys`."""
    rows = []
    for key, g in frame.groupby(list(keys), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(keys, key)), **mean_ci(g[value].to_numpy())})
    return pd.DataFrame(rows)


def shared_layers_runs(params: RunParameters, tasks: Sequence[str], seeds: Sequence[int],
                       points: Sequence[int] | None = None) -> list:
    return run(shared_layers.configs(params, tasks, seeds, points), params, "shared layers")


def peak_contrast(per_seed: pd.DataFrame, task: str, peak: int, x: str = "shared layers",
                  value: str = "score", ends: Sequence[int] | None = None) -> pd.DataFrame:
    """Is `task`'s score at ``x == peak`` above both ends of the x range? Per seed, the difference between
    the score at `peak` and at each end (`ends`, default the smallest and the largest x run); mean and
    Student-t 95% CI over seeds (paired by seed: same data order and head initialisation). One row per
    comparison."""
    g = per_seed[per_seed["task"] == task].pivot_table(index="seed", columns=x, values=value)
    ends = (g.columns.min(), g.columns.max()) if ends is None else ends
    missing = [v for v in (peak, *ends) if v not in g.columns]
    if missing:
        raise ParameterError(f"{x} = {missing[0]} was not run for {task}; ran {sorted(g.columns)}")
    rows = []
    for end in ends:
        if end == peak:
            continue
        diff = (g[peak] - g[end]).dropna().to_numpy()
        rows.append({"task": task, "comparison": f"{x} {peak} - {end}", **mean_ci(diff)})
    return pd.DataFrame(rows)


def band_figure(summary: pd.DataFrame, x: str, hue: str, params: RunParameters, name: str, title: str,
                ylabel: str, reference: Mapping[str, float] | None = None, per_seed: pd.DataFrame | None = None,
                xlim: tuple[float, float] | None = None):
    """Mean over seeds with a 95% CI band per `hue` group; optional horizontal reference lines and x range
    (the planned one, so that a figure of a store being filled shows what is missing)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(6.5, 4))
    palette = sns.color_palette(n_colors=max(1, summary[hue].nunique()))
    for colour, (label, g) in zip(palette, summary.groupby(hue, sort=False)):
        g = g.sort_values(x)
        xs = np.arange(len(g)) if g[x].dtype == object else g[x]
        ax.plot(xs, g["mean"], marker="o", color=colour, label=str(label))
        if g["n"].max() > 1:
            ax.fill_between(xs, g["ci_low"], g["ci_high"], color=colour, alpha=0.2)
        if g[x].dtype == object:
            ax.set_xticks(xs, g[x], rotation=30)
    for colour, (label, value) in zip(sns.color_palette("dark", n_colors=len(reference or {})),
                                      (reference or {}).items()):
        ax.axhline(value, linestyle="--", color=colour, label=label)
    if summary[x].dtype != object:
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if xlim is not None:
        ax.set_xlim(*xlim)
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, per_seed if per_seed is not None else summary, params.out_dir, name)
    return fig


def backbone_depth(params: RunParameters) -> int:
    return depth_of(params)


# ---------------------------------------------------------------------------------------------------------
# 03 to 05 as the notebooks show them: each function computes, saves and displays one part of the page


def published_averages() -> pd.DataFrame:
    """Table 1's published averages recomputed from its own cells, each cell allowed its rounding
    (hmnet.metrics.check_published_averages); one row per method. Notebook 03 and the findings page show it."""
    scores = {m: paper.paper_scores(m) for m in paper.TABLE1_METHODS}
    published = {m: float(v) for m, v in paper.table1_averages().items()}
    return pd.DataFrame(check_published_averages(scores, published))


def table1_results(params: RunParameters, groupings: Mapping, skillnet_seeds: Sequence[int] | None = None,
                   ours: Mapping | None = None) -> tuple[list, pd.DataFrame]:
    """Table 1's runs (or the stored ones), with the extra rows of `ours` (our groupings), and their summary over
    seeds, saved as table1_summary.csv; `skillnet_seeds` runs SkillNet at fewer seeds
    (:func:`hmnet.sections.table1.plan_runs`)."""
    results = table1_runs(params, groupings, params.seeds, skillnet_seeds, ours)
    summary = table1_summary(results)
    save_table(summary, params.out_dir, "table1_summary")
    show_text(f"{len(results)} runs (cached ones are read from the result cache, results/ under out_dir).")
    return results, summary


def ranking_finding(params: RunParameters, summary: pd.DataFrame, section: str = "03") -> None:
    """:func:`ranking_sentence`, recorded as a finding and shown."""
    sentence = ranking_sentence(summary)
    record_finding(params.out_dir, section, "Table 1 ranking of the averages", sentence)
    show_text(sentence)


def shared_layers_results(params: RunParameters, tasks: Sequence[str], points: Sequence[int] | None = None
                          ) -> tuple[list, pd.DataFrame, pd.DataFrame]:
    """Figure 3's runs: the pair at every number of shared layers in `points` (default 0..depth) and seed; the
    per-seed scores and their mean and CI, shown (shared layers x task). Returns (results, per-seed frame,
    summary)."""
    planned = shared_layers.configs(params, tasks, params.seeds, points)
    results = shared_layers_runs(params, tasks, params.seeds, points)
    per_seed = scores_frame(results)
    summary = ci_frame(per_seed, ["task", "shared layers"])
    xs = sorted({c.split[0] for c in planned})
    which = f"0..{backbone_depth(params)}" if xs == list(range(backbone_depth(params) + 1)) else f"{xs}"
    show_text(f"{len(results)} of {len(planned)} runs: shared layers {which} x seeds {list(params.seeds)}.")
    show_table(summary, params.out_dir, "figure3_summary",
               shown=summary.pivot(index="shared layers", columns="task", values="mean").round(2))
    return results, per_seed, summary


def figure3(params: RunParameters, summary: pd.DataFrame, per_seed: pd.DataFrame, baseline: Mapping[str, float],
            tasks: Sequence[str]):
    """Figure 3: each task's score against the number of shared layers, with its majority-class level."""
    reference = {f"{t}: majority class ({v:.1f})": v for t, v in baseline.items()}
    return band_figure(summary, "shared layers", "task", params, "figure3_shared_layers",
                       f"Figure 3: {' and '.join(tasks)} against shared layers ({params.profile})", "score",
                       reference=reference, per_seed=per_seed, xlim=(-0.25, backbone_depth(params) + 0.25))


def paper_peak(depth: int) -> int:
    """The paper's BoolQ peak, about two-thirds of the layers shared (8 of 12), at this depth."""
    return shared_layers.peak(depth)


def shared_layers_lines(summary: pd.DataFrame, contrasts: pd.DataFrame, baseline: Mapping[str, float]) -> list[str]:
    """Figure 3's findings as Markdown list items: each task's best depth, spread and the depths where its seed
    CI clears the majority class (whether the task learned there at all), then each peak contrast."""
    lines = []
    for task, g in summary.groupby("task", sort=False):
        best = int(g.loc[g["mean"].idxmax(), "shared layers"])
        spread = g["mean"].max() - g["mean"].min()
        above = ""
        if task in baseline:
            clear = [str(int(d)) for d, low in zip(g["shared layers"], g["ci_low"]) if low > baseline[task]]
            where = f"at {', '.join(clear)} shared layers" if clear else "at no depth"
            above = f"; the majority class scores {baseline[task]:.1f}, and the seed CI lies above it {where}"
        lines.append(f"- **{task}**: best mean at {best} shared layer{'' if best == 1 else 's'} "
                     f"({g['mean'].max():.1f}); the means span {spread:.1f} points over the depths{above}.")
    for row in contrasts.to_dict("records"):
        ci = f"95% CI [{row['ci_low']:+.1f}, {row['ci_high']:+.1f}]" if row["n"] > 1 else "one seed, no CI"
        lines.append(f"- {row['task']}, {row['comparison']}: {row['mean']:+.1f} points ({ci}, {int(row['n'])} seeds).")
    return lines


def shared_layers_findings(params: RunParameters, summary: pd.DataFrame, per_seed: pd.DataFrame,
                           baseline: Mapping[str, float], tasks: Sequence[str], section: str = "04") -> pd.DataFrame:
    """Figure 3's findings (recorded and shown) and the peak contrasts table (shown). Returns the contrasts."""
    depth = backbone_depth(params)
    peak = paper_peak(depth)
    ran = {t: sorted(set(per_seed.loc[per_seed["task"] == t, "shared layers"])) for t in tasks}
    ready = [t for t in tasks if {0, peak, depth} <= set(ran[t])]  # a store being filled may lack them yet
    contrasts = pd.concat([peak_contrast(per_seed, t, peak, ends=(0, depth)) for t in ready], ignore_index=True) \
        if ready else pd.DataFrame()
    lines = shared_layers_lines(summary, contrasts, baseline)
    names = [f"Figure 3: {t}" for t in summary["task"].drop_duplicates()]
    names += [f"Figure 3: {r['task']} {r['comparison']}" for r in contrasts.to_dict("records")]
    for t in (t for t in tasks if t not in ready):
        names.append(f"Figure 3: {t} peak contrasts")
        lines.append(f"- {t}: the peak contrasts need {peak}, 0 and {depth} shared layers; "
                     f"not stored yet (stored: {', '.join(map(str, ran[t])) or 'none'}).")
    for name, line in zip(names, lines):
        record_finding(params.out_dir, section, name, line[2:].replace("**", ""))
    show_text("\n".join(lines))
    if ready:
        show_table(contrasts, params.out_dir, "figure3_peak_contrasts", decimals=2)
    return contrasts
