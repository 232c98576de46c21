"""The campaign's projection: seconds per training example measured on the stored runs (per method, and per
method and tasks once such a run is stored), and the projected hours of the pending runs per section."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from hmnet.data import train_row_counts
from hmnet.experiments import RunConfig
from hmnet.sections.base import PlannedRun

# Seconds per training example (data loading and evaluation included) before any run is measured: MiniLM,
# bf16, one thread, from the earlier RTE and MNLI+BoolQ runs; SkillNet runs three FFNs per layer.
PRIOR_SECONDS_PER_EXAMPLE = {"single": 0.07, "multi": 0.07, "hmnet": 0.07, "skillnet": 0.14}
# One lookahead measurement (the cheap affinity estimate) on 12 tasks costs about 85 training steps of the
# same run: on the local profile its first three measurements took 691 s of the first 101 steps' 967 s (one
# thread, beside two other runs). It runs one forward pass per pair of tasks, so the cost goes with the task
# count squared. Before any affinity run is measured, a run measuring every N steps is projected at
# (1 + 85 (n/12)^2 / N) times its method's rate.
MEASUREMENT_STEPS = 85
MEASUREMENT_TASKS = 12


def task_rows(config: RunConfig) -> dict[str, int]:
    """Training rows per task in one epoch of a run (read from the files, after the caps; cached)."""
    return train_row_counts(config)


def train_rows(config: RunConfig) -> int:
    """Training rows in one epoch of a run."""
    return sum(task_rows(config).values())


def trained_examples(config: RunConfig) -> int:
    """Training examples a run processes: its rows times its epochs (``epochs``, raised by ``min_steps``)."""
    rows = task_rows(config)
    batches = sum(-(-n // config.batch_size) for n in rows.values())
    return sum(rows.values()) * config.epochs_for(batches)


def seconds_per_example(result, data_dir: str | None) -> float:
    """Wall seconds of a stored run (data, training, evaluation) per training example it processed. A record
    names no data directory (a placeholder stands in), so the rows are counted in `data_dir`."""
    config = result.config
    if config.source == "directory":
        config = dataclasses.replace(config, data_dir=data_dir)
    return result.wall_time / max(1, trained_examples(config))


def rate_key(config: RunConfig) -> str:
    """What a run's rate is measured and projected by: its method, and "+affinity" for an affinity run (its
    lookahead measurements cost more than its training)."""
    return f"{config.method}+affinity" if config.affinity else config.method


def shape_key(config: RunConfig) -> str:
    """The finer key a rate is measured by once a run of this kind on the same tasks is stored: the tasks'
    lengths set the seconds per example (Figure 3's MNLI+BoolQ runs take 1.2 times Table 1's HMNet rate)."""
    return f"{rate_key(config)} on {'+'.join(sorted(config.tasks))}"


def run_machine(result) -> str:
    """The machine a stored run computed on, as its record names it ("?" for a record without one)."""
    return (getattr(result, "env", None) or {}).get("machine") or "?"


def measured_rates(results: Iterable, data_dir: str | None, machine: str | None = None) -> dict[str, float]:
    """Median seconds per training example per :func:`rate_key` and per :func:`shape_key` over stored runs;
    PRIOR_SECONDS_PER_EXAMPLE fills in methods without a run yet. With `machine` (as
    :func:`hmnet.precision.machine_description` names it), a key with runs on that machine is measured on those
    runs alone: throughput depends on the CPU, so the runs left are projected from the machine at hand wherever
    it has run their kind. A shape it has not run, but whose kind it has, is the shape's rate on every machine
    scaled by the kind's rate here against everywhere."""
    import numpy as np

    everywhere: dict[str, list[float]] = {}
    here: dict[str, list[float]] = {}
    kind_of: dict[str, str] = {}
    for r in results:
        rate, kind, shape = seconds_per_example(r, data_dir), rate_key(r.config), shape_key(r.config)
        kind_of[shape] = kind
        for key in (kind, shape):
            everywhere.setdefault(key, []).append(rate)
            if machine is not None and run_machine(r) == machine:
                here.setdefault(key, []).append(rate)
    every = {k: float(np.median(v)) for k, v in everywhere.items()}
    local = {k: float(np.median(v)) for k, v in here.items()}
    rates = {**PRIOR_SECONDS_PER_EXAMPLE, **every, **local}
    for shape, kind in kind_of.items():
        if shape not in local and kind in local:
            rates[shape] = every[shape] * local[kind] / every[kind]
    return rates


