"""Run configurations, profiles (smoke, local, paper) and the plans of runs behind each section.

A :class:`RunConfig` is everything that determines one training run. Its :meth:`RunConfig.key` is the
name of the run's result file, so a result is a cache entry: asking again for a config whose result
exists returns it without training (see :mod:`hmnet.train`).

The cache key is the SHA-256 (first 20 hex digits) of

1. every config field except ``name`` (a display label) and ``data_dir`` (where the files sit: the same
   files under another path, say on Colab or a cluster node, are the same data), in field order;
2. a fingerprint of the data: the source, and for the directory source the file each task split reads
   (relative path and size in bytes); for the hub its dataset ids; for the synthetic suite nothing more
   (its generator is part of the code version below);
3. the training-semantics version (:data:`TRAINING_SEMANTICS`): an integer bumped by hand whenever what a
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
import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from collections.abc import Iterable, Mapping, Sequence

from hmnet.choices import METHODS, SAMPLINGS, SOURCES, default_split
from hmnet.errors import HmnetError
from hmnet.tasks import TASK_NAMES, get_task, manual_groups, resolve_tasks

log = logging.getLogger(__name__)

PRECISIONS = ("no", "bf16", "fp16", "auto")
ATTENTION = ("eager", "sdpa", "flash_attention_2")
# Depths of backbones whose config may not be readable offline (hub ids), for early split checks.
KNOWN_DEPTHS = {"tiny": 4, "minilm": 6, "random:bert-base": 12, "bert-base-uncased": 12,
                "bert-base-cased": 12, "google-bert/bert-base-uncased": 12}
# Fields that label a run without changing it: left out of the cache key. The data directory is
# identified by the data fingerprint (each split's file, relative path and size), not by its location.
NOT_IN_KEY = ("name", "data_dir")
# What a run computes, as a hand-bumped version (see the module docstring and tests/test_golden.py).
# History: 1 = the trainer of stops 9-10 (Algorithm 1, AdamW + linear decay, bf16 autocast on "auto").
TRAINING_SEMANTICS = 1


class ConfigError(HmnetError):
    """An impossible run configuration; the message names the field and the allowed values."""


# ---------------------------------------------------------------------------------------------------------
# helpers


def backbone_depth(backbone: str) -> int | None:
    """Number of encoder layers of a backbone, or None when it cannot be known offline."""
    from hmnet.backbone import encoder_config, resolve

    name = resolve(backbone)
    if name in KNOWN_DEPTHS:
        return KNOWN_DEPTHS[name]
    if name.startswith("random:") or Path(name).is_dir():
        return int(encoder_config(name).num_hidden_layers)
    try:  # a hub id: only the local cache, never the network
        from transformers import AutoConfig

        return int(AutoConfig.from_pretrained(name, local_files_only=True).num_hidden_layers)
    except Exception:  # noqa: BLE001 - unknown offline; build_model checks the split later
        return None


def hmnet_default_split(depth: int | None) -> tuple[int, int, int] | None:
    """:func:`hmnet.choices.default_split` for a known depth (None when unknown offline), as a ConfigError."""
    if depth is None:
        return None
    try:
        return default_split(depth)
    except ValueError as err:
        raise ConfigError(str(err)) from None


def _int(name: str, value, minimum: int | None = None, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ConfigError(f"{name} must be an integer{' or None' if optional else ''}, got {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _float(name: str, value, low: float | None = None, high: float | None = None, *, low_open=False,
           high_open=False, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number{' or None' if optional else ''}, got {value!r}")
    v = float(value)
    if low is not None and (v < low or (low_open and v == low)):
        raise ConfigError(f"{name} must be {'>' if low_open else '>='} {low}, got {value}")
    if high is not None and (v > high or (high_open and v == high)):
        raise ConfigError(f"{name} must be {'<' if high_open else '<='} {high}, got {value}")
    return v


def _choice(name: str, value, allowed: Sequence) -> Any:
    if value not in allowed:
        raise ConfigError(f"{name} {value!r} is unknown; known: {', '.join(map(str, allowed))}")
    return value


def normalize_clusters(clusters: Mapping[str, Iterable[str]], tasks: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Canonical clusters: name -> tasks in the run's task order; every task in exactly one cluster."""
    if not isinstance(clusters, Mapping) or not clusters:
        raise ConfigError(f"clusters must be a non-empty mapping name -> tasks, got {clusters!r}")
    out: dict[str, tuple[str, ...]] = {}
    seen: dict[str, str] = {}
    for name, members in clusters.items():
        if isinstance(members, str):
            members = [members]
        canon = resolve_tasks(list(members)) if members else ()
        if not canon:
            raise ConfigError(f"cluster {name!r} is empty")
        for t in canon:
            if t not in tasks:
                raise ConfigError(f"cluster {name!r} holds {t}, which is not one of the run's tasks {list(tasks)}")
            if t in seen:
                raise ConfigError(f"task {t} is in two clusters: {seen[t]!r} and {name!r}")
            seen[t] = str(name)
        out[str(name)] = tuple(t for t in tasks if t in canon)
    missing = [t for t in tasks if t not in seen]
    if missing:
        raise ConfigError(f"task(s) {missing} are in no cluster; clusters: {out}")
    return out


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
    backbone: str = "tiny"
    source: str = "synthetic"
    data_dir: str | None = None
    scale: float = 1.0  # synthetic suite size factor
    carve_train: float | None = None  # directory source: carve a train split for tasks without one
    data_seed: int = 0  # subsampling and carving; fixed across training seeds
    max_examples: int | None = None  # cap on training rows per task
    max_eval_examples: int | None = None  # cap on rows per eval split
    max_length: int = 128
    batch_size: int = 32
    lr: float = 2e-5
    epochs: int = 3
    seed: int = 0
    warmup_ratio: float = 0.0
    weight_decay: float = 0.01
    grad_clip: float | None = 1.0
    grad_accum: int = 1
    sampling: str = "proportional"
    temperature: float = 2.0
    group_by_length: bool = False
    mixed_precision: str = "no"
    attn_implementation: str | None = None
    dropout: float | None = None
    eval_every_epoch: bool = False
    affinity: bool = False
    affinity_every: int = 10
    name: str = ""  # a display label (e.g. "hmnet:manual"); not part of the cache key

    def __post_init__(self):
        s = object.__setattr__
        s(self, "method", _choice("method", self.method, METHODS))
        try:
            tasks = resolve_tasks(list(self.tasks) if not isinstance(self.tasks, str) else self.tasks)
        except ValueError as err:
            raise ConfigError(str(err)) from None
        s(self, "tasks", tasks)
        from hmnet.backbone import resolve

        if not isinstance(self.backbone, str) or not self.backbone.strip():
            raise ConfigError(f"backbone must be a name (tiny, minilm, random:bert-base, a hub id or a path), "
                              f"got {self.backbone!r}")
        s(self, "backbone", resolve(self.backbone))
        if self.method == "hmnet":
            clusters = self.clusters if self.clusters is not None else manual_groups(tasks)
            s(self, "clusters", normalize_clusters(clusters, tasks))
            depth = backbone_depth(self.backbone)
            split = self.split if self.split is not None else hmnet_default_split(depth)
            if split is not None:
                if isinstance(split, str) or len(split) != 3:
                    raise ConfigError(f"split must be three layer counts (shared, cluster, task), got {split!r}")
                split = tuple(_int(f"split[{i}]", v, 0) for i, v in enumerate(split))
                if depth is not None and sum(split) != depth:
                    raise ConfigError(f"split {split} has {sum(split)} layers but backbone {self.backbone!r} "
                                      f"has {depth}; shared + cluster + task must equal the depth")
            s(self, "split", split)
        else:
            if self.clusters is not None:
                raise ConfigError(f"clusters apply to method 'hmnet' only, not {self.method!r}")
            if self.split is not None:
                raise ConfigError(f"split applies to method 'hmnet' only, not {self.method!r}")
        s(self, "source", _choice("source", self.source, SOURCES))
        if self.source == "directory":
            if not self.data_dir:
                raise ConfigError("source 'directory' needs data_dir (a folder of GLUE/SuperGLUE files)")
            s(self, "data_dir", str(self.data_dir))
        elif self.data_dir is not None:
            s(self, "data_dir", str(self.data_dir))
        s(self, "scale", _float("scale", self.scale, 0, low_open=True))
        s(self, "carve_train", _float("carve_train", self.carve_train, 0, 1, low_open=True, high_open=True,
                                      optional=True))
        s(self, "data_seed", _int("data_seed", self.data_seed, 0))
        s(self, "max_examples", _int("max_examples", self.max_examples, 1, optional=True))
        s(self, "max_eval_examples", _int("max_eval_examples", self.max_eval_examples, 1, optional=True))
        s(self, "max_length", _int("max_length", self.max_length, 4))
        s(self, "batch_size", _int("batch_size", self.batch_size, 1))
        s(self, "lr", _float("lr", self.lr, 0, low_open=True))
        s(self, "epochs", _int("epochs", self.epochs, 1))
        s(self, "seed", _int("seed", self.seed, 0))
        s(self, "warmup_ratio", _float("warmup_ratio", self.warmup_ratio, 0, 1, high_open=True))
        s(self, "weight_decay", _float("weight_decay", self.weight_decay, 0))
        s(self, "grad_clip", _float("grad_clip", self.grad_clip, 0, optional=True))
        s(self, "grad_accum", _int("grad_accum", self.grad_accum, 1))
        if self.grad_accum > self.batch_size:
            raise ConfigError(f"grad_accum {self.grad_accum} exceeds batch_size {self.batch_size}: "
                              "each micro-batch needs at least one row")
        s(self, "sampling", _choice("sampling", self.sampling, SAMPLINGS))
        s(self, "temperature", _float("temperature", self.temperature, 0, low_open=True))
        s(self, "mixed_precision", _choice("mixed_precision", self.mixed_precision, PRECISIONS))
        if self.attn_implementation is not None:
            _choice("attn_implementation", self.attn_implementation, ATTENTION)
        s(self, "dropout", _float("dropout", self.dropout, 0, 1, high_open=True, optional=True))
        for flag in ("group_by_length", "eval_every_epoch", "affinity"):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(f"{flag} must be True or False, got {getattr(self, flag)!r}")
        s(self, "affinity_every", _int("affinity_every", self.affinity_every, 1))
        if self.affinity and len(tasks) < 2:
            raise ConfigError("affinity needs at least two tasks in the run")
        if not isinstance(self.name, str):
            raise ConfigError(f"name must be a string, got {self.name!r}")

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
        cfg = {k: v for k, v in self.to_dict().items() if k not in NOT_IN_KEY}
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
        seeds = (self.seeds,) if isinstance(self.seeds, int) else tuple(self.seeds)
        if not seeds:
            raise ConfigError(f"profile {self.name!r}: seeds must not be empty")
        s(self, "seeds", tuple(_int("seeds", x, 0) for x in seeds))
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

    @property
    def max_train_examples(self) -> int | None:  # the name notebooks use
        return self.max_examples

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
        method = _choice("method", method, METHODS)
        kwargs = {**self.settings, **overrides}
        if method == "hmnet":
            kwargs["clusters"] = clusters
            kwargs["split"] = tuple(split) if split is not None else self.hmnet_split()
        elif clusters is not None or split is not None:
            raise ConfigError(f"clusters and split apply to method 'hmnet' only, not {method!r}")
        return RunConfig(method=method, tasks=tuple(resolve_tasks(tasks) if tasks is not None else self.tasks),
                         seed=self.seeds[0] if seed is None else seed, **kwargs)


