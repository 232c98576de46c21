"""Figure 3 (page 04): HMNet on two tasks, each in a cluster of its own, at x shared layers and the rest
cluster layers (split (x, depth - x, 0)), per seed; and its ledger claim, that BoolQ peaks at about two-thirds
of the layers shared (8 of 12 in the paper), above both ends.

The reference build (protocol v1, kept by v2) trains the pair on up to 3,000 rows a task: Figure 3 needs BoolQ
to learn, and at the profile's 1,000 rows its single-task runs stay under the majority class (60.8 against 64.2,
3 seeds); 3,000 is all 2,616 rows of BoolQ's carved train split and 3,000 of MNLI. A longer max length does not
rescue BoolQ alone at that size (256 tokens: 63.5 against 64.2, one seed), so the pair keeps 128 tokens and the
figure asks whether MNLI's layers lift BoolQ.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from hmnet.analysis.verdicts import NO_REFERENCE, ClaimResult, compare, decide, held_against
from hmnet.config_checks import ConfigError, check_int, check_seeds, check_tasks
from hmnet.profiles import Profile
from hmnet.results import scores_frame
from hmnet.sections.base import Evidence, Plan, Section, seeds_first
from hmnet.sections.parameters import ParameterError, RunParameters
from hmnet.tasks import resolve_tasks

NAME = "shared_layers"


def plan_runs(profile: Profile, tasks: Sequence[str] = ("MNLI", "BoolQ"), seeds: Iterable[int] | None = None,
              points: Iterable[int] | None = None) -> list:
    """HMNet on `tasks` in clusters of their own at x shared layers for x in `points` (default 0..depth)."""
    tasks = resolve_tasks(tasks, profile.registry)
    depth = profile.depth
    if depth is None:
        raise ConfigError(f"the depth of backbone {profile.backbone!r} is unknown offline")
    xs = list(range(depth + 1)) if points is None else sorted({check_int("shared_points", x, 0) for x in points})
    if not xs or xs[-1] > depth:
        raise ConfigError(f"shared_points {list(points or [])} must be a non-empty set of layer counts 0..{depth}")
    clusters = {t: (t,) for t in tasks}
    seeds = profile.seeds if seeds is None else check_seeds(seeds)
    return [profile.run_config("hmnet", tasks=tasks, clusters=clusters, split=(x, depth - x, 0), seed=seed,
                               name=f"{x} shared layers", tags={"section": NAME, "role": "hmnet"})
            for seed in seeds for x in xs]


def configs(params: RunParameters, tasks: Sequence[str], seeds: Sequence[int],
            points: Sequence[int] | None = None) -> list:
    try:
        return plan_runs(params.experiment_profile(tasks=tasks), tasks, seeds, points)
    except ConfigError as err:
        raise ParameterError(f"parameter 'shared_points': {err}") from None


def peak(depth: int) -> int:
    """The paper's BoolQ peak, about two-thirds of the layers shared (8 of 12), at this depth."""
    return round(2 * depth / 3)


def shared_layers_claim(per_seed: pd.DataFrame | None, depth: int | None, task: str = "BoolQ",
                        reference: float = NO_REFERENCE) -> ClaimResult:
    """The task's score at the peak above both ends (no sharing, all shared), paired by seed; `reference`, the
    registered effect each contrast is held against (the paper prints no number)."""
    text = f"{task} peaks at about 2/3 of the layers shared (Figure 3)"
    paper = f"BoolQ best at 8 of 12 shared layers ({held_against(reference)})"
    if per_seed is None or depth is None or per_seed.empty or task not in set(per_seed["task"]):
        return decide(text, paper, "04", [])
    top = peak(depth)
    g = per_seed[per_seed["task"] == task].pivot_table(index="seed", columns="shared layers", values="score")
    members = [compare(f"{top} shared - {end} shared ({task})", (g[top] - g[end]).dropna().tolist()
                       if {top, end} <= set(g.columns) else [], reference) for end in (0, depth)]
    return decide(text, paper, "04", members)


class SharedLayers(Section):
    name = NAME
    page = "04"
    title = "Figure 3: shared layers"

    def plan(self, params: RunParameters, extra: Mapping[str, Any]) -> Plan:
        pair = check_tasks(extra["pair"], params.registry, "parameter 'pair'", 2, duplicates=False,
                           error=ParameterError)
        return Plan(seeds_first(configs(params, pair, params.seeds, extra.get("shared_points")), params.seeds))

    def claims(self, evidence: Evidence) -> list[ClaimResult]:
        runs = evidence.of(NAME)
        return [shared_layers_claim(scores_frame(runs) if runs else None, evidence.depth,
                                    reference=evidence.reference(NAME))]


SECTION = SharedLayers()

__all__ = ["SECTION", "plan_runs", "configs", "peak", "shared_layers_claim"]
