"""The campaign: every run a profile's book needs, executed into its results store, in priority order.

The store of a profile is a folder (``reference/<profile>`` for the committed reference build) whose
``results/`` holds one verified record per run, named by the run's cache key (:mod:`hmnet.results`). A run
is pending when its record is absent, so the store is the same whether its runs came from
:func:`run_campaign`, from ``hmnet plan export`` lines run by hand or on a cluster, or from a notebook.

:func:`run_campaign` runs the pending runs of the chosen sections with a process pool (``multiprocessing``;
one fresh process per run, each with ``threads`` torch threads), never starting a run whose projected
duration does not fit in what is left of the time budget, and stopping the pool at the budget's end. A
killed runner (even ``kill -9``) loses at most the runs in flight: records are written atomically, a
per-run lock keeps two runners off the same run, and a run that was interrupted resumes from its last
checkpoint. Projections come from the measured seconds per training example of the runs already stored.

:func:`write_manifest` records, for the book's banners, how many of each section's planned runs are
complete, with the date, the commit and the data files (relative paths and sizes only).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import signal
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hmnet.experiments import TRAINING_SEMANTICS, ConfigError, RunConfig, data_fingerprint, get_profile
from hmnet.provenance import REPO, code_commit
from hmnet.results import atomic_write_bytes, read_result_file, result_path

log = logging.getLogger(__name__)

STORE_ROOT = REPO / "reference"
MANIFEST = "manifest.json"
# Sections in the order the campaign takes them, with the notebook that shows each: Table 1 first (its
# single-task runs are also Eq. 4's denominators), its single-task cross-check with the Hugging Face Trainer
# (hmnet.hf_check), then the pairwise gains and the one-run affinity estimate, then the two ablations.
SECTION_ORDER = ("table1", "hf_check", "pairwise", "affinity", "shared_layers", "layer_grid")
SECTION_NOTEBOOK = {"table1": "03", "hf_check": "03", "pairwise": "01", "affinity": "01", "shared_layers": "04",
                    "layer_grid": "05"}
# Eq. (4) on six tasks spanning the three Appendix-A groups.
PAIRWISE_TASKS = ("MNLI", "RTE", "SST-2", "IMDB", "MRPC", "BoolQ")
# The notebook parameters of a reference build, per notebook (beyond profile, data_dir and out_dir). The
# campaign plans exactly the runs these notebooks ask for, so the keys agree by construction.
REFERENCE_PARAMETERS: dict[str, dict[str, Any]] = {
    "01": {"relevance_tasks": list(PAIRWISE_TASKS)},
    "04": {"pair": ["MNLI", "BoolQ"]},
    "05": {"seeds": [0], "grid_tasks": list(PAIRWISE_TASKS)},
}
# Seconds per training example (data loading and evaluation included) before any run is measured: MiniLM,
# bf16, one thread, from the earlier RTE and MNLI+BoolQ runs; SkillNet runs three FFNs per layer.
PRIOR_SECONDS_PER_EXAMPLE = {"single": 0.07, "multi": 0.07, "hmnet": 0.07, "skillnet": 0.14}


def store_dir(profile: str) -> Path:
    """The results store of a profile: ``reference/<profile>`` in the repository."""
    return STORE_ROOT / profile


# ---------------------------------------------------------------------------------------------------------
# the plan


@dataclass(frozen=True)
class PlannedRun:
    section: str
    config: RunConfig


_NOTEBOOK_KEYS = ("tasks", "seeds", "backbone", "max_train_examples", "max_eval_examples")


def notebook_parameters(profile: str, notebook: str, data_dir: str | None, out_dir: str | Path,
                        overrides: Mapping[str, Any] | None = None):
    """The checked parameters (``hmnet.report.RunParameters``) a notebook of the reference build runs with,
    and its section-specific extras. `overrides` (notebook parameters such as ``tasks`` or ``seeds``)
    apply to every notebook, as ``hmnet reproduce -p NAME VALUE`` does."""
    from hmnet import report

    extra = {**REFERENCE_PARAMETERS.get(notebook, {}), **(overrides or {})}
    common = {k: extra.pop(k) for k in list(extra) if k in _NOTEBOOK_KEYS}
    if notebook in ("03", "04"):  # these notebooks run several cheap seeds on the smoke profile
        common.setdefault("smoke_seeds", report.SMOKE_SEEDS)
    P = report.check_parameters(profile=profile, data_dir=data_dir, out_dir=str(out_dir), **common)
    return P, extra


def section_plan(section: str, profile: str, data_dir: str | None, out_dir: str | Path,
                 overrides: Mapping[str, Any] | None = None) -> list[RunConfig]:
    """The runs of one section, built by the same ``hmnet.report`` helpers the notebook calls."""
    from hmnet import report

    if section not in SECTION_ORDER:
        raise ConfigError(f"section {section!r} is unknown; known: {', '.join(SECTION_ORDER)}")
    P, extra = notebook_parameters(profile, SECTION_NOTEBOOK[section], data_dir, out_dir, overrides)
    if section == "hf_check":
        from hmnet.hf_check import HF_TASKS

        plan = [c for c in section_plan("table1", profile, data_dir, out_dir, overrides)
                if c.method == "single" and c.tasks[0] in HF_TASKS]
    elif section == "table1":
        groupings, _ = report.load_groupings(P, "paper")
        plan = report.table1_configs(P, groupings, P.seeds)
    elif section in ("pairwise", "affinity"):
        tasks = report.section_tasks(P, extra.get("relevance_tasks"), report.SMOKE_RELEVANCE_TASKS,
                                     "relevance_tasks")
        plan = report.pairwise_configs(P, tasks) if section == "pairwise" else report.lookahead_configs(P, tasks)
    elif section == "shared_layers":
        plan = report.shared_layers_configs(P, report.check_tasks(extra["pair"], name="pair", minimum=2), P.seeds)
    else:
        depth = report.backbone_depth(P)
        tasks = report.section_tasks(P, extra.get("grid_tasks"), ("RTE", "SST-2", "MRPC", "BoolQ"), "grid_tasks")
        groupings, _ = report.load_groupings(P, "paper")
        grid, baseline = report.layer_grid_configs(P, tasks, groupings, report.layer_grid(depth), P.seeds)
        plan = grid + baseline
    order = {s: i for i, s in enumerate(P.seeds)}  # seeds outermost: a complete seed comes first
    return sorted(plan, key=lambda c: order.get(c.seed, len(order)))


def campaign_plan(profile: str, data_dir: str | None, out_dir: str | Path, sections: Iterable[str] | None = None,
                  overrides: Mapping[str, Any] | None = None) -> list[PlannedRun]:
    """Every run of the sections, in priority order, each key once (a run two sections share, such as a
    single-task run of Table 1 that Eq. 4 also needs, belongs to the first)."""
    wanted = list(SECTION_ORDER) if sections is None else list(sections)
    for s in wanted:
        if s not in SECTION_ORDER:
            raise ConfigError(f"section {s!r} is unknown; known: {', '.join(SECTION_ORDER)}")
    seen: set[tuple[str, str]] = set()
    out = []
    for section in [s for s in SECTION_ORDER if s in wanted]:
        for c in section_plan(section, profile, data_dir, out_dir, overrides):
            k = (kind(section), c.key())
            if k not in seen:
                seen.add(k)
                out.append(PlannedRun(section, c))
    return out


def kind(section: str) -> str:
    """What trains a section's runs: our trainer ("train") or the Hugging Face Trainer ("hf")."""
    return "hf" if section == "hf_check" else "train"


