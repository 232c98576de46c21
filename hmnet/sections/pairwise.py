"""Eq. 3-4 and Figure 2 (page 01): every task alone and every unordered pair of tasks as one multi-task run,
per seed; the model-based relevance is the pair's gain over the single-task runs. Its ledger claims are
Figure 2's: most tasks help BoolQ, and BoolQ hurts most tasks. Protocol v1 runs Eq. 4 on six tasks spanning
the three Appendix-A groups (MNLI, RTE, SST-2, IMDB, MRPC, BoolQ) at three seeds."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from hmnet import paper
from hmnet.analysis.verdicts import ClaimResult, compare, decide, most_of
from hmnet.config_checks import ConfigError, check_seeds
from hmnet.profiles import Profile
from hmnet.sections.base import SMOKE_RELEVANCE_TASKS, Evidence, Plan, Section, section_tasks, seeds_first
from hmnet.sections.parameters import RunParameters
from hmnet.tasks import resolve_tasks

NAME = "pairwise"


def plan_runs(profile: Profile, tasks: Sequence[str] | None = None, seeds: Iterable[int] | None = None) -> list:
    """Every task alone and every unordered pair as one multi-task run, per seed."""
    tasks = resolve_tasks(tasks, profile.registry) if tasks is not None else profile.tasks
    if len(tasks) < 2:
        raise ConfigError(f"the pairwise plan needs at least two tasks, got {list(tasks)}")
    plan = []
    for seed in (profile.seeds if seeds is None else check_seeds(seeds)):
        plan += [profile.run_config("single", tasks=(t,), seed=seed, name="Single-task",
                                    tags={"section": NAME, "role": "single"}) for t in tasks]
        plan += [profile.run_config("multi", tasks=(a, b), seed=seed, name=f"{a} & {b}",
                                    tags={"section": NAME, "role": "pair"})
                 for i, a in enumerate(tasks) for b in tasks[i + 1:]]
    return plan


def configs(params: RunParameters, tasks: Sequence[str]) -> list:
    return plan_runs(params.experiment_profile(), tasks, params.seeds)


def pair_gains(singles: Iterable, pairs: Iterable) -> pd.DataFrame:
    """Eq. (4) per seed: one row per (source, target, seed) with the target's relative gain in percent when
    trained with the source, over its single-task run of the same seed."""
    alone = {(r.config.tasks[0], r.config.seed): r.score(r.config.tasks[0]) for r in singles
             if r.config.method == "single"}
    rows = []
    for r in pairs:
        if r.config.method != "multi" or len(r.config.tasks) != 2:
            continue
        a, b = r.config.tasks
        for source, target in ((a, b), (b, a)):
            base = alone.get((target, r.config.seed))
            if base:
                rows.append({"source": source, "target": target, "seed": r.config.seed,
                             "gain": 100.0 * (r.score(target) - base) / base})
    frame = pd.DataFrame(rows, columns=["source", "target", "seed", "gain"])
    # Two runs of one pair and seed (the tasks in the other order, say): their mean.
    return frame.groupby(["source", "target", "seed"], as_index=False, sort=False)["gain"].mean()


def influence_claims(singles: Iterable, pairs: Iterable, task: str = "BoolQ") -> list[ClaimResult]:
    """Figure 2: the gain of `task` from each other task (most positive, says the paper) and the gain of each
    other task from `task` (most negative), each held against the paper's own gain (Table 3)."""
    pairs = list(pairs)
    gains = pair_gains(singles, pairs)
    table3 = paper.table3()
    on = [compare(f"{s} on {task}", g["gain"].tolist(), float(table3.loc[s, task]))
          for s, g in gains[gains["target"] == task].groupby("source")]
    of = [compare(f"{task} on {t} (sign flipped)", (-g["gain"]).tolist(), -float(table3.loc[task, t]))
          for t, g in gains[gains["source"] == task].groupby("target")]
    paired = any(r.config.method == "multi" and task in r.config.tasks and len(r.config.tasks) == 2 for r in pairs)
    missing = (f"pairwise runs with {task} are stored, but not the single-task runs of the same seeds their "
               "gains are measured against (Table 1's)") if paired else ""
    return [decide(f"Most other tasks help {task} (Figure 2, left)", "gains of 0-6% on BoolQ from most tasks "
                   "(Table 3)", "01", on, most_of, note=missing if not on else "relative gains in %", unit="%"),
            decide(f"{task} hurts most other tasks (Figure 2, right)", "BoolQ's influence -2.7..1.2%, mostly "
                   "negative (Table 3)", "01", of, most_of, note=missing if not of else "relative gains in %",
                   unit="%")]


class Pairwise(Section):
    name = NAME
    page = "01"
    title = "Eq. 4 and Figure 2: pairwise gains"

    def plan(self, params: RunParameters, extra: Mapping[str, Any]) -> Plan:
        tasks = section_tasks(params, extra.get("relevance_tasks"), SMOKE_RELEVANCE_TASKS, "relevance_tasks")
        return Plan(seeds_first(configs(params, tasks), params.seeds))

    def select(self, results):
        """The pair runs of a folder, and its single-task runs (their denominators)."""
        return [r for r in results if r.config.tag("section") == NAME or r.config.tag("role") == "single"]

    def claims(self, evidence: Evidence) -> list[ClaimResult]:
        singles = [r for r in evidence.of("table1", NAME) if r.config.method == "single"]
        pairs = [r for r in evidence.of(NAME) if r.config.tag("role") == "pair"]
        return influence_claims(singles, pairs)


SECTION = Pairwise()

__all__ = ["SECTION", "plan_runs", "configs", "pair_gains", "influence_claims"]
