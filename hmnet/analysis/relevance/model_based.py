"""Model-based relevance (Section 3.2, Eq. 3-4) from single-task and pairwise runs, the manual design
(Section 4.1), and how well the cheap lookahead affinity stands in for the pairwise measure."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from hmnet.analysis.clustering import Grouping, agreement, canonical_groups, kmeans_groups
from hmnet.analysis.relevance.matrices import relevance_frame
from hmnet.tasks import TaskRegistry, get_task, manual_groups, registry_or_builtin, resolve_tasks

log = logging.getLogger(__name__)


def manual_grouping(tasks: Iterable[str] | None = None, registry: TaskRegistry | None = None) -> Grouping:
    """The four categories of Section 4.1 (from the registry), in canonical form."""
    return canonical_groups(manual_groups(tasks, registry))


# ---------------------------------------------------------------------------------------------------------
# model-based relevance (Eq. 3-4)


def model_relevance(single_scores: Mapping[str, float],
                    pair_scores: Mapping[tuple[str, str], Mapping[str, float]],
                    registry: TaskRegistry | None = None) -> pd.DataFrame:
    """Eq. (3)-(4) for every ordered pair, percent: ``[s, t] = 100 (f_{t|s} - f_t) / f_t``.

    `single_scores[t]` is f_t, task t's score trained alone; `pair_scores[(a, b)]` holds both tasks'
    scores from the joint run of a and b (either key order, once per pair). Row s, column t is the gain
    of target t from training with source s (the orientation of Table 3); the diagonal is 0, pairs
    without a joint run are NaN, and so is the column of a task whose single-task score is 0 (logged).
    """
    tasks = list(resolve_tasks(list(single_scores), registry))
    f = {get_task(t, registry).name: float(v) for t, v in single_scores.items()}
    zero = [t for t, v in f.items() if v == 0 or not np.isfinite(v)]
    if zero:  # Eq. 4 divides by f_t: those targets' columns stay NaN
        log.warning("single-task score(s) of %s are zero or not finite; their relative gains are undefined (NaN)",
                    zero)
    out = np.full((len(tasks), len(tasks)), np.nan)
    np.fill_diagonal(out, 0.0)
    pos = {t: i for i, t in enumerate(tasks)}
    seen: set[frozenset] = set()
    for key, scores in pair_scores.items():
        if len(key) != 2:
            raise ValueError(f"pair key {key!r} must name two tasks")
        a, b = (get_task(k, registry).name for k in key)
        if a == b:
            raise ValueError(f"pair {key!r} names the same task twice")
        if frozenset((a, b)) in seen:
            raise ValueError(f"pair {a}+{b} is given twice (as both orders?)")
        seen.add(frozenset((a, b)))
        missing = [t for t in (a, b) if t not in pos]
        if missing:
            raise ValueError(f"pair {key!r}: no single-task score for {missing}")
        joint = {get_task(k, registry).name: float(v) for k, v in scores.items()}
        for s, t in ((a, b), (b, a)):
            if t not in joint:
                raise ValueError(f"pair {key!r} has no score for {t}; it has {sorted(joint)}")
            if t not in zero:
                out[pos[s], pos[t]] = 100.0 * (joint[t] - f[t]) / f[t]
    return relevance_frame(out, tasks)


def model_relevance_from_results(results: Iterable[Any]) -> pd.DataFrame:
    """Eq. (4) from finished runs of :func:`hmnet.sections.pairwise.plan_runs` (scores averaged over seeds).

    Each result needs ``.config`` (with ``method`` and ``tasks``) and ``.score(task)``.
    """
    singles: dict[str, list[float]] = {}
    pairs: dict[tuple[str, str], dict[str, list[float]]] = {}
    results = list(results)
    # The runs' tasks: a task file's registry where a run has one (it holds the built-ins too).
    registry = next((r.config.registry for r in results if getattr(r.config, "registry", None) is not None
                     and r.config.registry.file_tasks), None)
    order = registry_or_builtin(registry).names
    for r in results:
        method, run_tasks = r.config.method, tuple(r.config.tasks)
        if method == "single" and len(run_tasks) == 1:
            singles.setdefault(run_tasks[0], []).append(float(r.score(run_tasks[0])))
        elif method == "multi" and len(run_tasks) == 2:
            key = tuple(sorted(run_tasks, key=order.index))
            for t in key:
                pairs.setdefault(key, {}).setdefault(t, []).append(float(r.score(t)))
    if not singles:
        raise ValueError("no single-task results among the given runs")
    order = [t for t in registry_or_builtin(registry).names if t in singles]
    return model_relevance({t: float(np.mean(singles[t])) for t in order},
                           {k: {t: float(np.mean(v)) for t, v in d.items()} for k, d in pairs.items()}, registry)



def compare_affinity(cheap: pd.DataFrame, pairwise: pd.DataFrame, k: int = 3, *, seed: int = 0,
                     n_init: int = 50) -> dict[str, Any]:
    """How well a cheap affinity matrix stands in for the pairwise one (Eq. 4).

    Spearman correlation of the off-diagonal entries over the tasks both hold, and the adjusted Rand
    index between the k-means groupings of the two (rows as features, as Section 3.3).
    """
    from scipy.stats import spearmanr

    tasks = [t for t in cheap.index if t in pairwise.index]
    if len(tasks) < 3:
        raise ValueError(f"need at least three common tasks to compare, got {tasks}")
    a = cheap.loc[tasks, tasks].to_numpy(dtype=float)
    b = pairwise.loc[tasks, tasks].to_numpy(dtype=float)
    off = ~np.eye(len(tasks), dtype=bool)
    rho = spearmanr(a[off], b[off]).statistic
    ga = kmeans_groups(cheap.loc[tasks, tasks], k, seed=seed, n_init=n_init)
    gb = kmeans_groups(pairwise.loc[tasks, tasks], k, seed=seed, n_init=n_init)
    return {"spearman": float(rho), "spearman_ci": spearman_bootstrap_ci(a[off], b[off], seed=seed),
            "ari": agreement(ga, gb), "cheap_groups": ga, "pairwise_groups": gb, "tasks": tasks}


def spearman_bootstrap_ci(x: np.ndarray, y: np.ndarray, n: int = 2000, level: float = 0.95,
                          seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of Spearman's rho over the paired entries (the ordered task pairs),
    resampled with replacement. Pairs that share a task are not independent, so the interval is a
    lower bound on the uncertainty. Resamples whose ranks are constant are skipped."""
    from scipy.stats import spearmanr

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    rng = np.random.default_rng(seed)
    stats = []
    for _ in range(n):
        i = rng.integers(0, len(x), len(x))
        if np.ptp(x[i]) > 0 and np.ptp(y[i]) > 0:
            stats.append(spearmanr(x[i], y[i]).statistic)
    if not stats:
        return float("nan"), float("nan")
    lo, hi = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def cost_fraction(cheap_cost: float, pairwise_cost: float) -> float:
    """The cheap measure's cost as a fraction of the pairwise runs' cost (same unit: seconds or passes)."""
    if pairwise_cost <= 0 or cheap_cost < 0:
        raise ValueError(f"costs must be non-negative and the pairwise cost positive, got {cheap_cost}, "
                         f"{pairwise_cost}")
    return float(cheap_cost) / float(pairwise_cost)
