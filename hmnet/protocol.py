"""Registered protocols: the versioned plans of a profile's reference build (``hmnet/protocols/*.json``).

A protocol is a committed file, written before the runs it plans start (the git history shows the order). It
holds the settings that override the profile's, the sections it runs in priority order with each notebook's
parameters (the seeds among them), the sections it leaves out and why, and, as free-form data for the book,
the claim families, the power plan, the projected cost and the pilot evidence behind each choice.

The settings change the runs' cache keys; each protocol's records live in a results store of their own
(``reference/<store>``), so a table or a verdict is always computed from one protocol's runs.
:func:`hmnet.profiles.get_profile` applies a profile's newest protocol unless another is named.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from hmnet.errors import HmnetError

PROTOCOL_DIR = Path(__file__).parent / "protocols"
_REQUIRED = ("name", "profile", "store", "registered", "settings", "sections", "notebook_parameters", "not_run")


class ProtocolError(HmnetError):
    """A protocol file that cannot be used, or a protocol that does not exist; the message names it."""


@dataclass(frozen=True)
class Protocol:
    """One registered protocol of a profile (see the module docstring). ``store`` is the folder under
    ``reference/`` that holds its records (one store per protocol: no table can mix two); ``sections`` is
    the priority order of the sections it plans; ``notebook_parameters`` maps a notebook ("03") to the
    parameters its reference run takes; ``not_run`` maps each left-out section to the reason; ``document``
    is the whole file."""

    name: str
    profile: str
    store: str
    registered: str
    settings: dict[str, Any]
    sections: tuple[str, ...]
    notebook_parameters: dict[str, dict[str, Any]]
    not_run: dict[str, str]
    document: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def version(self) -> int:
        """The number of ``v<N>`` (protocols are ordered by it)."""
        return int(self.name.lstrip("v"))

    def left_out(self, section: str) -> str | None:
        """Why this protocol runs no `section` (None: it plans the section)."""
        reason = self.not_run.get(section)
        return None if reason is None else f"left out by protocol {self.name}: {reason}"

    def registered_power(self, comparison: str) -> dict[str, Any] | None:
        """The power plan's entry for one comparison of the ledger, by its name (None: the plan has none):
        the seeds it planned, the minimum detectable effect at those seeds and whether it expected a
        decision ("decided") or not ("not resolved")."""
        for family in self.document.get("power", {}).get("families", ()):
            for member in family.get("members", ()):
                if member.get("comparison") == comparison:
                    return member
        return None

    def expectation(self, comparison: str) -> str | None:
        """What the registered plan expected of one comparison, in words (None: the plan has no entry)."""
        m = self.registered_power(comparison)
        if m is None:
            return None
        outcome = "a decision expected" if m["expected"] == "decided" else "not expected to resolve"
        return (f"registered plan: {outcome} at {m['planned_seeds']} seeds "
                f"(planned MDE {m['mde_at_planned']:.2f})")

    def parameters(self, notebook: str) -> dict[str, Any]:
        """A copy of one notebook's parameters under this protocol (empty when it names none)."""
        return json.loads(json.dumps(self.notebook_parameters.get(notebook, {})))

    def seeds(self, notebook: str) -> tuple[int, ...] | None:
        seeds = self.notebook_parameters.get(notebook, {}).get("seeds")
        return None if seeds is None else tuple(seeds)


def _from_file(path: Path) -> Protocol:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ProtocolError(f"protocol file {path}: {err}") from None
    if not isinstance(data, dict):
        raise ProtocolError(f"protocol file {path}: expected a JSON object")
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise ProtocolError(f"protocol file {path}: missing field(s) {missing}")
    name = str(data["name"])
    if not name.startswith("v") or not name[1:].isdigit():
        raise ProtocolError(f"protocol file {path}: name {name!r} is not v<N>")
    if path.stem != f"{data['profile']}-{name}":
        raise ProtocolError(f"protocol file {path}: its name must be {data['profile']}-{name}.json")
    for key in ("settings", "notebook_parameters", "not_run"):
        if not isinstance(data[key], Mapping):
            raise ProtocolError(f"protocol file {path}: {key!r} must be an object")
    if not isinstance(data["sections"], list) or not all(isinstance(s, str) for s in data["sections"]):
        raise ProtocolError(f"protocol file {path}: 'sections' must be a list of section names")
    both = sorted(set(data["sections"]) & set(data["not_run"]))
    if both:
        raise ProtocolError(f"protocol file {path}: section(s) {both} are both planned and not run")
    return Protocol(name=name, profile=str(data["profile"]), store=str(data["store"]),
                    registered=str(data["registered"]),
                    settings=dict(data["settings"]), sections=tuple(data["sections"]),
                    notebook_parameters={k: dict(v) for k, v in data["notebook_parameters"].items()},
                    not_run=dict(data["not_run"]), document=data)


@cache
def _all(directory: Path = PROTOCOL_DIR) -> tuple[Protocol, ...]:
    found = [_from_file(p) for p in sorted(directory.glob("*.json"))]
    return tuple(sorted(found, key=lambda p: (p.profile, p.version)))


def protocols(profile: str, directory: Path = PROTOCOL_DIR) -> dict[str, Protocol]:
    """A profile's registered protocols by name, oldest first (empty for a profile without any)."""
    return {p.name: p for p in _all(directory) if p.profile == profile}


def get_protocol(profile: str, name: str | None = None, directory: Path = PROTOCOL_DIR) -> Protocol | None:
    """A profile's protocol by name; None names the newest (None when the profile has none)."""
    known = protocols(profile, directory)
    if name is None:
        return list(known.values())[-1] if known else None
    if name not in known:
        raise ProtocolError(f"protocol {name!r} is unknown for profile {profile!r}; known: "
                            f"{', '.join(known) or 'none'}")
    return known[name]


__all__ = ["Protocol", "ProtocolError", "protocols", "get_protocol", "PROTOCOL_DIR"]
