"""Run the companion notebooks (the book's result pages) with papermill, in order, resumably.

``reproduce("smoke", out="_build/runs/smoke")`` executes ``notebooks/NN_*.ipynb`` into ``<out>/notebooks/``
with the profile's parameters. A page whose done-marker holds the same parameters hash (the parameters plus the
notebook's own text and the code of :mod:`hmnet.report` and :mod:`hmnet.sections`) is not run again; training
runs are cached by the trainer in ``<out>/results``, so a re-run after a failure only repeats what did not
finish. A failed notebook stops the run with :class:`ReproduceError`, which names the partial executed notebook
and the failing cell. Rendering a results store (``store_only``) passes ``store_only=True`` to every notebook, so
that no section trains.

A page is a notebook, by its number ("03"); the sections it shows (:mod:`hmnet.sections`) name it. The pages
are the repository's notebooks (:data:`PAGES`) and those of sections from outside the package.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hmnet.book.banners import nothing_stored, stub_notebook
from hmnet.campaign.plan import store_dir
from hmnet.experiments import TRAINING_SEMANTICS
from hmnet.files import atomic_write
from hmnet.provenance import REPO
from hmnet.sections import Registry, registry
from hmnet.sections.base import page_parameters
from hmnet.sections.parameters import PROFILES, ParameterError, check_data_dir
from hmnet.store import path_replacements, read_manifest, scrub_file

log = logging.getLogger(__name__)

NOTEBOOKS_DIR = REPO / "notebooks"
# The code the notebooks call: code_fingerprint hashes every module of these packages.
CODE_DIRS = tuple(Path(__file__).resolve().parents[1] / name for name in ("report", "sections"))
# Page id -> notebook stem, in the order they run (later pages reuse earlier results).
PAGES: dict[str, str] = {
    "01": "01_task_relevance",
    "02": "02_task_clustering",
    "03": "03_main_results",
    "04": "04_shared_layers",
    "05": "05_layer_combinations",
    "06": "06_attention_similarity",
    "07": "07_your_own_tasks",
}
# Pages that train on an example of their own (07: the toy task file), not on a profile's results store: a
# store's book shows a placeholder for them that points at the smoke build.
EXAMPLE_PAGES: tuple[str, ...] = ("07",)


class ReproduceError(RuntimeError):
    """A page failed; the message names the partial executed notebook and the failing cell."""

    def __init__(self, message: str, notebook: Path | None = None, cell: int | None = None):
        super().__init__(message)
        self.notebook = notebook
        self.cell = cell


@dataclass
class PageResult:
    page: str
    notebook: Path
    status: str  # "ran" | "cached" | "placeholder"
    seconds: float


def page_stems(known: Registry | None = None) -> dict[str, str]:
    """Every page by id -> notebook stem: the repository's (:data:`PAGES`), then those of sections from outside
    the package (each names its notebook file)."""
    out = dict(PAGES)
    for s in (known or registry()):
        if s.notebook is not None and s.page not in out:
            out[s.page] = Path(s.notebook).stem
    return out


def resolve_pages(pages: Iterable[str] | str | None, known: Registry | None = None) -> list[str]:
    """Page ids from ids ("01"), numbers ("1") or notebook stems; every page in order when None."""
    stems = page_stems(known)
    if pages is None:
        return list(stems)
    if isinstance(pages, str):
        pages = [s for s in pages.replace(",", " ").split() if s]
    out = []
    for s in pages:
        key = str(s).strip()
        if key.isdigit():
            key = f"{int(key):02d}"
        match = [k for k, stem in stems.items() if key in (k, stem, stem + ".ipynb")]
        if not match:
            raise ParameterError(f"page {s!r} is unknown; known: " + ", ".join(f"{k} ({v})" for k, v in stems.items()))
        out.append(match[0])
    return [k for k in stems if k in out]


def notebook_path(page: str, notebooks_dir: Path | None = None, known: Registry | None = None) -> Path:
    """A page's notebook: the repository's (or `notebooks_dir`'s), or the file a section from outside names."""
    if page in PAGES:
        path = (notebooks_dir or NOTEBOOKS_DIR) / f"{PAGES[page]}.ipynb"
    else:
        path = next((Path(s.notebook) for s in (known or registry()) if s.page == page and s.notebook), Path(page))
    if not path.exists():
        raise FileNotFoundError(f"notebook {path} not found: run from a checkout of {REPO.name} "
                                "(the notebooks are not part of the installed package)")
    return path


def default_out(profile: str, store_only: bool = False, protocol: str | None = None) -> Path:
    """Where a profile's notebooks run: its results store under `protocol` (``reference/<store>``) when
    rendering one, else ``_build/runs/<profile>``."""
    if store_only:

        return store_dir(profile, protocol)
    return REPO / "_build" / "runs" / profile


def _stem(page: str, known: Registry | None = None) -> str:
    return PAGES.get(page) or page_stems(known)[page]


def executed_path(out: str | Path, page: str, known: Registry | None = None) -> Path:
    return Path(out) / "notebooks" / f"{_stem(page, known)}.ipynb"


def marker_path(out: Path, page: str, known: Registry | None = None) -> Path:
    return Path(out) / "notebooks" / f".{_stem(page, known)}.done.json"


def code_sources() -> list[Path]:
    """The source files the notebooks' results depend on: every module of ``hmnet.report`` and
    ``hmnet.sections``, sorted."""
    return sorted(p for d in CODE_DIRS for p in d.rglob("*.py"))


def code_fingerprint() -> str:
    """The code a page's results depend on: the training-semantics version and every module of
    :data:`CODE_DIRS`, so a change to either re-runs the notebooks (the trainer's cache decides which runs
    retrain)."""
    sources = code_sources()
    if not sources:
        raise FileNotFoundError(f"no modules under {', '.join(map(str, CODE_DIRS))}")
    root = CODE_DIRS[0].parent
    digest = hashlib.sha256()
    for path in sources:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return f"s{TRAINING_SEMANTICS}-" + digest.hexdigest()[:12]


def page_hash(notebook: Path, parameters: Mapping[str, Any]) -> str:
    """Hash of the parameters, the notebook's cells (sources only) and the code fingerprint."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    cells = [c.source for c in nb.cells]
    blob = json.dumps({"parameters": dict(parameters), "cells": cells, "code": code_fingerprint()},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def is_done(out: str | Path, page: str, digest: str) -> bool:
    marker = marker_path(Path(out), page)
    if not marker.exists() or not executed_path(out, page).exists():
        return False
    try:
        return json.loads(marker.read_text()).get("hash") == digest
    except (OSError, json.JSONDecodeError):
        return False


def page_run_parameters(profile: str, data_dir: str | None, out: Path, extra: Mapping[str, Any] | None = None,
                        store_only: bool = False) -> dict[str, Any]:
    """The papermill parameters of one page."""
    params: dict[str, Any] = {"profile": profile, "out_dir": str(out)}
    if data_dir is not None:
        params["data_dir"] = str(data_dir)
    if store_only:
        params["store_only"] = True
    params.update(extra or {})
    return params


def _failing_cell(err) -> tuple[int | None, str]:
    index = getattr(err, "cell_index", None)
    source = getattr(err, "source", "") or ""
    lines = source.strip().splitlines()
    excerpt = "\n".join(lines[:6]) + ("\n    ..." if len(lines) > 6 else "")
    return index, excerpt


def _placeholder(page: str, profile: str, out: Path, notebooks_dir: Path | None) -> PageResult | None:
    """A store's page with nothing to render: the example pages, and pages none of whose runs is stored."""
    if page not in EXAMPLE_PAGES and not nothing_stored(out, page):
        return None
    import nbformat

    src = notebook_path(page, notebooks_dir)
    nbformat.write(placeholder_notebook(page, profile, out, notebooks_dir) if page in EXAMPLE_PAGES
                   else stub_notebook(_notebook_title(src), page, read_manifest(out), profile),
                   executed_path(out, page))
    return PageResult(page, executed_path(out, page), "placeholder", 0.0)


def run_page(page: str, profile: str, out: Path, data_dir: str | None = None, extra: Mapping[str, Any] | None = None,
             force: bool = False, progress: bool = True, notebooks_dir: Path | None = None,
             kernel_name: str = "python3", store_only: bool = False) -> PageResult:
    """Execute one page's notebook unless its done-marker matches; raise ReproduceError on failure.

    With `store_only` the notebook trains nothing (its sections read the results store in ``<out>/results``), a
    page none of whose runs is stored becomes a placeholder, and the executed notebook keeps no path of this
    machine (:func:`hmnet.store.scrub_paths`).
    """
    import papermill as pm

    src = notebook_path(page, notebooks_dir)
    dst = executed_path(out, page)
    dst.parent.mkdir(parents=True, exist_ok=True)
    params = page_run_parameters(profile, data_dir, out, extra, store_only)
    digest = page_hash(src, params)
    if not force and is_done(out, page, digest):
        log.info("page %s (%s): done earlier with the same parameters; skipped", page, dst.stem)
        return PageResult(page, dst, "cached", 0.0)
    marker_path(out, page).unlink(missing_ok=True)
    start = time.perf_counter()
    placeholder = _placeholder(page, profile, out, notebooks_dir) if store_only else None
    if placeholder is not None:
        _write_marker(out, page, digest, None, 0.0)
        return placeholder
    try:
        pm.execute_notebook(str(src), str(dst), parameters=params, kernel_name=kernel_name,
                            progress_bar=progress, cwd=str(out), log_output=False)
    except pm.PapermillExecutionError as err:
        index, excerpt = _failing_cell(err)
        raise ReproduceError(
            f"page {page} ({dst.stem}) failed in cell {index} (execution count {getattr(err, 'exec_count', '?')}): "
            f"{err.ename}: {err.evalue}\n  partial executed notebook: {dst}\n  failing cell:\n    "
            + excerpt.replace("\n", "\n    "), notebook=dst, cell=index) from None
    seconds = time.perf_counter() - start
    if store_only:
        scrub_file(dst, path_replacements(out, data_dir))
    _write_marker(out, page, digest, params if not store_only else None, seconds)
    return PageResult(page, dst, "ran", seconds)


def _write_marker(out: Path, page: str, digest: str, params: Mapping[str, Any] | None, seconds: float) -> None:
    """The page's done-marker (its parameters are left out of a store's: they hold local paths)."""
    payload = {"hash": digest, "seconds": round(seconds, 1), "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
    if params is not None:
        payload["parameters"] = dict(params)
    atomic_write(marker_path(out, page), json.dumps(payload, indent=1))


def marker_parameters(out: Path) -> dict:
    """The parameters this build's notebooks ran with, from the first section's done-marker ({} if none)."""
    for page in PAGES:
        marker = marker_path(out, page)
        if marker.exists():
            try:
                return json.loads(marker.read_text()).get("parameters", {})
            except (OSError, json.JSONDecodeError) as err:
                log.warning("cannot read %s: %s", marker, err)
                return {}
    return {}


def placeholder_notebook(page: str, profile: str, out: Path, notebooks_dir: Path | None = None):
    """What a results store's book shows for an example page (:data:`EXAMPLE_PAGES`): its title and where the
    page is computed (the smoke build, or the notebook run on its own with your task file)."""
    import nbformat

    src = notebook_path(page, notebooks_dir)
    text = (f"# {_notebook_title(src)}\n\nThis page trains on an example of its own (a task file and its data), so "
            f"the `{profile}` build, which renders its results store and trains nothing, does not compute it. The "
            "smoke build (`make book PROFILE=smoke`) shows it end to end; on your tasks run the notebook itself: "
            f"`papermill notebooks/{src.name} out.ipynb -p task_file YOUR_TASKS.yaml -p profile local`.\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(text)]  # the book adds the store's banner under the title
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _notebook_title(path: Path) -> str:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith("#"):
            return cell.source.lstrip().splitlines()[0].lstrip("# ").strip()
    return path.stem


def reproduce(profile: str = "smoke", pages: Iterable[str] | str | None = None,
              data_dir: str | Path | None = None, out: str | Path | None = None, force: bool = False,
              progress: bool = True, extra: Mapping[str, Any] | None = None,
              notebooks_dir: str | Path | None = None, store_only: bool = False,
              protocol: str | None = None) -> list[PageResult]:
    """Run the pages' notebooks for a profile into ``out`` (default ``_build/runs/<profile>``).

    `extra` passes further papermill parameters to every notebook (e.g. ``{"seeds": [0, 1, 2]}``).
    `store_only` renders a results store (:mod:`hmnet.campaign`): nothing trains, each notebook gets the
    reference build's own parameters under `protocol` (:func:`hmnet.sections.base.page_parameters`) before
    `extra`, and the executed notebooks keep no local path. Returns one PageResult per page; raises
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
    ids = resolve_pages(pages)
    nb_dir = Path(notebooks_dir) if notebooks_dir else None
    results = []
    bar = tqdm(ids, desc=f"hmnet reproduce ({profile})", unit="notebook", disable=not progress)
    for i, page in enumerate(bar, 1):
        bar.set_postfix_str(page)
        log.info("[%d/%d] page %s", i, len(ids), page)
        page_extra = dict(extra or {})
        if store_only:  # the store's own notebook parameters: the reference ones, then the store's overrides

            stored = (read_manifest(out) or {}).get("overrides", {})
            page_extra = {**page_parameters(profile, page, protocol), **stored, **page_extra}
        results.append(run_page(page, profile, out, data_dir=data_dir, extra=page_extra, force=force,
                                progress=progress, notebooks_dir=nb_dir, store_only=store_only))
    return results


__all__ = ["PAGES", "EXAMPLE_PAGES", "ReproduceError", "PageResult", "page_stems", "resolve_pages", "notebook_path",
           "default_out", "executed_path", "marker_path", "marker_parameters", "code_fingerprint", "page_hash",
           "run_page", "reproduce", "placeholder_notebook"]
