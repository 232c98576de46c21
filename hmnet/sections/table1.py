"""Table 1 (page 03): single-task, multi-task, SkillNet-style and HMNet with the paper's three groupings, per
seed, on every task; and the ledger's Table 1 claims.

Each run is tagged with its role (``single``, ``multi``, ``skillnet``, ``hmnet``) and, for HMNet, its grouping
and the grouping's origin (``paper``; ``ours`` for the extra rows of :mod:`hmnet.sections.table1_ours`); a run's
column of the table (:func:`column`) is read from those tags.

A claim is a family of comparisons of the methods' per-seed averages (:mod:`hmnet.analysis.verdicts`), on an
analysis set of tasks where a protocol registers one (v2 leaves out the tasks whose single-task runs cannot
clear their constant floors: a difference there measures a shift of bias, not learning), with the same
comparisons on every task beside.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from hmnet import paper
from hmnet.analysis.verdicts import ClaimResult, compare, decide
from hmnet.config_checks import ConfigError, check_seeds
from hmnet.metrics import paper_average
from hmnet.paper import HMNET_COLUMN_GROUPING
from hmnet.profiles import Profile
from hmnet.sections.base import Evidence, Plan, Section, seeds_first
from hmnet.sections.groupings import grouping_dict, load_groupings, resolve_groupings
from hmnet.sections.parameters import ParameterError, RunParameters

NAME = "table1"
# Table 1's columns, in the paper's order: by role, and HMNet's by its grouping.
ROLE_COLUMNS = {"single": "Single-task", "multi": "Multi-task", "skillnet": "SkillNet"}
GROUPING_COLUMNS = {g: c for c, g in HMNET_COLUMN_GROUPING.items()}  # data -> HMNet_d, ...
COLUMNS = ("Single-task", "Multi-task", "SkillNet", "HMNet_d", "HMNet_md", "HMNet_m")
# The Table 1 entry of each task in the paper (its first Table 1 metric; MNLI's matched accuracy: our bundle
# has no mismatched file).
PAPER_METRIC = {"MNLI": "accuracy_m", "STS-B": "pearson", "MultiRC": "f1a"}
# The paper's Table 1 claims, each a family of (a, b) comparisons on the averages.
FAMILIES: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("Multi-task learning beats single-task fine-tuning", (("Multi-task", "Single-task"),)),
    ("HMNet beats multi-task learning with every grouping",
     (("HMNet_d", "Multi-task"), ("HMNet_md", "Multi-task"), ("HMNet_m", "Multi-task"))),
    ("HMNet_m beats the SkillNet-style sparse model", (("HMNet_m", "SkillNet"),)),
    ("The model-based grouping is the best of the three", (("HMNet_m", "HMNet_md"), ("HMNet_m", "HMNet_d"))),
)


def ours_column(grouping: str) -> str:
    """The column of HMNet with one of our groupings (no published number)."""
    return f"HMNet, our {grouping} grouping"


def column(config) -> str | None:
    """A run's Table 1 column from its tags (None for a run no Table 1 plan tagged)."""
    if config.tag("section") not in (NAME, "table1_ours") and config.tag("role") != "single":
        return None
    role = config.tag("role")
    if role != "hmnet":
        return ROLE_COLUMNS.get(role)
    grouping = config.tag("grouping", "")
    return ours_column(grouping) if config.tag("origin") == "ours" else GROUPING_COLUMNS.get(grouping)


def hmnet_runs(profile: Profile, groupings: Mapping[str, Mapping[str, Iterable[str]]], seed: int,
               origin: str = "paper", section: str = NAME) -> list:
    """HMNet with each grouping at one seed, tagged with the grouping and its origin."""
    label = (lambda g: ours_column(g)) if origin == "ours" else (lambda g: GROUPING_COLUMNS.get(g, f"HMNet ({g})"))
    return [profile.run_config("hmnet", clusters=c, seed=seed, name=label(g),
                               tags={"section": section, "role": "hmnet", "grouping": g, "origin": origin})
            for g, c in groupings.items()]


def plan_runs(profile: Profile, groupings=None, seeds: Iterable[int] | None = None,
              skillnet_seeds: Iterable[int] | None = None) -> list:
    """Table 1 on a profile: per seed, single-task (one run per task), multi-task, SkillNet-style and HMNet per
    grouping (:func:`hmnet.sections.groupings.resolve_groupings`: None is the manual design). `skillnet_seeds`
    (a subset of the seeds; None: all) runs SkillNet, whose runs cost about three times a multi-task run, at
    fewer seeds."""
    groupings = resolve_groupings(groupings, profile.tasks, profile.registry)
    seeds = profile.seeds if seeds is None else check_seeds(seeds)
    sparse = seeds if skillnet_seeds is None else check_seeds(skillnet_seeds)
    stray = sorted(set(sparse) - set(seeds))
    if stray:
        raise ConfigError(f"skillnet_seeds {stray} are not among the seeds {list(seeds)}")

    def run(method: str, role: str, seed: int, **kw):
        return profile.run_config(method, seed=seed, name=ROLE_COLUMNS[role], tags={"section": NAME, "role": role},
                                  **kw)

    plan = []
    for seed in seeds:
        plan += [run("single", "single", seed, tasks=(t,)) for t in profile.tasks]
        plan.append(run("multi", "multi", seed))
        if seed in sparse:
            plan.append(run("skillnet", "skillnet", seed))
        plan += hmnet_runs(profile, groupings, seed)
    return plan


def configs(params: RunParameters, groupings: Mapping[str, Sequence[Sequence[str]]], seeds: Sequence[int],
            skillnet_seeds: Sequence[int] | None = None) -> list:
    """Table 1's runs as the notebook asks for them (the campaign plans the same)."""
    clusters = {name: grouping_dict(g) for name, g in groupings.items()}
    try:
        return plan_runs(params.experiment_profile(), clusters, seeds, skillnet_seeds)
    except ConfigError as err:
        raise ParameterError(f"parameter 'skillnet_seeds': {err}") from None