def is_stored(p: PlannedRun, store: Path) -> bool:
    """Whether a planned run's record is in the store (and verifies)."""
    if kind(p.section) == "hf":
        from hmnet.hf_check import read_record, record_path

        return read_record(record_path(store, p.config), p.config) is not None
    return read_result_file(result_path(p.config, Path(store) / "results"), p.config) is not None


# ---------------------------------------------------------------------------------------------------------
# projection


_ROWS: dict[tuple, int] = {}


def train_rows(config: RunConfig) -> int:
    """Training rows in one epoch of a run (read from the files, after the caps; cached per task)."""
    from hmnet.data import load_run_task

    total = 0
    for t in config.tasks:
        k = (t, config.source, config.data_dir, config.max_examples, config.data_seed, config.scale,
             config.carve_train)
        if k not in _ROWS:
            _ROWS[k] = len(load_run_task(config, t, splits=["train"])["train"])
        total += _ROWS[k]
    return total


def seconds_per_example(result, data_dir: str | None) -> float:
    """Wall seconds of a stored run (data, training, evaluation) per training example it processed. A record
    names no data directory (a placeholder stands in), so the rows are counted in `data_dir`."""
    config = result.config
    if config.source == "directory":
        config = dataclasses.replace(config, data_dir=data_dir)
    return result.wall_time / max(1, train_rows(config) * config.epochs)