def _smoke() -> dict[str, Any]:
    # Synthetic suite, tiny random BERT: the whole Table 1 plan in minutes on 2 CPU cores. A random encoder
    # learns from scratch, so it needs more and larger steps than fine-tuning: lr 2e-3 and batch 16 (with
    # lr 1e-3 and batch 32 single-task runs stay at chance on this suite). Otherwise the paper's recipe.
    return dict(source="synthetic", backbone="tiny", scale=0.5, max_length=64, batch_size=16, lr=2e-3,
                epochs=3, max_eval_examples=None)


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


def runs_dir(profile: str) -> Path:
    """A profile's output root when none is given: ``_build/runs/<profile>`` (notebooks, results, tables)."""
    return Path("_build") / "runs" / profile


def base_config(profile: str | Profile = "smoke", method: str = "multi", **overrides) -> RunConfig:
    """A run config with a profile's defaults (for code that varies method, tasks and seed itself)."""
    prof = get_profile(profile) if isinstance(profile, str) else profile
    return prof.run_config(method, **overrides)


# ---------------------------------------------------------------------------------------------------------
# plans


def _seeds(profile: Profile, seeds: Iterable[int] | None) -> tuple[int, ...]:
    out = profile.seeds if seeds is None else ((seeds,) if isinstance(seeds, int) else tuple(seeds))
    if not out:
        raise ConfigError("a plan needs at least one seed")
    return tuple(_int("seed", s, 0) for s in out)


