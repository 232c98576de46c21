"""Run configurations and profiles (smoke, local, paper); the plans of runs behind each section are in
:mod:`hmnet.plans`.

A :class:`RunConfig` is everything that determines one training run. Its :meth:`RunConfig.key` is the
name of the run's result file, so a result is a cache entry: asking again for a config whose result
exists returns it without training (see :mod:`hmnet.train`).

The cache key is the SHA-256 (first 20 hex digits) of

1. every config field except ``name`` (a display label) and ``data_dir`` (where the files sit: the same
   files under another path, say on Colab or a cluster node, are the same data), in field order;
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
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from collections.abc import Iterable, Mapping, Sequence

from hmnet.choices import METHODS, POOLINGS, SAMPLINGS, SOURCES, default_split
from hmnet.config_checks import (ATTENTION, FIELD_CHECKS, PRECISIONS, ConfigError, backbone_depth, check_backbone,
                                 check_choice, check_int, check_seeds, check_tasks, hmnet_default_split,
                                 normalize_clusters)
from hmnet.precision import key_precision
from hmnet.tasks import TASK_NAMES, get_task, manual_groups, resolve_tasks

log = logging.getLogger(__name__)

# Fields that label a run without changing it: left out of the cache key. The data directory is
# identified by the data fingerprint (each split's file, relative path and size), not by its location.
NOT_IN_KEY = ("name", "data_dir")
# Settings added after the first committed store, with the value every earlier run had: left out of the key
# while they hold it, so every stored key stays valid (a run that changes one gets a key of its own).
ADDED_SETTINGS: dict[str, Any] = {"pooling": "cls"}
# What a run computes, as a hand-bumped version (see the module docstring and tests/test_golden.py).
# History: 1 = the trainer of stops 9-10 (Algorithm 1, AdamW + linear decay, bf16 autocast on "auto").
TRAINING_SEMANTICS = 1


# ---------------------------------------------------------------------------------------------------------
# helpers


def data_fingerprint(config: RunConfig) -> dict[str, Any]:
    """What identifies the data a run reads (see the module docstring)."""
    if config.source == "synthetic":
        return {"source": "synthetic"}
    if config.source == "hub":
        return {"source": "hub", "datasets": {t: [get_task(t).hub.path, get_task(t).hub.config]
                                              for t in config.tasks}}
    from hmnet.data import find_file

    files: dict[str, Any] = {}
    base = Path(config.data_dir)
    for t in config.tasks:
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
    data_seed: int = _setting(0, "seed of subsampling and carving; fixed across training seeds")
    max_examples: int | None = _setting(None, "cap on training rows per task")
    max_eval_examples: int | None = _setting(None, "cap on rows per eval split")
    max_length: int = _setting(128, "tokens per example (longer inputs are truncated)")
    batch_size: int = _setting(32, "rows per optimizer step")
    lr: float = _setting(2e-5, "peak learning rate of AdamW (linear decay)")
    epochs: int = _setting(3, "passes over the task mix")
    seed: int = 0
    warmup_ratio: float = _setting(0.0, "share of the steps spent warming the learning rate up")
    weight_decay: float = _setting(0.01, "AdamW weight decay")
    grad_clip: float | None = _setting(1.0, "gradient norm clip (None: no clipping)")
    grad_accum: int = _setting(1, "micro-batches per batch (same effective batch)")
    sampling: str = _setting("proportional", "how the next batch's task is drawn", SAMPLINGS)
    temperature: float = _setting(2.0, "temperature of 'temperature' sampling")
    group_by_length: bool = _setting(False, "batch rows of similar length together (less padding)")
    mixed_precision: str = _setting("no", "autocast precision ('auto': bf16 where the device has it)", PRECISIONS)
    attn_implementation: str | None = _setting(None, "attention kernel (None: the backbone's)", ATTENTION)
    dropout: float | None = _setting(None, "every dropout probability of the model (None: the backbone's)")
    pooling: str = _setting("cls", "what the task heads read: the [CLS] state (the paper) or the mean of the "
                                   "tokens' states (how sentence-transformers backbones were trained)", POOLINGS)
    eval_every_epoch: bool = _setting(False, "also evaluate after each epoch")
    affinity: bool = False
    affinity_every: int = _setting(10, "steps between lookahead affinity measurements (affinity runs)")
    name: str = ""  # a display label (e.g. "hmnet:manual"); not part of the cache key

    def __post_init__(self):
        s = object.__setattr__
        s(self, "method", check_choice("method", self.method, METHODS))
        s(self, "tasks", check_tasks(self.tasks))
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
        clusters = self.clusters if self.clusters is not None else manual_groups(self.tasks)
        s(self, "clusters", normalize_clusters(clusters, self.tasks))
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
    def variant(self) -> str:
        """The row label in tables: ``name`` if set, else the method."""
        return self.name or self.method

    @property
    def depth(self) -> int | None:
        return backbone_depth(self.backbone)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: tuples become lists."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, tuple):
                v = list(v)
            elif isinstance(v, dict):
                v = {k: list(ts) for k, ts in v.items()}
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


# ---------------------------------------------------------------------------------------------------------
# profiles


# Fields a plan sets per run; every other RunConfig field is a setting that a profile may override.
PER_RUN = ("method", "tasks", "clusters", "split", "seed", "affinity", "name")
SETTINGS = tuple(f.name for f in fields(RunConfig) if f.name not in PER_RUN)
_SETTING_DEFAULTS = {f.name: f.default for f in fields(RunConfig) if f.name in SETTINGS}


@dataclass(frozen=True)
class Profile:
    """A named set of overrides of :class:`RunConfig`'s settings, with the tasks and seeds its plans cover.

    ``settings`` holds only what the profile changes; every other setting is RunConfig's default, read as
    an attribute (``profile.max_length``). Validated on construction by building a run config from it, so
    an impossible profile fails before any plan is made. ``split`` is the default HMNet split (None: the
    paper's, scaled to the depth).
    """

    name: str
    settings: dict[str, Any] = field(default_factory=dict)
    tasks: tuple[str, ...] = TASK_NAMES
    seeds: tuple[int, ...] = (0,)
    split: tuple[int, int, int] | None = None

    def __post_init__(self):
        s = object.__setattr__
        try:
            s(self, "tasks", resolve_tasks(self.tasks))
        except ValueError as err:
            raise ConfigError(f"profile {self.name!r}: {err}") from None
        try:
            s(self, "seeds", check_seeds(self.seeds))
        except ConfigError as err:
            raise ConfigError(f"profile {self.name!r}: {err}") from None
        unknown = sorted(set(self.settings) - set(SETTINGS))
        if unknown:
            raise ConfigError(f"profile {self.name!r}: setting(s) {unknown} are unknown; known: {', '.join(SETTINGS)}")
        settings = dict(self.settings)
        if settings.get("data_dir") is not None:
            settings["data_dir"] = str(Path(settings["data_dir"]).expanduser())
        s(self, "settings", settings)
        if self.source == "directory":
            self._check_directory()
        if self.split is not None:
            s(self, "split", tuple(self.split))
        try:  # every field is checked where RunConfig checks it
            self.run_config("hmnet")
        except ConfigError as err:
            raise ConfigError(f"profile {self.name!r}: {err}") from None

    def _check_directory(self) -> None:
        from hmnet.data import available_tasks

        if not self.data_dir:
            raise ConfigError(f"profile {self.name!r} reads a directory of GLUE/SuperGLUE/aclImdb files: pass "
                              "data_dir=... or set HMNET_DATA_DIR")
        if not Path(self.data_dir).is_dir():
            raise ConfigError(f"profile {self.name!r}: data_dir {self.data_dir!r} is not a directory")
        found = available_tasks(self.data_dir)
        missing = [t for t in self.tasks if t not in found]
        if missing:
            raise ConfigError(f"profile {self.name!r}: no files for task(s) {missing} under {self.data_dir}; "
                              f"found {sorted(found)} (pass tasks=... to choose)")
        if self.carve_train is None:
            no_train = [t for t in self.tasks if "train" not in found[t]]
            if no_train:
                raise ConfigError(f"profile {self.name!r}: task(s) {no_train} have no training file under "
                                  f"{self.data_dir}; set carve_train (e.g. 0.8) to carve one from the eval file")

    def __getattr__(self, name: str) -> Any:
        # A RunConfig setting: the profile's override, else RunConfig's default.
        if name in SETTINGS:
            return self.settings.get(name, _SETTING_DEFAULTS[name])
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def replace(self, **changes) -> Profile:
        """This profile with some fields changed (settings, tasks, seeds or split), checked anew."""
        own = {k: changes.pop(k, getattr(self, k)) for k in ("tasks", "seeds", "split")}
        return Profile(name=self.name, settings={**self.settings, **changes}, **own)

    @property
    def depth(self) -> int | None:
        return backbone_depth(self.backbone)

    def hmnet_split(self) -> tuple[int, int, int] | None:
        if self.split is not None:
            return self.split
        return hmnet_default_split(self.depth)

    def run_config(self, method: str, tasks: Iterable[str] | None = None,
                   clusters: Mapping[str, Iterable[str]] | None = None,
                   split: Sequence[int] | None = None, seed: int | None = None, **overrides) -> RunConfig:
        """A run of `method` on `tasks` (default: the profile's) with the profile's settings.

        For HMNet, clusters default to the manual design and the split to the profile's.
        """
        method = check_choice("method", method, METHODS)
        kwargs = {**self.settings, **overrides}
        if method == "hmnet":
            kwargs["clusters"] = clusters
            kwargs["split"] = tuple(split) if split is not None else self.hmnet_split()
        elif clusters is not None or split is not None:
            raise ConfigError(f"clusters and split apply to method 'hmnet' only, not {method!r}")
        return RunConfig(method=method, tasks=tuple(resolve_tasks(tasks) if tasks is not None else self.tasks),
                         seed=self.seeds[0] if seed is None else seed, **kwargs)


def _smoke() -> dict[str, Any]:
    # Synthetic suite, tiny random BERT: the whole book in minutes on 2 CPU cores (64 training rows a task,
    # two seeds so that every section shows a spread). A random encoder learns from scratch, so it needs more
    # and larger steps than fine-tuning: lr 2e-3 and batch 16 (with lr 1e-3 and batch 32 single-task runs stay
    # at chance on this suite). Otherwise the paper's recipe.
    return dict(source="synthetic", backbone="tiny", scale=0.5, max_examples=64, max_length=64, batch_size=16,
                lr=2e-3, epochs=3, max_eval_examples=None, seeds=(0, 1))


def _local() -> dict[str, Any]:
    # The reference build: MiniLM-L6 on capped real files (its results are committed under reference/local).
    # lr 1e-4: the small encoder barely moves at 5e-5 in the few hundred steps a capped run has (MNLI+BoolQ,
    # 500 rows each, 3 epochs: MNLI dev 37.5% at 5e-5; 640 rows at 1e-4: 42.7%). 1000 training rows per task
    # keep Table 1 with 3 seeds near 5 h of a 2-core CPU. Length grouping: on real RTE (2,490 rows, 2 threads)
    # 36 ex/s against 22 ex/s without (same rows per epoch, less padding). "auto" precision is bf16 autocast
    # on CPUs with native bf16, about 1.7x faster.
    return dict(source="directory", backbone="minilm", data_dir=os.environ.get("HMNET_DATA_DIR"),
                carve_train=0.8, max_examples=1000, max_eval_examples=1000, max_length=128, batch_size=32,
                lr=1e-4, epochs=3, mixed_precision="auto", group_by_length=True, seeds=(0, 1, 2))


def _paper() -> dict[str, Any]:
    # Section 4.3: bert-base-uncased, AdamW, lr 2e-5 decayed linearly, batch 32, max length 512, 3 epochs,
    # one seed. GPU options that leave the recipe unchanged: bf16 where supported, SDPA attention,
    # length-grouped batches (same rows per epoch, less padding).
    return dict(source="hub", backbone="bert-base-uncased", max_length=512, batch_size=32, lr=2e-5, epochs=3,
                mixed_precision="auto", attn_implementation="sdpa", group_by_length=True)


PROFILES = {"smoke": _smoke, "local": _local, "paper": _paper}
_ALIASES = {"max_train_examples": "max_examples", "seed": "seeds"}


def get_profile(name: str, **overrides) -> Profile:
    """A profile by name with field overrides, e.g. ``get_profile("smoke", tasks=("RTE", "MRPC"))``."""
    if name not in PROFILES:
        raise ConfigError(f"profile {name!r} is unknown; known: {', '.join(PROFILES)}")
    values = PROFILES[name]()
    known = (*SETTINGS, "tasks", "seeds", "split")
    for k, v in overrides.items():
        k = _ALIASES.get(k, k)
        if k not in known:
            raise ConfigError(f"profile field {k!r} is unknown; known: {', '.join(sorted(known))}")
        values[k] = v
    if name == "local" and "tasks" not in overrides and values.get("data_dir") and Path(values["data_dir"]).is_dir():
        from hmnet.data import available_tasks

        found = available_tasks(values["data_dir"])
        values["tasks"] = tuple(t for t in TASK_NAMES if t in found) or TASK_NAMES
    own = {k: values.pop(k) for k in ("tasks", "seeds", "split") if k in values}
    return Profile(name=name, settings=values, **own)


def profile_default(name: str, setting: str) -> Any:
    """What a named profile uses for one setting when nothing overrides it (e.g. its data source)."""
    if name not in PROFILES:
        raise ConfigError(f"profile {name!r} is unknown; known: {', '.join(PROFILES)}")
    if setting not in SETTINGS:
        raise ConfigError(f"{setting!r} is not a profile setting; known: {', '.join(SETTINGS)}")
    return PROFILES[name]().get(setting, _SETTING_DEFAULTS[setting])


def check_profile_field(name: str, value: Any) -> Any:
    """One field of a profile checked as the profile checks it: tasks, seeds, or a setting with the check
    :class:`RunConfig` applies to that field. Returns the value to keep."""
    checks = {"tasks": lambda n, v: check_tasks(v), "seeds": lambda n, v: check_seeds(v),
              "backbone": lambda n, v: check_backbone(v), **dict(FIELD_CHECKS),
              "source": lambda n, v: check_choice(n, v, SOURCES)}
    if name not in (*SETTINGS, "tasks", "seeds"):
        raise ConfigError(f"{name!r} is not a profile field; known: tasks, seeds, {', '.join(SETTINGS)}")
    return checks[name](name, value) if name in checks else value


def runs_dir(profile: str) -> Path:
    """A profile's output root when none is given: ``_build/runs/<profile>`` (notebooks, results, tables)."""
    return Path("_build") / "runs" / profile


def base_config(profile: str | Profile = "smoke", method: str = "multi", **overrides) -> RunConfig:
    """A run config with a profile's defaults (for code that varies method, tasks and seed itself)."""
    prof = get_profile(profile) if isinstance(profile, str) else profile
    return prof.run_config(method, **overrides)


__all__ = ["RunConfig", "Profile", "ConfigError", "get_profile", "base_config", "PROFILES", "METHODS",
           "default_split", "backbone_depth", "TRAINING_SEMANTICS", "SETTINGS", "runs_dir", "profile_default",
           "check_profile_field", "check_seeds"]
