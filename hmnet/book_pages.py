"""The generated parts of the book's narrative pages (``book/generated/*.md``), written at build time.

- ``banner.md``: which profile, data, backbone and seeds produced the book's numbers;
- ``findings_tables.md``: what does not reproduce or is inconsistent inside the paper, each row computed
  from the paper's own tables (``hmnet.analysis.paper``) or from this build's runs (``<out>/findings``):
  :mod:`hmnet.book_findings`;
- ``performance_tables.md``: every benchmark of ``benchmarks/results/*.json`` with the command that
  reproduces it, and "not yet measured" for those without a result file: :mod:`hmnet.book_performance`.

It also prepares what :func:`hmnet.book.stage` copies into the staged book: the executed notebooks with
their cell tags (:func:`stage_notebook`: plumbing cells folded away, no absolute paths) and the CSV files
that the notebooks' tables link to (:func:`stage_tables`).
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from hmnet import report
from hmnet.book_findings import findings_parts
from hmnet.book_performance import performance_banner, performance_parts
from hmnet.store import path_replacements, scrub_paths
from hmnet.reproduce import REPO, SECTIONS, marker_path

log = logging.getLogger(__name__)


def run_parameters(profile: str, out: Path) -> report.RunParameters:
    """The parameters this build's notebooks ran with (from the first section's done-marker)."""
    params = _marker_parameters(out)
    if params:
        return report.check_parameters(**{**params, "out_dir": str(out)})
    return report.check_parameters(profile=profile, out_dir=str(out))


def banner_page(params: report.RunParameters) -> str:
    note = ("<p><i>Each result chapter repeats this banner with the seeds and tasks its own runs used "
            "(sections 03 and 04 run several seeds on the smoke profile).</i></p>")
    return report.banner_html(params) + "\n" + note + "\n"


# ---------------------------------------------------------------------------------------------------------
# staging: executed notebooks, their tables, the book's stylesheet

# Jupyter Book cell tags that decide what a reader sees of a code cell.
VISIBILITY_TAGS = ("hide-cell", "hide-input", "hide-output", "remove-cell", "remove-input", "remove-output")


def tag_cells(nb, source=None):
    """Cell tags for the book: each cell takes the visibility tags of the stored notebook's cell with the same
    id (or, failing that, the same source), so a change of tags shows without re-running the notebooks; the
    cell papermill injects (tag ``injected-parameters``) is folded away whole, like the parameters cell."""
    by_id, by_source = {}, {}
    for cell in (source.cells if source is not None else []):
        tags = [t for t in cell.get("metadata", {}).get("tags", []) if t in VISIBILITY_TAGS]
        if cell.get("id"):
            by_id[cell["id"]] = tags
        by_source.setdefault(cell.get("source", ""), tags)
    for cell in nb.cells:
        tags = list(cell.get("metadata", {}).get("tags", []))
        if "injected-parameters" in tags:
            wanted = ["hide-cell"]
        elif cell.get("id") in by_id:
            wanted = by_id[cell["id"]]
        elif cell.get("source", "") in by_source:
            wanted = by_source[cell["source"]]
        else:
            continue
        cell.setdefault("metadata", {})["tags"] = [t for t in tags if t not in VISIBILITY_TAGS] + wanted
    return nb


def title_first(nb):
    """Put the page's title (the first Markdown cell that starts with "# ") above the folded plumbing cells
    that precede it in the notebook (the parameters cell comes first there, for papermill)."""
    for i, cell in enumerate(nb.cells):
        if cell.get("cell_type") == "markdown" and cell.get("source", "").lstrip().startswith("# "):
            before = nb.cells[:i]
            folded = all(set(c.get("metadata", {}).get("tags", [])) & {"hide-cell", "remove-cell"} for c in before)
            if i and folded:
                nb.cells.insert(0, nb.cells.pop(i))
            break
    return nb


def _scrub_cell(cell, replacements: dict[str, str]) -> None:
    cell["source"] = scrub_paths(cell.get("source", ""), replacements)
    for output in cell.get("outputs", []):
        if "text" in output:
            output["text"] = scrub_paths(output["text"], replacements)
        for mime, value in output.get("data", {}).items():
            if mime.startswith("text/") and isinstance(value, str):
                output["data"][mime] = scrub_paths(value, replacements)


def stage_notebook(executed: Path, dest: Path, source: Path | None, out: Path, root: Path = REPO) -> Path:
    """Copy an executed notebook into the staged book: cell tags from the stored notebook (:func:`tag_cells`),
    the title first (:func:`title_first`), Markdown outputs read as MyST, and no absolute path of this machine
    in sources or text outputs (:func:`hmnet.store.path_replacements`)."""
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    stored = nbformat.read(source, as_version=4) if source is not None and Path(source).exists() else None
    tag_cells(nb, stored)
    title_first(nb)
    # Markdown outputs as MyST (MyST-NB renders them as plain CommonMark by default), so that the link under
    # each table to its CSV becomes a download that Sphinx copies into the HTML build.
    nb.metadata.setdefault("mystnb", {})["render_markdown_format"] = "myst"
    replacements = path_replacements(out, _marker_parameters(out).get("data_dir"), root)
    for cell in nb.cells:
        _scrub_cell(cell, replacements)
    nbformat.write(nb, dest)
    return dest


def _marker_parameters(out: Path) -> dict:
    """The parameters this build's notebooks ran with, from the first section's done-marker ({} if none)."""
    for section in SECTIONS:
        marker = marker_path(out, section)
        if marker.exists():
            try:
                return json.loads(marker.read_text()).get("parameters", {})
            except (OSError, json.JSONDecodeError) as err:
                log.warning("cannot read %s: %s", marker, err)
                return {}
    return {}


def stage_tables(out: Path, stage_dir: Path, root: Path = REPO) -> None:
    """The CSVs of ``<out>/tables`` beside the staged notebooks (``<stage>/tables``, which the notebooks' links
    point at: ``../tables/<name>.csv``), and the book's stylesheet and script (``book/_static``) where
    Jupyter Book picks them up (``<stage>/_static``)."""
    tables = stage_dir / "tables"
    tables.mkdir(parents=True, exist_ok=True)
    for csv in sorted((Path(out) / "tables").glob("*.csv")):
        shutil.copy2(csv, tables / csv.name)
    static = root / "book" / "_static"
    if static.is_dir():
        shutil.copytree(static, stage_dir / "_static", dirs_exist_ok=True)
        shutil.rmtree(stage_dir / "book" / "_static", ignore_errors=True)



def generated_pages(profile: str, out: Path, root: Path = REPO) -> dict[str, str | bytes]:
    """Every generated file of the staged book/generated folder: name (may hold a subfolder) -> content."""
    from hmnet.store import read_manifest, store_banner

    manifest = read_manifest(out)  # a results store: its manifest says what produced the numbers
    params = None if manifest else run_parameters(profile, out)
    performance, perf_files = performance_parts(root, profile, out)
    findings, findings_files = findings_parts(profile, out, params)
    banner = store_banner(manifest, "") if manifest else banner_page(params)
    return {"banner.md": banner, "findings_tables.md": findings,
            "performance_banner.md": performance_banner(), "performance_tables.md": performance,
            **perf_files, **findings_files}


def write_generated(gen: Path, profile: str, out: Path, root: Path = REPO) -> None:
    """Write :func:`generated_pages` under `gen` (text as UTF-8, figures and raw files as bytes)."""
    for name, content in generated_pages(profile, out, root).items():
        path = gen / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
