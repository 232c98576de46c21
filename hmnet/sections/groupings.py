"""The task groupings HMNet runs use, as plans read them: the paper's (Appendix A and Section 4.1), the
synthetic suite's planted ones, and ours (notebook 02's ``groupings_ours.json``, kept in a build's tables).

A grouping is a list of clusters (each a list of task names); :func:`grouping_dict` turns it into the
``clusters`` a :class:`hmnet.experiments.RunConfig` takes. Grouping names are data: the paper's three are
``data``, ``manual`` and ``model``; ours are named by what notebook 02 clustered (e.g. ``lookahead``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from hmnet.analysis.clustering import restrict
from hmnet.config_checks import ConfigError
from hmnet.files import atomic_write
from hmnet.paper import APPENDIX_A_CLUSTERS, PAPER_GROUPINGS
from hmnet.sections.parameters import ParameterError, RunParameters
from hmnet.synthetic import PLANTED_GROUPS
from hmnet.tasks import TaskRegistry, canonical_groups, manual_groups

Groupings = dict[str, list[list[str]]]
OURS_FILE = "groupings_ours.json"  # under a build's tables/


def grouping_dict(groups: Sequence[Sequence[str]], prefix: str = "g") -> dict[str, tuple[str, ...]]:
    """[[tasks], ...] -> {"g1": (tasks), ...}, the clusters form RunConfig takes."""
    return {f"{prefix}{i}": tuple(g) for i, g in enumerate(groups, 1) if g}


def paper_groupings(tasks: Sequence[str], registry: TaskRegistry | None = None) -> Groupings:
    """Appendix A (data, model) and Section 4.1 (manual), restricted to `tasks`. With tasks of a task file (in
    `registry`), which Appendix A cannot place, the manual design alone: the tasks grouped by their categories."""
    if registry is not None and any(not registry.get(t).builtin for t in tasks):
        return {"manual": canonical_groups(registry.manual_groups(tasks))}
    return {name: restrict(groups, tasks) for name, groups in PAPER_GROUPINGS.items()}


def named_groupings(names: Iterable[str], tasks: Sequence[str],
                    registry: TaskRegistry | None = None) -> dict[str, dict[str, tuple[str, ...]]]:
    """Groupings known by name, as clusters restricted to `tasks` (empty clusters dropped): "manual" (Section
    4.1; a task file's tasks by their categories), "planted" (the synthetic suite's), "data" and "model" (the
    paper's Appendix A)."""
    out = {}
    for n in names:
        if n == "manual":
            groups = {k: tuple(v) for k, v in manual_groups(tasks, registry).items()}
        elif n == "planted":
            groups = dict(PLANTED_GROUPS)
        elif n in ("data", "model"):
            groups = dict(APPENDIX_A_CLUSTERS[n])
        else:
            raise ConfigError(f"grouping {n!r} is unknown; known: manual, planted, data, model "
                              "(or pass clusters as JSON)")
        groups = {g: tuple(t for t in tasks if t in ts) for g, ts in groups.items()}
        out[n] = {g: ts for g, ts in groups.items() if ts}
    return out


def resolve_groupings(groupings, tasks: Sequence[str], registry: TaskRegistry | None = None
                      ) -> dict[str, Mapping[str, Iterable[str]]]:
    """What a plan takes as its groupings: None (the manual design), names (:func:`named_groupings`), or a
    non-empty mapping name -> clusters."""
    if groupings is None:
        return named_groupings(["manual"], tasks, registry)
    if isinstance(groupings, (list, tuple)):
        return named_groupings(groupings, tasks, registry)
    if not isinstance(groupings, Mapping) or not groupings:
        raise ConfigError(f"groupings must be a non-empty mapping name -> clusters, got {groupings!r}")
    return dict(groupings)


def ours_path(params: RunParameters) -> Path:
    return params.tables_dir / OURS_FILE


def save_groupings(groupings: Mapping[str, Sequence[Sequence[str]]], params: RunParameters) -> Path:
    """Notebook 02's groupings, where Table 1's extra rows and ``grouping_source="ours"`` find them."""
    path = ours_path(params)
    atomic_write(path, lambda p: p.write_text(json.dumps({k: [list(g) for g in v]
                                                          for k, v in groupings.items()}, indent=1)))
    return path


def _read_ours(params: RunParameters) -> dict:
    path = ours_path(params)
    return json.loads(path.read_text()) if path.exists() else {}


def load_groupings(params: RunParameters, source: str = "paper") -> tuple[Groupings, str]:
    """The groupings HMNet runs use: "paper" (Appendix A / Section 4.1) or "ours" (notebook 02's output under
    the paper's names, the paper's where it is missing, with a note). Returns (groupings, note)."""
    if source not in ("paper", "ours"):
        raise ParameterError(f"parameter 'grouping_source' must be 'paper' or 'ours', got {source!r}")
    paper = paper_groupings(params.tasks, params.registry)
    if source == "paper":
        return paper, "Groupings: the paper's (Appendix A and Section 4.1), restricted to this run's tasks."
    if not ours_path(params).exists():
        return paper, (f"Groupings: ours were requested but {ours_path(params)} does not exist (run notebook 02 "
                       "first); using the paper's instead.")
    ours = _read_ours(params)
    out = {k: paper[k] for k in paper}
    out.update({k: [list(g) for g in v] for k, v in ours.items() if k in paper})
    missing = [k for k in paper if k not in ours]
    note = "Groupings: ours, regenerated by notebook 02" + (f" (paper's for {missing})" if missing else "") + "."
    return out, note


def extra_groupings(params: RunParameters, names: Sequence[str] | None) -> tuple[Groupings, str]:
    """Our groupings of notebook 02 (``groupings_ours.json``) by name, for Table 1's extra HMNet rows. Only
    groupings that place every task of this run are used; the note says which of `names` are missing and why."""
    if not names:
        return {}, ""
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise ParameterError(f"parameter 'extra_groupings' must be a list of grouping names, got {names!r}")
    ours = _read_ours(params)
    out, skipped = {}, []
    for name in names:
        groups = ours.get(name)
        placed = {t for g in groups or [] for t in g}
        if groups is None or not set(params.tasks) <= placed:
            why = "not grouped by notebook 02 yet" if groups is None else (
                f"it leaves out {sorted(set(params.tasks) - placed)}")
            skipped.append(f"'{name}' ({why})")
            continue
        out[name] = [[t for t in g if t in params.tasks] for g in groups]
    note = ("Extra rows: " + ", ".join(f"HMNet with our '{n}' grouping" for n in out) + "." if out else "")
    if skipped:
        note += f" Not added: {', '.join(skipped)}."
    return out, note.strip()


def check_grouping_names(groupings: Mapping[str, Sequence[Sequence[str]]], names: Sequence[str] | None,
                         name: str = "grid_groupings") -> Groupings:
    """The groupings named by a parameter (None: all of them), or a ParameterError naming the unknown ones."""
    if names is None:
        return dict(groupings)
    if isinstance(names, str) or not isinstance(names, (list, tuple)) or not names:
        raise ParameterError(f"parameter {name!r} must be a non-empty list of names from "
                             f"{list(groupings)}, got {names!r}")
    unknown = [n for n in names if n not in groupings]
    if unknown:
        raise ParameterError(f"parameter {name!r}: {unknown} unknown; known: {list(groupings)}")
    return {n: groupings[n] for n in names}


__all__ = ["Groupings", "OURS_FILE", "grouping_dict", "paper_groupings", "named_groupings", "resolve_groupings",
           "ours_path", "save_groupings", "load_groupings", "extra_groupings", "check_grouping_names"]
