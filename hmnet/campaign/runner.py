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

The plan is built in :mod:`hmnet.campaign.plan`, projected in :mod:`hmnet.campaign.projection`, and recorded
for the book's banners in the store's manifest (:func:`hmnet.store.write_manifest`).
"""

from __future__ import annotations

import logging
import math
import signal
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from hmnet.campaign.plan import campaign_plan, is_stored
from hmnet.campaign.projection import (PRIOR_SECONDS_PER_EXAMPLE, empty_store, measured_on, measured_rates,
                                      projected_seconds, projection_table, resumed_fractions)
from hmnet.experiments import ConfigError, RunConfig
from hmnet.precision import machine_description
from hmnet.results import load_results, lock_path
from hmnet.sections import Registry, registry
from hmnet.sections.base import PlannedRun, SectionsPlan
from hmnet.store.manifest import write_manifest

log = logging.getLogger(__name__)


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

        torch.set_num_threads(threads)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _run_one(config_json: str, store: str, checkpoint_minutes: float, how: str) -> tuple[str, float]:
    config = RunConfig.from_json(config_json)
    t0 = time.perf_counter()
    if how == "hf":
        from hmnet.train.hf_check import run_and_store

        run_and_store(config, store)
    else:
        from hmnet.train import train

        train(config, Path(store) / "results", progress=False, checkpoint_minutes=checkpoint_minutes,
              keep_model=how == "model")
    return config.result_name(), time.perf_counter() - t0


def _locked_by_another(config: RunConfig, results_dir: Path) -> bool:
    """True while another process holds the run's lock (another runner is training it)."""
    import fcntl

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


@dataclass
class _Runner:
    """One campaign's state while its pool runs: the pending runs, those in flight and those deferred because
    another runner holds them."""

    store: Path
    known: Registry
    pending: list[PlannedRun]
    rates: dict[str, float]
    report: CampaignReport
    workers: int
    budget: float | None
    deadline: float | None
    poll: float
    checkpoint_minutes: float
    echo: Callable[[str], None]
    refresh: Callable[[], dict[str, float]]  # after each finished run: rereads the rates, rewrites the manifest
    done: dict[str, float] = field(default_factory=dict)  # per key: the share of its steps its checkpoints hold
    running: dict[Any, tuple[PlannedRun, float]] = field(default_factory=dict)
    deferred: list[PlannedRun] = field(default_factory=list)

    def start_runs(self, pool) -> None:
        """Start pending runs while a worker is free, in priority order, deferring those another runner trains.
        A run whose projection does not fit in what is left of the budget is passed over for a later one that
        fits (backfill: a short run of the next seed rather than an idle worker); it stays pending."""
        while len(self.running) < self.workers:
            chosen = self._next_fitting()
            if chosen is None:
                break
            p, est = chosen
            args = (p.config.to_json(), str(self.store), self.checkpoint_minutes, self.known.get(p.section).trainer)
            self.running[pool.apply_async(_run_one, args)] = (p, est)

    def _next_fitting(self) -> tuple[PlannedRun, float] | None:
        """The first pending run (in priority order) whose projection fits the budget, taken off the list."""
        for p in list(self.pending):
            if _locked_by_another(p.config, self.store / "results"):  # another runner has it: come back later
                self.pending.remove(p)
                self.deferred.append(p)
                continue
            est = projected_seconds(p.config, self.rates, self.done.get(p.config.key(), 0.0))
            if self.deadline is None or time.monotonic() + est <= self.deadline:
                self.pending.remove(p)
                return p, est
            self.report.stopped_by = "budget"  # passed over: the budget, not the plan, ends this campaign
        return None

    def retry_deferred(self) -> bool:
        """With nothing running: take back the deferred runs not stored meanwhile; False ends the campaign."""
        if not self.deferred or self.report.stopped_by == "budget":
            return False
        deferred, self.deferred = self.deferred, []
        time.sleep(self.poll)
        self.pending = [p for p in deferred if not is_stored(p, self.store, self.known)]
        return True

    def collect(self, bar) -> None:
        """Record the finished runs (a failed run is reported and the campaign goes on)."""
        for ar in [a for a in self.running if a.ready()]:
            p, est = self.running.pop(ar)
            try:
                name, secs = ar.get()
                self.report.completed.append(name)
                what = "+".join(p.config.tasks) if len(p.config.tasks) < 4 else f"{len(p.config.tasks)} tasks"
                self.echo(f"stored {p.section} {p.config.variant} {what} seed {p.config.seed} in {secs / 60:.1f} "
                          f"min (projected {est / 60:.1f})")
            except Exception as err:  # noqa: BLE001 - one failed run must not stop the campaign
                self.report.failed[p.config.result_name()] = f"{type(err).__name__}: {err}"
                log.error("run %s (%s) failed: %s", p.config.result_name(), p.section, err)
            bar.update(1)
            self.rates = self.refresh()

    def run_all(self, pool, bar, replan: Callable[[], list[PlannedRun]]) -> None:
        """:meth:`loop`, then again over the runs a waiting section plans (`replan`) once the runs it waited
        for are stored, until it plans none."""
        self.loop(pool, bar)
        while self.report.stopped_by == "done" and (more := replan()):
            self.echo(f"{len(more)} more runs planned now that the runs they waited for are stored: "
                      f"{', '.join(dict.fromkeys(p.section for p in more))}")
            self.pending = more
            bar.total += len(more)
            self.loop(pool, bar)

    def loop(self, pool, bar) -> None:
        """Until nothing is pending or running, or the budget's end plus a grace of 10% has passed."""
        while self.pending or self.running:
            self.start_runs(pool)
            if not self.running:
                if self.retry_deferred():
                    continue
                break
            time.sleep(self.poll)
            self.collect(bar)
            if self.deadline is not None and time.monotonic() > self.deadline + 0.1 * self.budget:
                self.report.stopped_by = "budget"
                break
            left = sum(projected_seconds(p.config, self.rates, self.done.get(p.config.key(), 0.0))
                       for p in self.pending) / self.workers
            bar.set_postfix_str(f"running {len(self.running)}, pending {len(self.pending)}, "
                                f"~{left / 3600:.1f} h left", refresh=False)


