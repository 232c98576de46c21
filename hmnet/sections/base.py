"""What a paper section is to the pipeline: the runs it plans, how it finds them again, what the ledger tests.

A :class:`Section` names its page (the notebook that shows it) and its trainer, and holds four things the rest
of the package asks of it:

- :meth:`Section.plan`: from a notebook's checked parameters (:class:`RunParameters`) and the section's own
  notebook parameters, the runs it needs (each tagged with the section and the run's role) as a :class:`Plan`,
  or why it cannot plan yet (a section that waits for another's runs says so in ``Plan.waiting``);
- :meth:`Section.is_stored`: whether a run's record (and whatever else the section keeps) is in a store;
- :meth:`Section.select`: its runs among the records of a plain output folder, by their tags;
- :meth:`Section.claims`: its rows of the claims ledger, from the :class:`Evidence` of a build.

The notebook and the campaign plan a section through the same :meth:`Section.plan` helpers, so the runs a page
shows are the runs the campaign trains. :func:`run` trains a plan (or, rendering a results store, reads it).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from hmnet.experiments import ConfigError, RunConfig
from hmnet.protocol import get_protocol
from hmnet.results import Result, load_result, read_result_file, result_path
from hmnet.sections.parameters import ParameterError, RunParameters, check_tasks

log = logging.getLogger(__name__)

TRAINERS = ("train", "model", "hf")  # our trainer; ours keeping the model (Appendix C); the HF Trainer
# Smoke-only reductions that keep `make book` within minutes; every other profile uses its full task list.
SMOKE_RELEVANCE_TASKS = ("MNLI", "RTE", "SST-2", "MRPC", "BoolQ")  # Eq. 4, the affinity estimate, Appendix C
SMOKE_GRID_TASKS = ("RTE", "SST-2", "MRPC", "BoolQ")  # the layer grid (Figure 4)


@dataclass(frozen=True)
class Plan:
    """The runs a section needs, in the order to run them, or (no runs) why it cannot plan them yet."""

    runs: tuple[RunConfig, ...] = ()
    waiting: str = ""

    def __post_init__(self):
        object.__setattr__(self, "runs", tuple(self.runs))


@dataclass(frozen=True)
class PlannedRun:
    """One run of a campaign: the section that plans it first, and its config (tagged by that section)."""

    section: str
    config: RunConfig


@dataclass(frozen=True)
class SectionsPlan:
    """What a campaign plans over several sections: the runs in priority order, each key once, and the sections
    that cannot plan yet with the reason (they wait for another section's runs)."""

    runs: tuple[PlannedRun, ...] = ()
    waiting: Mapping[str, str] = field(default_factory=dict)

    def __iter__(self):
        return iter(self.runs)

    def __len__(self) -> int:
        return len(self.runs)


@dataclass(frozen=True)
class Evidence:
    """What the ledger's claims read from one build: each section's runs (their configs tagged), the backbone's
    depth, the analysis the build's protocol registered (``table1_tasks``, ``reference_effects``; empty
    without one), and the build's folder (where a section keeps tables, e.g. Appendix C's similarities)."""

    runs: Mapping[str, Sequence[Result]]
    depth: int | None = None
    analysis: Mapping[str, Any] = field(default_factory=dict)
    folder: Path | None = None

    def of(self, *sections: str) -> list[Result]:
        """The runs of these sections, each record once (two sections may share a run)."""
        seen, out = set(), []
        for s in sections:
            for r in self.runs.get(s, ()):
                if r.key not in seen:
                    seen.add(r.key)
                    out.append(r)
        return out

    def reference(self, section: str) -> float:
        """The effect the protocol registered for a section's comparisons where the paper prints none (NaN)."""
        return float(dict(self.analysis.get("reference_effects") or {}).get(section, float("nan")))


def page_parameters(profile: str, page: str, protocol: str | None = None) -> dict[str, Any]:
    """A page's notebook parameters in a reference build of `profile` under `protocol` (None: the newest), the
    protocol named among them; a profile without protocols (smoke) takes the local profile's v1 ones."""
    registered = get_protocol(profile, protocol)
    if registered is None:
        return get_protocol("local", "v1").parameters(page)
    return {**registered.parameters(page), "protocol": registered.name}


def tagged(config: RunConfig, section: str, role: str, name: str = "", **tags: str) -> RunConfig:
    """`config` as a plan of `section` uses it: its role (and more tags) and its display label."""
    return replace(config, tags={"section": section, "role": role, **tags}, name=name or config.name)


def with_tags(result: Result, tags: Mapping[str, str] | None, name: str = "") -> Result:
    """A stored record under the tags and label its plan gives it (a record keeps those of the plan that
    first stored it, or none for records stored before runs carried tags); its key stays the record's."""
    config = replace(result.config, tags=dict(tags) if tags else None, name=name or result.config.name)
    config.use_stored_key(result.key)
    return replace(result, config=config)


class Section:
    """One section of the paper as the pipeline sees it (see the module docstring). Subclasses set the class
    attributes and override :meth:`plan`; the other methods have defaults that suit most sections."""

    name: ClassVar[str]
    page: ClassVar[str]  # the notebook that shows it, by its number ("03")
    title: ClassVar[str]
    trainer: ClassVar[str] = "train"
    notebook: ClassVar[Path | None] = None  # a section outside the package: its own notebook file
    joins: ClassVar[str | None] = None  # another section whose tables show this one's runs as extra rows
    columns: ClassVar[tuple[str, ...]] = ()  # the labels its tables show first, in this order

    def plan(self, params: RunParameters, extra: Mapping[str, Any]) -> Plan:
        raise NotImplementedError

    def reference_parameters(self, profile: str, protocol: str | None = None) -> dict[str, Any]:
        """The notebook parameters of its page in a reference build (:func:`page_parameters`)."""
        return page_parameters(profile, self.page, protocol)

    def is_stored(self, config: RunConfig, store: Path) -> bool:
        """Whether the run's record is in the store and verifies."""
        return read_result_file(result_path(config, Path(store) / "results"), config) is not None

    def select(self, results: Sequence[Result]) -> list[Result]:
        """Its runs among a folder's records: those its plans tagged with its name."""
        return [r for r in results if r.config.tag("section") == self.name]

    def claims(self, evidence: Evidence) -> list:
        """Its rows of the claims ledger (:class:`hmnet.analysis.verdicts.ClaimResult`); none by default."""
        return []

    def __repr__(self) -> str:
        return f"<section {self.name} (page {self.page})>"


def run(configs: Sequence[RunConfig], params: RunParameters, desc: str = "") -> list[Result]:
    """Train a plan (or load it from the result cache in ``<out>/results``). Rendering a results store
    (``params.store_only``) nothing trains: the stored runs are returned and the missing ones are logged."""
    from hmnet.train import run_plan

    if not configs:
        raise ParameterError(f"{desc or 'the plan'} holds no runs")
    if params.store_only:
        return stored(configs, params, desc)
    try:
        return run_plan(list(configs), params.results_dir, progress=False)
    except ConfigError as err:
        raise ParameterError(str(err)) from None


def stored(configs: Sequence[RunConfig], params: RunParameters, desc: str = "") -> list[Result]:
    """The stored results of a plan (none trains); logs how many of the planned runs are missing."""
    found = [r for r in (load_result(c, params.results_dir) for c in configs) if r is not None]
    if len(found) < len(configs):
        log.warning("%s: %d of %d planned runs are in the store; the rest are not run yet",
                    desc or "plan", len(found), len(configs))
    return found


def section_tasks(params: RunParameters, requested, smoke_default: Sequence[str], name: str,
                  minimum: int = 2) -> tuple[str, ...]:
    """A section's task list: the notebook parameter if given, else a small smoke default or all tasks."""
    if requested is not None:
        return check_tasks(requested, name=name, minimum=minimum, registry=params.registry)
    tasks = tuple(smoke_default) if params.profile == "smoke" else params.tasks
    tasks = tuple(t for t in tasks if t in params.tasks) or params.tasks
    return check_tasks(tasks, name=name, minimum=minimum, registry=params.registry)


def seeds_first(configs: Sequence[RunConfig], seeds: Sequence[int]) -> list[RunConfig]:
    """A plan with its seeds outermost, in the order of `seeds`: a complete seed comes first."""
    order = {s: i for i, s in enumerate(seeds)}
    return sorted(configs, key=lambda c: order.get(c.seed, len(order)))


__all__ = ["Plan", "PlannedRun", "SectionsPlan", "Evidence", "Section", "TRAINERS", "page_parameters",
           "SMOKE_RELEVANCE_TASKS", "SMOKE_GRID_TASKS", "tagged", "with_tags", "run", "stored", "section_tasks",
           "seeds_first"]
