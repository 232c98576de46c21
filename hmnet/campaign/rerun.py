"""Re-running stored records: does a record's own config, trained again here, give its scores?

:func:`rerun_store` (``hmnet rerun``) takes records of a results store (named, or a seeded random sample), checks
all of them first (each record verifies, its config builds here, its data folder placeholder expands), then trains
each one again from its own config into a scratch folder (never into the store, and always afresh), and reports per
record whether every Table-1 score and the average match the stored ones within a stated tolerance, in points
(0-100). Each side's machine and precision are reported: the stored record's environment, and this machine's.

- A record that does not verify (checksum, completeness, format) is reported as ``damaged`` and not run.
- A tampered record whose checksum was recomputed verifies, and its rerun reports the ``mismatch``.
- A config whose key here differs from the stored key is run all the same, and the report says why it may
  differ: "auto" precision that means another precision on this machine, or other data files.
- A run that fails with one of the package's errors (data missing, say) is reported as ``failed`` with that line.

The report is written to ``<scratch>/rerun-report.json`` as well.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from hmnet.errors import HmnetError, UsageError, one_line
from hmnet.experiments import RunConfig
from hmnet.files import atomic_write
from hmnet.precision import machine_description, resolve_precision
from hmnet.results import Result, expand_data_dir, read_result_file

log = logging.getLogger(__name__)

DEFAULT_TOLERANCE = 0.01  # points (0-100): the stored scores' second decimal
REPORT_NAME = "rerun-report.json"


@dataclass
class Outcome:
    """One record re-run: its status ("match", "mismatch", "damaged" or "failed") and what was compared."""

    record: str
    status: str
    tolerance: float
    stored_key: str | None = None
    rerun_key: str | None = None
    max_difference: float | None = None
    scores: dict[str, dict[str, float]] = field(default_factory=dict)  # entry -> stored, rerun, difference
    stored: dict[str, Any] = field(default_factory=dict)  # machine and precision of each side
    rerun: dict[str, Any] = field(default_factory=dict)
    note: str = ""


def choose_records(store: Path, names: Sequence[str] = (), sample: int | None = None, seed: int = 0) -> list[Path]:
    """The records of `store` to re-run: those named (a file name, or a key or a prefix of one), else a seeded
    random sample of `sample` of them, else all."""
    records = sorted(p for p in Path(store).glob("*.json") if not p.name.startswith("."))
    if not records:
        raise UsageError(f"--results {store}: no records (*.json) in this folder")
    if names:
        chosen = []
        for name in names:
            found = [p for p in records if p.name == name or p.stem.split("-")[-1].startswith(name)]
            if len(found) != 1:
                what = "no record" if not found else f"{len(found)} records"
                raise UsageError(f"record {name!r}: {what} in {store} match it; name a file or a longer key")
            chosen.append(found[0])
        return chosen
    if sample is not None:
        if sample < 1:
            raise UsageError(f"--sample must be at least 1, got {sample}")
        return sorted(random.Random(seed).sample(records, min(sample, len(records))))
    return records


def side(env: dict[str, Any]) -> dict[str, Any]:
    """The machine and precision a record's environment names."""
    return {"machine": env.get("machine") or env.get("device"), "device": env.get("device"),
            "precision": env.get("mixed_precision"), "platform": env.get("platform"),
            "torch_threads": env.get("torch_threads"), "commit": env.get("commit")}


def _entries(result: Result) -> dict[str, float]:
    out = {}
    for task, score in result.scores.items():
        values = score if isinstance(score, tuple) else (score,)
        for i, v in enumerate(values):
            out[task if len(values) == 1 else f"{task}-{'m' if i == 0 else 'mm'}"] = float(v)
    out["average"] = float(result.average)
    return out


def compare(stored: Result, rerun: Result, tolerance: float) -> tuple[str, float, dict[str, dict[str, float]]]:
    """(status, largest difference, per entry: stored, rerun, difference) of two results' Table-1 scores."""
    a, b = _entries(stored), _entries(rerun)
    scores, worst = {}, 0.0
    for entry in dict.fromkeys([*a, *b]):
        diff = abs(a[entry] - b[entry]) if entry in a and entry in b else math.inf
        scores[entry] = {"stored": a.get(entry, math.nan), "rerun": b.get(entry, math.nan), "difference": diff}
        worst = max(worst, diff)
    return ("match" if worst <= tolerance + 1e-9 else "mismatch"), worst, scores