@dataclass
class _Campaign:
    """What one campaign plans over (a profile's sections into a store) and its plan as it grows: a section
    that waited for another's runs (Appendix C for Eq. 4's) plans once they are stored (:meth:`replan`)."""

    profile: str
    data_dir: str | None
    store: Path
    sections: Iterable[str] | None
    overrides: Mapping[str, Any] | None
    protocol: str | None
    known: Registry
    plan: SectionsPlan = field(default_factory=SectionsPlan)

    def __post_init__(self):
        self.plan = self._plan()

    def _plan(self) -> SectionsPlan:
        return campaign_plan(self.profile, self.data_dir, self.store, self.sections, self.overrides, self.protocol,
                             self.known)

    def pending(self) -> list[PlannedRun]:
        return [p for p in self.plan if not is_stored(p, self.store, self.known)]

    def write_manifest(self, rates: dict[str, float] | None = None, workers: int = 2) -> None:
        """The store's manifest, with the projection of the whole plan at `rates` (None: the one it holds)."""
        projection = None if rates is None else empty_store(self.plan, rates, workers)
        write_manifest(self.profile, self.data_dir, self.store, self.plan, self.overrides, self.protocol, self.known,
                       projection)

    def read_rates(self, machine: str, workers: int) -> tuple[dict[str, float], list[str]]:
        """The stored runs' rates as `machine` projects (and spends its budget) by them, its own runs' where it
        has run a kind, and the kinds it has run; the manifest is rewritten with every machine's rates, so that
        the committed file does not change with the machine that rewrites it."""
        stored = load_results(self.store / "results")
        self.write_manifest(measured_rates(stored, self.data_dir), workers)
        return measured_rates(stored, self.data_dir, machine), measured_on(stored, machine)

    def replan(self) -> list[PlannedRun]:
        """The new pending runs of the sections that waited (none when no section waits)."""
        if not self.plan.waiting:
            return []
        trainer = {s.name: s.trainer for s in self.known}
        before = {(trainer[p.section], p.config.key()) for p in self.plan}
        self.plan = self._plan()
        return [p for p in self.plan if (trainer[p.section], p.config.key()) not in before
                and not is_stored(p, self.store, self.known)]


