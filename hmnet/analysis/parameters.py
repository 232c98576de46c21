"""Table 1's parameter rows beside our counts (the counting itself is :mod:`hmnet.models.counting`).

Counts come from the modules a model really holds: ``model.parameters()`` for the overall count and
``model.path_parameters(task)`` (the modules on a task's path, each parameter once) for the activated
count; :func:`traced_path_parameters` cross-checks the latter with a real forward and backward pass.
For bert-base size the models are instantiated on PyTorch's ``meta`` device: every module and parameter
exists with its true shape, but no memory is allocated, so all of Table 1's columns (13 encoders for
single-task included) are counted exactly in a few seconds.

:func:`parameter_table` sets our counts beside Table 1's "# Params Activated" and "# Overall Params" rows
and explains every mismatch with arithmetic from the measured module sizes. The paper's figures and the
Appendix A groupings come from :mod:`hmnet.paper`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pandas as pd

from hmnet.models import SKILLS, HMNet, SkillNetModel, TaskModel, build_model
from hmnet.models.counting import ParameterCount, count_model, meta_encoder, overall_parameters
from hmnet.paper import APPENDIX_A_CLUSTERS, HMNET_COLUMN_GROUPING, TABLE1_METHODS, table1_summary
from hmnet.tasks import TASK_NAMES, manual_groups

log = logging.getLogger(__name__)

# Table 1's parameter rows as printed: (activated, overall); the paper's numbers live in hmnet.paper.
PAPER_PARAMS: dict[str, tuple[str, str]] = {
    m: (table1_summary().loc["# Params Activated", m], table1_summary().loc["# Overall Params", m])
    for m in TABLE1_METHODS
}
APPENDIX_A_GROUPS = APPENDIX_A_CLUSTERS
HMNET_COLUMNS = HMNET_COLUMN_GROUPING
METHOD_OF_COLUMN: dict[str, str] = {"Single-task": "single", "Multi-task": "multi", "SkillNet": "skillnet",
                                    "HMNet_d": "hmnet", "HMNet_md": "hmnet", "HMNet_m": "hmnet"}


def grouping_clusters(grouping: str) -> dict[str, tuple[str, ...]]:
    """Clusters of a named grouping: "data" and "model" (Appendix A) or "manual" (Section 4.1)."""
    if grouping == "manual":
        return {c: tuple(ts) for c, ts in manual_groups().items()}
    if grouping not in APPENDIX_A_GROUPS:
        raise ValueError(f"grouping {grouping!r} is unknown; known: data, model, manual")
    return dict(APPENDIX_A_GROUPS[grouping])


# ---------------------------------------------------------------------------------------------------------
# Table 1 at bert-base size, on the meta device


def table1_model(column: str, encoder, split: tuple[int, int, int] = (8, 2, 2),
                 tasks: Iterable[str] = TASK_NAMES) -> TaskModel:
    """The model of one Table 1 column, built from ``encoder`` (any device, meta included)."""
    if column not in METHOD_OF_COLUMN:
        raise ValueError(f"column {column!r} is not one of Table 1's: {', '.join(TABLE1_METHODS)}")
    method = METHOD_OF_COLUMN[column]
    tasks = tuple(tasks)
    if method != "hmnet":
        return build_model(method, encoder, tasks)
    clusters = {c: tuple(t for t in ts if t in tasks) for c, ts in grouping_clusters(HMNET_COLUMNS[column]).items()}
    return build_model("hmnet", encoder, tasks, clusters={c: ts for c, ts in clusters.items() if ts},
                       split=tuple(split))


def table1_counts(backbone: str = "random:bert-base", split: tuple[int, int, int] = (8, 2, 2)
                  ) -> dict[str, ParameterCount]:
    """Activated and overall parameters of every Table 1 column, counted from meta-device models."""
    encoder = meta_encoder(backbone)
    return {column: count_model(table1_model(column, encoder, split)) for column in TABLE1_METHODS}


def _m(n: float, digits: int = 1) -> str:
    return f"{n / 1e6:.{digits}f}M"


def _m_range(count: ParameterCount) -> str:
    lo, hi = _m(count.activated_min), _m(count.activated_max)
    return lo if lo == hi else f"{lo}-{hi}"


@dataclass(frozen=True)
class Components:
    """Sizes of the building blocks, measured from meta-device modules."""

    embeddings: int
    layer: int
    attention: int  # attention block of a layer (Q, K, V, output dense and its LayerNorm)
    skill: int  # one skill FFN: intermediate dense + output dense
    pooler: int  # BERT's pooler (dense on [CLS]), which our heads do not use
    depth: int
    skills: int


def components(backbone: str = "random:bert-base") -> Components:
    encoder = meta_encoder(backbone)
    with_pooler = meta_encoder(backbone, pooler=True)
    multi = HMNet.multi_task(encoder, ("MNLI",))
    skillnet = build_model("skillnet", encoder, ("MNLI",))
    assert isinstance(skillnet, SkillNetModel)
    return Components(
        embeddings=overall_parameters(multi.embeddings), layer=overall_parameters(multi.shared[0]),
        attention=overall_parameters(skillnet.layers[0].attention),
        skill=overall_parameters(skillnet.layers[0].skills["s1"]),
        pooler=overall_parameters(with_pooler.pooler), depth=encoder.config.num_hidden_layers,
        skills=len(skillnet.config.skills))


def _M(n: float) -> str:
    return _m(n, 2)


def _paper_millions(text: str) -> float:
    return float(text.strip(">M")) * 1e6


def _notes(counts: Mapping[str, ParameterCount], c: Components, split: tuple[int, int, int],
           clusters: Mapping[str, int]) -> dict[str, str]:
    """One sentence or three per Table 1 column: what matches, and the arithmetic where it does not."""
    n_tasks = len(TASK_NAMES)
    encoder = c.embeddings + c.depth * c.layer
    pooler_note = (f"The paper's 110M is BERT-base with its pooler ({_M(encoder + c.pooler)}); our heads read "
                   "the encoder's last hidden states directly (the [CLS] state as in Section 4.3, or the mean over "
                   f"tokens where a build pools by mean: see its banner), so the pooler ({_M(c.pooler)}) is on no "
                   "path.")
    single = counts["Single-task"]
    notes = {
        "Single-task": (f"Activated matches: one encoder ({_M(encoder)}) + one head. Overall: {n_tasks} "
                        f"independent fine-tuned encoders = {n_tasks} x {_M(encoder)} + heads = "
                        f"{_M(single.overall)}; the paper's 110M counts one model, and {n_tasks} fine-tuned "
                        f"models cannot fit in 110M. " + pooler_note),
        "Multi-task": f"Matches: one shared encoder ({_M(encoder)}) + {n_tasks} small heads. " + pooler_note,
    }
    sk = counts["SkillNet"]
    layer_norm = c.layer - c.attention - c.skill
    skill_layer = c.attention + c.skills * c.skill + layer_norm
    two_skills = c.embeddings + c.depth * (c.attention + 2 * c.skill + layer_norm)
    notes["SkillNet"] = (
        f"Overall matches: embeddings {_M(c.embeddings)} + {c.depth} x (attention {_M(c.attention)} + "
        f"{c.skills} skill FFNs x {_M(c.skill)} + LayerNorm) = {_M(c.embeddings + c.depth * skill_layer)}, "
        f"+ heads = {_M(sk.overall)} (paper 450M). Activated: every task uses 3 skills (assumed map, "
        f"hmnet.models): {_M(sk.activated_min)}, + pooler = {_M(sk.activated_min + c.pooler)}, the paper's "
        f"own '223M' of Section 4.2. The printed '>166M' is the 2-skill lower bound: {_M(two_skills)} + "
        f"pooler = {_M(two_skills + c.pooler)}.")
    x, y, z = split
    paper_step = _paper_millions(PAPER_PARAMS["HMNet_md"][1]) - _paper_millions(PAPER_PARAMS["HMNet_d"][1])
    for column in ("HMNet_d", "HMNet_md", "HMNet_m"):
        k = clusters[column]
        layers = x + k * y + n_tasks * z
        implied = (_paper_millions(PAPER_PARAMS[column][1]) - c.embeddings) / c.layer
        notes[column] = (
            f"Activated matches (embeddings + one layer per depth + head, as Multi-task). Overall: embeddings "
            f"{_M(c.embeddings)} + ({x} shared + {k} clusters x {y} + {n_tasks} tasks x {z} = {layers} "
            f"layers) x {_M(c.layer)} + heads = {_M(counts[column].overall)}, not {PAPER_PARAMS[column][1]}. "
            f"The paper's figure equals the embeddings + {implied:.1f} layers (no whole number), and its "
            f"HMNet_md (4 clusters) - HMNet_d (3 clusters) = {_m(paper_step, 0)}, while one {y}-layer cluster "
            f"stack holds {_M(y * c.layer)}.")
    return notes


def parameter_table(backbone: str = "random:bert-base", split: tuple[int, int, int] = (8, 2, 2)) -> pd.DataFrame:
    """Our parameter counts beside Table 1's, one row per Table 1 column, with the arithmetic of mismatches.

    Columns: grouping, clusters, activated/overall as printed by the paper and ours (in millions, the
    activated count as a min-max range over the 13 tasks), the exact integers, and a note.
    """
    split = tuple(split)  # type: ignore[assignment]
    encoder = meta_encoder(backbone)
    models = {column: table1_model(column, encoder, split) for column in TABLE1_METHODS}
    counts = {column: count_model(model) for column, model in models.items()}
    n_clusters = {column: len(m.config.clusters) for column, m in models.items() if isinstance(m, HMNet)}
    notes = _notes(counts, components(backbone), split, n_clusters)
    rows = []
    for column in TABLE1_METHODS:
        count = counts[column]
        grouping = HMNET_COLUMNS.get(column, "")
        rows.append({
            "method": column,
            "grouping": grouping or ("-" if column != "SkillNet" else f"{len(SKILLS)} skills"),
            "clusters": n_clusters.get(column, 0) or "-",
            "activated (paper)": PAPER_PARAMS[column][0],
            "activated (ours)": _m_range(count),
            "overall (paper)": PAPER_PARAMS[column][1],
            "overall (ours)": _m(count.overall),
            "activated min": count.activated_min,
            "activated max": count.activated_max,
            "overall": count.overall,
            "note": notes[column],
        })
    return pd.DataFrame(rows).set_index("method")


def activated_by_task(backbone: str = "random:bert-base", split: tuple[int, int, int] = (8, 2, 2)
                      ) -> pd.DataFrame:
    """Activated parameters per task (rows, paper order) and Table 1 column."""
    counts = table1_counts(backbone, split)
    return pd.DataFrame({column: counts[column].activated for column in TABLE1_METHODS}).loc[list(TASK_NAMES)]
