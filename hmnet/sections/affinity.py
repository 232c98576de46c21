"""The one-run affinity estimate (page 01): lookahead task affinity (Fifty et al., 2021) measured inside one
multi-task run of the relevance tasks, a cheap stand-in for Eq. 4's pairwise runs; notebook 02 groups the
tasks by it (Table 1's extra rows).

Protocol v1 measures every 50 optimizer steps (``affinity_every``): with 12 tasks one measurement is 12
forward-backward and 156 forward passes on unsorted batches, about 85 training steps' worth
(:data:`hmnet.campaign.projection.MEASUREMENT_STEPS`), so every 50 steps adds about 1.7x the run's training
(every 10, the default, would add about 8.5x).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hmnet.sections.base import SMOKE_RELEVANCE_TASKS, Plan, Section, section_tasks
from hmnet.sections.parameters import RunParameters, check_int, check_seed_list

NAME = "affinity"


def configs(params: RunParameters, tasks: Sequence[str], seeds: Sequence[int] | None = None,
            every: int | None = None) -> list:
    """One multi-task run of `tasks` with the lookahead measurement per seed (None: the first of the profile's
    seeds, as the estimate is one run), measuring every `every` optimizer steps (None: the profile's
    ``affinity_every``)."""
    seeds = params.seeds[:1] if seeds is None else check_seed_list(seeds, "affinity_seeds")
    extra = {} if every is None else {"affinity_every": check_int("affinity_every", every, 1)}
    prof = params.experiment_profile()
    return [prof.run_config("multi", tasks=tasks, seed=s, affinity=True, name="lookahead affinity",
                            tags={"section": NAME, "role": "affinity"}, **extra) for s in seeds]


class Affinity(Section):
    name = NAME
    page = "01"
    title = "The one-run affinity estimate"

    def plan(self, params: RunParameters, extra: Mapping[str, Any]) -> Plan:
        tasks = section_tasks(params, extra.get("affinity_tasks"), SMOKE_RELEVANCE_TASKS, "affinity_tasks")
        return Plan(configs(params, tasks, extra.get("affinity_seeds"), extra.get("affinity_every")))


SECTION = Affinity()

__all__ = ["SECTION", "configs"]