def _progress_bar(total: int, profile: str, progress: bool):
    import sys

    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"campaign ({profile})", unit="run", disable=not progress, dynamic_ncols=True,
                mininterval=1 if sys.stderr.isatty() else 60)  # a log file gets a line a minute


def _projection_text(pending: Sequence[PlannedRun], rates: dict[str, float], workers: int,
                     done: Mapping[str, float], local: Sequence[str], machine: str) -> str:
    """The projection a starting runner prints: its basis (which kinds of run this machine has measured) and
    the pending runs' hours per section."""
    table = projection_table(pending, rates, workers, done).to_string(index=False, float_format="%.2f")
    basis = "measured" if rates != PRIOR_SECONDS_PER_EXAMPLE else "prior"
    return (f"projection from {basis} seconds per example ({machine.removeprefix('cpu: ')}: "
            f"{', '.join(local) if local else 'no stored run'} measured on this machine, the rest on every "
            f"machine's runs):\n{table}")


def run_campaign(profile: str, data_dir: str | None, store: str | Path, sections: Iterable[str] | None = None,
                 overrides: Mapping[str, Any] | None = None, budget: float | None = None, workers: int = 2,
                 threads: int | None = 1, checkpoint_minutes: float = 5.0, poll: float = 2.0, progress: bool = True,
                 echo: Callable[[str], None] = log.info, protocol: str | None = None) -> CampaignReport:
    """Run the pending runs of `sections` (default: the protocol's, in its priority order) into
    ``<store>/results``; `protocol` names the profile's registered protocol (None: its newest).

    `workers` runs go side by side, in a pool of processes with `threads` torch threads each (None: torch's
    default). A run starts only if its projected time fits in what is left of `budget` seconds; at the
    budget's end (plus a grace of 10% for runs that overran their projection) the pool is terminated and
    the interrupted runs resume from their checkpoints next time. A section that waited for another's runs
    (Appendix C for Eq. 4's) is planned again once they are stored, and its runs follow in the same campaign.
    """
    import multiprocessing as mp

    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    store = Path(store)
    (store / "results").mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    campaign = _Campaign(profile, data_dir, store, sections, overrides, protocol, registry())
    pending = campaign.pending()
    report = CampaignReport(skipped_stored=len(campaign.plan) - len(pending))
    here = machine_description()
    rates, local = campaign.read_rates(here, workers)
    done = resumed_fractions(pending, store / "results")
    echo(f"{len(campaign.plan)} planned runs, {report.skipped_stored} already stored, {len(pending)} pending; "
         f"{workers} worker(s) x {threads or 'default'} thread(s); "
         + _projection_text(pending, rates, workers, done, local, here))
    if not pending:
        return report
    runner = _Runner(store, campaign.known, pending, rates, report, workers, budget,
                     None if budget is None else start + budget, poll, checkpoint_minutes, echo,
                     lambda: campaign.read_rates(here, workers)[0], done)
    # Workers live across runs (a spawned process pays seconds of imports), and runs of the same data reuse
    # its encoding (hmnet.train.runtime.load_encoded).
    pool = mp.get_context("spawn").Pool(workers, initializer=_worker_init, initargs=(threads,))
    bar = _progress_bar(len(pending), profile, progress)
    # SIGTERM (`kill PID`) stops it as Ctrl-C does: a runner started in the background ignores SIGINT.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        runner.run_all(pool, bar, campaign.replan)
    except KeyboardInterrupt:
        report.stopped_by = "interrupted"
    finally:
        signal.signal(signal.SIGTERM, previous)
        pool.terminate()
        pool.join()
        bar.close()
    report.pending_left = len(runner.pending) + len(runner.running) + len(runner.deferred)
    report.seconds = time.monotonic() - start
    campaign.write_manifest(measured_rates(load_results(store / "results"), data_dir), workers)
    return report


__all__ = ["run_campaign", "parse_budget", "CampaignReport"]
