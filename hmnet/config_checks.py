"""The checks of a run configuration's fields (:class:`hmnet.experiments.RunConfig`): each takes a field's
name and value, returns the value to keep, and raises :class:`ConfigError` naming the field otherwise."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hmnet.choices import CARVE_UNITS, POOLINGS, SAMPLINGS, default_split
from hmnet.errors import HmnetError
from hmnet.tasks import BUILTIN, TaskRegistry, UnknownTaskError, get_task, resolve_tasks

PRECISIONS = ("no", "bf16", "fp16", "auto")
ATTENTION = ("eager", "sdpa", "flash_attention_2")
# Depths of backbones whose config may not be readable offline (hub ids), for early split checks.
KNOWN_DEPTHS = {"tiny": 4, "minilm": 6, "random:bert-base": 12, "bert-base-uncased": 12,
                "bert-base-cased": 12, "google-bert/bert-base-uncased": 12}


class ConfigError(HmnetError):
    """An impossible run configuration; the message names the field and the allowed values."""


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


def check_int(name: str, value, minimum: int | None = None, optional: bool = False,
              error: type[HmnetError] = ConfigError) -> int | None:
    """An integer (a whole float or a numpy integer too) >= `minimum`, or None when `optional`; else `error`
    naming `name` (:class:`ConfigError` for a run setting, a caller's own type such as a notebook's
    ``ParameterError``)."""
    if value is None and optional:
        return None
    if isinstance(value, np.integer):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            at_least = f" >= {minimum}" if minimum is not None else ""
            raise error(f"{name} must be an integer{at_least}{' or None' if optional else ''}, got {value!r}")
    if minimum is not None and value < minimum:
        raise error(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_float(name: str, value, low: float | None = None, high: float | None = None, *, low_open=False,
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


def check_choice(name: str, value, allowed: Sequence) -> Any:
    if value not in allowed:
        raise ConfigError(f"{name} {value!r} is unknown; known: {', '.join(map(str, allowed))}")
    return value


def normalize_clusters(clusters: Mapping[str, Iterable[str]], tasks: Sequence[str],
                       registry: TaskRegistry | None = None) -> dict[str, tuple[str, ...]]:
    """Canonical clusters: name -> tasks in the run's task order; every task in exactly one cluster."""
    if not isinstance(clusters, Mapping) or not clusters:
        raise ConfigError(f"clusters must be a non-empty mapping name -> tasks, got {clusters!r}")
    out: dict[str, tuple[str, ...]] = {}
    seen: dict[str, str] = {}
    for name, members in clusters.items():
        if isinstance(members, str):
            members = [members]
        try:
            canon = resolve_tasks(list(members), registry) if members else ()
        except ValueError as err:
            raise ConfigError(f"cluster {name!r}: {err}") from None
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


def check_tasks(tasks, registry: TaskRegistry | None = None, name: str = "tasks", minimum: int = 1,
                duplicates: bool = True, error: type[HmnetError] = ConfigError) -> tuple[str, ...]:
    """Canonical task names (of `registry`; None: the 13) from a list or a comma/space separated string, or
    `error` naming `name`, the culprit and the known tasks: not a list, not a name, unknown, fewer than
    `minimum`, or (with ``duplicates=False``) a task named twice. With `duplicates` a repeated name is
    kept once."""
    allowed = ", ".join(registry.names if registry is not None else resolve_tasks(None))
    if isinstance(tasks, str):
        tasks = [t for t in tasks.replace(",", " ").split() if t]
    if not isinstance(tasks, (list, tuple)):
        raise error(f"{name} must be a list of task names (allowed: {allowed}), got {tasks!r}")
    out = []
    for t in tasks:
        if not isinstance(t, str):
            raise error(f"{name}: {t!r} is not a task name; allowed: {allowed}")
        try:
            out.append(get_task(t, registry).name)
        except UnknownTaskError:
            raise error(f"{name}: task {t!r} is unknown; allowed: {allowed}") from None
    if not duplicates and len(set(out)) != len(out):
        raise error(f"{name} names a task twice: {list(out)}")
    out = list(dict.fromkeys(out))
    if len(out) < minimum:
        raise error(f"{name} needs at least {minimum} task(s), got {list(out)}" if out else
                    f"{name}: the task list is empty")
    return tuple(out)


def task_registry(task_file) -> TaskRegistry:
    """The tasks a run can name: the 13 built-ins, and those of `task_file` (None: the built-ins alone).
    A bad task file raises :class:`hmnet.data.taskfile.TaskFileError` naming the file and the line."""
    if task_file is None:
        return BUILTIN
    if not isinstance(task_file, (str, Path)) or not str(task_file).strip():
        raise ConfigError(f"task_file must be the path of a YAML or JSON task file, got {task_file!r}")
    from hmnet.data.taskfile import load_task_file

    return load_task_file(task_file)


