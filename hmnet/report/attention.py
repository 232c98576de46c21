"""Section 06, attention similarity: a positive and a negative task pair, their single-task and pair models,
and the per-head similarity of their attention maps."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from hmnet.report.figures import save_figure
from hmnet.report.parameters import RunParameters
from hmnet.report.relevance import load_relevance


PAPER_ATTENTION_PAIRS = {"positive": ("QQP", "RTE"), "negative": ("MRPC", "RTE")}


def choose_attention_pairs(params: RunParameters, anchor: str = "RTE") -> tuple[dict[str, tuple[str, str]], str]:
    """A positive and a negative task pair from this profile's model-based relevance (notebook 01).

    The anchor (RTE, as in the paper) is paired with the task of the largest and of the smallest mutual
    gain (Eq. 4 both ways). Falls back to the paper's pairs (QQP & RTE, MRPC & RTE) with a note when the
    relevance results are missing, do not hold the anchor, or do not separate the pairs.
    """
    m = load_relevance(params, "model")
    fallback = dict(PAPER_ATTENTION_PAIRS)
    if m is None:
        return fallback, ("Model-based relevance results of this profile are not available (run notebook 01 "
                          "first): using the paper's pairs QQP & RTE (positive) and MRPC & RTE (negative).")
    if anchor not in m.index or len(m) < 3:
        return fallback, (f"The relevance results do not hold {anchor} and two other tasks: using the paper's "
                          "pairs QQP & RTE (positive) and MRPC & RTE (negative).")
    mutual = (m.loc[anchor] + m[anchor]).drop(anchor).dropna()
    if mutual.empty or mutual.max() == mutual.min():
        return fallback, ("The relevance results do not separate the pairs (all gains equal): using the "
                          "paper's pairs QQP & RTE (positive) and MRPC & RTE (negative).")
    pos, neg = str(mutual.idxmax()), str(mutual.idxmin())
    return ({"positive": (pos, anchor), "negative": (neg, anchor)},
            f"Pairs chosen from this profile's Eq. 4 results: {pos} & {anchor} has the largest mutual gain "
            f"({mutual.max():.2f}), {neg} & {anchor} the smallest ({mutual.min():.2f}).")


def attention_runs(params: RunParameters, pairs: Mapping[str, tuple[str, str]], seed: int) -> dict:
    """Single-task models of each task and a multi-task model per pair, kept for the attention maps."""
    from hmnet.train import run_plan as _run_plan

    prof = params.experiment_profile(tasks=sorted({t for p in pairs.values() for t in p}))
    singles = {t: prof.run_config("single", tasks=(t,), seed=seed, name="single")
               for t in dict.fromkeys(t for p in pairs.values() for t in p)}
    joint = {k: prof.run_config("multi", tasks=tuple(p), seed=seed, name="pair") for k, p in pairs.items()}
    _run_plan([*singles.values(), *joint.values()], params.results_dir, progress=False, keep_model=True)
    return {"single": singles, "pair": joint}


def attention_tables(params: RunParameters, pairs: Mapping[str, tuple[str, str]], runs: Mapping,
                     probe_examples: int = 64) -> pd.DataFrame:
    """Per layer and head, the cosine similarity between each task's single-task model and the pair's
    model, on a fixed probe set of that task's first eval split. Tidy: pair, kind, task, layer, head, similarity."""
    from hmnet.analysis.attention import attention_similarity, probe_batches, use_eager_attention
    from hmnet.backbone import load_tokenizer
    from hmnet.data import TextEncoder, load_run_task
    from hmnet.tasks import get_task
    from hmnet.train import load_trained_model

    tokenizer = load_tokenizer(params.backbone)
    prof = params.experiment_profile()
    rows = []
    for kind, pair in pairs.items():
        joint = use_eager_attention(load_trained_model(runs["pair"][kind], params.results_dir))
        for task in pair:
            single = use_eager_attention(load_trained_model(runs["single"][task], params.results_dir))
            split = get_task(task).eval_splits[0]
            cfg = runs["single"][task]
            data = load_run_task(cfg, task, splits=None if cfg.carve_train else [split], max_examples=None,
                                 max_eval_examples=probe_examples)
            enc = TextEncoder(tokenizer, prof.max_length).encode(data)[split]
            sim = attention_similarity(single, joint, task, probe_batches(enc, 32, probe_examples))
            long = sim.stack().rename("similarity").reset_index()
            long.insert(0, "task", task)
            long.insert(0, "pair", " & ".join(pair))
            long.insert(0, "kind", kind)
            rows.append(long)
    return pd.concat(rows, ignore_index=True)


def attention_figure(tidy: pd.DataFrame, params: RunParameters, name: str = "attention_similarity"):
    import matplotlib.pyplot as plt

    from hmnet.analysis.attention import similarity_heatmap

    panels = list(tidy.groupby(["kind", "pair", "task"], sort=False))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    vmin = float(tidy["similarity"].min())
    for ax, ((kind, pair, task), g) in zip(axes[0], panels):
        m = g.pivot(index="layer", columns="head", values="similarity")
        similarity_heatmap(m, ax=ax, title=f"{kind}: {pair}\non {task}", vmin=vmin)
    fig.tight_layout()
    save_figure(fig, tidy, params.out_dir, name)
    return fig


def layer_similarity(tidy: pd.DataFrame) -> pd.DataFrame:
    """Mean similarity per layer for each (kind, pair, task) panel: the numbers the prose refers to."""
    return tidy.pivot_table(index="layer", columns=["kind", "task"], values="similarity", aggfunc="mean")


def pairs_table(pairs: Mapping[str, tuple[str, str]]) -> pd.DataFrame:
    """The chosen pairs as a table: one row per kind (positive, negative) with its task and the anchor."""
    return pd.DataFrame(pairs, index=["task", "anchor"]).T.rename_axis("pair")


def attention_lines(by_layer: pd.DataFrame) -> list[str]:
    """Appendix C's findings as Markdown list items, from :func:`layer_similarity`: per panel the mean
    similarity in the bottom half and in the top layer, then (with both kinds) the middle layers compared."""
    depth = by_layer.shape[0]
    bottom = by_layer.iloc[: max(1, depth // 2)].mean()
    top = by_layer.iloc[-1]
    lines = [f"- {kind} pair, probed on {task}: mean similarity {bottom[(kind, task)]:.3f} in the bottom half, "
             f"{top[(kind, task)]:.3f} in the top layer" for kind, task in by_layer.columns]
    if {"positive", "negative"} <= set(by_layer.columns.get_level_values(0)):
        middle = by_layer.iloc[depth // 4: max(depth // 4 + 1, 3 * depth // 4)]
        pos = middle["positive"].to_numpy().mean()
        neg = middle["negative"].to_numpy().mean()
        lines.append(f"- middle layers: positive pair {pos:.3f}, negative pair {neg:.3f} "
                     + ("(positive more similar, as in the paper)" if pos > neg
                        else "(not more similar for the positive pair)"))
    return lines


def attention_finding(params: RunParameters, by_layer: pd.DataFrame, section: str = "06") -> None:
    """:func:`attention_lines`, recorded as one finding and shown as a list."""
    from hmnet.report.figures import record_finding
    from hmnet.report.page import show_text

    lines = attention_lines(by_layer)
    record_finding(params.out_dir, section, "Appendix C attention similarity", " ".join(line[2:] for line in lines))
    show_text("\n".join(lines))
