"""Appendix C's page (06) as a reader sees it: the chosen pairs, the per-head similarity of their attention maps
as heatmaps and per layer, which models they came from, and the finding. The runs and the similarities are
:mod:`hmnet.sections.attention`'s."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from hmnet.analysis.attention import similarity_heatmap
from hmnet.report.figures import record_finding, save_figure
from hmnet.report.page import show_text
from hmnet.report.tables import show_table
from hmnet.sections.attention import models_table
from hmnet.sections.parameters import RunParameters


def show_attention_models(params: RunParameters, runs: Sequence[Mapping]) -> None:
    """:func:`models_table` under a sentence saying what it checks (nothing when no similarity is computed)."""
    table = models_table(params, runs)
    if table is None:
        return
    show_text("The models compared: a run stored without its model was trained again from the same config for "
              "the kept model; its average beside the stored one says whether it is the same run.")
    show_table(table, params.out_dir, "attention_models")


def attention_figure(tidy: pd.DataFrame, params: RunParameters, name: str = "attention_similarity"):
    import matplotlib.pyplot as plt

    panels = [(key, g.pivot_table(index="layer", columns="head", values="similarity", aggfunc="mean"),
               g["seed"].nunique())
              for key, g in tidy.groupby(["kind", "pair", "task"], sort=False)]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    vmin = min(float(m.min().min()) for _, m, _ in panels)
    for ax, ((kind, pair, task), m, n) in zip(axes[0], panels):
        mean = f", mean of {n} seeds" if n > 1 else ""
        similarity_heatmap(m, ax=ax, title=f"{kind}: {pair}\non {task}{mean}", vmin=vmin)
    fig.tight_layout()
    save_figure(fig, tidy, params.out_dir, name)
    return fig


def layer_similarity(tidy: pd.DataFrame) -> pd.DataFrame:
    """Mean similarity per layer for each (kind, task) panel, over heads and seeds: the numbers the prose
    refers to."""
    return tidy.pivot_table(index="layer", columns=["kind", "task"], values="similarity", aggfunc="mean")


def pairs_table(pairs: Mapping[str, tuple[str, str]]) -> pd.DataFrame:
    """The chosen pairs as a table: one row per kind (positive, negative) with its task and the anchor."""
    return pd.DataFrame(pairs, index=["task", "anchor"]).T.rename_axis("pair")


def attention_lines(by_layer: pd.DataFrame) -> list[str]:
    """Appendix C's findings as Markdown list items, from :func:`layer_similarity`: per panel the mean
    similarity in the bottom half and in the top layer, then (with both kinds) the middle layers compared on
    each task both pairs hold (the anchor: like for like, as the claims ledger compares them), and averaged
    over each pair's two tasks (probed on different tasks, so only indicative)."""
    depth = by_layer.shape[0]
    bottom = by_layer.iloc[: max(1, depth // 2)].mean()
    top = by_layer.iloc[-1]
    lines = [f"- {kind} pair, probed on {task}: mean similarity {bottom[(kind, task)]:.3f} in the bottom half, "
             f"{top[(kind, task)]:.3f} in the top layer" for kind, task in by_layer.columns]
    if not {"positive", "negative"} <= set(by_layer.columns.get_level_values(0)):
        return lines
    middle = by_layer.iloc[depth // 4: max(depth // 4 + 1, 3 * depth // 4)]

    def compare(where: str, pos: float, neg: float) -> str:
        verdict = "positive more similar, as in the paper" if pos > neg else "not more similar for the positive pair"
        return f"- middle layers, {where}: positive pair {pos:.3f}, negative pair {neg:.3f} ({verdict})"

    for task in sorted(set(middle["positive"].columns) & set(middle["negative"].columns)):
        lines.append(compare(f"probed on {task} (in both pairs)", middle[("positive", task)].mean(),
                             middle[("negative", task)].mean()))
    lines.append(compare("averaged over each pair's tasks", middle["positive"].to_numpy().mean(),
                         middle["negative"].to_numpy().mean()))
    return lines


def attention_finding(params: RunParameters, by_layer: pd.DataFrame, section: str = "06") -> None:
    """:func:`attention_lines`, recorded as one finding and shown as a list."""
    lines = attention_lines(by_layer)
    record_finding(params.out_dir, section, "Appendix C attention similarity", "; ".join(line[2:] for line in lines))
    show_text("\n".join(lines))