def check_task_file(name: str, value) -> str | None:
    """A task file's path as a run config keeps it: absolute (None stays None); the file is read by
    :func:`task_registry`."""
    if value is None:
        return None
    if not isinstance(value, (str, Path)) or not str(value).strip():
        raise ConfigError(f"{name} must be the path of a YAML or JSON task file, got {value!r}")
    return str(Path(value).expanduser().resolve())


def check_task_set(name: str, tasks) -> tuple[str, ...] | None:
    """A set of tasks as a sorted tuple of canonical names (empty allowed), or None."""
    if tasks is None:
        return None
    if isinstance(tasks, str):
        tasks = [t for t in tasks.replace(",", " ").split() if t]
    if not isinstance(tasks, Iterable):
        raise ConfigError(f"{name} must be a list of task names or None, got {tasks!r}")
    tasks = list(tasks)
    return tuple(sorted(check_tasks(tasks))) if tasks else ()


def check_seeds(seeds) -> tuple[int, ...]:
    """Training seeds: one integer >= 0 or a non-empty sequence of them."""
    seeds = (seeds,) if isinstance(seeds, int) and not isinstance(seeds, bool) else seeds
    if isinstance(seeds, str) or not isinstance(seeds, Iterable):
        raise ConfigError(f"seeds must be a list of integers, got {seeds!r}")
    seeds = tuple(seeds)
    if not seeds:
        raise ConfigError("seeds must not be empty")
    return tuple(check_int("seeds", x, 0) for x in seeds)


def check_backbone(backbone) -> str:
    from hmnet.backbone import resolve

    if not isinstance(backbone, str) or not backbone.strip():
        raise ConfigError(f"backbone must be a name (tiny, minilm, random:bert-base, a hub id or a path), "
                          f"got {backbone!r}")
    return resolve(backbone)


def check_flag(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be True or False, got {value!r}")
    return value


def check_text(name: str, value) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be a string, got {value!r}")
    return value


# The checks of RunConfig's scalar fields, applied in this order after method, tasks, backbone, clusters,
# split, source and data_dir: each takes the field's name and value and returns the value to keep.
FIELD_CHECKS: tuple[tuple[str, Callable[[str, Any], Any]], ...] = (
    ("scale", lambda n, v: check_float(n, v, 0, low_open=True)),
    ("carve_train", lambda n, v: check_float(n, v, 0, 1, low_open=True, high_open=True, optional=True)),
    ("carve_by", lambda n, v: check_choice(n, v, CARVE_UNITS)),
    ("carve_tasks", lambda n, v: check_task_set(n, v)),
    ("data_seed", lambda n, v: check_int(n, v, 0)),
    ("max_examples", lambda n, v: check_int(n, v, 1, optional=True)),
    ("max_eval_examples", lambda n, v: check_int(n, v, 1, optional=True)),
    ("max_length", lambda n, v: check_int(n, v, 4)),
    ("batch_size", lambda n, v: check_int(n, v, 1)),
    ("lr", lambda n, v: check_float(n, v, 0, low_open=True)),
    ("epochs", lambda n, v: check_int(n, v, 1)),
    ("min_steps", lambda n, v: check_int(n, v, 1, optional=True)),
    ("seed", lambda n, v: check_int(n, v, 0)),
    ("warmup_ratio", lambda n, v: check_float(n, v, 0, 1, high_open=True)),
    ("weight_decay", lambda n, v: check_float(n, v, 0)),
    ("grad_clip", lambda n, v: check_float(n, v, 0, optional=True)),
    ("grad_accum", lambda n, v: check_int(n, v, 1)),
    ("sampling", lambda n, v: check_choice(n, v, SAMPLINGS)),
    ("temperature", lambda n, v: check_float(n, v, 0, low_open=True)),
    ("mixed_precision", lambda n, v: check_choice(n, v, PRECISIONS)),
    ("attn_implementation", lambda n, v: v if v is None else check_choice(n, v, ATTENTION)),
    ("dropout", lambda n, v: check_float(n, v, 0, 1, high_open=True, optional=True)),
    ("pooling", lambda n, v: check_choice(n, v, POOLINGS)),
    ("group_by_length", check_flag),
    ("length_chunk", lambda n, v: check_int(n, v, 1)),
    ("eval_every_epoch", check_flag),
    ("affinity", check_flag),
    ("affinity_every", lambda n, v: check_int(n, v, 1)),
    ("task_file", check_task_file),
    ("name", check_text),
)

