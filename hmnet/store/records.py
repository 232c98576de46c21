"""A build's runs, section by section: a results store's through its manifest (each record under the tags and
label its plan gives it), a plain output folder's by the tags its records carry (:meth:`Section.select`); and
from them the :class:`hmnet.sections.Evidence` and the claims ledger of a build."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from hmnet.errors import UsageError
from hmnet.experiments import backbone_depth
from hmnet.protocol import ProtocolError, get_protocol
from hmnet.results import Result, load_results, read_result_file
from hmnet.sections import Registry, registry
from hmnet.sections.base import Evidence, with_tags
from hmnet.sections.ledger import ledger
from hmnet.store.manifest import MANIFEST, read_manifest


def section_records(store: Path, section: str, manifest: dict | None = None) -> list[Result]:
    """The stored results of a section's planned runs, as the store's manifest lists them, each under the
    tags and label of its plan."""
    manifest = manifest if manifest is not None else read_manifest(store)
    if manifest is None:
        raise UsageError(f"no {MANIFEST} in {store}: run `hmnet campaign status` with the data to write it")
    if section not in manifest["sections"]:
        raise UsageError(f"section {section!r} is not in the store's plan; it has {', '.join(manifest['sections'])}")
    runs = manifest["sections"][section]["runs"]
    if any("tags" not in run for run in runs):
        raise UsageError(f"{Path(store) / MANIFEST} lists the runs of {section!r} without their tags (written before "
                         "runs carried them): rewrite it with `hmnet campaign status` and the data")
    out = []
    for run in runs:
        r = read_result_file(Path(store) / "results" / run["name"]) if run["complete"] else None
        if r is not None:
            out.append(with_tags(r, run["tags"], run.get("label", "")))
    return out


def store_analysis(manifest: dict | None) -> dict:
    """The analysis a store's protocol registers (``analysis`` in its protocol file: Table 1's analysis set,
    the reference effects), empty for a store without a protocol."""
    if not manifest or not manifest.get("protocol"):
        return {}
    try:
        registered = get_protocol(manifest["profile"], manifest["protocol"])
    except ProtocolError:
        return {}
    return dict(registered.document.get("analysis", {})) if registered else {}


def build_runs(out: Path, known: Registry | None = None) -> dict[str, list[Result]]:
    """Every section's runs in a build: a results store's (as its manifest lists them) or a plain output
    folder's (each section's selection of the folder's records)."""
    known = known or registry()
    manifest = read_manifest(out)
    if manifest is not None:
        return {s.name: section_records(out, s.name, manifest) if s.name in manifest["sections"] else []
                for s in known}
    results = load_results(Path(out) / "results")
    return {s.name: s.select(results) for s in known}


def evidence(out: Path, known: Registry | None = None) -> Evidence:
    """What the ledger's claims read from a build (a store or a plain output folder)."""
    runs = build_runs(out, known)
    manifest = read_manifest(out)
    if manifest is not None:
        backbone = manifest["settings"]["backbone"]
    else:
        backbone = next((r.config.backbone for rs in runs.values() for r in rs), None)
    return Evidence(runs, backbone_depth(backbone) if backbone else None, store_analysis(manifest), Path(out))


def ledger_for(out: Path, known: Registry | None = None) -> pd.DataFrame:
    """The claims ledger of one build (:func:`hmnet.sections.ledger.ledger`)."""
    known = known or registry()
    return ledger(evidence(out, known), known)


__all__ = ["section_records", "store_analysis", "build_runs", "evidence", "ledger_for"]