def measured_rates(results: Iterable, data_dir: str | None) -> dict[str, float]:
    """Median seconds per training example per method over stored runs; PRIOR_SECONDS_PER_EXAMPLE fills
    in methods without a run yet."""
    import numpy as np

    rates: dict[str, list[float]] = {}
    for r in results:
        rates.setdefault(r.config.method, []).append(seconds_per_example(r, data_dir))
    return {**PRIOR_SECONDS_PER_EXAMPLE, **{m: float(np.median(v)) for m, v in rates.items()}}


def projected_seconds(config: RunConfig, rates: dict[str, float]) -> float:
    """One run's projected wall time in one worker."""
    return rates[config.method] * train_rows(config) * config.epochs


def projection_table(pending: Sequence[PlannedRun], rates: dict[str, float], workers: int):
    """Pending runs and projected hours per section (wall hours with `workers` runs side by side)."""
    import pandas as pd

    rows = {}
    for p in pending:
        r = rows.setdefault(p.section, {"section": p.section, "pending runs": 0, "run-hours": 0.0})
        r["pending runs"] += 1
        r["run-hours"] += projected_seconds(p.config, rates) / 3600
    frame = pd.DataFrame(list(rows.values()), columns=["section", "pending runs", "run-hours"])
    frame["wall hours"] = frame["run-hours"] / max(1, workers)
    frame["cumulative wall hours"] = frame["wall hours"].cumsum()
    return frame


# ---------------------------------------------------------------------------------------------------------
# the manifest


