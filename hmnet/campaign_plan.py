"""The campaign's plan: every run a profile's book needs, by section, in priority order.

The plan is built by the same ``hmnet.report`` helpers the notebooks call, so the runs' keys agree with the
notebooks' by construction. A run is pending when its record is absent from the store (:func:`is_stored`);
:mod:`hmnet.campaign` runs the pending ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hmnet.experiments import ConfigError, RunConfig
from hmnet.protocol import get_protocol
from hmnet.provenance import REPO
from hmnet.results import read_result_file, result_path

STORE_ROOT = REPO / "reference"
# Sections in the order the campaign takes them, with the notebook that shows each: Table 1 first (its
# single-task runs are also Eq. 4's denominators), its single-task cross-check with the Hugging Face Trainer
# (hmnet.hf_check), Figure 3 (with Table 1, what the reference build must hold complete), the one-run affinity
# estimate, Table 1's extra rows (HMNet with our grouping of all the tasks from that estimate, planned once
# notebook 02's output in the store holds it), the pairwise gains the estimate is compared with, Figure 4, and
# Appendix C's models (its pairs are chosen from Eq. 4's gains, so it is planned once the pairwise runs with
# its anchor are stored).
SECTION_ORDER = ("table1", "hf_check", "shared_layers", "affinity", "table1_ours", "pairwise", "layer_grid",
                 "attention")
SECTION_NOTEBOOK = {"table1": "03", "hf_check": "03", "pairwise": "01", "affinity": "01", "shared_layers": "04",
                    "layer_grid": "05", "attention": "06", "table1_ours": "03"}
# Section -> why it plans no runs yet, as the last campaign_plan found (Appendix C waits for Eq. 4's runs,
# Table 1's extra rows for our grouping of the affinity estimate).
WAITING: dict[str, str] = {}
# Eq. (4) on six tasks spanning the three Appendix-A groups.
PAIRWISE_TASKS = ("MNLI", "RTE", "SST-2", "IMDB", "MRPC", "BoolQ")
# Figure 4 within the budget: the model-based grouping (the paper's best, and its claim that HMNet_m beats
# multi-task at any split) at every split of the 6-layer grid and every seed, with the multi-task baseline.
# (A first pass ran seeds 1-2 only where the paper's claim of a peak sits, {3, 2, 1}, {4, 1, 1}, {5, 1, 0}; at
# seed 0 all seven splits fell within 1.1 points of each other, so two of the best few, {2, 2, 2} and
# {4, 2, 0}, had no interval: every split now runs every seed.) Five tasks spanning the Appendix-A groups;
# IMDB, the slowest task (long reviews), is left out.
GRID_TASKS = ("MNLI", "RTE", "SST-2", "MRPC", "BoolQ")
# The one-run affinity estimate measures every 50 steps on the local profile: with 12 tasks one measurement
# is 12 forward-backward and 156 forward passes on unsorted (so longer-padded) batches, measured at about 85
# training steps' worth (campaign_projection.MEASUREMENT_STEPS), so every 50 steps adds about 1.7x the run's
# training (every 10, the default, would add about 8.5x).
AFFINITY_EVERY = 50
# Figure 3 needs BoolQ to learn: at the profile's 1,000 rows its single-task runs stay under the majority
# class (60.8 against 64.2, 3 seeds), so the pair trains on up to 3,000 rows a task, which is all 2,616 rows
# of BoolQ's carved train split (its only labelled file is the official dev set) and 3,000 of MNLI. A longer
# max length does not rescue BoolQ alone at that size: at 256 tokens (5% of its rows truncated, against 48% at
# the profile's 128) a single-task run on all 2,616 rows scored 63.5 against the 64.2 majority (seed 0, 16 min
# on one thread), so the pair keeps the profile's 128 and Figure 3 asks whether MNLI's layers lift BoolQ.
SHARED_LAYERS_ROWS = 3000
# The notebook parameters of a reference build, per notebook (beyond profile, data_dir and out_dir), for a
# profile without registered protocols (the smoke profile's campaigns): the local profile's v1 ones. A profile
# with protocols takes its protocol's (hmnet.protocol). The campaign plans exactly the runs these notebooks ask
# for, so the keys agree by construction.
REFERENCE_PARAMETERS: dict[str, dict[str, Any]] = get_protocol("local", "v1").notebook_parameters


def reference_parameters(profile: str, notebook: str, protocol: str | None = None) -> dict[str, Any]:
    """A notebook's parameters in a reference build of `profile` under `protocol` (None: the newest), with the
    protocol named among them so that the notebook builds the same profile."""
    registered = get_protocol(profile, protocol)
    if registered is None:
        return json.loads(json.dumps(REFERENCE_PARAMETERS.get(notebook, {})))
    return {**registered.parameters(notebook), "protocol": registered.name}


def plan_sections(profile: str, protocol: str | None = None) -> tuple[str, ...]:
    """The sections a reference build plans, in priority order: its protocol's, else every section."""
    registered = get_protocol(profile, protocol)
    return registered.sections if registered is not None else SECTION_ORDER


