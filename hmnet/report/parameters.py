"""Notebook parameters: every notebook calls :func:`check_parameters` right after its ``parameters`` cell.

A papermill parameter of the wrong type or value fails in the first code cell with a :class:`ParameterError`
that names the parameter and the allowed values; the profile's defaults fill in what was left at None.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Sequence

import numpy as np

from hmnet.errors import HmnetError
from hmnet.tasks import TASK_NAMES, UnknownTaskError, get_task

PROFILES: tuple[str, ...] = ("smoke", "local", "paper")

# The notebooks' cap on training rows per task on the smoke profile, so `make book` stays within minutes.
SMOKE_MAX_TRAIN = 64

# What each profile uses when a notebook parameter is left at None (the profile's own choice).
_PROFILE_DATA = {"smoke": "synthetic", "local": "directory", "paper": "hub"}
_PROFILE_BACKBONE = {"smoke": "tiny", "local": "minilm", "paper": "bert-base-uncased"}


class ParameterError(HmnetError):
    """A notebook or runner parameter has the wrong type or value; the message names it."""


@dataclass(frozen=True)
class RunParameters:
    """The resolved parameters of one notebook run (after the profile's defaults are filled in)."""

    profile: str
    tasks: tuple[str, ...]
    seeds: tuple[int, ...]
    backbone: str
    data_source: str
    data_dir: str | None
    out_dir: str
    max_train_examples: int | None = None
    max_eval_examples: int | None = None
    extra: dict = field(default_factory=dict)

    @property
    def results_dir(self) -> Path:
        return Path(self.out_dir) / "results"

    @property
    def figures_dir(self) -> Path:
        return Path(self.out_dir) / "figures"

    @property
    def tables_dir(self) -> Path:
        return Path(self.out_dir) / "tables"

    def overrides(self) -> dict[str, Any]:
        """Keyword overrides for ``experiments.get_profile`` (only what the notebook set explicitly)."""
        out: dict[str, Any] = {"backbone": self.backbone}
        if self.data_dir is not None:
            out["data_dir"] = self.data_dir
        if self.max_train_examples is not None:
            out["max_train_examples"] = self.max_train_examples
        if self.max_eval_examples is not None:
            out["max_eval_examples"] = self.max_eval_examples
        return out

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def experiment_profile(self, tasks: Sequence[str] | None = None, **overrides):
        """The ``hmnet.experiments.Profile`` these parameters stand for (optionally for other tasks)."""
        from hmnet.experiments import ConfigError, get_profile

        values: dict[str, Any] = {"tasks": tuple(tasks) if tasks is not None else self.tasks,
                                  "seeds": self.seeds, "backbone": self.backbone,
                                  "max_examples": self.max_train_examples,
                                  "max_eval_examples": self.max_eval_examples}
        if self.data_dir is not None:
            values.update(source="directory", data_dir=self.data_dir)
            if self.profile != "local":
                values["carve_train"] = 0.8
        values.update(overrides)
        try:
            return get_profile(self.profile, **values)
        except ConfigError as err:
            raise ParameterError(f"the parameters do not make a valid {self.profile} profile: {err}") from None


def _allowed_tasks() -> str:
    return ", ".join(TASK_NAMES)


def check_int(name: str, value, minimum: int = 0, allow_none: bool = True) -> int | None:
    """An integer parameter >= minimum (None allowed if allow_none), or a ParameterError naming it."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ParameterError(f"parameter {name!r} must be an integer >= {minimum}"
                             + (" or None" if allow_none else "") + f", got {value!r}")
    if value < minimum:
        raise ParameterError(f"parameter {name!r} must be >= {minimum}, got {value}")
    return int(value)


def check_tasks(tasks, name: str = "tasks", minimum: int = 1) -> tuple[str, ...]:
    """Canonical task names, or a ParameterError naming the parameter and the known tasks."""
    if isinstance(tasks, str):
        tasks = [tasks]
    if not isinstance(tasks, (list, tuple)):
        raise ParameterError(f"parameter {name!r} must be a list of task names (allowed: {_allowed_tasks()}), "
                             f"got {tasks!r}")
    out = []
    for t in tasks:
        if not isinstance(t, str):
            raise ParameterError(f"parameter {name!r}: {t!r} is not a task name; allowed: {_allowed_tasks()}")
        try:
            out.append(get_task(t).name)
        except UnknownTaskError:
            raise ParameterError(f"parameter {name!r}: task {t!r} is unknown; allowed: {_allowed_tasks()}") \
                from None
    if len(out) < minimum:
        raise ParameterError(f"parameter {name!r} needs at least {minimum} task(s), got {list(out)}")
    if len(set(out)) != len(out):
        raise ParameterError(f"parameter {name!r} names a task twice: {list(out)}")
    return tuple(out)


def check_data_dir(data_dir, tasks: Sequence[str] | None = None, name: str = "data_dir") -> str:
    """An existing directory that holds at least one recognisable task file (GLUE/SuperGLUE layout)."""
    from hmnet.data import available_tasks

    if not isinstance(data_dir, (str, os.PathLike)):
        raise ParameterError(f"parameter {name!r} must be a directory path, got {data_dir!r}")
    path = Path(data_dir).expanduser()
    if not path.is_dir():
        raise ParameterError(f"parameter {name!r}: directory {str(path)!r} does not exist")
    found = available_tasks(path)
    if not found:
        layout = ", ".join(f"{get_task(t).layout.directory}/{next(iter(get_task(t).layout.files.values()))[0]}"
                           for t in TASK_NAMES[:3])
        raise ParameterError(f"parameter {name!r}: {str(path)!r} holds no recognisable task files "
                             f"(expected the GLUE/SuperGLUE layout, e.g. {layout}, ...)")
    if tasks is not None:
        missing = [t for t in tasks if t not in found]
        if missing:
            raise ParameterError(f"parameter {name!r}: {str(path)!r} has no files for task(s) {missing}; "
                                 f"it has {sorted(found)}")
    return str(path.resolve())


def profile_defaults(profile: str, data_dir: str | None = None) -> dict[str, Any]:
    """The profile's default tasks, seeds, backbone and caps (from ``hmnet.experiments.get_profile``)."""
    from hmnet.experiments import ConfigError, get_profile

    overrides = {"data_dir": data_dir} if data_dir is not None and profile == "local" else {}
    try:
        prof = get_profile(profile, **overrides)
    except ConfigError as err:
        raise ParameterError(f"profile {profile!r}: {err}") from None
    return {"tasks": tuple(prof.tasks), "seeds": tuple(prof.seeds), "backbone": prof.backbone,
            "max_train_examples": prof.max_examples, "max_eval_examples": prof.max_eval_examples}


def check_parameters(profile: str = "smoke", tasks=None, seeds=None, backbone=None, data_dir=None,
                     out_dir=None, max_train_examples=None, max_eval_examples=None,
                     min_tasks: int = 1, smoke_seeds: Sequence[int] | None = None, **extra) -> RunParameters:
    """Validate a notebook's parameters and fill in the profile's defaults for those left at None.

    Raises :class:`ParameterError` naming the parameter and the allowed values: an unknown profile, an
    unknown task, seeds that are not integers, a missing data directory or one without task files.
    `out_dir` None means ``$HMNET_OUT_DIR`` if set, else ``_build/runs/<profile>`` (relative to the
    working directory). `smoke_seeds` replaces the profile's seeds on the smoke profile when `seeds` is None
    (sections that show confidence intervals run several cheap seeds there). On the smoke profile the
    notebooks cap each task's training rows at SMOKE_MAX_TRAIN unless max_train_examples is given.
    """
    if not isinstance(profile, str) or profile not in PROFILES:
        raise ParameterError(f"parameter 'profile' must be one of {', '.join(PROFILES)}; got {profile!r}")
    source = _PROFILE_DATA[profile]
    if data_dir is not None and data_dir != "":
        data_dir = check_data_dir(data_dir)
        source = "directory"
    else:
        data_dir = None
        if profile == "local":
            raise ParameterError("parameter 'data_dir' is required by the local profile: a directory with the "
                                 "GLUE/SuperGLUE files (see book/reproduce.md)")
    defaults = profile_defaults(profile, data_dir)
    tasks = check_tasks(defaults["tasks"] if tasks is None else tasks, minimum=min_tasks)
    if data_dir is not None:
        check_data_dir(data_dir, tasks)
    if seeds is None:
        seeds = tuple(smoke_seeds) if smoke_seeds and profile == "smoke" else defaults["seeds"]
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        seeds = [seeds]
    if not isinstance(seeds, (list, tuple)) or not seeds:
        raise ParameterError(f"parameter 'seeds' must be a non-empty list of integers, got {seeds!r}")
    seeds = tuple(check_int("seeds", s, allow_none=False) for s in seeds)
    if backbone is None:
        backbone = defaults["backbone"]
    if not isinstance(backbone, str) or not backbone:
        raise ParameterError(f"parameter 'backbone' must be a backbone name (tiny, minilm, random:bert-base, "
                             f"a hub id or a local path), got {backbone!r}")
    if max_train_examples is None:
        max_train_examples = SMOKE_MAX_TRAIN if profile == "smoke" else defaults["max_train_examples"]
    max_train = check_int("max_train_examples", max_train_examples, 1)
    max_eval = check_int("max_eval_examples", defaults["max_eval_examples"]
                          if max_eval_examples is None else max_eval_examples, 1)
    if out_dir is None:
        out_dir = os.environ.get("HMNET_OUT_DIR") or str(Path("_build") / "runs" / profile)
    if not isinstance(out_dir, (str, os.PathLike)):
        raise ParameterError(f"parameter 'out_dir' must be a directory path, got {out_dir!r}")
    out = Path(out_dir).expanduser().resolve()
    for sub in ("figures", "tables", "results"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    params = RunParameters(profile=profile, tasks=tasks, seeds=seeds, backbone=backbone, data_source=source,
                           data_dir=data_dir, out_dir=str(out), max_train_examples=max_train,
                           max_eval_examples=max_eval, extra=dict(extra))
    params.experiment_profile()  # every field checked where the trainer checks it, before any run
    return params
