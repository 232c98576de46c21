"""Section 06, attention similarity: a positive and a negative task pair, their single-task and pair models,
and the per-head similarity of their attention maps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from hmnet.report.figures import save_figure
from hmnet.report.parameters import ParameterError, RunParameters
from hmnet.report.relevance import pairwise_configs
from hmnet.report.runs import SMOKE_RELEVANCE_TASKS, run_plan, section_tasks, stored_only, store_only


PAPER_ATTENTION_PAIRS = {"positive": ("QQP", "RTE"), "negative": ("MRPC", "RTE")}


def anchor_configs(params: RunParameters, anchor: str, tasks: Sequence[str]) -> list:
    """The Eq. 4 runs that the anchor's gains need: every task alone and every pair with the anchor, per seed
    (a subset of notebook 01's pairwise plan, with the same keys)."""
    return [c for c in pairwise_configs(params, tasks) if c.method == "single" or anchor in c.tasks]


def choose_attention_pairs(params: RunParameters, anchor: str = "RTE", relevance_tasks: Sequence[str] | None = None,
                           stored: bool | None = None) -> tuple[dict[str, tuple[str, str]] | None, str]:
    """A positive and a negative task pair from this profile's Eq. (4) gains on `relevance_tasks` (None: the
    tasks notebook 01 uses by default): the anchor (RTE, as in the paper) with the task of the largest and of
    the smallest mutual gain (Eq. 4 both ways, mean over seeds).

    The gains come from the anchor's pairwise runs (:func:`anchor_configs`), trained where missing unless
    `stored` (None: store-only mode), in which case pairs are None with a note until all of them are stored.
    When the gains do not separate the pairs, the paper's pairs are used if the profile has their tasks.
    """
    from hmnet.analysis.relevance import model_relevance_from_results

    tasks = section_tasks(params, relevance_tasks, SMOKE_RELEVANCE_TASKS, "relevance_tasks", minimum=3)
    if anchor not in tasks:
        raise ParameterError(f"anchor {anchor!r} is not among the relevance tasks {list(tasks)}: the pairs are "
                             "chosen from its Eq. 4 gains")
    configs = anchor_configs(params, anchor, tasks)
    stored = store_only() if stored is None else stored
    results = (stored_only if stored else run_plan)(configs, params, "attention pairs (Eq. 4)")
    if len(results) < len(configs):
        return None, (f"The pairs are chosen from Eq. 4's gains with {anchor}, and {len(results)} of the "
                      f"{len(configs)} runs they need are stored: this section waits for them.")
    m = model_relevance_from_results(results)
    mutual = (m.loc[anchor] + m[anchor]).drop(anchor).dropna()
    if mutual.empty or mutual.max() == mutual.min():
        missing = sorted({t for p in PAPER_ATTENTION_PAIRS.values() for t in p} - set(params.tasks))
        if missing:
            raise ParameterError(f"the Eq. 4 gains with {anchor} do not separate a positive from a negative pair, "
                                 f"and the paper's pairs need {missing}, which this profile lacks")
        return dict(PAPER_ATTENTION_PAIRS), ("The Eq. 4 gains do not separate the pairs (all equal): using the "
                                             "paper's pairs QQP & RTE (positive) and MRPC & RTE (negative).")
    pos, neg = str(mutual.idxmax()), str(mutual.idxmin())
    n_seeds = len({c.seed for c in configs})
    return ({"positive": (pos, anchor), "negative": (neg, anchor)},
            f"Pairs chosen from this profile's Eq. 4 results ({n_seeds} seed(s), {len(tasks)} tasks): {pos} & "
            f"{anchor} has the largest mutual gain ({mutual.max():.2f}), {neg} & {anchor} the smallest "
            f"({mutual.min():.2f}).")


def attention_configs(params: RunParameters, pairs: Mapping[str, tuple[str, str]], seeds: Sequence[int],
                      relevance_tasks: Sequence[str] | None = None) -> list[dict]:
    """The runs Appendix C compares, one set per seed in `seeds`: each task's single-task run and each pair's
    multi-task run. Where a pair is among `relevance_tasks` these are Eq. 4's own runs (same keys, so a
    campaign trains each once). The paper compares one model per pair; several seeds let the verdict rest on
    seeds. ``[{"single": {task: config}, "pair": {kind: config}}, ...]``, in the order of `seeds`."""
    tasks = section_tasks(params, relevance_tasks, SMOKE_RELEVANCE_TASKS, "relevance_tasks", minimum=2)
    prof = params.experiment_profile()
    eq4_runs = pairwise_configs(params, tasks)
    out = []
    for seed in dict.fromkeys(seeds):
        eq4 = {(c.method, frozenset(c.tasks)): c for c in eq4_runs if c.seed == seed}
        singles = {t: eq4.get(("single", frozenset((t,))))
                   or prof.run_config("single", tasks=(t,), seed=seed, name="single")
                   for p in pairs.values() for t in p}
        joint = {k: eq4.get(("multi", frozenset(p)))
                 or prof.run_config("multi", tasks=tuple(p), seed=seed, name="pair") for k, p in pairs.items()}
        out.append({"single": singles, "pair": joint})
    return out


def attention_runs(runs: Sequence[Mapping]) -> list:
    """Every run of :func:`attention_configs`' sets, each key once."""
    return list({c.key(): c for r in runs for c in [*r["single"].values(), *r["pair"].values()]}.values())


def _stem(config) -> str:
    return config.result_name()[: -len(".json")]


def similarity_cache(results_dir: Path, single, joint, probe_examples: int) -> Path:
    """Where one panel's per-head similarities are kept: small text in the results store, named by the two
    runs' keys and the probe size, so that the page renders without the weights."""
    return Path(results_dir) / "attention" / f"{_stem(single)}--{_stem(joint)}--probe{probe_examples}.csv"


def model_saved(config, results_dir: Path) -> bool:
    return (Path(results_dir) / "models" / _stem(config) / "model.safetensors").is_file()


def attention_stored(config, results_dir: Path) -> bool:
    """Whether a run's part of Appendix C is done: a similarity computed from it is kept, or its model is."""
    cached = Path(results_dir) / "attention"
    stem = _stem(config)
    return model_saved(config, results_dir) or any(cached.glob(f"{stem}--*")) or any(cached.glob(f"*--{stem}--*"))


def attention_tables(params: RunParameters, runs: Sequence[Mapping], probe_examples: int = 64) -> pd.DataFrame:
    """Per seed, layer and head, the cosine similarity between each task's single-task model and the pair's
    model (of :func:`attention_configs`' sets), on a fixed probe set of that task's first eval split. Tidy:
    kind, pair, task, seed, layer, head, similarity.

    Each panel is read from its :func:`similarity_cache` when kept; otherwise computed from the runs' models,
    which are trained (``keep_model``) where missing unless in store-only mode, and then kept.
    """
    panels = [(kind, task, r["single"][task], joint) for r in runs for kind, joint in r["pair"].items()
              for task in joint.tasks]
    todo = [p for p in panels if not similarity_cache(params.results_dir, p[2], p[3], probe_examples).is_file()]
    needed = list({_stem(c): c for p in todo for c in p[2:]}.values())
    absent = [c for c in needed if not model_saved(c, params.results_dir)]
    if absent and store_only():
        raise ParameterError(f"store-only: no kept similarity or model for {[_stem(c) for c in absent]}; train "
                             "them with `hmnet campaign run --sections attention`")
    if absent:
        from hmnet.train import run_plan as _run_plan

        _run_plan(absent, params.results_dir, progress=False, keep_model=True)
    for kind, task, single, joint in todo:
        _compute_panel(params, kind, task, single, joint, probe_examples)
    if todo:
        _record_models(params.results_dir, needed)
    frames = [pd.read_csv(similarity_cache(params.results_dir, s, j, probe_examples)) for _, _, s, j in panels]
    for frame, (_, _, single, _) in zip(frames, panels):
        frame.insert(3, "seed", single.seed)  # the cache is named by the runs' keys, which hold the seed
    return pd.concat(frames, ignore_index=True)


def _compute_panel(params: RunParameters, kind: str, task: str, single, joint, probe_examples: int) -> None:
    """One panel's similarities from the two kept models, written atomically into its cache."""
    from hmnet.analysis.attention import attention_similarity, probe_batches, use_eager_attention
    from hmnet.backbone import load_tokenizer
    from hmnet.data import TextEncoder, load_run_task
    from hmnet.files import atomic_write
    from hmnet.tasks import get_task
    from hmnet.train import load_trained_model

    split = get_task(task).eval_splits[0]
    data = load_run_task(single, task, splits=None if single.carve_train else [split], max_examples=None,
                         max_eval_examples=probe_examples)
    enc = TextEncoder(load_tokenizer(params.backbone), single.max_length).encode(data)[split]
    a = use_eager_attention(load_trained_model(single, params.results_dir))
    b = use_eager_attention(load_trained_model(joint, params.results_dir))
    long = attention_similarity(a, b, task, probe_batches(enc, 32, probe_examples)).stack()
    long = long.rename("similarity").reset_index()
    long.insert(0, "task", task)
    long.insert(0, "pair", " & ".join(joint.tasks))
    long.insert(0, "kind", kind)
    atomic_write(similarity_cache(params.results_dir, single, joint, probe_examples), long.to_csv(index=False))


_MODELS = "models.csv"


def _record_models(results_dir: Path, configs: Sequence) -> None:
    """Keep, beside the similarities, which model each came from: the stored run's own, or a retraining of
    its config (the stored record was written without a model), with the two averages."""
    from hmnet.files import atomic_write
    from hmnet.results import load_result, read_result_file

    path = Path(results_dir) / "attention" / _MODELS
    rows = {r["run"]: r for r in pd.read_csv(path).to_dict("records")} if path.is_file() else {}
    for c in configs:
        stored = load_result(c, results_dir)
        retrained = read_result_file(Path(results_dir) / "models" / _stem(c) / c.result_name(), c)
        model = retrained or stored  # kept by the stored run itself when no retraining was needed
        rows[_stem(c)] = {"run": _stem(c), "variant": c.variant, "tasks": " & ".join(c.tasks), "seed": c.seed,
                          "model": "a retraining" if retrained else "the stored run",
                          "stored average": None if stored is None else round(stored.average, 4),
                          "model's average": None if model is None else round(model.average, 4)}
    atomic_write(path, pd.DataFrame(list(rows.values())).to_csv(index=False))


def models_table(params: RunParameters, runs: Sequence[Mapping]) -> pd.DataFrame | None:
    """Which model each similarity came from (the stored run, or a retraining of its config for the kept
    model) with the stored and the model's averages; None before any similarity is computed."""
    path = params.results_dir / "attention" / _MODELS
    if not path.is_file():
        return None
    wanted = {_stem(c) for c in attention_runs(runs)}
    table = pd.read_csv(path)
    return table[table["run"].isin(wanted)].drop(columns="run").reset_index(drop=True)


def show_attention_models(params: RunParameters, runs: Sequence[Mapping]) -> None:
    """:func:`models_table` under a sentence saying what it checks (nothing when no similarity is computed)."""
    from hmnet.report.page import show_text
    from hmnet.report.tables import show_table

    table = models_table(params, runs)
    if table is None:
        return
    show_text("The models compared: a run stored without its model was trained again from the same config for "
              "the kept model; its average beside the stored one says whether it is the same run.")
    show_table(table, params.out_dir, "attention_models")


def attention_figure(tidy: pd.DataFrame, params: RunParameters, name: str = "attention_similarity"):
    import matplotlib.pyplot as plt

    from hmnet.analysis.attention import similarity_heatmap

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
    from hmnet.report.figures import record_finding
    from hmnet.report.page import show_text

    lines = attention_lines(by_layer)
    record_finding(params.out_dir, section, "Appendix C attention similarity", "; ".join(line[2:] for line in lines))
    show_text("\n".join(lines))
