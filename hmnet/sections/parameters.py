"""Notebook parameters: every notebook calls :func:`check_parameters` (through ``hmnet.report.setup``) right
after its ``parameters`` cell, and the campaign plans a section from the same checked parameters.

The parameters are overrides of a profile (:class:`hmnet.profiles.Profile`), checked by the profile's own
checks: a papermill parameter of the wrong type or value fails in the first code cell with a
:class:`ParameterError` that names the parameter and the allowed values; the profile fills in what was left
at None. :data:`NOTEBOOK_FIELDS` says which profile field each parameter sets.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hmnet import config_checks as checks
from hmnet.config_checks import check_task_file as absolute
from hmnet.config_checks import task_registry
from hmnet.data import available_tasks
from hmnet.errors import HmnetError
from hmnet.experiments import ConfigError
from hmnet.profiles import PROFILES, Profile, check_profile_field, get_profile, profile_default, runs_dir
from hmnet.tasks import BUILTIN, TASK_NAMES, TaskRegistry, get_task

# A notebook parameter and the profile field it sets (hmnet.profiles.Profile): the one place they meet.
NOTEBOOK_FIELDS = {"tasks": "tasks", "seeds": "seeds", "backbone": "backbone", "data_dir": "data_dir",
                   "max_train_examples": "max_examples", "max_eval_examples": "max_eval_examples",
                   "max_length": "max_length", "task_file": "task_file"}


class ParameterError(HmnetError):
    """A notebook or runner parameter has the wrong type or value; the message names it."""


@dataclass(frozen=True)
class RunParameters:
    """A notebook's checked parameters: the :class:`hmnet.profiles.Profile` they make (its tasks, seeds and
    settings), where the section writes, and the section's own parameters (``extra``)."""

    run_profile: Profile
    out_dir: str
    extra: dict = field(default_factory=dict)
    # Rendering a results store: nothing trains, a section reads what the store holds (hmnet.sections.run).
    store_only: bool = False

    @property
    def profile(self) -> str:
        return self.run_profile.name

    @property
    def tasks(self) -> tuple[str, ...]:
        return self.run_profile.tasks

    @property
    def seeds(self) -> tuple[int, ...]:
        return self.run_profile.seeds

    @property
    def backbone(self) -> str:
        return self.run_profile.backbone

    @property
    def data_source(self) -> str:
        return self.run_profile.source

    @property
    def data_dir(self) -> str | None:
        return self.run_profile.data_dir if self.data_source == "directory" else None

    @property
    def max_train_examples(self) -> int | None:
        return self.run_profile.max_examples

    @property
    def max_eval_examples(self) -> int | None:
        return self.run_profile.max_eval_examples

    @property
    def max_length(self) -> int:
        return self.run_profile.max_length

    @property
    def task_file(self) -> str | None:
        return self.run_profile.task_file

    @property
    def registry(self) -> TaskRegistry:
        """The tasks these parameters can name: the 13, and those of the task file."""
        return self.run_profile.registry

    @property
    def results_dir(self) -> Path:
        return Path(self.out_dir) / "results"

    @property
    def figures_dir(self) -> Path:
        return Path(self.out_dir) / "figures"

    @property
    def tables_dir(self) -> Path:
        return Path(self.out_dir) / "tables"

    def experiment_profile(self, tasks: Sequence[str] | None = None) -> Profile:
        """The profile these parameters make, optionally for other tasks."""
        if tasks is None:
            return self.run_profile
        try:
            return self.run_profile.replace(tasks=tuple(tasks))
        except ConfigError as err:
            raise ParameterError(f"the parameters do not make a valid {self.profile} profile: {err}") from None


def _allowed_tasks(registry: TaskRegistry | None = None) -> str:
    return ", ".join(registry.names if registry is not None else TASK_NAMES)


def check_int(name: str, value, minimum: int = 0, allow_none: bool = True) -> int | None:
    """:func:`hmnet.config_checks.check_int` for a notebook parameter: a ParameterError naming it."""
    return checks.check_int(f"parameter {name!r}", value, minimum, allow_none, error=ParameterError)


def check_tasks(tasks, name: str = "tasks", minimum: int = 1, registry: TaskRegistry | None = None
                ) -> tuple[str, ...]:
    """:func:`hmnet.config_checks.check_tasks` for a notebook parameter (no task twice): a ParameterError
    naming it and the known tasks."""
    return checks.check_tasks(tasks, registry, f"parameter {name!r}", minimum, duplicates=False, error=ParameterError)


def check_data_dir(data_dir, tasks: Sequence[str] | None = None, name: str = "data_dir") -> str:
    """An existing directory that holds at least one recognisable task file (GLUE/SuperGLUE layout)."""
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


