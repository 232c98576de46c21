"""The campaign's plan: every run a profile's book needs, section by section, in priority order.

Each section plans its runs itself (:meth:`hmnet.sections.Section.plan`) from the notebook parameters its page
runs with in a reference build (:meth:`~hmnet.sections.Section.reference_parameters`), so the runs' keys agree
with the notebooks' by construction. The sections come from the registry (:func:`hmnet.sections.registry`) in
its order, or in the order a registered protocol names them. A run is pending when the section that planned it
does not find it in the store (:meth:`~hmnet.sections.Section.is_stored`); :mod:`hmnet.campaign.runner` runs
the pending ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hmnet.experiments import ConfigError
from hmnet.precision import machine_description, resolve_precision
from hmnet.protocol import get_protocol
from hmnet.provenance import REPO
from hmnet.results import load_results
from hmnet.sections import Registry, Section, registry
from hmnet.sections.base import Plan, PlannedRun, SectionsPlan
from hmnet.sections.parameters import NOTEBOOK_FIELDS, RunParameters, check_parameters

STORE_ROOT = REPO / "reference"


def plan_sections(profile: str, protocol: str | None = None, sections: Registry | None = None) -> tuple[str, ...]:
    """The sections a reference build plans, in priority order: its protocol's, else every known section."""
    registered = get_protocol(profile, protocol)
    return registered.sections if registered is not None else (sections or registry()).names


def store_dir(profile: str, protocol: str | None = None) -> Path:
    """The results store of a profile under `protocol` (None: its newest): ``reference/<store>`` as the protocol
    names it, ``reference/<profile>`` for a profile without protocols."""
    registered = get_protocol(profile, protocol)
    return STORE_ROOT / (registered.store if registered is not None else profile)


def notebook_parameters(section: Section, profile: str, data_dir: str | None, out_dir: str | Path,
                        overrides: Mapping[str, Any] | None = None, protocol: str | None = None
                        ) -> tuple[RunParameters, dict[str, Any]]:
    """The checked parameters a section's page runs with in the reference build (under `protocol`), and the
    section's own notebook parameters. `overrides` (notebook parameters such as ``tasks`` or ``seeds``) apply to
    every section, as ``hmnet reproduce -p NAME VALUE`` does."""
    extra = {**section.reference_parameters(profile, protocol), **(overrides or {})}
    common = {k: extra.pop(k) for k in list(extra) if k in (*NOTEBOOK_FIELDS, "protocol") and k != "data_dir"}
    params = check_parameters(profile=profile, data_dir=data_dir, out_dir=str(out_dir), **common)
    return params, extra


def section_plan(section: str | Section, profile: str, data_dir: str | None, out_dir: str | Path,
                 overrides: Mapping[str, Any] | None = None, protocol: str | None = None,
                 sections: Registry | None = None) -> Plan:
    """One section's plan in a reference build of `profile`."""
    if isinstance(section, str):
        section = (sections or registry()).get(section)
    params, extra = notebook_parameters(section, profile, data_dir, out_dir, overrides, protocol)
    return section.plan(params, extra)


def check_auto_precision(store: str | Path) -> None:
    """Refuse a store whose runs with precision "auto" ran in a precision that "auto" does not mean here.
    Their keys hold what "auto" meant where they ran (:func:`hmnet.precision.key_precision`), so on another
    kind of CPU every one of them would look missing: a status would rewrite the manifest as empty and a run
    would redo the whole store in another precision beside the first (one table, two computations). The
    store is still read anywhere (``hmnet results``, ``make book``); only planning into it is refused."""
    ran = {r.env.get("mixed_precision") for r in load_results(Path(store) / "results")
           if r.config.mixed_precision == "auto"}
    here = resolve_precision("auto")
    if ran - {here}:
        raise ConfigError(f"store {Path(store).name!r}: its \"auto\" runs ran in {', '.join(sorted(map(str, ran)))}, "
                          f"but \"auto\" means {here!r} on this machine ({machine_description()}), where their keys "
                          "would name other runs; plan into it on the kind of machine it ran on")


def campaign_plan(profile: str, data_dir: str | None, out_dir: str | Path, sections: Iterable[str] | None = None,
                  overrides: Mapping[str, Any] | None = None, protocol: str | None = None,
                  known: Registry | None = None) -> SectionsPlan:
    """Every run of the sections (default: the protocol's, :func:`plan_sections`), in priority order, each key
    once per trainer (a run two sections share, such as a single-task run of Table 1 that Eq. 4 also needs,
    belongs to the first), with the sections that wait for others' runs."""
    known = known or registry()
    check_auto_precision(out_dir)
    order = plan_sections(profile, protocol, known)
    wanted = list(order) if sections is None else list(sections)
    for s in wanted:
        known.get(s)  # an unknown section is a ConfigError naming the known ones
        if s not in order:
            raise ConfigError(f"section {s!r} is not planned by protocol {protocol or 'the newest'} of profile "
                              f"{profile!r}; it plans: {', '.join(order)}")
    seen: set[tuple[str, str]] = set()
    runs, waiting = [], {}
    for name in [s for s in order if s in wanted]:
        section = known.get(name)
        plan = section_plan(section, profile, data_dir, out_dir, overrides, protocol)
        if plan.waiting:
            waiting[name] = plan.waiting
        for c in plan.runs:
            if (section.trainer, c.key()) not in seen:
                seen.add((section.trainer, c.key()))
                runs.append(PlannedRun(name, c))
    return SectionsPlan(tuple(runs), waiting)


def is_stored(p: PlannedRun, store: Path, known: Registry | None = None) -> bool:
    """Whether a planned run is in the store, as the section that planned it keeps it."""
    return (known or registry()).get(p.section).is_stored(p.config, Path(store))


__all__ = ["STORE_ROOT", "check_auto_precision", "plan_sections", "store_dir", "notebook_parameters",
           "section_plan", "campaign_plan", "is_stored", "PlannedRun", "SectionsPlan"]
