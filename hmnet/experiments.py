"""Run configurations: :class:`RunConfig`, everything that determines one training run, and its cache key.
Profiles (smoke, local, paper) are in :mod:`hmnet.profiles`; the plans of runs behind each section in
:mod:`hmnet.sections` (one module per section).

A :class:`RunConfig` is everything that determines one training run. Its :meth:`RunConfig.key` is the
name of the run's result file, so a result is a cache entry: asking again for a config whose result
exists returns it without training (see :mod:`hmnet.train`).

The cache key is the SHA-256 (first 20 hex digits) of

1. every config field except ``name`` (a display label), ``tags`` (where a plan uses the run: its section,
   role and grouping) and ``data_dir`` (where the files sit: the same files under another path, say on Colab
   or a cluster node, are the same data), in field order;
2. a fingerprint of the data: the source, and for the directory source the file each task split reads
   (relative path and size in bytes); for the hub its dataset ids; for the synthetic suite nothing more
   (its generator is part of the code version below);
3. the precision that runs: ``mixed_precision`` with ``"auto"`` resolved for this machine
   (:func:`hmnet.precision.key_precision`: ``"auto"`` stays ``"auto"`` where it means bf16, as it did for
   every record stored before, and becomes ``"auto->no"`` where it means full precision), so one key never
   holds two computations;
4. the training-semantics version (:data:`TRAINING_SEMANTICS`): an integer bumped by hand whenever what a
   run computes changes (the model, the data pipeline, the batch order, the optimizer, the evaluation).
   A pure refactor keeps it, so every stored result, the committed reference store included, stays valid.
   ``tests/test_golden.py`` guards it: a tiny deterministic run whose per-step losses and final scores
   must match stored values, so a change in behaviour fails until the version is bumped (and the golden
   values regenerated with ``python tests/test_golden.py --update``).

The software environment (commit, package versions, device) is recorded in each result but is not part of
the key.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from hmnet.choices import CARVE_UNITS, METHODS, POOLINGS, SAMPLINGS, SOURCES, default_split
from hmnet.config_checks import (ATTENTION, FIELD_CHECKS, PRECISIONS, ConfigError, backbone_depth, check_backbone,
                                 check_choice, check_int, check_seeds, check_task_file, check_tasks,
                                 hmnet_default_split, normalize_clusters, task_registry)
from hmnet.data import find_file
from hmnet.precision import key_precision
from hmnet.tasks import TaskRegistry, get_task, manual_groups

log = logging.getLogger(__name__)

# Fields that label a run without changing it: left out of the cache key. The data directory is
# identified by the data fingerprint (each split's file, relative path and size), not by its location, and
# a task file by what its tasks declare and their files' content (see data_fingerprint), not by its path.
NOT_IN_KEY = ("name", "tags", "data_dir", "task_file")
# Settings added after the first committed store, with the value every earlier run had: left out of the key
# while they hold it, so every stored key stays valid (a run that changes one gets a key of its own).
ADDED_SETTINGS: dict[str, Any] = {"pooling": "cls", "carve_by": "row", "carve_tasks": None, "length_chunk": 100,
                                  "min_steps": None, "task_file": None}
# The fields that decide which rows a run reads (caches of loaded data key on them).
DATA_FIELDS = ("source", "data_dir", "scale", "carve_train", "carve_by", "carve_tasks", "data_seed",
               "max_examples", "max_eval_examples", "task_file")
# What a run computes, as a hand-bumped version (see the module docstring and tests/test_golden.py).
# History: 1 = the trainer of stops 9-10 (Algorithm 1, AdamW + linear decay, bf16 autocast on "auto").
TRAINING_SEMANTICS = 1


# ---------------------------------------------------------------------------------------------------------
# helpers


def data_fingerprint(config: RunConfig) -> dict[str, Any]:
    """What identifies the data a run reads (see the module docstring). A run with tasks of a task file adds
    ``task_file``: per task, its definition (data paths left out) and its files' sizes and SHA-256."""
    out = _builtin_fingerprint(config, [t for t in config.tasks if config.registry.get(t).builtin])
    own = [t for t in config.tasks if not config.registry.get(t).builtin]
    if own:
        cached = config.__dict__.get("_task_fingerprint")
        if cached is None:
            from hmnet.data.taskfile import task_fingerprint

            cached = {t: task_fingerprint(config.registry.get(t)) for t in own}
            object.__setattr__(config, "_task_fingerprint", cached)
        out["task_file"] = cached
    return out


