"""Profiles: named overrides of :class:`hmnet.experiments.RunConfig`'s settings (smoke, local, paper), with the
tasks and seeds their plans cover, and the registered protocol (:mod:`hmnet.protocol`) whose settings a
profile holds."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from hmnet.choices import METHODS, SOURCES
from hmnet.config_checks import (FIELD_CHECKS, ConfigError, backbone_depth, check_backbone, check_choice, check_seeds,
                                 check_tasks, hmnet_default_split, task_registry)
from hmnet.data import available_tasks, official_files
from hmnet.experiments import RunConfig
from hmnet.protocol import ProtocolError, get_protocol
from hmnet.tasks import TASK_NAMES, resolve_tasks

# ---------------------------------------------------------------------------------------------------------
# profiles


# Fields a plan sets per run; every other RunConfig field is a setting that a profile may override.
PER_RUN = ("method", "tasks", "clusters", "split", "seed", "affinity", "name", "tags")
SETTINGS = tuple(f.name for f in fields(RunConfig) if f.name not in PER_RUN)
_SETTING_DEFAULTS = {f.name: f.default for f in fields(RunConfig) if f.name in SETTINGS}


@dataclass(frozen=True)
class Profile:
    """A named set of overrides of :class:`RunConfig`'s settings, with the tasks and seeds its plans cover.

    ``settings`` holds only what the profile changes; every other setting is RunConfig's default, read as
    an attribute (``profile.max_length``). Validated on construction by building a run config from it, so
    an impossible profile fails before any plan is made. ``split`` is the default HMNet split (None: the
    paper's, scaled to the depth). ``protocol`` names the registered protocol (:mod:`hmnet.protocol`) whose
    settings it holds, if any.
    """

    name: str
    settings: dict[str, Any] = field(default_factory=dict)
    tasks: tuple[str, ...] = TASK_NAMES
    seeds: tuple[int, ...] = (0,)
    split: tuple[int, int, int] | None = None
    protocol: str | None = None

    def __post_init__(self):
        s = object.__setattr__
        try:
            s(self, "tasks", resolve_tasks(self.tasks, self.registry))
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

    @property
    def registry(self):
        """The tasks this profile can name: the 13, and those of its task file (setting ``task_file``)."""
        return task_registry(self.settings.get("task_file"))

    def _check_directory(self) -> None:
        tasks = [t for t in self.tasks if self.registry.get(t).builtin]  # a task file's tasks read their own files
        if not tasks:
            return
        if not self.data_dir:
            raise ConfigError(f"profile {self.name!r} reads a directory of GLUE/SuperGLUE/aclImdb files: pass "
                              "data_dir=... or set HMNET_DATA_DIR")
        if not Path(self.data_dir).is_dir():
            raise ConfigError(f"profile {self.name!r}: data_dir {self.data_dir!r} is not a directory")
        found = available_tasks(self.data_dir)
        missing = [t for t in tasks if t not in found]
        if missing:
            raise ConfigError(f"profile {self.name!r}: no files for task(s) {missing} under {self.data_dir}; "
                              f"found {sorted(found)} (pass tasks=... to choose)")
        no_train = [t for t in tasks if "train" not in found[t]]
        if self.carve_train is None and no_train:
            raise ConfigError(f"profile {self.name!r}: task(s) {no_train} have no training file "
                              f"({', '.join(official_files(t, 'train') for t in no_train)}) under "
                              f"{self.data_dir}; set carve_train (e.g. 0.8) to carve one from the eval file")
        undeclared = [t for t in no_train if self.carve_tasks is not None and t not in self.carve_tasks]
        if self.carve_train is not None and undeclared:
            raise ConfigError(f"profile {self.name!r}: task(s) {undeclared} have no training file "
                              f"({', '.join(official_files(t, 'train') for t in undeclared)}) under "
                              f"{self.data_dir} and are not among the carved tasks {list(self.carve_tasks)}; "
                              "add the files, or declare the tasks in carve_tasks")

    def __getattr__(self, name: str) -> Any:
        # A RunConfig setting: the profile's override, else RunConfig's default.
        if name in SETTINGS:
            return self.settings.get(name, _SETTING_DEFAULTS[name])
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def replace(self, **changes) -> Profile:
        """This profile with some fields changed (settings, tasks, seeds or split), checked anew."""
        own = {k: changes.pop(k, getattr(self, k)) for k in ("tasks", "seeds", "split")}
        return Profile(name=self.name, settings={**self.settings, **changes}, protocol=self.protocol, **own)

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
        return RunConfig(method=method, tasks=tuple(resolve_tasks(tasks, self.registry) if tasks is not None
                                                    else self.tasks),
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


def get_profile(name: str, protocol: str | None = None, **overrides) -> Profile:
    """A profile by name with field overrides, e.g. ``get_profile("smoke", tasks=("RTE", "MRPC"))``.

    A profile with registered protocols (:mod:`hmnet.protocol`: the local profile's v1, v2, ...) takes the
    settings of `protocol`, by default its newest; overrides apply on top of them.
    """
    if name not in PROFILES:
        raise ConfigError(f"profile {name!r} is unknown; known: {', '.join(PROFILES)}")
    try:
        registered = get_protocol(name, protocol)
    except ProtocolError as err:
        raise ConfigError(str(err)) from None
    if protocol is not None and registered is None:
        raise ConfigError(f"profile {name!r} has no registered protocols; drop protocol={protocol!r}")
    values = {**PROFILES[name](), **(registered.settings if registered else {})}
    known = (*SETTINGS, "tasks", "seeds", "split")
    for k, v in overrides.items():
        k = _ALIASES.get(k, k)
        if k not in known:
            raise ConfigError(f"profile field {k!r} is unknown; known: {', '.join(sorted(known))}")
        values[k] = v
    if values.get("task_file") and "tasks" not in overrides:  # a task file: its own tasks
        values["tasks"] = task_registry(values["task_file"]).file_tasks
    elif name == "local" and "tasks" not in overrides and values.get("data_dir") and Path(values["data_dir"]).is_dir():

        found = available_tasks(values["data_dir"])
        values["tasks"] = tuple(t for t in TASK_NAMES if t in found) or TASK_NAMES
    own = {k: values.pop(k) for k in ("tasks", "seeds", "split") if k in values}
    return Profile(name=name, settings=values, protocol=registered.name if registered else None, **own)


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




__all__ = ["Profile", "get_profile", "base_config", "PROFILES", "SETTINGS", "PER_RUN", "runs_dir",
           "profile_default", "check_profile_field"]