def named_groupings(names: Iterable[str], tasks: Sequence[str]) -> dict[str, dict[str, tuple[str, ...]]]:
    """Groupings the plans know by name, restricted to `tasks` (empty clusters dropped): "manual"
    (Section 4.1), "planted" (the synthetic suite's), "data" and "model" (the paper's Appendix A)."""
    from hmnet.synthetic import PLANTED_GROUPS

    out = {}
    for n in names:
        if n == "manual":
            groups = {k: tuple(v) for k, v in manual_groups(tasks).items()}
        elif n == "planted":
            groups = dict(PLANTED_GROUPS)
        elif n in ("data", "model"):
            from hmnet.analysis.paper import APPENDIX_A_CLUSTERS as APPENDIX_A_GROUPS

            groups = dict(APPENDIX_A_GROUPS[n])
        else:
            raise ConfigError(f"grouping {n!r} is unknown; known: manual, planted, data, model "
                              "(or pass clusters as JSON)")
        groups = {g: tuple(t for t in tasks if t in ts) for g, ts in groups.items()}
        out[n] = {g: ts for g, ts in groups.items() if ts}
    return out


def _groupings(profile: Profile, groupings) -> dict[str, Mapping[str, Iterable[str]]]:
    if groupings is None:
        return named_groupings(["manual"], profile.tasks)
    if isinstance(groupings, (list, tuple)):
        return named_groupings(groupings, profile.tasks)
    if not isinstance(groupings, Mapping) or not groupings:
        raise ConfigError(f"groupings must be a non-empty mapping name -> clusters, got {groupings!r}")
    return dict(groupings)


