"""Appendix C (page 06): a positive and a negative task pair chosen from Eq. 4's gains with an anchor task, their
single-task and pair runs trained keeping the models, and the per-head similarity of their attention maps
(kept as small text in the store, so that the page renders without the weights); and its ledger claim.

Its runs are Eq. 4's own where the pairs are among the relevance tasks (same keys): a run another section
stored without its model is trained again keeping it (trainer ``model``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from hmnet.analysis.attention import attention_similarity, probe_batches, use_eager_attention
from hmnet.analysis.verdicts import NO_REFERENCE, ClaimResult, compare, decide, held_against
from hmnet.data import TextEncoder, load_run_task
from hmnet.files import atomic_write
from hmnet.results import load_result, read_result_file, result_path
from hmnet.sections.base import SMOKE_RELEVANCE_TASKS, Evidence, Plan, Section, run, section_tasks, stored, tagged
from hmnet.sections.pairwise import configs as pairwise_configs
from hmnet.sections.parameters import ParameterError, RunParameters, check_tasks
from hmnet.tasks import get_task

NAME = "attention"
PAPER_ATTENTION_PAIRS = {"positive": ("QQP", "RTE"), "negative": ("MRPC", "RTE")}
SIMILARITY_TABLE = "attention_similarity.csv"  # under a build's figures/: the tidy table the ledger reads


def anchor_configs(params: RunParameters, anchor: str, tasks: Sequence[str]) -> list:
    """The Eq. 4 runs that the anchor's gains need: every task alone and every pair with the anchor, per seed
    (a subset of notebook 01's pairwise plan, with the same keys)."""
    return [c for c in pairwise_configs(params, tasks) if c.method == "single" or anchor in c.tasks]


def choose_attention_pairs(params: RunParameters, anchor: str = "RTE", relevance_tasks: Sequence[str] | None = None,
                           stored_runs: bool | None = None) -> tuple[dict[str, tuple[str, str]] | None, str]:
    """A positive and a negative task pair from this profile's Eq. (4) gains on `relevance_tasks` (None: the
    tasks notebook 01 uses by default): the anchor (RTE, as in the paper) with the task of the largest and of
    the smallest mutual gain (Eq. 4 both ways, mean over seeds).

    The gains come from the anchor's pairwise runs (:func:`anchor_configs`), trained where missing unless
    `stored_runs` (None: when rendering a store), in which case pairs are None with a note until all of them are stored.
    When the gains do not separate the pairs, the paper's pairs are used if the profile has their tasks.
    """
    from hmnet.analysis.relevance import model_relevance_from_results

    tasks = section_tasks(params, relevance_tasks, SMOKE_RELEVANCE_TASKS, "relevance_tasks", minimum=3)
    if anchor not in tasks:
        raise ParameterError(f"anchor {anchor!r} is not among the relevance tasks {list(tasks)}: the pairs are "
                             "chosen from its Eq. 4 gains")
    configs = anchor_configs(params, anchor, tasks)
    stored_runs = params.store_only if stored_runs is None else stored_runs
    results = (stored if stored_runs else run)(configs, params, "attention pairs (Eq. 4)")
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
        singles = {t: tagged(eq4.get(("single", frozenset((t,)))) or prof.run_config("single", tasks=(t,), seed=seed),
                             NAME, "single", "Single-task")
                   for p in pairs.values() for t in p}
        joint = {k: tagged(eq4.get(("multi", frozenset(p))) or prof.run_config("multi", tasks=tuple(p), seed=seed),
                           NAME, "pair", " & ".join(p), kind=k) for k, p in pairs.items()}
        out.append({"single": singles, "pair": joint})
    return out


def attention_runs(runs: Sequence[Mapping]) -> list:
    """Every run of :func:`attention_configs`' sets, each key once."""
    return list({c.key(): c for r in runs for c in [*r["single"].values(), *r["pair"].values()]}.values())


def stem(config) -> str:
    return config.result_name()[: -len(".json")]


def similarity_cache(results_dir: Path, single, joint, probe_examples: int) -> Path:
    """Where one panel's per-head similarities are kept: small text in the results store, named by the two
    runs' keys and the probe size, so that the page renders without the weights."""
    return Path(results_dir) / "attention" / f"{stem(single)}--{stem(joint)}--probe{probe_examples}.csv"


def model_saved(config, results_dir: Path) -> bool:
    return (Path(results_dir) / "models" / stem(config) / "model.safetensors").is_file()


def attention_stored(config, results_dir: Path) -> bool:
    """Whether a run's part of Appendix C is done: a similarity computed from it is kept, or its model is."""
    cached = Path(results_dir) / "attention"
    name = stem(config)
    return model_saved(config, results_dir) or any(cached.glob(f"{name}--*")) or any(cached.glob(f"*--{name}--*"))


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
    needed = list({stem(c): c for p in todo for c in p[2:]}.values())
    absent = [c for c in needed if not model_saved(c, params.results_dir)]
    if absent and params.store_only:
        raise ParameterError(f"store-only: no kept similarity or model for {[stem(c) for c in absent]}; train "
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
    from hmnet.backbone import load_tokenizer
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


MODELS_TABLE = "models.csv"


def _record_models(results_dir: Path, configs: Sequence) -> None:
    """Keep, beside the similarities, which model each came from: the stored run's own, or a retraining of
    its config (the stored record was written without a model), with the two averages."""
    path = Path(results_dir) / "attention" / MODELS_TABLE
    rows = {r["run"]: r for r in pd.read_csv(path).to_dict("records")} if path.is_file() else {}
    for c in configs:
        kept = load_result(c, results_dir)
        retrained = read_result_file(Path(results_dir) / "models" / stem(c) / c.result_name(), c)
        model = retrained or kept  # kept by the stored run itself when no retraining was needed
        rows[stem(c)] = {"run": stem(c), "variant": c.variant, "tasks": " & ".join(c.tasks), "seed": c.seed,
                          "model": "a retraining" if retrained else "the stored run",
                          "stored average": None if kept is None else round(kept.average, 4),
                          "model's average": None if model is None else round(model.average, 4)}
    atomic_write(path, pd.DataFrame(list(rows.values())).to_csv(index=False))


def models_table(params: RunParameters, runs: Sequence[Mapping]) -> pd.DataFrame | None:
    """Which model each similarity came from (the stored run, or a retraining of its config for the kept
    model) with the stored and the model's averages; None before any similarity is computed."""
    path = params.results_dir / "attention" / MODELS_TABLE
    if not path.is_file():
        return None
    wanted = {stem(c) for c in attention_runs(runs)}
    table = pd.read_csv(path)
    return table[table["run"].isin(wanted)].drop(columns="run").reset_index(drop=True)


def attention_claim(tidy: pd.DataFrame | None, reference: float = NO_REFERENCE) -> ClaimResult:
    """On the task both pairs share, the related (positive) pair's attention maps stay closer to the single-task
    model's than the unrelated (negative) pair's in the middle layers. One difference per seed (the middle
    layers' mean over heads, from :func:`attention_tables`' tidy table): heads of one model are not independent,
    so a single seed gives no interval."""
    claim = "A related pair's attention maps are more similar than an unrelated pair's (Appendix C)"
    paper = f"Figures 5-6: the positive pair more similar in the middle layers ({held_against(reference)})"
    unit = "similarity"
    if tidy is None or tidy.empty or not {"positive", "negative"} <= set(tidy["kind"]):
        return decide(claim, paper, "06", [], note="notebook 06's per-head similarities are not stored", unit=unit)
    shared = set(tidy.loc[tidy["kind"] == "positive", "task"]) & set(tidy.loc[tidy["kind"] == "negative", "task"])
    if not shared:
        return decide(claim, paper, "06", [], note="the two pairs share no task to compare on", unit=unit)
    anchor = sorted(shared)[0]
    on = tidy[tidy["task"] == anchor]
    layers = sorted(on["layer"].unique())
    middle = layers[len(layers) // 4: max(len(layers) // 4 + 1, 3 * len(layers) // 4)]
    per_seed = on[on["layer"].isin(middle)].pivot_table(index="seed", columns="kind", values="similarity",
                                                        aggfunc="mean")
    diffs = (per_seed["positive"] - per_seed["negative"]).dropna()
    each = ", ".join(f"seed {s} {d:+.3f}" for s, d in diffs.items())
    member = compare(f"positive - negative on {anchor}, middle layers", diffs.tolist(), reference)
    return decide(claim, paper, "06", [member], note=f"per seed: {each}", unit=unit)


class Attention(Section):
    name = NAME
    page = "06"
    title = "Appendix C: attention similarity"
    trainer = "model"

    def plan(self, params: RunParameters, extra: Mapping[str, Any]) -> Plan:
        """Appendix C's runs at every seed: none until every Eq. 4 run with the anchor is stored (its pairs are
        chosen from their gains)."""
        anchor = check_tasks([extra.get("anchor", "RTE")], name="anchor")[0]
        pairs, note = choose_attention_pairs(params, anchor, extra.get("relevance_tasks"), stored_runs=True)
        if pairs is None:
            return Plan(waiting=note)
        return Plan(attention_runs(attention_configs(params, pairs, params.seeds, extra.get("relevance_tasks"))))

    def is_stored(self, config, store: Path) -> bool:
        """Its record, and its kept model or the similarities computed from it."""
        results = Path(store) / "results"
        return (read_result_file(result_path(config, results), config) is not None
                and attention_stored(config, results))

    def claims(self, evidence: Evidence) -> list[ClaimResult]:
        csv = None if evidence.folder is None else Path(evidence.folder) / "figures" / SIMILARITY_TABLE
        tidy = pd.read_csv(csv) if csv is not None and csv.is_file() else None
        return [attention_claim(tidy, evidence.reference(NAME))]


SECTION = Attention()

__all__ = ["SECTION", "PAPER_ATTENTION_PAIRS", "SIMILARITY_TABLE", "anchor_configs", "choose_attention_pairs",
           "attention_configs", "attention_runs", "stem", "similarity_cache", "model_saved", "attention_stored",
           "attention_tables", "models_table", "attention_claim"]
