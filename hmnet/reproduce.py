"""Run the companion notebooks with papermill, in order, resumably.

``reproduce("smoke", out="_build/runs/smoke")`` executes ``notebooks/NN_*.ipynb`` into
``<out>/notebooks/`` with the profile's parameters. A section whose done-marker holds the same
parameters hash (the parameters plus the notebook's own text) is not run again; training runs are cached
by the trainer in ``<out>/results``, so a re-run after a failure only repeats what did not finish.
A failed notebook stops the run with :class:`ReproduceError`, which names the partial executed notebook
and the failing cell.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Iterable, Mapping

from hmnet.report import PROFILES, ParameterError, check_data_dir
from hmnet.report.runs import STORE_ONLY_ENV

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = REPO / "notebooks"
# The report helpers the notebooks call; code_fingerprint hashes all of their modules.
REPORT_DIR = Path(__file__).resolve().with_name("report")
# Section id -> notebook stem, in the order they run (later sections reuse earlier results).
SECTIONS: dict[str, str] = {
    "01": "01_task_relevance",
    "02": "02_task_clustering",
    "03": "03_main_results",
    "04": "04_shared_layers",
    "05": "05_layer_combinations",
    "06": "06_attention_similarity",
    "07": "07_your_own_tasks",
}
# Sections whose page trains on an example of its own (07: the toy task file), not on a profile's results store:
# a store's book shows a placeholder for them that points at the smoke build.
EXAMPLE_SECTIONS: tuple[str, ...] = ("07",)


class ReproduceError(RuntimeError):
    """A section failed; the message names the partial executed notebook and the failing cell."""

    def __init__(self, message: str, notebook: Path | None = None, cell: int | None = None):
        super().__init__(message)
        self.notebook = notebook
        self.cell = cell


@dataclass
class SectionResult:
    section: str
    notebook: Path
    status: str  # "ran" | "cached"
    seconds: float


def resolve_sections(sections: Iterable[str] | None) -> list[str]:
    """Section ids from ids ("01"), numbers ("1") or notebook stems; all in order when None."""
    if sections is None:
        return list(SECTIONS)
    if isinstance(sections, str):
        sections = [s for s in sections.replace(",", " ").split() if s]
    out = []
    for s in sections:
        key = str(s).strip()
        if key.isdigit():
            key = f"{int(key):02d}"
        match = [k for k, stem in SECTIONS.items() if key in (k, stem, stem + ".ipynb")]
        if not match:
            raise ParameterError(f"section {s!r} is unknown; known: "
                                 + ", ".join(f"{k} ({v})" for k, v in SECTIONS.items()))
        out.append(match[0])
    return [k for k in SECTIONS if k in out]


def notebook_path(section: str, notebooks_dir: Path | None = None) -> Path:
    path = (notebooks_dir or NOTEBOOKS_DIR) / f"{SECTIONS[section]}.ipynb"
    if not path.exists():
        raise FileNotFoundError(f"notebook {path} not found: run from a checkout of {REPO.name} "
                                "(the notebooks are not part of the installed package)")
    return path


def default_out(profile: str, store_only: bool = False, protocol: str | None = None) -> Path:
    """Where a profile's notebooks run: its results store under `protocol` (``reference/<store>``) when
    rendering one, else ``_build/runs/<profile>``."""
    if store_only:
        from hmnet.campaign_plan import store_dir

        return store_dir(profile, protocol)
    return REPO / "_build" / "runs" / profile


def executed_path(out: str | Path, section: str) -> Path:
    return Path(out) / "notebooks" / f"{SECTIONS[section]}.ipynb"


def marker_path(out: Path, section: str) -> Path:
    return Path(out) / "notebooks" / f".{SECTIONS[section]}.done.json"


def report_sources() -> list[Path]:
    """The report helpers' source files: every module of the ``hmnet.report`` package, sorted."""
    return sorted(REPORT_DIR.rglob("*.py"))