def table1_plan(profile: Profile, groupings: Mapping[str, Mapping[str, Iterable[str]]] | None = None,
                seeds: Iterable[int] | None = None) -> list[RunConfig]:
    """Table 1: single-task (one run per task), multi-task, SkillNet-style, and HMNet per grouping, per seed.

    Runs are named "single", "multi", "skillnet" and "hmnet:<grouping>".
    """
    groups = _groupings(profile, groupings)
    plan = []
    for seed in _seeds(profile, seeds):
        plan += [profile.run_config("single", tasks=(t,), seed=seed, name="single") for t in profile.tasks]
        plan.append(profile.run_config("multi", seed=seed, name="multi"))
        plan.append(profile.run_config("skillnet", seed=seed, name="skillnet"))
        plan += [profile.run_config("hmnet", clusters=c, seed=seed, name=f"hmnet:{g}") for g, c in groups.items()]
    return plan


def shared_layers_plan(profile: Profile, tasks: Sequence[str] = ("MNLI", "BoolQ"),
                       seeds: Iterable[int] | None = None) -> list[RunConfig]:
    """Figure: HMNet on two tasks in clusters of their own, shared layers x = 0..depth, split (x, depth-x, 0)."""
    tasks = resolve_tasks(tasks)
    depth = profile.depth
    if depth is None:
        raise ConfigError(f"the depth of backbone {profile.backbone!r} is unknown offline")
    clusters = {t: (t,) for t in tasks}
    return [profile.run_config("hmnet", tasks=tasks, clusters=clusters, split=(x, depth - x, 0), seed=seed,
                               name=f"shared={x}")
            for seed in _seeds(profile, seeds) for x in range(depth + 1)]


def layer_grid_plan(profile: Profile, groupings: Mapping[str, Mapping[str, Iterable[str]]] | None,
                    splits: Iterable[Sequence[int]], seeds: Iterable[int] | None = None) -> list[RunConfig]:
    """HMNet for every grouping x (shared, cluster, task) split x seed."""
    groups = _groupings(profile, groupings)
    splits = [tuple(s) for s in splits]
    if not splits:
        raise ConfigError("layer_grid_plan needs at least one split")
    return [profile.run_config("hmnet", clusters=c, split=sp, seed=seed, name=f"hmnet:{g}:{'-'.join(map(str, sp))}")
            for seed in _seeds(profile, seeds) for g, c in groups.items() for sp in splits]


def pairwise_plan(profile: Profile, tasks: Sequence[str] | None = None,
                  seeds: Iterable[int] | None = None) -> list[RunConfig]:
    """Eq. 3-4: every task alone and every unordered pair of tasks as one multi-task run, per seed."""
    tasks = resolve_tasks(tasks) if tasks is not None else profile.tasks
    if len(tasks) < 2:
        raise ConfigError(f"pairwise_plan needs at least two tasks, got {list(tasks)}")
    plan = []
    for seed in _seeds(profile, seeds):
        plan += [profile.run_config("single", tasks=(t,), seed=seed, name="single") for t in tasks]
        plan += [profile.run_config("multi", tasks=(a, b), seed=seed, name="pair")
                 for i, a in enumerate(tasks) for b in tasks[i + 1:]]
    return plan


PLANS = {"table1": table1_plan, "shared_layers": shared_layers_plan, "layer_grid": layer_grid_plan,
         "pairwise": pairwise_plan}


__all__ = ["RunConfig", "Profile", "ConfigError", "get_profile", "base_config", "table1_plan",
           "shared_layers_plan", "layer_grid_plan", "pairwise_plan", "named_groupings", "PROFILES", "PLANS",
           "METHODS", "default_split", "backbone_depth", "TRAINING_SEMANTICS", "SETTINGS", "runs_dir"]