def _key_note(stored: Result, config: RunConfig) -> str:
    if stored.key == config.key():
        return ""
    there = stored.env.get("mixed_precision")
    if config.mixed_precision == "auto" and there != resolve_precision("auto"):
        return (f"the key differs here: precision 'auto' ran as {there!r} there and runs as "
                f"{resolve_precision('auto')!r} here")
    if config.source == "directory":
        return "the key differs here: the data files differ (names or sizes), or the settings' defaults"
    return "the key differs here: the settings' defaults or the training-semantics version differ"


def _prepare(path: Path, data_dir: str | None) -> tuple[Result | None, RunConfig | None]:
    """A record and the config it re-runs with (data folder expanded); (None, None) when it does not verify."""
    stored = read_result_file(path)
    if stored is None:
        return None, None
    config = RunConfig.from_dict(expand_data_dir(stored.config.to_dict(), data_dir, f"record {path.name}"))
    return stored, config


def rerun_one(path: Path, stored: Result, config: RunConfig, scratch: Path, tolerance: float,
              train: Callable[..., Result], **train_kwargs) -> Outcome:
    """Train `config` afresh in ``<scratch>/<record>`` and compare with `stored`."""
    folder = scratch / path.stem
    (folder / config.result_name()).unlink(missing_ok=True)  # a scratch folder: a rerun always trains
    here = {"machine": machine_description(), "precision": resolve_precision(config.mixed_precision)}
    out = Outcome(path.name, "failed", tolerance, stored.key, config.key(), stored=side(stored.env), rerun=here,
                  note=_key_note(stored, config))
    try:
        result = train(config, folder, resume=False, **train_kwargs)
    except HmnetError as err:
        out.note = "; ".join(x for x in (out.note, one_line(err)) if x)
        return out
    out.status, out.max_difference, out.scores = compare(stored, result, tolerance)
    out.rerun = side(result.env)
    return out


def rerun_store(store: str | Path, scratch: str | Path, names: Sequence[str] = (), sample: int | None = None,
                seed: int = 0, tolerance: float = DEFAULT_TOLERANCE, data_dir: str | None = None,
                train: Callable[..., Result] | None = None, **train_kwargs) -> list[Outcome]:
    """Re-run records of `store` into `scratch` (see the module docstring); every record is checked before the
    first one trains. `train` defaults to :func:`hmnet.train.train`; `train_kwargs` go to it (cpu, progress)."""
    if train is None:
        from hmnet.train import train
    store, scratch = Path(store), Path(scratch)
    if not math.isfinite(tolerance) or tolerance < 0:
        raise UsageError(f"--tolerance must be a number of points >= 0, got {tolerance}")
    if scratch.resolve() == store.resolve():
        raise UsageError(f"--scratch {scratch}: is the store itself; a rerun writes into a folder of its own")
    paths = choose_records(store, names, sample, seed)
    prepared = [(p, *_prepare(p, data_dir)) for p in paths]
    outcomes = []
    for path, stored, config in prepared:
        if stored is None:
            outcomes.append(Outcome(path.name, "damaged", tolerance, note="the record does not verify (checksum, "
                                    "completeness or format): not run"))
            continue
        log.info("re-running %s (%s)", path.name, config.variant)
        outcomes.append(rerun_one(path, stored, config, scratch, tolerance, train, **train_kwargs))
    write_report(outcomes, scratch, store)
    return outcomes


def _finite(value):
    """`value` with every non-finite number as None (JSON has none)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def write_report(outcomes: Sequence[Outcome], scratch: Path, store: Path) -> Path:
    """``<scratch>/rerun-report.json``: the store, the date, this machine and every outcome."""
    report = {"store": str(store), "date": time.strftime("%Y-%m-%d %H:%M:%S"), "this_machine": machine_description(),
              "outcomes": [asdict(o) for o in outcomes]}
    return atomic_write(scratch / REPORT_NAME, json.dumps(_finite(report), indent=1))


def outcome_table(outcomes: Sequence[Outcome]):
    """The report as a table: one row per record."""
    rows = [{"record": o.record, "status": o.status,
             "max |diff|": "" if o.max_difference is None else f"{o.max_difference:.4g}",
             "stored on": f"{o.stored.get('machine') or '?'}, {o.stored.get('precision') or '?'}" if o.stored else "",
             "rerun on": f"{o.rerun.get('machine') or '?'}, {o.rerun.get('precision') or '?'}" if o.rerun else "",
             "same key": "" if o.rerun_key is None else ("yes" if o.rerun_key == o.stored_key else "no"),
             "note": o.note} for o in outcomes]
    return pd.DataFrame(rows)


__all__ = ["DEFAULT_TOLERANCE", "REPORT_NAME", "Outcome", "choose_records", "compare", "outcome_table",
           "rerun_store", "side"]
