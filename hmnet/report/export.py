"""`hmnet export RUN_KEY DIR` (and the book page on your own tasks): a stored run's kept model as a Hugging Face
folder (:class:`hmnet.models.HMNetForTasks`), with the tokenizer it was trained with and a model card holding the
run's record.

A run keeps its model when trained with ``--keep-model`` (``<results>/models/<method>-<key>``, see
:func:`hmnet.models.save_model`); its record (``<results>/<method>-<key>.json``) gives the scores, the settings and
the environment. The floors of a constant prediction are computed on the run's own evaluation rows where its data
is at hand (``data_dir``, else ``$HMNET_DATA_DIR`` for the directory source); otherwise the card says they are not.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

from hmnet.analysis.floors import constant_baselines
from hmnet.errors import DataError, UsageError
from hmnet.experiments import data_fingerprint
from hmnet.results import PORTABLE_DATA_DIR, Result, read_result_file

log = logging.getLogger(__name__)

PER_RUN = ("method", "tasks", "clusters", "split", "seed", "name")


def find_record(key: str, results_dir: str | Path) -> Path:
    """The record ``<method>-<key>.json`` in a results folder (a key prefix of 6 or more hex digits will do)."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise UsageError(f"--results {results_dir}: no such folder")
    if len(key) < 6 or not all(c in "0123456789abcdef" for c in key.lower()):
        raise UsageError(f"run key {key!r} is not a key: 6 to 20 hex digits (as in the result file's name)")
    found = sorted(results_dir.glob(f"*-{key.lower()}*.json"))
    if not found:
        raise UsageError(f"no run {key} in {results_dir} (its record is <method>-<key>.json)")
    if len(found) > 1:
        raise UsageError(f"run key {key} is ambiguous in {results_dir}: {', '.join(p.name for p in found)}")
    return found[0]


def _runnable_config(result: Result, data_dir: str | None):
    """The record's config with its data directory where the files are (records hold a placeholder)."""
    config = result.config
    if config.data_dir == PORTABLE_DATA_DIR:
        where = data_dir or os.environ.get("HMNET_DATA_DIR")
        if not where:
            return None
        config = dataclasses.replace(config, data_dir=str(where))
    return config


def floors_of(result: Result, data_dir: str | None) -> tuple[dict[str, Any] | None, str]:
    """The run's constant-prediction floors (majority class, best constant) per task, and a note."""
    config = _runnable_config(result, data_dir)
    if config is None:
        return None, "Floors: not computed (the run's data files were not at hand when it was exported)."
    try:
        majority, best = constant_baselines(config)
    except (DataError, OSError, ValueError) as err:
        return None, f"Floors: not computed ({err})."
    return ({"majority": {t: round(v, 3) for t, v in majority.items()},
             "best_constant": {t: round(v, 3) for t, v in best.items()}},
            "Floors: computed on the run's own evaluation rows (regression tasks have none).")


def _data_files(result: Result, data_dir: str | None) -> Any:
    config = _runnable_config(result, data_dir)
    if config is None:
        return {"source": result.config.source, "note": "files not at hand at export; the run key identifies them"}
    try:
        return data_fingerprint(config)
    except (DataError, OSError, ValueError) as err:
        return {"source": config.source, "note": f"not read at export ({err})"}


def run_summary(result: Result, data_dir: str | None = None) -> dict[str, Any]:
    """What the model card and ``predict`` need of a run's record: key, tasks, clusters, split, seed, settings,
    data files, scores (and every metric), floors, the precision and batches of its evaluation, environment."""
    config = result.config
    settings = {k: v for k, v in config.to_dict().items() if k not in PER_RUN}
    if settings.get("task_file"):
        settings["task_file"] = Path(settings["task_file"]).name
    floors, note = floors_of(result, data_dir)
    env = result.env or {}
    return {"key": result.key, "method": config.method, "variant": config.variant, "tasks": list(config.tasks),
            "clusters": {k: list(v) for k, v in config.clusters.items()} if config.clusters else None,
            "split": list(config.split) if config.split else None, "seed": config.seed, "settings": settings,
            "data": _data_files(result, data_dir),
            "scores": {t: list(s) if isinstance(s, tuple) else s for t, s in result.scores.items()},
            "metrics": result.metrics, "average": result.average, "floors": floors, "floors_note": note,
            "precision": env.get("mixed_precision", "no"), "eval_batch_size": 2 * config.batch_size,
            "environment": {k: env[k] for k in ("commit", "torch", "transformers", "device") if k in env},
            "wall_time": result.wall_time}


def export_run(key: str, out_dir: str | Path, results_dir: str | Path, data_dir: str | None = None):
    """Write the run's kept model as a Hugging Face folder; returns the :class:`HMNetForTasks`. A model kept by
    a retraining (a run stored without one, trained again with ``keep_model``) comes with that retraining's own
    record beside it, which the card then reports."""
    from hmnet.backbone import load_tokenizer
    from hmnet.models import HMNetForTasks, load_model

    path = find_record(key, results_dir)
    result = read_result_file(path)
    if result is None:
        raise DataError(f"{path}: the record does not verify or its tasks cannot be read (see the warning above)")
    model_dir = Path(results_dir) / "models" / path.stem
    if not (model_dir / "model.safetensors").exists():
        raise UsageError(f"run {result.key} kept no model (no {model_dir}): train it again with --keep-model")
    beside = read_result_file(model_dir / path.name) if (model_dir / path.name).exists() else None
    result = beside or result
    c = result.config
    model = load_model(model_dir, method=c.method, tasks=c.tasks, clusters=c.clusters, split=c.split)
    hf = HMNetForTasks.from_model(model, load_tokenizer(c.backbone), run=run_summary(result, data_dir))
    hf.save_pretrained(str(out_dir))
    log.info("exported run %s to %s", result.key, out_dir)
    return hf


__all__ = ["export_run", "run_summary", "find_record", "floors_of"]
