"""Section helpers shared by the notebooks: each section's task list, smoke reductions, running a plan.

The section modules (relevance, groupings, results, attention) hold what each notebook computes, so no logic
lives only in a notebook.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence

from hmnet.report.parameters import ParameterError, RunParameters, check_tasks

log = logging.getLogger(__name__)

# Smoke-only reductions that keep `make book` within minutes; every other profile uses its full task list.
SMOKE_RELEVANCE_TASKS = ("MNLI", "RTE", "SST-2", "MRPC", "BoolQ")
SMOKE_GRID_TASKS = ("RTE", "SST-2", "MRPC", "BoolQ")  # the layer grid's tasks on the smoke profile (05)


def section_tasks(params: RunParameters, requested, smoke_default: Sequence[str], name: str,
                  minimum: int = 2) -> tuple[str, ...]:
    """A section's task list: the notebook parameter if given, else a small smoke default or all tasks."""
    if requested is not None:
        return check_tasks(requested, name=name, minimum=minimum, registry=params.registry)
    tasks = tuple(smoke_default) if params.profile == "smoke" else params.tasks
    tasks = tuple(t for t in tasks if t in params.tasks) or params.tasks
    return check_tasks(tasks, name=name, minimum=minimum, registry=params.registry)


# Set by `hmnet reproduce --store-only` (the reference build): the notebooks read the results store and never
# train; a run missing from the store is left out and counted (see stored_only).
STORE_ONLY_ENV = "HMNET_STORE_ONLY"


def store_only() -> bool:
    return os.environ.get(STORE_ONLY_ENV, "") not in ("", "0")


def run_plan(configs: Sequence, params: RunParameters, desc: str = "") -> list:
    """Run (or load from the cache in out_dir/results) a plan of hmnet.experiments.RunConfig.

    In store-only mode (``HMNET_STORE_ONLY=1``) nothing trains: the stored runs are returned and the
    missing ones are logged and counted in ``MISSING[desc]``.
    """
    from hmnet.experiments import ConfigError
    from hmnet.train import run_plan as _run_plan

    if not configs:
        raise ParameterError(f"{desc or 'the plan'} holds no runs")
    if store_only():
        return stored_only(configs, params, desc)
    try:
        return _run_plan(list(configs), params.results_dir, progress=False)
    except ConfigError as err:
        raise ParameterError(str(err)) from None


MISSING: dict[str, tuple[int, int]] = {}  # plan description -> (stored, planned), store-only mode


def stored_only(configs: Sequence, params: RunParameters, desc: str = "") -> list:
    """The stored results of a plan (none trains); logs how many of the planned runs are missing."""
    from hmnet.results import load_result

    found = [r for r in (load_result(c, params.results_dir) for c in configs) if r is not None]
    MISSING[desc or "plan"] = (len(found), len(configs))
    if len(found) < len(configs):
        log.warning("%s: %d of %d planned runs are in the store; the rest are not run yet",
                    desc or "plan", len(found), len(configs))
    return found


def run_seconds(results: Iterable) -> float:
    """Total training seconds recorded in a list of results (0 for those without a record)."""
    total = 0.0
    for r in results:
        for attr in ("wall_time", "seconds"):
            v = getattr(r, attr, None)
            if isinstance(v, (int, float)):
                total += float(v)
                break
    return total