def store_dir(profile: str, protocol: str | None = None) -> Path:
    """The results store of a profile under `protocol` (None: its newest): ``reference/<store>`` as the
    protocol names it, ``reference/<profile>`` for a profile without protocols."""
    registered = get_protocol(profile, protocol)
    return STORE_ROOT / (registered.store if registered is not None else profile)


@dataclass(frozen=True)
class PlannedRun:
    section: str
    config: RunConfig


def notebook_parameters(profile: str, notebook: str, data_dir: str | None, out_dir: str | Path,
                        overrides: Mapping[str, Any] | None = None, protocol: str | None = None):
    """The checked parameters (``hmnet.report.RunParameters``) a notebook of the reference build runs with
    (under `protocol`: :func:`reference_parameters`), and its section-specific extras. `overrides` (notebook
    parameters such as ``tasks`` or ``seeds``) apply to every notebook, as ``hmnet reproduce -p NAME VALUE``
    does."""
    from hmnet import report

    extra = {**reference_parameters(profile, notebook, protocol), **(overrides or {})}
    common = {k: extra.pop(k) for k in list(extra) if k in (*report.NOTEBOOK_FIELDS, "protocol") and k != "data_dir"}
    P = report.check_parameters(profile=profile, data_dir=data_dir, out_dir=str(out_dir), **common)
    return P, extra


def section_plan(section: str, profile: str, data_dir: str | None, out_dir: str | Path,
                 overrides: Mapping[str, Any] | None = None, protocol: str | None = None) -> list[RunConfig]:
    """The runs of one section, built by the same ``hmnet.report`` helpers the notebook calls."""
    from hmnet import report

    if section not in SECTION_ORDER:
        raise ConfigError(f"section {section!r} is unknown; known: {', '.join(SECTION_ORDER)}")
    P, extra = notebook_parameters(profile, SECTION_NOTEBOOK[section], data_dir, out_dir, overrides, protocol)
    if section == "hf_check":
        from hmnet.hf_check import HF_TASKS

        plan = [c for c in section_plan("table1", profile, data_dir, out_dir, overrides, protocol)
                if c.method == "single" and c.tasks[0] in HF_TASKS]
    elif section == "table1":
        groupings, _ = report.load_groupings(P, "paper")
        plan = report.table1_configs(P, groupings, P.seeds, extra.get("skillnet_seeds"))
    elif section == "pairwise":
        tasks = report.section_tasks(P, extra.get("relevance_tasks"), report.SMOKE_RELEVANCE_TASKS,
                                     "relevance_tasks")
        plan = report.pairwise_configs(P, tasks)
    elif section == "affinity":
        tasks = report.section_tasks(P, extra.get("affinity_tasks"), report.SMOKE_RELEVANCE_TASKS, "affinity_tasks")
        plan = report.lookahead_configs(P, tasks, extra.get("affinity_seeds"), extra.get("affinity_every"))
    elif section == "attention":
        plan = _attention_plan(P, extra)
    elif section == "table1_ours":
        ours, note = report.extra_groupings(P, extra.get("extra_groupings"))
        if extra.get("extra_groupings") and not ours:
            WAITING[section] = f"{note} The one-run affinity estimate's grouping comes from notebooks 01 and 02."
        plan = [c for c in report.table1_configs(P, ours, P.seeds) if c.method == "hmnet"] if ours else []
    elif section == "shared_layers":
        plan = report.shared_layers_configs(P, report.check_tasks(extra["pair"], name="pair", minimum=2), P.seeds,
                                            extra.get("shared_points"))
    else:
        depth = report.backbone_depth(P)
        tasks = report.section_tasks(P, extra.get("grid_tasks"), ("RTE", "SST-2", "MRPC", "BoolQ"), "grid_tasks")
        groupings, _ = report.load_groupings(P, "paper")
        groupings = report.select_groupings(groupings, extra.get("grid_groupings"))
        splits = report.grid_splits(P, extra.get("grid"))
        ci = report.check_ci_splits(extra.get("ci_splits"), splits, depth)
        grid, baseline = report.layer_grid_configs(P, tasks, groupings, splits, P.seeds, ci)
        plan = grid + baseline
    order = {s: i for i, s in enumerate(P.seeds)}  # seeds outermost: a complete seed comes first
    return sorted(plan, key=lambda c: order.get(c.seed, len(order)))


