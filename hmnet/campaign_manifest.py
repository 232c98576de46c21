"""The manifest of a results store: for the book's banners, how many of each section's planned runs are
complete, with the date, the commit and the data files (relative paths and sizes only)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hmnet.campaign_plan import SECTION_NOTEBOOK, WAITING, PlannedRun, is_stored, plan_sections, reference_parameters
from hmnet.experiments import TRAINING_SEMANTICS, RunConfig, data_fingerprint
from hmnet.profiles import get_profile
from hmnet.provenance import code_commit
from hmnet.results import atomic_write_bytes

MANIFEST = "manifest.json"


def write_manifest(profile: str, data_dir: str | None, store: Path, plan: Sequence[PlannedRun],
                   overrides: Mapping[str, Any] | None = None, protocol: str | None = None) -> dict:
    """Planned and complete runs per section, with the date, commit and data files, into the store.

    A section that plans nothing yet (``campaign_plan.WAITING``) is listed with no runs and the reason.
    Sections the plan does not cover (a runner given some sections) keep their entries from the manifest
    before, as that last counted them. Nothing in it names a path of this machine: data files appear
    relative to the data directory. A manifest that would differ from the one before only in its date and
    commit is left as it was (a status call restamps nothing).
    """
    from hmnet.data import find_file

    sections: dict[str, dict[str, Any]] = {}
    for p in plan:
        s = sections.setdefault(p.section, {"notebook": SECTION_NOTEBOOK[p.section], "planned": 0, "complete": 0,
                                            "runs": []})
        s["planned"] += 1
        done = is_stored(p, store)
        s["complete"] += int(done)
        s["runs"].append({"name": p.config.result_name(), "variant": p.config.variant,
                          "tasks": list(p.config.tasks), "seed": p.config.seed, "complete": done})
    for section, why in WAITING.items():
        sections.setdefault(section, {"notebook": SECTION_NOTEBOOK[section], "planned": 0, "complete": 0,
                                      "runs": [], "waiting": why})
    sections = _with_earlier_sections(sections, store, profile, overrides, plan_sections(profile, protocol))
    prof = get_profile(profile, protocol=protocol, **({"data_dir": data_dir} if data_dir else {}))
    cfg = prof.run_config("multi")
    majority, best = constant_floors(cfg)
    disclosure = disclosed(cfg, prof.tasks)
    carved = [t for t in prof.tasks if prof.source == "directory" and prof.carve_train
              and find_file(t, "train", prof.data_dir) is None]
    settings = {k: v for k, v in cfg.to_dict().items()
                if k not in ("method", "tasks", "clusters", "split", "seed", "name", "data_dir", "affinity")}
    manifest = {"profile": profile, "protocol": prof.protocol, "tasks": list(prof.tasks), "seeds": list(prof.seeds),
                "settings": settings,
                "data": data_fingerprint(cfg), "carved_tasks": carved, "majority_class": majority,
                "best_constant": best, "disclosure": disclosure,
                "notebook_parameters": {nb: reference_parameters(profile, nb, protocol)
                                        for nb in dict.fromkeys(SECTION_NOTEBOOK.values())},
                "overrides": dict(overrides or {}),
                "training_semantics": TRAINING_SEMANTICS,
                "commit": code_commit(), "updated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                "sections": sections}
    before = _read_quietly(store)
    stamp = ("commit", "updated")
    if before is not None and {k: v for k, v in before.items() if k not in stamp} == \
            {k: v for k, v in json.loads(json.dumps(manifest)).items() if k not in stamp}:
        return before
    atomic_write_bytes(Path(store) / MANIFEST, (json.dumps(manifest, indent=1) + "\n").encode())
    return manifest


def _read_quietly(store: Path) -> dict | None:
    from hmnet.errors import DataError

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


_FLOORS: dict[str, tuple[dict[str, float], dict[str, float]]] = {}


def constant_floors(config: RunConfig) -> tuple[dict[str, float], dict[str, float]]:
    """Each classification task's score when every evaluation row gets the most frequent training label, and
    the best score any one label for every row reaches, on the rows the profile's runs use
    (``hmnet.report.constant_baselines``); kept in the manifest so that the store shows them without the data.
    Cached per process."""
    from hmnet.report import constant_baselines

    key = config.to_json()
    if key not in _FLOORS:
        majority, best = constant_baselines(config)
        _FLOORS[key] = ({t: round(v, 3) for t, v in majority.items()}, {t: round(v, 3) for t, v in best.items()})
    return _FLOORS[key]


_DISCLOSED: dict[str, dict] = {}


def disclosed(config: RunConfig, tasks) -> dict:
    """:func:`hmnet.disclosure.disclose` for the profile's runs, cached per process (a runner rewrites the
    manifest after every run)."""
    from hmnet.disclosure import disclose

    key = config.to_json() + "|" + ",".join(tasks)
    if key not in _DISCLOSED:
        _DISCLOSED[key] = json.loads(json.dumps(disclose(config, tasks), default=list))
    return _DISCLOSED[key]


def read_manifest(store: Path) -> dict | None:
    """A store's manifest, None where it has none; a damaged one is a DataError naming the file."""
    from hmnet.errors import DataError

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