def measured_on(results: Iterable, machine: str) -> list[str]:
    """The rate keys that `machine` has stored runs of (sorted): :func:`measured_rates` projects these from
    that machine alone."""
    return sorted({rate_key(r.config) for r in results if run_machine(r) == machine})


def resumed_fractions(pending: Iterable[PlannedRun], results_dir: Path) -> dict[str, float]:
    """Per run key, the share of its optimizer steps that its checkpoints under `results_dir` already hold
    (runs without one are left out): an interrupted run resumes from there."""
    from hmnet.train.checkpoint import done_fraction, run_checkpoint_dir  # hmnet.train loads transformers

    found = {}
    for p in pending:
        done = done_fraction(run_checkpoint_dir(results_dir, p.config.result_name()), p.config.key())
        if done > 0:
            found[p.config.key()] = done
    return found


def projected_seconds(config: RunConfig, rates: dict[str, float], done: float = 0.0) -> float:
    """One run's projected wall time in one worker, less the share `done` that its checkpoints hold
    (:func:`resumed_fractions`). An affinity run without a measured one of its kind is its method's rate times
    the measurements' prior cost (:data:`MEASUREMENT_STEPS`). A run is projected at its shape's rate
    (:func:`shape_key`) where one is stored, else at its kind's."""
    rate = rates.get(shape_key(config), rates.get(rate_key(config)))
    if rate is None:
        extra = MEASUREMENT_STEPS * (len(config.tasks) / MEASUREMENT_TASKS) ** 2 / config.affinity_every
        rate = rates[config.method] * (1 + extra)
    return rate * trained_examples(config) * (1.0 - done)


def empty_store(plan: Iterable[PlannedRun], rates: dict[str, float], workers: int) -> dict:
    """What the whole plan would cost from an empty store, at the seconds per example measured so far (the
    methods still at their prior are named): runs, run-hours, and wall hours with `workers` runs side by side
    (the book's performance page shows it beside what the stored runs took)."""
    seconds = [projected_seconds(p.config, rates) for p in plan]
    hours = sum(seconds) / 3600
    prior = sorted(k for k, v in PRIOR_SECONDS_PER_EXAMPLE.items() if rates.get(k) == v)
    return {"runs": len(seconds), "run_hours": round(hours, 2), "workers": workers,
            "wall_hours": round(max(hours / max(1, workers), max(seconds, default=0) / 3600), 2),
            "basis": "seconds per example measured on the stored runs"
                     + (f" (prior for {', '.join(prior)}: none stored yet)" if prior else "")}


def projection_table(pending: Sequence[PlannedRun], rates: dict[str, float], workers: int,
                     done: Mapping[str, float] | None = None):
    """Pending runs and projected hours per section (less the shares `done` their checkpoints hold, by key).
    Wall hours have `workers` runs side by side, but a run is not split: a section takes at least its longest
    run (the affinity section's one run takes all its hours)."""
    rows, longest = {}, {}
    for p in pending:
        r = rows.setdefault(p.section, {"section": p.section, "pending runs": 0, "run-hours": 0.0})
        hours = projected_seconds(p.config, rates, (done or {}).get(p.config.key(), 0.0)) / 3600
        r["pending runs"] += 1
        r["run-hours"] += hours
        longest[p.section] = max(longest.get(p.section, 0.0), hours)
    frame = pd.DataFrame(list(rows.values()), columns=["section", "pending runs", "run-hours"])
    frame["wall hours"] = (frame["run-hours"] / max(1, workers)).clip(lower=frame["section"].map(longest))
    frame["cumulative wall hours"] = frame["wall hours"].cumsum()
    return frame