def _attention_plan(P, extra: Mapping[str, Any]) -> list[RunConfig]:
    """Appendix C's runs at every seed, to be trained with their models kept: the pairs chosen from the stored
    Eq. 4 runs with the anchor (none until all of them are stored; WAITING says so)."""
    from hmnet import report

    anchor = report.check_tasks([extra.get("anchor", "RTE")], name="anchor")[0]
    pairs, note = report.choose_attention_pairs(P, anchor, extra.get("relevance_tasks"), stored=True)
    if pairs is None:
        WAITING["attention"] = note
        return []
    return report.attention_runs(report.attention_configs(P, pairs, P.seeds, extra.get("relevance_tasks")))


def campaign_plan(profile: str, data_dir: str | None, out_dir: str | Path, sections: Iterable[str] | None = None,
                  overrides: Mapping[str, Any] | None = None, protocol: str | None = None) -> list[PlannedRun]:
    """Every run of the sections (default: the protocol's, :func:`plan_sections`), in priority order, each
    key once (a run two sections share, such as a single-task run of Table 1 that Eq. 4 also needs, belongs
    to the first)."""
    order = plan_sections(profile, protocol)
    wanted = list(order) if sections is None else list(sections)
    for s in wanted:
        if s not in SECTION_ORDER:
            raise ConfigError(f"section {s!r} is unknown; known: {', '.join(SECTION_ORDER)}")
        if s not in order:
            raise ConfigError(f"section {s!r} is not planned by protocol {protocol or 'the newest'} of profile "
                              f"{profile!r}; it plans: {', '.join(order)}")
    seen: set[tuple[str, str]] = set()
    out = []
    WAITING.clear()
    for section in [s for s in order if s in wanted]:
        for c in section_plan(section, profile, data_dir, out_dir, overrides, protocol):
            k = (kind(section), c.key())
            if k not in seen:
                seen.add(k)
                out.append(PlannedRun(section, c))
    return out


def kind(section: str) -> str:
    """What trains a section's runs: our trainer ("train"), our trainer keeping the model ("model": Appendix C
    compares models, so a run another section stored without one is trained again) or the Hugging Face
    Trainer ("hf")."""
    return {"hf_check": "hf", "attention": "model"}.get(section, "train")


def is_stored(p: PlannedRun, store: Path) -> bool:
    """Whether a planned run's record is in the store (and verifies); for Appendix C's runs, also their kept
    model or the attention similarities computed from it."""
    if kind(p.section) == "hf":
        from hmnet.hf_check import read_record, record_path

        return read_record(record_path(store, p.config), p.config) is not None
    results = Path(store) / "results"
    stored = read_result_file(result_path(p.config, results), p.config) is not None
    if kind(p.section) == "model":
        from hmnet.report import attention_stored

        return stored and attention_stored(p.config, results)
    return stored