# ---------------------------------------------------------------------------------------------------------
# the claims


def seed_averages(results: Iterable, without: Sequence[str] = ()) -> pd.DataFrame:
    """Table 1's average per seed (rows) and column (columns), over every task but those in `without`.

    Single-task runs of one seed combine into one average, and only when that seed holds every task the other
    single-task seeds hold; a method's average is recomputed from its run's scores (so that `without` applies to
    it too). Cells without complete runs are NaN.
    """
    singles: dict[int, dict] = {}
    rows: dict[int, dict[str, float]] = {}
    for r in results:
        col = column(r.config)
        if col is None:
            continue
        if r.config.method == "single":
            singles.setdefault(r.config.seed, {}).update(r.scores)
        else:
            rows.setdefault(r.config.seed, {})[col] = paper_average({t: v for t, v in r.scores.items()
                                                                      if t not in without})
    all_tasks = set().union(*[set(s) for s in singles.values()]) if singles else set()
    for seed, scores in singles.items():
        if set(scores) == all_tasks:
            rows.setdefault(seed, {})["Single-task"] = paper_average({t: v for t, v in scores.items()
                                                                      if t not in without})
    frame = pd.DataFrame.from_dict(rows, orient="index").sort_index()
    ours = sorted(c for c in frame.columns if c not in COLUMNS)
    return frame.reindex(columns=[*COLUMNS, *ours])


def paired(frame: pd.DataFrame, a: str, b: str) -> list[float]:
    """Per-seed a - b over the seeds that hold both."""
    if a not in frame or b not in frame:
        return []
    return (frame[a] - frame[b]).dropna().tolist()


def paper_effect(a: str, b: str, tasks: Sequence[str]) -> float:
    """The paper's a - b averaged over the same Table 1 entries as ours (`tasks`, MNLI matched only)."""
    t1 = paper.table1()
    entries = [e for e in ((t, PAPER_METRIC.get(t, "accuracy")) for t in tasks) if e in t1.index]
    return float(t1.loc[entries, a].mean() - t1.loc[entries, b].mean())


def _printed(pairs, tasks) -> str:
    printed = paper.table1_averages()
    return "; ".join(f"{a} - {b}: {paper_effect(a, b, tasks):+.2f} on our entries "
                     f"(printed averages {printed[a] - printed[b]:+.1f})" for a, b in pairs)


def _mean_ci(name: str, diffs: Sequence[float]) -> str:
    c = compare(name, diffs, 0.0)
    if c.n < 2:
        return f"{name} {c.mean:+.2f}" if c.n else f"{name} not run"
    return f"{name} {c.mean:+.2f} [{c.ci_low:+.2f}, {c.ci_high:+.2f}]"


def table1_claims(results: Iterable, analysis_tasks: Sequence[str] | None = None) -> list[ClaimResult]:
    """Table 1's claims (:data:`FAMILIES`) on `analysis_tasks` (None: every task), with the same comparisons on
    every task given beside each; HMNet with each of our groupings gets a claim of its own (it has no published
    number: held against the paper's HMNet_m - Multi-task)."""
    results = list(results)
    every = sorted({t for r in results for t in r.scores})
    tasks = [t for t in every if analysis_tasks is None or t in analysis_tasks]
    avg = seed_averages(results, [t for t in every if t not in tasks])
    full = seed_averages(results) if len(tasks) < len(every) else None
    left = ", ".join(t for t in every if t not in tasks)
    scope = "every task" if full is None else f"{len(tasks)} tasks ({left} left out)"
    out = []
    for claim, pairs in FAMILIES:
        members = [compare(f"{a} - {b}", paired(avg, a, b), paper_effect(a, b, tasks)) for a, b in pairs]
        note = f"on {scope}; the paper's effect on the same entries"
        if full is not None:
            note += "; on every task: " + ", ".join(_mean_ci(f"{a} - {b}", paired(full, a, b)) for a, b in pairs)
        out.append(decide(claim, _printed(pairs, tasks), "03", members, note=note))
    for col in [c for c in avg.columns if c not in COLUMNS]:
        members = [compare(f"{col} - Multi-task", paired(avg, col, "Multi-task"),
                           paper_effect("HMNet_m", "Multi-task", tasks))]
        out.append(decide(f"HMNet beats multi-task learning with our grouping too ({col})",
                          "not in the paper: held against the paper's HMNet_m - Multi-task", "03", members))
    return out


class Table1(Section):
    name = NAME
    page = "03"
    title = "Table 1"
    columns = COLUMNS

    def plan(self, params: RunParameters, extra: Mapping[str, Any]) -> Plan:
        groupings, _ = load_groupings(params, extra.get("grouping_source", "paper"))
        return Plan(seeds_first(configs(params, groupings, params.seeds, extra.get("skillnet_seeds")), params.seeds))

    def select(self, results):
        """Table 1's runs in a folder, and every single-task run (Eq. 4 plans the same ones, and stores them
        under its own tags when it runs first)."""
        return [r for r in results if r.config.tag("section") == NAME or r.config.tag("role") == "single"]

    def claims(self, evidence: Evidence) -> list[ClaimResult]:
        return table1_claims(evidence.of(NAME, "table1_ours"), evidence.analysis.get("table1_tasks"))


SECTION = Table1()

__all__ = ["SECTION", "COLUMNS", "FAMILIES", "column", "ours_column", "plan_runs", "configs", "hmnet_runs",
           "seed_averages", "paired", "paper_effect", "table1_claims"]
