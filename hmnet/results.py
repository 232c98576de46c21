"""Run results: the :class:`Result` record, its file, the result cache, the per-run lock, and summaries.

A result file ``<results>/<method>-<key>.json`` is written atomically (temporary file, fsync, rename)
with a completeness flag and a SHA-256 checksum of its content. Reading it back verifies both, the file
format and the key: a partial, corrupt or foreign file is ignored (with a warning), so the trainer
(:mod:`hmnet.train`) recomputes the run. :func:`summarize` turns results over seeds into Table 1's
means and confidence intervals.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hmnet.config_checks import ConfigError
from hmnet.experiments import RunConfig
from hmnet.files import atomic_write, canonical_json
from hmnet.metrics import mean_ci, paper_average, task_score
from hmnet.tasks import TASK_NAMES, get_task

log = logging.getLogger(__name__)

RESULT_FORMAT = 1
# What a record holds in place of the data directory's path (no record names a path of the machine).
PORTABLE_DATA_DIR = "$HMNET_DATA_DIR"


@dataclass
class Result:
    """One finished run, as stored in its result file."""

    config: RunConfig
    key: str
    metrics: dict[str, dict[str, dict[str, float]]]  # task -> eval split -> metric -> value (0-100)
    scores: dict[str, float | tuple[float, float]]  # Table 1's number(s) per task
    average: float  # Table 1's "Average Score" over this run's tasks
    params: dict[str, Any]  # {"overall": n, "activated": {task: n}, "activated_mean": x}
    wall_time: float  # seconds, all segments of a resumed run, data loading and evaluation included
    examples_per_second: float  # training rows per second of training time (all processes together)
    env: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)  # per epoch: train loss (and metrics)
    train_loss: list[float] = field(default_factory=list)  # bucket means of the per-step loss
    affinity: pd.DataFrame | None = None
    path: Path | None = None
    model_dir: str | None = None  # relative to the results directory
    # What the run's data holds that its config does not say: per carved task, how and why it was carved (see
    # hmnet.data.carve_notes). Not part of the key; stored only when there is something to say.
    data_notes: dict[str, str] = field(default_factory=dict)

    def score(self, task: str) -> float:
        """One number per task (MNLI: the mean of matched and mismatched)."""
        return task_score(self.scores[get_task(task, self.config.registry).name])

    def to_dict(self) -> dict[str, Any]:
        aff = None
        if self.affinity is not None:
            vals = self.affinity.to_numpy(dtype=float)
            aff = {"tasks": list(self.affinity.index),
                   "values": [[None if not math.isfinite(v) else float(v) for v in row] for row in vals]}
        config = self.config.to_dict()
        if config.get("data_dir"):  # where the files sat is no part of the run (see NOT_IN_KEY): keep no path
            config["data_dir"] = PORTABLE_DATA_DIR
        out = {"format": RESULT_FORMAT, "key": self.key, "config": config,
               "metrics": self.metrics,
               "scores": {t: list(s) if isinstance(s, tuple) else s for t, s in self.scores.items()},
               "average": self.average, "params": self.params, "wall_time": self.wall_time,
               "examples_per_second": self.examples_per_second, "env": self.env, "history": self.history,
               "train_loss": self.train_loss, "affinity": aff, "model_dir": self.model_dir}
        if self.data_notes:
            out["data_notes"] = dict(self.data_notes)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any], config: RunConfig | None = None, path: Path | None = None) -> Result:
        aff = None
        if d.get("affinity"):
            a = d["affinity"]
            vals = np.array([[np.nan if v is None else v for v in row] for row in a["values"]], dtype=float)
            aff = pd.DataFrame(vals, index=a["tasks"], columns=a["tasks"])
            aff.index.name, aff.columns.name = "source", "target"  # as hmnet.analysis.relevance matrices
        if config is None:
            config = RunConfig.from_dict(d["config"])
            config.use_stored_key(d["key"])  # its data directory is a placeholder: the record names the key
        return cls(config=config, key=d["key"], metrics=d["metrics"],
                   scores={t: tuple(s) if isinstance(s, list) else s for t, s in d["scores"].items()},
                   average=d["average"], params=d["params"], wall_time=d["wall_time"],
                   examples_per_second=d["examples_per_second"], env=d["env"], history=d.get("history", []),
                   train_loss=d.get("train_loss", []), affinity=aff, path=path, model_dir=d.get("model_dir"),
                   data_notes=dict(d.get("data_notes") or {}))


DATA_DIR_ENV = "HMNET_DATA_DIR"


def is_record(data: Any) -> bool:
    """Whether a JSON object is a whole result record (rather than a run config)."""
    return isinstance(data, dict) and {"format", "key", "config"} <= set(data)


def expand_data_dir(config: dict[str, Any], data_dir: str | None = None,
                    where: str = "the run config") -> dict[str, Any]:
    """A run config (a dict, as stored in a record) whose data folder is usable here: `data_dir` where given
    (the directory source only), else the placeholder :data:`PORTABLE_DATA_DIR` replaced by ``$HMNET_DATA_DIR``.
    A placeholder that nothing replaces is a ConfigError saying what to set."""
    out = dict(config)
    if data_dir is not None:
        if out.get("source") != "directory":
            raise ConfigError(f"{where}: --data-dir applies to the directory source; this config reads "
                              f"{out.get('source', 'synthetic')!r}")
        out["data_dir"] = str(Path(data_dir).expanduser())
    elif out.get("data_dir") == PORTABLE_DATA_DIR:
        if not os.environ.get(DATA_DIR_ENV):
            raise ConfigError(f"{where}: data_dir is the placeholder {PORTABLE_DATA_DIR} of a stored record; set "
                              f"{DATA_DIR_ENV} or pass --data-dir DIR with the data files")
        out["data_dir"] = str(Path(os.environ[DATA_DIR_ENV]).expanduser())
    return out


# The name campaign, store, device_pack, hf_check, reproduce and tests/test_golden.py import.
atomic_write_bytes = atomic_write


def result_path(config: RunConfig, results_dir: str | Path) -> Path:
    return Path(results_dir) / config.result_name()


def write_result(result: Result, results_dir: str | Path) -> Path:
    """Write the result file atomically, with a completeness flag and a checksum of its content."""
    payload = result.to_dict()
    payload["complete"] = True
    payload["checksum"] = hashlib.sha256(canonical_json(payload)).hexdigest()
    path = result_path(result.config, results_dir)
    atomic_write(path, json.dumps(payload, indent=1))
    result.path = path
    return path


def read_result_file(path: str | Path, config: RunConfig | None = None) -> Result | None:
    """A verified result, or None (with a warning) when the file is partial, corrupt or for another key."""
    path = Path(path)
    try:
        payload = json.loads(path.read_text())
        checksum = payload.pop("checksum")
        if not payload.get("complete") or hashlib.sha256(canonical_json(payload)).hexdigest() != checksum:
            raise ValueError("incomplete or checksum mismatch")
        if payload.get("format") != RESULT_FORMAT:
            raise ValueError(f"format {payload.get('format')!r}, expected {RESULT_FORMAT}")
        if config is not None and payload["key"] != config.key():
            raise ValueError(f"key {payload['key']} does not match the config's {config.key()}")
        return Result.from_dict(payload, config=config, path=path)
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError, OSError) as err:
        log.warning("ignoring result file %s (%s); the run will be recomputed", path, err)
        return None


def load_result(config: RunConfig, results_dir: str | Path) -> Result | None:
    """The stored result of `config`, or None when there is none or it does not verify."""
    return read_result_file(result_path(config, results_dir), config)


def load_results(results_dir: str | Path) -> list[Result]:
    """Every verified result file in a directory (sorted by file name)."""
    out = []
    for path in sorted(Path(results_dir).glob("*.json")):
        r = read_result_file(path)
        if r is not None:
            out.append(r)
    return out


def lock_path(results_dir: str | Path, config: RunConfig) -> Path:
    """The per-run lock file (held while a process trains the run)."""
    return Path(results_dir) / ".locks" / f"{config.method}-{config.key()}.lock"


@contextlib.contextmanager
def run_lock(results_dir: Path, config: RunConfig, enabled: bool = True):
    """An exclusive lock per run (flock; released when the process dies), so that two jobs of a plan
    that ask for the same config do not both train it: the second waits, then finds the result."""
    if not enabled:
        yield
        return
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    path = lock_path(results_dir, config)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("another process is training %s; waiting for it", config.result_name())
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# ---------------------------------------------------------------------------------------------------------
# summaries over seeds


def _entries(result: Result) -> dict[str, float]:
    """Table-1 entries of one result: MNLI-m and MNLI-mm separately (MNLI-m alone where the data has no
    mismatched split, as the local bundle), other tasks by name."""
    out = {}
    registry = getattr(result.config, "registry", None)
    for t, s in result.scores.items():
        if isinstance(s, tuple):
            out[f"{t}-m"], out[f"{t}-mm"] = s
        elif len(get_task(t, registry).table1_metrics) > 1 and len(get_task(t, registry).eval_splits) > 1:
            out[f"{t}-m"] = s  # a task printed as two entries, of which only the first split was evaluated
        else:
            out[t] = s
    return out


def summarize(results: Iterable[Result], confidence: float = 0.95) -> pd.DataFrame:
    """Mean, std and a Student-t confidence interval over seeds per variant and Table-1 entry.

    Rows: variant (the config's name, else its method), method, task (MNLI as MNLI-m / MNLI-mm, and
    "Average": Table 1's average over the variant's tasks per seed, over the seeds that hold all of them; no
    such row when none does), n, mean, std, ci_low, ci_high.
    Single-task runs of one task each combine into one "single" variant.
    """
    values: dict[str, dict[str, dict[int, float]]] = {}
    methods: dict[str, str] = {}
    registries: dict[str, Any] = {}  # a variant's tasks (those of a task file included)
    for r in results:
        v = r.config.variant
        methods.setdefault(v, r.config.method)
        registries[v] = getattr(r.config, "registry", None)
        for entry, score in _entries(r).items():
            per_seed = values.setdefault(v, {}).setdefault(entry, {})
            if r.config.seed in per_seed:
                raise ValueError(f"summarize: variant {v!r} has two results for {entry} with seed {r.config.seed}; "
                                 "give runs that differ a distinct config name")
            per_seed[r.config.seed] = float(score)
    rank = {t: i for i, t in enumerate(TASK_NAMES)}

    def order(entry: str) -> tuple:
        return (rank.get(entry_task(entry), len(rank)), entry)

    rows = []
    for v, entries in values.items():
        for entry in sorted(entries, key=order):
            rows.append({"variant": v, "method": methods[v], "task": entry,
                         **mean_ci(list(entries[entry].values()), confidence)})
        # A seed enters the average only with every entry the variant has (a campaign stopped half-way through
        # a seed's single-task runs would otherwise average that seed over fewer tasks).
        seeds = sorted({s for e in entries.values() for s in e})
        complete = [s for s in seeds if all(s in e for e in entries.values())]
        if complete:
            averages = [paper_average(_avg_scores(entries, s), registries[v]) for s in complete]
            rows.append({"variant": v, "method": methods[v], "task": "Average", **mean_ci(averages, confidence)})
    cols = ["variant", "method", "task", "n", "mean", "std", "ci_low", "ci_high"]
    return pd.DataFrame(rows, columns=cols)


def scores_frame(results: Iterable[Result]) -> pd.DataFrame:
    """One row per (run, task): variant (the run's label), seed, split, shared layers, task, score (MNLI: the
    mean of m/mm) and the run's average."""
    rows = []
    for r in results:
        c = r.config
        for t in r.scores:
            rows.append({"variant": c.variant, "seed": c.seed, "split": "-".join(map(str, c.split or ())),
                         "shared layers": c.split[0] if c.split else np.nan, "task": t, "score": r.score(t),
                         "average": r.average})
    return pd.DataFrame(rows, columns=["variant", "seed", "split", "shared layers", "task", "score", "average"])


def entry_task(entry: str) -> str:
    """The task of a summary entry: MNLI for MNLI's two dev sets, "MNLI-m" and "MNLI-mm"."""
    return entry[:-3] if entry.endswith("-mm") else entry[:-2] if entry.endswith("-m") else entry


def _avg_scores(entries: dict[str, dict[int, float]], seed: int) -> dict[str, Any]:
    """Per-seed scores keyed by task, as paper_average wants them (MNLI as an (m, mm) pair)."""
    out: dict[str, Any] = {}
    for e, vals in entries.items():
        if seed not in vals:
            continue
        if e.endswith("-mm"):
            out.setdefault(e[:-3], [None, None])[1] = vals[seed]
        elif e.endswith("-m") and e[:-2] in TASK_NAMES:
            out.setdefault(e[:-2], [None, None])[0] = vals[seed]
        else:
            out[e] = vals[seed]
    return {t: tuple(x for x in s if x is not None) if isinstance(s, list) else s for t, s in out.items()}


__all__ = ["Result", "RESULT_FORMAT", "PORTABLE_DATA_DIR", "expand_data_dir", "is_record", "result_path",
           "write_result", "read_result_file", "load_result", "load_results", "summarize", "scores_frame"]