def check_task_file(task_file, name: str = "task_file") -> tuple[str, TaskRegistry]:
    """A task file's absolute path and its registry, or a ParameterError naming the parameter, the file, the
    line and the culprit (:mod:`hmnet.data.taskfile`)."""
    if not isinstance(task_file, (str, os.PathLike)) or not str(task_file).strip():
        raise ParameterError(f"parameter {name!r} must be the path of a YAML or JSON task file, got {task_file!r}")
    if not Path(task_file).expanduser().is_file():
        raise ParameterError(f"parameter {name!r}: {str(task_file)!r} is not a file")
    try:
        path = absolute(name, str(task_file))
        return path, task_registry(path)
    except HmnetError as err:
        raise ParameterError(f"parameter {name!r}: {err}") from None


def check_parameters(profile: str = "smoke", tasks=None, seeds=None, backbone=None, data_dir=None,
                     out_dir=None, max_train_examples=None, max_eval_examples=None, max_length=None,
                     min_tasks: int = 1, protocol=None, task_file=None, store_only=False, **extra) -> RunParameters:
    """Validate a notebook's parameters as overrides of a profile (:func:`hmnet.profiles.get_profile`:
    every setting goes through the checks a run config applies); a parameter left at None is the profile's.

    Raises :class:`ParameterError` naming the parameter and the allowed values: an unknown profile, an
    unknown task, seeds that are not integers, a missing data directory or one without task files.
    A `data_dir` on a profile that reads no files (smoke, paper) runs it on those files, carving a train split
    from the labelled one where a task has none. `out_dir` None means ``$HMNET_OUT_DIR`` if set, else
    ``_build/runs/<profile>`` (relative to the working directory). `protocol` names a registered protocol
    of the profile (:mod:`hmnet.protocol`; None: its newest), whose settings the profile takes. `task_file` adds
    the tasks of a task file (:mod:`hmnet.data.taskfile`): `tasks` may name them, and None then means the file's
    tasks. `store_only` renders a results store: no section trains (:func:`hmnet.sections.run`).
    """
    if not isinstance(profile, str) or profile not in PROFILES:
        raise ParameterError(f"parameter 'profile' must be one of {', '.join(PROFILES)}; got {profile!r}")
    if protocol is not None and not isinstance(protocol, str):
        raise ParameterError(f"parameter 'protocol' must be a protocol name such as 'v2', or None; got {protocol!r}")
    given = {"tasks": tasks, "seeds": seeds, "backbone": backbone, "data_dir": data_dir or None,
             "max_train_examples": max_train_examples, "max_eval_examples": max_eval_examples,
             "max_length": max_length}
    overrides, registry = {}, BUILTIN
    if task_file is not None:
        overrides["task_file"], registry = check_task_file(task_file)
    for name, value in given.items():
        if value is not None and name != "data_dir":
            overrides[NOTEBOOK_FIELDS[name]] = _check_parameter(name, value, min_tasks, registry)
    if given["data_dir"] is not None:  # checked once, against the tasks asked for (a task file's read their own)
        builtin = [t for t in overrides.get("tasks", ()) if registry.get(t).builtin] or None
        overrides["data_dir"] = check_data_dir(given["data_dir"], builtin)
        if profile_default(profile, "source") != "directory":
            overrides.update(source="directory", carve_train=0.8)
    try:
        prof = get_profile(profile, protocol=protocol, **overrides)
    except ConfigError as err:
        raise ParameterError(f"the parameters do not make a valid {profile} profile: {err}") from None
    check_tasks(prof.tasks, minimum=min_tasks, registry=prof.registry)
    if not isinstance(store_only, bool):
        raise ParameterError(f"parameter 'store_only' must be True or False, got {store_only!r}")
    return RunParameters(run_profile=prof, out_dir=str(_output_folder(out_dir, profile)), extra=dict(extra),
                         store_only=store_only)


def _check_parameter(name: str, value, min_tasks: int, registry: TaskRegistry | None = None):
    """One notebook parameter, checked as the profile field it sets (a ParameterError names the parameter)."""
    if name == "tasks":
        return check_tasks(value, minimum=min_tasks, registry=registry)
    if name == "seeds":
        return check_seed_list(value)
    try:
        return check_profile_field(NOTEBOOK_FIELDS[name], value)
    except ConfigError as err:
        raise ParameterError(f"parameter {name!r}: {err}") from None


def check_seed_list(value, name: str = "seeds") -> tuple[int, ...]:
    """Training seeds (one integer or a non-empty list of them), checked as a profile checks its seeds."""
    if isinstance(value, np.integer):
        value = int(value)
    try:
        return check_profile_field("seeds", value)
    except ConfigError as err:
        raise ParameterError(f"parameter {name!r}: {err}") from None


def _output_folder(out_dir, profile: str) -> Path:
    if out_dir is None:
        out_dir = os.environ.get("HMNET_OUT_DIR") or str(runs_dir(profile))
    if not isinstance(out_dir, (str, os.PathLike)):
        raise ParameterError(f"parameter 'out_dir' must be a directory path, got {out_dir!r}")
    out = Path(out_dir).expanduser().resolve()
    for sub in ("figures", "tables", "results"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    return out
