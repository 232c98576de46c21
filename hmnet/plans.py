"""The plans of runs behind each section: Table 1, the pairwise runs of Eq. 3-4, the shared-layers figure and
the layer grid, each a list of :class:`hmnet.experiments.RunConfig` built from a profile."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from hmnet.config_checks import ConfigError, check_int, check_seeds
from hmnet.experiments import RunConfig
from hmnet.profiles import Profile
from hmnet.tasks import TaskRegistry, manual_groups, resolve_tasks


def _seeds(profile: Profile, seeds: Iterable[int] | None) -> tuple[int, ...]:
    """A plan's seeds: the profile's, or `seeds` checked as a profile checks its own."""
    return profile.seeds if seeds is None else check_seeds(seeds)


def named_groupings(names: Iterable[str], tasks: Sequence[str],
                    registry: TaskRegistry | None = None) -> dict[str, dict[str, tuple[str, ...]]]:
    """Groupings the plans know by name, restricted to `tasks` (empty clusters dropped): "manual"
    (Section 4.1; a task file's tasks by their categories), "planted" (the synthetic suite's), "data" and
    "model" (the paper's Appendix A)."""
    from hmnet.synthetic import PLANTED_GROUPS

    out = {}
    for n in names:
        if n == "manual":
            groups = {k: tuple(v) for k, v in manual_groups(tasks, registry).items()}
        elif n == "planted":
            groups = dict(PLANTED_GROUPS)
        elif n in ("data", "model"):
            from hmnet.analysis.paper import APPENDIX_A_CLUSTERS as APPENDIX_A_GROUPS

            groups = dict(APPENDIX_A_GROUPS[n])
        else:
            raise ConfigError(f"grouping {n!r} is unknown; known: manual, planted, data, model "
                              "(or pass clusters as JSON)")
        groups = {g: tuple(t for t in tasks if t in ts) for g, ts in groups.items()}
        out[n] = {g: ts for g, ts in groups.items() if ts}
    return out


def _groupings(profile: Profile, groupings) -> dict[str, Mapping[str, Iterable[str]]]:
    if groupings is None:
        return named_groupings(["manual"], profile.tasks, profile.registry)
    if isinstance(groupings, (list, tuple)):
        return named_groupings(groupings, profile.tasks, profile.registry)
    if not isinstance(groupings, Mapping) or not groupings:
        raise ConfigError(f"groupings must be a non-empty mapping name -> clusters, got {groupings!r}")
    return dict(groupings)


def table1_plan(profile: Profile, groupings: Mapping[str, Mapping[str, Iterable[str]]] | None = None,
                seeds: Iterable[int] | None = None, skillnet_seeds: Iterable[int] | None = None) -> list[RunConfig]:
    """Table 1: single-task (one run per task), multi-task, SkillNet-style, and HMNet per grouping, per seed.

    Runs are named "single", "multi", "skillnet" and "hmnet:<grouping>". `skillnet_seeds` (a subset of the
    seeds; None: all) runs SkillNet, whose runs cost about three times a multi-task run, at fewer seeds.
    """
    groups = _groupings(profile, groupings)
    seeds = _seeds(profile, seeds)
    sparse = seeds if skillnet_seeds is None else _seeds(profile, skillnet_seeds)
    stray = sorted(set(sparse) - set(seeds))
    if stray:
        raise ConfigError(f"skillnet_seeds {stray} are not among the seeds {list(seeds)}")
    plan = []
    for seed in seeds:
        plan += [profile.run_config("single", tasks=(t,), seed=seed, name="single") for t in profile.tasks]
        plan.append(profile.run_config("multi", seed=seed, name="multi"))
        if seed in sparse:
            plan.append(profile.run_config("skillnet", seed=seed, name="skillnet"))
        plan += [profile.run_config("hmnet", clusters=c, seed=seed, name=f"hmnet:{g}") for g, c in groups.items()]
    return plan


def shared_layers_plan(profile: Profile, tasks: Sequence[str] = ("MNLI", "BoolQ"),
                       seeds: Iterable[int] | None = None, points: Iterable[int] | None = None) -> list[RunConfig]:
    """Figure: HMNet on two tasks in clusters of their own, x shared layers, split (x, depth-x, 0), for
    x in `points` (default 0..depth)."""
    tasks = resolve_tasks(tasks, profile.registry)
    depth = profile.depth
    if depth is None:
        raise ConfigError(f"the depth of backbone {profile.backbone!r} is unknown offline")
    xs = list(range(depth + 1)) if points is None else sorted({check_int("shared_points", x, 0) for x in points})
    if not xs or xs[-1] > depth:
        raise ConfigError(f"shared_points {list(points or [])} must be a non-empty set of layer counts 0..{depth}")
    clusters = {t: (t,) for t in tasks}
    return [profile.run_config("hmnet", tasks=tasks, clusters=clusters, split=(x, depth - x, 0), seed=seed,
                               name=f"shared={x}")
            for seed in _seeds(profile, seeds) for x in xs]


def layer_grid_plan(profile: Profile, groupings: Mapping[str, Mapping[str, Iterable[str]]] | None,
                    splits: Iterable[Sequence[int]], seeds: Iterable[int] | None = None) -> list[RunConfig]:
    """HMNet for every grouping x (shared, cluster, task) split x seed."""
    groups = _groupings(profile, groupings)
    splits = [tuple(s) for s in splits]
    if not splits:
        raise ConfigError("layer_grid_plan needs at least one split")
    return [profile.run_config("hmnet", clusters=c, split=sp, seed=seed, name=f"hmnet:{g}:{'-'.join(map(str, sp))}")
            for seed in _seeds(profile, seeds) for g, c in groups.items() for sp in splits]


def pairwise_plan(profile: Profile, tasks: Sequence[str] | None = None,
                  seeds: Iterable[int] | None = None) -> list[RunConfig]:
    """Eq. 3-4: every task alone and every unordered pair of tasks as one multi-task run, per seed."""
    tasks = resolve_tasks(tasks, profile.registry) if tasks is not None else profile.tasks
    if len(tasks) < 2:
        raise ConfigError(f"pairwise_plan needs at least two tasks, got {list(tasks)}")
    plan = []
    for seed in _seeds(profile, seeds):
        plan += [profile.run_config("single", tasks=(t,), seed=seed, name="single") for t in tasks]
        plan += [profile.run_config("multi", tasks=(a, b), seed=seed, name="pair")
                 for i, a in enumerate(tasks) for b in tasks[i + 1:]]
    return plan


PLANS = {"table1": table1_plan, "shared_layers": shared_layers_plan, "layer_grid": layer_grid_plan,
         "pairwise": pairwise_plan}



__all__ = ["table1_plan", "shared_layers_plan", "layer_grid_plan", "pairwise_plan", "named_groupings", "PLANS"]
