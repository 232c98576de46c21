"""The manifest of a results store: each section's planned runs (by record name, with their tags and label) and
how many are complete, with the date, the commit, the settings and the data files (relative paths and sizes
only), the constant floors and the disclosure computed from the data. The book and ``hmnet results`` read a
store through it, without the data."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hmnet.analysis.disclosure import disclose
from hmnet.analysis.floors import constant_baselines
from hmnet.data import find_file
from hmnet.errors import DataError
from hmnet.experiments import TRAINING_SEMANTICS, RunConfig, data_fingerprint
from hmnet.files import atomic_write
from hmnet.profiles import get_profile
from hmnet.protocol import Protocol, get_protocol
from hmnet.provenance import code_commit
from hmnet.sections import Registry, registry
from hmnet.sections.base import SectionsPlan

MANIFEST = "manifest.json"


def write_manifest(profile: str, data_dir: str | None, store: Path, plan: SectionsPlan,
                   overrides: Mapping[str, Any] | None = None, protocol: str | None = None,
                   known: Registry | None = None, projection: Mapping[str, Any] | None = None) -> dict:
    """Planned and complete runs per section, with the date, commit and data files, into the store.

    A section that plans nothing yet (``plan.waiting``) is listed with no runs and the reason. Sections the plan
    does not cover (a runner given some sections) keep their entries from the manifest before, as that last
    counted them. Nothing in it names a path of this machine: data files appear relative to the data directory.
    A manifest that would differ from the one before only in its date and commit is left as it was (a status
    call restamps nothing). `projection` is the campaign's projection of the whole plan from an empty store (None
    keeps the one the manifest holds).
    """
    known = known or registry()
    sections: dict[str, dict[str, Any]] = {}
    for p in plan:
        section = known.get(p.section)
        s = sections.setdefault(p.section, {"notebook": section.page, "planned": 0, "complete": 0, "runs": []})
        s["planned"] += 1
        done = section.is_stored(p.config, Path(store))
        s["complete"] += int(done)
        s["runs"].append({"name": p.config.result_name(), "label": p.config.variant, "tags": p.config.tags,
                          "tasks": list(p.config.tasks), "seed": p.config.seed, "complete": done})
    for name, why in plan.waiting.items():
        sections.setdefault(name, {"notebook": known.get(name).page, "planned": 0, "complete": 0, "runs": [],
                                   "waiting": why})
    registered = get_protocol(profile, protocol)
    order = registered.sections if registered is not None else known.names
    sections = _with_earlier_sections(sections, store, profile, overrides, order)
    prof = get_profile(profile, protocol=protocol, **({"data_dir": data_dir} if data_dir else {}))
    cfg = prof.run_config("multi")
    majority, best = constant_floors(cfg)
    disclosure = disclosed(cfg, prof.tasks)
    carved = [t for t in prof.tasks if prof.source == "directory" and prof.carve_train
              and find_file(t, "train", prof.data_dir) is None]
    settings = {k: v for k, v in cfg.to_dict().items()
                if k not in ("method", "tasks", "clusters", "split", "seed", "name", "tags", "data_dir", "affinity")}
    manifest = {"profile": profile, "protocol": prof.protocol, "tasks": list(prof.tasks), "seeds": list(prof.seeds),
                "settings": settings,
                "data": data_fingerprint(cfg), "carved_tasks": carved, "majority_class": majority,
                "best_constant": best, "disclosure": disclosure,
                "notebook_parameters": {s.page: s.reference_parameters(profile, protocol) for s in known},
                "overrides": dict(overrides or {}),
                "training_semantics": TRAINING_SEMANTICS,
                "commit": code_commit(), "updated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                "sections": sections}
    before = _read_quietly(store)
    if projection is not None or (before or {}).get("projection"):
        manifest["projection"] = dict(projection) if projection is not None else before["projection"]
    stamp = ("commit", "updated")
    if before is not None and {k: v for k, v in before.items() if k not in stamp} == \
            {k: v for k, v in json.loads(json.dumps(manifest)).items() if k not in stamp}:
        return before
    atomic_write(Path(store) / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    return manifest


def _read_quietly(store: Path) -> dict | None:
    try:
        return read_manifest(store)
    except DataError:
        return None


def _with_earlier_sections(sections: dict[str, dict], store: Path, profile: str,
                           overrides: Mapping[str, Any] | None, order: Sequence[str]) -> dict[str, dict]:
    """`sections`, plus the earlier manifest's entries for the other sections of the same plan, in the
    campaign's order."""
    before = _read_quietly(store) or {}
    if before.get("profile") == profile and before.get("overrides", {}) == dict(overrides or {}):
        sections = {**{k: v for k, v in before["sections"].items() if k in order}, **sections}
    return {k: sections[k] for k in order if k in sections}


def constant_floors(config: RunConfig) -> tuple[dict[str, float], dict[str, float]]:
    """Each classification task's score when every evaluation row gets the most frequent training label, and
    the best score any one label for every row reaches, on the rows the profile's runs use
    (:func:`hmnet.analysis.floors.constant_baselines`); kept in the manifest so that the store shows them
    without the data. Cached per process (a runner rewrites the manifest after every run)."""
    return _floors(config.to_json())


@functools.lru_cache(maxsize=8)
def _floors(config_json: str) -> tuple[dict[str, float], dict[str, float]]:
    majority, best = constant_baselines(RunConfig.from_json(config_json))
    return {t: round(v, 3) for t, v in majority.items()}, {t: round(v, 3) for t, v in best.items()}


def disclosed(config: RunConfig, tasks) -> dict:
    """:func:`hmnet.analysis.disclosure.disclose` for the profile's runs, cached per process."""
    return _disclosed(config.to_json(), tuple(tasks))


@functools.lru_cache(maxsize=8)
def _disclosed(config_json: str, tasks: tuple[str, ...]) -> dict:
    return json.loads(json.dumps(disclose(RunConfig.from_json(config_json), tasks), default=list))


def read_manifest(store: Path) -> dict | None:
    """A store's manifest, None where it has none; a damaged one is a DataError naming the file."""
    path = Path(store) / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(manifest, dict) or not isinstance(manifest.get("sections"), dict):
            raise ValueError("no 'sections' object")
    except (ValueError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not a results-store manifest ({err}); rewrite it with `hmnet campaign status`") \
            from None
    return manifest



def stored_of_planned(manifest: Mapping) -> tuple[int, int]:
    """How many of a manifest's planned runs are stored, and how many are planned (every section)."""
    sections = manifest["sections"].values()
    return sum(s["complete"] for s in sections), sum(s["planned"] for s in sections)


def manifest_protocol(manifest: Mapping) -> Protocol | None:
    """The registered protocol a store follows (None: a store without one)."""
    return get_protocol(manifest["profile"], manifest["protocol"]) if manifest.get("protocol") else None


__all__ = ["MANIFEST", "write_manifest", "read_manifest", "constant_floors", "disclosed", "stored_of_planned",
           "manifest_protocol"]