def code_fingerprint() -> str:
    """The code a section's results depend on: the training-semantics version and the report helpers
    (every module of ``hmnet.report``), so a change to either re-runs the notebooks (the trainer's cache
    decides which runs retrain)."""
    from hmnet.experiments import TRAINING_SEMANTICS

    sources = report_sources()
    if not sources:
        raise FileNotFoundError(f"no report modules under {REPORT_DIR}")
    digest = hashlib.sha256()
    for path in sources:
        digest.update(path.relative_to(REPORT_DIR).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return f"s{TRAINING_SEMANTICS}-" + digest.hexdigest()[:12]


def section_hash(notebook: Path, parameters: Mapping[str, Any]) -> str:
    """Hash of the parameters, the notebook's cells (sources only) and the code fingerprint."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    cells = [c.source for c in nb.cells]
    blob = json.dumps({"parameters": dict(parameters), "cells": cells, "code": code_fingerprint()},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def is_done(out: str | Path, section: str, digest: str) -> bool:
    marker = marker_path(Path(out), section)
    if not marker.exists() or not executed_path(out, section).exists():
        return False
    try:
        return json.loads(marker.read_text()).get("hash") == digest
    except (OSError, json.JSONDecodeError):
        return False


def section_parameters(profile: str, data_dir: str | None, out: Path,
                       extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"profile": profile, "out_dir": str(out)}
    if data_dir is not None:
        params["data_dir"] = str(data_dir)
    params.update(extra or {})
    return params


def _failing_cell(err) -> tuple[int | None, str]:
    index = getattr(err, "cell_index", None)
    source = getattr(err, "source", "") or ""
    lines = source.strip().splitlines()
    excerpt = "\n".join(lines[:6]) + ("\n    ..." if len(lines) > 6 else "")
    return index, excerpt


def run_section(section: str, profile: str, out: Path, data_dir: str | None = None,
                extra: Mapping[str, Any] | None = None, force: bool = False, progress: bool = True,
                notebooks_dir: Path | None = None, kernel_name: str = "python3",
                store_only: bool = False) -> SectionResult:
    """Execute one notebook unless its done-marker matches; raise ReproduceError on failure.

    With `store_only` the notebook trains nothing (it reads the results store in ``<out>/results``), a
    section none of whose runs is stored becomes a placeholder page, and the executed notebook keeps no
    path of this machine (:func:`hmnet.store.scrub_paths`).
    """
    import papermill as pm

    from hmnet import store

    src = notebook_path(section, notebooks_dir)
    dst = executed_path(out, section)
    dst.parent.mkdir(parents=True, exist_ok=True)
    params = section_parameters(profile, data_dir, out, extra)
    digest = section_hash(src, {**params, "store_only": store_only})
    if not force and is_done(out, section, digest):
        log.info("section %s (%s): done earlier with the same parameters; skipped", section, SECTIONS[section])
        return SectionResult(section, dst, "cached", 0.0)
    marker_path(out, section).unlink(missing_ok=True)
    start = time.perf_counter()
    if store_only and (section in EXAMPLE_SECTIONS or store.nothing_stored(out, section)):
        import nbformat

        title = _notebook_title(src)
        nbformat.write(placeholder_notebook(section, profile, out, notebooks_dir) if section in EXAMPLE_SECTIONS
                       else store.stub_notebook(title, section, store.read_manifest(out), profile), dst)
        _write_marker(out, section, digest, None, 0.0)
        return SectionResult(section, dst, "placeholder", 0.0)
    env_before = os.environ.get(STORE_ONLY_ENV)
    if store_only:
        os.environ[STORE_ONLY_ENV] = "1"  # the kernel inherits it: hmnet.report.run_plan then never trains
    try:
        pm.execute_notebook(str(src), str(dst), parameters=params, kernel_name=kernel_name,
                            progress_bar=progress, cwd=str(out), log_output=False)
    except pm.PapermillExecutionError as err:
        index, excerpt = _failing_cell(err)
        raise ReproduceError(
            f"section {section} ({SECTIONS[section]}) failed in cell {index} "
            f"(execution count {getattr(err, 'exec_count', '?')}): {err.ename}: {err.evalue}\n"
            f"  partial executed notebook: {dst}\n  failing cell:\n    " + excerpt.replace("\n", "\n    "),
            notebook=dst, cell=index) from None
    finally:
        if env_before is None:
            os.environ.pop(STORE_ONLY_ENV, None)
        else:
            os.environ[STORE_ONLY_ENV] = env_before
    seconds = time.perf_counter() - start
    if store_only:
        store.scrub_file(dst, store.path_replacements(out, data_dir))
    _write_marker(out, section, digest, params if not store_only else None, seconds)
    return SectionResult(section, dst, "ran", seconds)


def _write_marker(out: Path, section: str, digest: str, params: Mapping[str, Any] | None, seconds: float) -> None:
    """The section's done-marker (its parameters are left out of a store's: they hold local paths)."""
    from hmnet.results import atomic_write_bytes

    payload = {"hash": digest, "seconds": round(seconds, 1), "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
    if params is not None:
        payload["parameters"] = dict(params)
    atomic_write_bytes(marker_path(out, section), json.dumps(payload, indent=1).encode())


def placeholder_notebook(section: str, profile: str, out: Path, notebooks_dir: Path | None = None):
    """What a results store's book shows for an example section (:data:`EXAMPLE_SECTIONS`): its title and where
    the page is computed (the smoke build, or the notebook run on its own with your task file)."""
    import nbformat

    src = notebook_path(section, notebooks_dir)
    text = (f"# {_notebook_title(src)}\n\nThis page trains on an example of its own (a task file and its data), so "
            f"the `{profile}` build, which renders its results store and trains nothing, does not compute it. The "
            "smoke build (`make book PROFILE=smoke`) shows it end to end; on your tasks run the notebook itself: "
            f"`papermill notebooks/{src.name} out.ipynb -p task_file YOUR_TASKS.yaml -p profile local`.\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(text, metadata={"tags": ["store-banner"]})]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _notebook_title(path: Path) -> str:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith("#"):
            return cell.source.lstrip().splitlines()[0].lstrip("# ").strip()
    return SECTIONS.get(path.stem[:2], path.stem)


def reproduce(profile: str = "smoke", sections: Iterable[str] | str | None = None,
              data_dir: str | Path | None = None, out: str | Path | None = None, force: bool = False,
              progress: bool = True, extra: Mapping[str, Any] | None = None,
              notebooks_dir: str | Path | None = None, store_only: bool = False,
              protocol: str | None = None) -> list[SectionResult]:
    """Run the sections' notebooks for a profile into ``out`` (default ``_build/runs/<profile>``).

    `extra` passes further papermill parameters to every notebook (e.g. ``{"seeds": [0, 1, 2]}``).
    `store_only` renders a results store (``hmnet.campaign``): nothing trains, each notebook gets the
    reference build's own parameters under `protocol` (``hmnet.campaign_plan.reference_parameters``) before
    `extra`, and the executed notebooks keep no local path. Returns one SectionResult per section; raises
    ReproduceError at the first failure.
    """
    from tqdm.auto import tqdm

    if profile not in PROFILES:
        raise ParameterError(f"profile {profile!r} is unknown; known: {', '.join(PROFILES)}")
    if data_dir is not None:
        data_dir = check_data_dir(data_dir)
    elif profile == "local":
        raise ParameterError("the local profile needs --data-dir: a directory with the GLUE/SuperGLUE files")
    out = Path(out if out is not None else default_out(profile, store_only, protocol)).resolve()
    (out / "results").mkdir(parents=True, exist_ok=True)
    ids = resolve_sections(sections)
    nb_dir = Path(notebooks_dir) if notebooks_dir else None
    results = []
    bar = tqdm(ids, desc=f"hmnet reproduce ({profile})", unit="notebook", disable=not progress)
    for i, section in enumerate(bar, 1):
        bar.set_postfix_str(SECTIONS[section])
        log.info("[%d/%d] %s", i, len(ids), SECTIONS[section])
        section_extra = dict(extra or {})
        if store_only:  # the store's own notebook parameters: the reference ones, then the store's overrides
            from hmnet.campaign_manifest import read_manifest
            from hmnet.campaign_plan import reference_parameters

            stored = (read_manifest(out) or {}).get("overrides", {})
            section_extra = {**reference_parameters(profile, section, protocol), **stored, **section_extra}
        res = run_section(section, profile, out, data_dir=data_dir, extra=section_extra, force=force,
                          progress=progress, notebooks_dir=nb_dir, store_only=store_only)
        results.append(res)
    return results