def write_manifest(profile: str, data_dir: str | None, store: Path, plan: Sequence[PlannedRun],
                   overrides: Mapping[str, Any] | None = None) -> dict:
    """Planned and complete runs per section, with the date, commit and data files, into the store.

    Nothing in it names a path of this machine: data files appear relative to the data directory.
    """
    from hmnet.data import find_file

    sections: dict[str, dict[str, Any]] = {}
    for p in plan:
        s = sections.setdefault(p.section, {"notebook": SECTION_NOTEBOOK[p.section], "planned": 0, "complete": 0,
                                            "runs": []})
        s["planned"] += 1
        done = is_stored(p, store)
        s["complete"] += int(done)
        s["runs"].append({"name": p.config.result_name(), "variant": p.config.variant,
                          "tasks": list(p.config.tasks), "seed": p.config.seed, "complete": done})
    prof = get_profile(profile, **({"data_dir": data_dir} if data_dir else {}))
    cfg = prof.run_config("multi")
    carved = [t for t in prof.tasks if prof.source == "directory" and prof.carve_train
              and find_file(t, "train", prof.data_dir) is None]
    settings = {k: v for k, v in cfg.to_dict().items()
                if k not in ("method", "tasks", "clusters", "split", "seed", "name", "data_dir", "affinity")}
    manifest = {"profile": profile, "tasks": list(prof.tasks), "seeds": list(prof.seeds), "settings": settings,
                "data": data_fingerprint(cfg), "carved_tasks": carved, "majority_class": majority_scores(cfg),
                "notebook_parameters": REFERENCE_PARAMETERS, "overrides": dict(overrides or {}),
                "training_semantics": TRAINING_SEMANTICS,
                "commit": code_commit(), "updated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                "sections": sections}
    atomic_write_bytes(Path(store) / MANIFEST, (json.dumps(manifest, indent=1) + "\n").encode())
    return manifest


_MAJORITY: dict[str, dict[str, float]] = {}


def majority_scores(config: RunConfig) -> dict[str, float]:
    """Each classification task's score when every evaluation row gets the most frequent training label, on
    the rows the profile's runs use (``hmnet.report.majority_baseline``); kept in the manifest so that the
    store shows it without the data. Cached per process."""
    from hmnet.report import majority_baseline

    key = config.to_json()
    if key not in _MAJORITY:
        _MAJORITY[key] = {t: round(v, 3) for t, v in majority_baseline(config).items()}
    return _MAJORITY[key]


def read_manifest(store: Path) -> dict | None:
    """A store's manifest, None where it has none; a damaged one is a DataError naming the file."""
    from hmnet.errors import DataError

    path = Path(store) / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(manifest, dict) or not isinstance(manifest.get("sections"), dict):
            raise ValueError("no 'sections' object")
    except (ValueError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not a results-store manifest ({err}); rewrite it with `hmnet campaign status`") \
            from None
    return manifest


# ---------------------------------------------------------------------------------------------------------
# the runner


@dataclass
class CampaignReport:
    completed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped_stored: int = 0
    pending_left: int = 0
    stopped_by: str = "done"  # done | budget | interrupted
    seconds: float = 0.0


def parse_budget(text: str | float | None) -> float | None:
    """Seconds from '90s', '120m', '2.5h' or a bare number of minutes; None or 'none' for no budget."""
    if text is None or str(text).strip().lower() in ("", "none", "inf"):
        return None
    t = str(text).strip().lower()
    unit = {"s": 1, "m": 60, "h": 3600}.get(t[-1])
    try:
        value = float(t[:-1] if unit else t) * (unit or 60)
    except ValueError:
        raise ConfigError(f"budget {text!r} is not a duration: use e.g. 90s, 120m or 2.5h") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"budget {text!r} must be a positive duration")
    return value


def _die_with_parent() -> None:
    """Linux: this worker gets SIGTERM when the runner dies, even by kill -9 (its checkpoints stay)."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _worker_init(threads: int | None) -> None:
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the runner decides; workers stop when it terminates them
    if threads:
        import torch

        torch.set_num_threads(threads)


def _run_one(config_json: str, store: str, checkpoint_minutes: float, how: str) -> tuple[str, float]:
    config = RunConfig.from_json(config_json)
    t0 = time.perf_counter()
    if how == "hf":
        from hmnet.hf_check import run_and_store

        run_and_store(config, store)
    else:
        from hmnet.train import train

        train(config, Path(store) / "results", progress=False, checkpoint_minutes=checkpoint_minutes)
    return config.result_name(), time.perf_counter() - t0


def _locked_by_another(config: RunConfig, results_dir: Path) -> bool:
    """True while another process holds the run's lock (another runner is training it)."""
    import fcntl

    from hmnet.results import lock_path

    path = lock_path(results_dir, config)
    if not path.exists():
        return False
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
    return False


def run_campaign(profile: str, data_dir: str | None, store: str | Path, sections: Iterable[str] | None = None,
                 overrides: Mapping[str, Any] | None = None, budget: float | None = None, workers: int = 2,
                 threads: int | None = 1, checkpoint_minutes: float = 5.0, poll: float = 2.0, progress: bool = True,
                 echo: Callable[[str], None] = log.info) -> CampaignReport:
    """Run the pending runs of `sections` (default: all, in SECTION_ORDER) into ``<store>/results``.

    `workers` runs go side by side, in a pool of processes with `threads` torch threads each (None: torch's
    default). A run starts only if its projected time fits in what is left of `budget` seconds; at the
    budget's end (plus a grace of 10% for runs that overran their projection) the pool is terminated and
    the interrupted runs resume from their checkpoints next time.
    """
    import multiprocessing as mp

    from tqdm.auto import tqdm

    from hmnet.results import load_results

    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    store = Path(store)
    results_dir = store / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    plan = campaign_plan(profile, data_dir, store, sections, overrides)
    pending = [p for p in plan if not is_stored(p, store)]
    report = CampaignReport(skipped_stored=len(plan) - len(pending))
    rates = measured_rates(load_results(results_dir), data_dir)
    table = projection_table(pending, rates, workers).to_string(index=False, float_format="%.2f")
    basis = "measured" if rates != PRIOR_SECONDS_PER_EXAMPLE else "prior"
    echo(f"{len(plan)} planned runs, {report.skipped_stored} already stored, {len(pending)} pending; {workers} "
         f"worker(s) x {threads or 'default'} thread(s); projection from {basis} seconds per example:\n{table}")
    write_manifest(profile, data_dir, store, plan, overrides)
    if not pending:
        return report
    deadline = None if budget is None else start + budget
    ctx = mp.get_context("spawn")
    # Workers live across runs (a spawned process pays seconds of imports), and runs of the same data reuse
    # its encoding (hmnet.train.runtime.load_encoded).
    pool = ctx.Pool(workers, initializer=_worker_init, initargs=(threads,))
    running: dict[Any, tuple[PlannedRun, float]] = {}
    import sys

    bar = tqdm(total=len(pending), desc=f"campaign ({profile})", unit="run", disable=not progress,
               dynamic_ncols=True, mininterval=1 if sys.stderr.isatty() else 60)  # a log file gets a line a minute
    deferred: list[PlannedRun] = []
    try:
        while pending or running:
            while pending and len(running) < workers:
                p = pending[0]
                if _locked_by_another(p.config, results_dir):  # another runner has it: come back later
                    deferred.append(pending.pop(0))
                    continue
                est = projected_seconds(p.config, rates)
                if deadline is not None and time.monotonic() + est > deadline:
                    report.stopped_by = "budget"
                    break
                pending.pop(0)
                ar = pool.apply_async(_run_one, (p.config.to_json(), str(store), checkpoint_minutes, kind(p.section)))
                running[ar] = (p, est)
            if not running:
                if deferred and report.stopped_by != "budget":
                    pending, deferred = deferred, []
                    time.sleep(poll)
                    pending = [p for p in pending if not is_stored(p, store)]
                    continue
                break
            time.sleep(poll)
            for ar in [a for a in running if a.ready()]:
                p, est = running.pop(ar)
                try:
                    name, secs = ar.get()
                    report.completed.append(name)
                    what = "+".join(p.config.tasks) if len(p.config.tasks) < 4 else f"{len(p.config.tasks)} tasks"
                    echo(f"stored {p.section} {p.config.variant} {what} seed {p.config.seed} in {secs / 60:.1f} min "
                         f"(projected {est / 60:.1f})")
                except Exception as err:  # noqa: BLE001 - one failed run must not stop the campaign
                    report.failed[p.config.result_name()] = f"{type(err).__name__}: {err}"
                    log.error("run %s (%s) failed: %s", p.config.result_name(), p.section, err)
                bar.update(1)
                rates = measured_rates(load_results(results_dir), data_dir)
                write_manifest(profile, data_dir, store, plan, overrides)
            if deadline is not None and time.monotonic() > deadline + 0.1 * budget:
                report.stopped_by = "budget"
                break
            left = sum(projected_seconds(p.config, rates) for p in pending) / workers
            bar.set_postfix_str(f"running {len(running)}, pending {len(pending)}, ~{left / 3600:.1f} h left",
                                refresh=False)
    except KeyboardInterrupt:
        report.stopped_by = "interrupted"
    finally:
        pool.terminate()
        pool.join()
        bar.close()
    report.pending_left = len(pending) + len(running) + len(deferred)
    report.seconds = time.monotonic() - start
    write_manifest(profile, data_dir, store, plan, overrides)
    return report


__all__ = ["SECTION_ORDER", "store_dir", "campaign_plan", "section_plan", "run_campaign", "write_manifest",
           "read_manifest", "parse_budget", "measured_rates", "projection_table", "CampaignReport", "PlannedRun"]


def export_pending(profile: str, data_dir: str | None, store: str | Path, sections: Iterable[str] | None = None,
                   overrides: Mapping[str, Any] | None = None, fmt: str = "cmd",
                   slurm_options: Sequence[str] = ()) -> str:
    """The pending runs as `hmnet train` commands (one a line, for ``xargs -P``) or as a SLURM array script
    (one array task a run). Either trains into ``<store>/results``: the same store the runner fills. The
    Hugging Face cross-check runs are left to ``hmnet campaign run --sections hf_check``."""
    import shlex

    store = Path(store)
    results_dir = store / "results"
    pending = [p.config for p in campaign_plan(profile, data_dir, store, sections, overrides)
               if kind(p.section) == "train" and not is_stored(p, store)]
    train = ["hmnet", "train", "--results", str(results_dir), "--no-progress"]
    if fmt == "cmd":
        return "\n".join(shlex.join([*train[:2], "--config-json", c.to_json(), *train[2:]]) for c in pending)
    if fmt != "slurm":
        raise ConfigError(f"export format {fmt!r} is unknown; known: cmd, slurm")
    if not pending:
        return "# nothing pending: every planned run is in the store"
    lines = ["#!/bin/bash", f"#SBATCH --job-name=hmnet-{profile}", f"#SBATCH --array=0-{len(pending) - 1}",
             *(f"#SBATCH {o}" for o in slurm_options),
             f"# {len(pending)} pending runs of the {profile} campaign, in priority order; each array task trains",
             "# one into the store (a run another task or the runner already stored is skipped). Resubmit after",
             "# a time-out: an interrupted run resumes from its checkpoint.",
             "set -euo pipefail", "CONFIGS=(", *(shlex.quote(c.to_json()) for c in pending), ")",
             'hmnet train --config-json "${CONFIGS[$SLURM_ARRAY_TASK_ID]}" '
             + " ".join(shlex.quote(x) for x in train[2:])]
    return "\n".join(lines) + "\n"