def _builtin_fingerprint(config: RunConfig, tasks: Sequence[str]) -> dict[str, Any]:
    if config.source == "synthetic":
        return {"source": "synthetic"}
    if config.source == "hub":
        return {"source": "hub", "datasets": {t: [get_task(t).hub.path, get_task(t).hub.config]
                                              for t in tasks}}

    files: dict[str, Any] = {}
    base = Path(config.data_dir)
    for t in tasks:
        spec = get_task(t)
        for split in ("train", *spec.eval_splits):
            path = find_file(t, split, base)
            if path is None:
                files[f"{t}/{split}"] = None
            elif path.is_dir():
                files[f"{t}/{split}"] = [str(path.relative_to(base)), sum(1 for _ in path.rglob("*.txt"))]
            else:
                files[f"{t}/{split}"] = [str(path.relative_to(base)), path.stat().st_size]
    return {"source": "directory", "files": files}


# ---------------------------------------------------------------------------------------------------------
# one run


def check_tags(tags) -> dict[str, str] | None:
    """A run's tags: None, or a mapping of strings to strings (as plans set them)."""
    if tags is None:
        return None
    if not isinstance(tags, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
        raise ConfigError(f"tags must map names to strings, got {tags!r}")
    return dict(tags)


def _setting(default: Any, help: str, choices: Sequence[str] | None = None) -> Any:
    """A run setting: its default, and the help text and choices the command line shows (``hmnet.cli`` builds
    one option per setting from these)."""
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines one training run (Algorithm 1 with one method on a set of tasks).

    ``clusters`` and ``split`` apply to ``method="hmnet"`` only: clusters default to the manual design
    (Section 4.1) and the split to the paper's {8, 2, 2} scaled to the backbone depth. ``dropout``
    overrides every dropout probability of the model (None keeps the backbone's). ``grad_accum`` splits
    each batch of ``batch_size`` rows into that many micro-batches (same effective batch).
    """

    method: str
    tasks: tuple[str, ...]
    clusters: dict[str, tuple[str, ...]] | None = None
    split: tuple[int, int, int] | None = None
    backbone: str = _setting("tiny", "encoder: tiny, minilm, random:bert-base, a hub id or a local path")
    source: str = _setting("synthetic", "where the data comes from", SOURCES)
    data_dir: str | None = _setting(None, "folder of GLUE/SuperGLUE/aclImdb files (source 'directory')")
    scale: float = _setting(1.0, "synthetic suite size factor")
    carve_train: float | None = _setting(None, "directory source: share of a labelled split carved into a train "
                                               "split for tasks without one")
    carve_by: str = _setting("row", "directory source: what a carve keeps whole on one side: a row (v1), or the "
                                    "rows that share a text (premise, context sentence, passage)", CARVE_UNITS)
    carve_tasks: tuple[str, ...] | None = _setting(None, "directory source: the tasks whose train rows are carved "
                                                         "(None: every task without a training file, as in v1)")
    data_seed: int = _setting(0, "seed of subsampling and carving; fixed across training seeds")
    max_examples: int | None = _setting(None, "cap on training rows per task")
    max_eval_examples: int | None = _setting(None, "cap on rows per eval split")
    max_length: int = _setting(128, "tokens per example (longer inputs are truncated)")
    batch_size: int = _setting(32, "rows per optimizer step")
    lr: float = _setting(2e-5, "peak learning rate of AdamW (linear decay)")
    epochs: int = _setting(3, "passes over the task mix")
    min_steps: int | None = _setting(None, "at least this many optimizer steps: whole epochs are added to a run "
                                           "that 'epochs' leaves shorter (None: epochs as given)")
    seed: int = 0
    warmup_ratio: float = _setting(0.0, "share of the steps spent warming the learning rate up")
    weight_decay: float = _setting(0.01, "AdamW weight decay")
    grad_clip: float | None = _setting(1.0, "gradient norm clip (None: no clipping)")
    grad_accum: int = _setting(1, "micro-batches per batch (same effective batch)")
    sampling: str = _setting("proportional", "how the next batch's task is drawn", SAMPLINGS)
    temperature: float = _setting(2.0, "temperature of 'temperature' sampling")
    group_by_length: bool = _setting(False, "batch rows of similar length together (less padding)")
    length_chunk: int = _setting(100, "length grouping sorts rows inside chunks of this many batches (v1: 100, "
                                      "which on 1,000 rows fixes the batches; 8 draws new ones every epoch)")
    mixed_precision: str = _setting("no", "autocast precision ('auto': bf16 where the device has it)", PRECISIONS)
    attn_implementation: str | None = _setting(None, "attention kernel (None: the backbone's)", ATTENTION)
    dropout: float | None = _setting(None, "every dropout probability of the model (None: the backbone's)")
    pooling: str = _setting("cls", "what the task heads read: the [CLS] state (the paper) or the mean of the "
                                   "tokens' states (how sentence-transformers backbones were trained)", POOLINGS)
    eval_every_epoch: bool = _setting(False, "also evaluate after each epoch")
    affinity: bool = False
    affinity_every: int = _setting(10, "steps between lookahead affinity measurements (affinity runs)")
    task_file: str | None = _setting(None, "a YAML or JSON file declaring your own tasks (hmnet.data.taskfile); the "
                                           "tasks may then name them beside the 13")
    name: str = ""  # a display label (e.g. "HMNet_md"); not part of the cache key, and never read back
    # What a plan uses the run for, as data (e.g. {"section": "table1", "role": "hmnet", "grouping": "manual"}):
    # not part of the cache key, so two sections that plan the same run share its record.
    tags: dict[str, str] | None = None

    def __post_init__(self):
        s = object.__setattr__
        s(self, "method", check_choice("method", self.method, METHODS))
        s(self, "task_file", check_task_file("task_file", self.task_file))
        s(self, "_registry", task_registry(self.task_file))
        s(self, "tasks", check_tasks(self.tasks, self.registry))
        s(self, "backbone", check_backbone(self.backbone))
        self._check_layout()
        s(self, "source", check_choice("source", self.source, SOURCES))
        if self.source == "directory" and not self.data_dir:
            raise ConfigError("source 'directory' needs data_dir (a folder of GLUE/SuperGLUE files)")
        if self.data_dir is not None:
            s(self, "data_dir", str(self.data_dir))
        for name, check in FIELD_CHECKS:
            s(self, name, check(name, getattr(self, name)))
        if self.grad_accum > self.batch_size:
            raise ConfigError(f"grad_accum {self.grad_accum} exceeds batch_size {self.batch_size}: "
                              "each micro-batch needs at least one row")
        if self.affinity and len(self.tasks) < 2:
            raise ConfigError("affinity needs at least two tasks in the run")
        s(self, "tags", check_tags(self.tags))

    def _check_layout(self) -> None:
        """``clusters`` and ``split``: for method "hmnet" normalised (the manual groups and the default split
        when absent), for any other method absent."""
        s = object.__setattr__
        if self.method != "hmnet":
            if self.clusters is not None:
                raise ConfigError(f"clusters apply to method 'hmnet' only, not {self.method!r}")
            if self.split is not None:
                raise ConfigError(f"split applies to method 'hmnet' only, not {self.method!r}")
            return
        clusters = self.clusters if self.clusters is not None else manual_groups(self.tasks, self.registry)
        s(self, "clusters", normalize_clusters(clusters, self.tasks, self.registry))
        depth = backbone_depth(self.backbone)
        split = self.split if self.split is not None else hmnet_default_split(depth)
        if split is not None:
            if isinstance(split, str) or len(split) != 3:
                raise ConfigError(f"split must be three layer counts (shared, cluster, task), got {split!r}")
            split = tuple(check_int(f"split[{i}]", v, 0) for i, v in enumerate(split))
            if depth is not None and sum(split) != depth:
                raise ConfigError(f"split {split} has {sum(split)} layers but backbone {self.backbone!r} "
                                  f"has {depth}; shared + cluster + task must equal the depth")
        s(self, "split", split)

    # A dict field makes the generated hash fail; the key identifies the run.
    def __hash__(self) -> int:
        return hash(self.key())

    @property
    def registry(self) -> TaskRegistry:
        """The tasks this run can name: the 13 built-ins, and those of its task file."""
        return self.__dict__["_registry"]

    @property
    def variant(self) -> str:
        """The row label in tables: ``name`` if set, else the method (a label: read by people, not by code)."""
        return self.name or self.method

    def tag(self, name: str, default: str | None = None) -> str | None:
        """One of the run's tags (``tags``), or `default`."""
        return (self.tags or {}).get(name, default)

    @property
    def depth(self) -> int | None:
        return backbone_depth(self.backbone)

    def epochs_for(self, batches_per_epoch: int) -> int:
        """The epochs this run trains when an epoch has `batches_per_epoch` optimizer steps: ``epochs``, raised
        to reach ``min_steps`` when it is set."""
        if self.min_steps is None or batches_per_epoch <= 0:
            return self.epochs
        return max(self.epochs, -(-self.min_steps // batches_per_epoch))

    def data_args(self) -> tuple:
        """The values of :data:`DATA_FIELDS`: two runs with equal data_args read the same rows."""
        return tuple(getattr(self, f) for f in DATA_FIELDS)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: tuples become lists."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, tuple):
                v = list(v)
            elif isinstance(v, dict) and f.name == "clusters":
                v = {k: list(ts) for k, ts in v.items()}
            elif isinstance(v, dict):
                v = dict(v)
            out[f.name] = v
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown run config field(s) {unknown}; known: {', '.join(sorted(known))}")
        missing = [k for k in ("method", "tasks") if k not in data]
        if missing:
            raise ConfigError(f"run config needs {missing}")
        return cls(**dict(data))

    @classmethod
    def from_json(cls, text: str) -> RunConfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(f"run config is not valid JSON: {err}") from None
        if not isinstance(data, dict):
            raise ConfigError("run config JSON must be an object")
        return cls.from_dict(data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    def key_payload(self) -> dict[str, Any]:
        """What the cache key hashes (see the module docstring)."""
        cfg = {k: v for k, v in self.to_dict().items()
               if k not in NOT_IN_KEY and not (k in ADDED_SETTINGS and v == ADDED_SETTINGS[k])}
        cfg["mixed_precision"] = key_precision(self.mixed_precision)  # "auto" resolved (hmnet.precision)
        return {"config": cfg, "data": data_fingerprint(self), "semantics": TRAINING_SEMANTICS}

    def key(self) -> str:
        stored = self.__dict__.get("_stored_key")
        if stored is not None:
            return stored
        blob = json.dumps(self.key_payload(), separators=(",", ":"), default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    def use_stored_key(self, key: str) -> None:
        """For a config read back from a result record, whose data directory is a placeholder: its key is
        the one the record names (computed where the data was). ``dataclasses.replace`` drops it."""
        object.__setattr__(self, "_stored_key", str(key))

    def result_name(self) -> str:
        """The result file's name: ``<method>-<key>.json``."""
        return f"{self.method}-{self.key()}.json"


__all__ = ["RunConfig", "ConfigError", "METHODS", "default_split", "backbone_depth", "TRAINING_SEMANTICS",
           "DATA_FIELDS", "data_fingerprint", "check_seeds"]
