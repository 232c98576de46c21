"""The paper's sections as objects (:class:`Section`, :mod:`hmnet.sections.base`), one module each, and the
registry the campaign, the results store, the terminal view, the book and the claims ledger iterate over.

Built in, in the campaign's priority order: Table 1 (:mod:`.table1`), its cross-check with the Hugging Face
Trainer (:mod:`.hf_check`), Figure 3 (:mod:`.shared_layers`), the one-run affinity estimate (:mod:`.affinity`),
Table 1's extra rows (:mod:`.table1_ours`), Eq. 4's pairwise gains (:mod:`.pairwise`), Figure 4
(:mod:`.layer_grid`) and Appendix C (:mod:`.attention`). Each module ends with ``SECTION = <its Section>``.

A section from outside the package joins through the entry point group ``hmnet.sections`` (in its project's
``pyproject.toml``: ``[project.entry-points."hmnet.sections"] my_section = "my_module:SECTION"``), after the
built-in ones: one module (and its notebook) and nothing else to edit. :func:`registry` reads the built-in
modules and the entry points each time it is called; it keeps no state.

Also here: the notebooks' parameters (:mod:`.parameters`) and the groupings plans read (:mod:`.groupings`).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points

from hmnet.config_checks import ConfigError
from hmnet.sections.base import TRAINERS, Evidence, Plan, Section, run, section_tasks, stored, tagged, with_tags
from hmnet.sections.parameters import ParameterError, RunParameters, check_parameters

BUILTIN = ("table1", "hf_check", "shared_layers", "affinity", "table1_ours", "pairwise", "layer_grid", "attention")
ENTRY_POINTS = "hmnet.sections"


@dataclass(frozen=True)
class Registry:
    """The known sections, in priority order (built-in first), each name once."""

    sections: tuple[Section, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.sections)

    def __iter__(self) -> Iterator[Section]:
        return iter(self.sections)

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def get(self, name: str) -> Section:
        for s in self.sections:
            if s.name == name:
                return s
        raise ConfigError(f"section {name!r} is unknown; known: {', '.join(self.names)}")

    def on_page(self, page: str) -> tuple[Section, ...]:
        """The sections a page (a notebook, "03") shows."""
        return tuple(s for s in self.sections if s.page == page)


def _check(section: object, where: str) -> Section:
    if not isinstance(section, Section):
        raise ConfigError(f"{where} is not an hmnet.sections.Section (got {type(section).__name__})")
    for attr in ("name", "page", "title"):
        if not isinstance(getattr(section, attr, None), str) or not getattr(section, attr):
            raise ConfigError(f"{where}: section attribute {attr!r} must be a non-empty string")
    if section.trainer not in TRAINERS:
        raise ConfigError(f"{where}: trainer {section.trainer!r} is unknown; known: {', '.join(TRAINERS)}")
    return section


def registry() -> Registry:
    """The built-in sections, then those of the ``hmnet.sections`` entry points (a name taken twice is an
    error naming both)."""
    found: list[Section] = [_check(importlib.import_module(f"hmnet.sections.{m}").SECTION, f"hmnet.sections.{m}")
                            for m in BUILTIN]
    for ep in entry_points(group=ENTRY_POINTS):
        try:
            section = ep.load()
        except Exception as err:  # noqa: BLE001 - a broken plug-in is named, whatever it raised
            raise ConfigError(f"entry point {ep.name!r} ({ep.value}) of group {ENTRY_POINTS}: {err}") from None
        section = _check(section, f"entry point {ep.name!r} ({ep.value})")
        if section.name in {s.name for s in found}:
            raise ConfigError(f"entry point {ep.name!r} ({ep.value}): section name {section.name!r} is taken")
        found.append(section)
    return Registry(tuple(found))


def get_section(name: str) -> Section:
    return registry().get(name)


__all__ = ["BUILTIN", "ENTRY_POINTS", "Registry", "registry", "get_section", "Section", "Plan", "Evidence",
           "RunParameters", "ParameterError", "check_parameters", "run", "stored", "section_tasks", "tagged",
           "with_tags"]
