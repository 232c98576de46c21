"""Staging the book: the repository's ``_config.yml``, ``_toc.yml`` and ``book/`` copied into a staging folder,
with the executed notebooks of each page laid over ``notebooks/`` (the results store each page is rendered from:
:func:`hmnet.book.protocols.page_stores`), their cell tags for the reader, the store banner on each page of a
results store, the tables' CSVs beside them, and the generated parts of the narrative pages
(:mod:`hmnet.book.pages`, the claims page: :mod:`hmnet.book.ledger`).

A page is never dropped silently: a missing executed notebook is an error naming the command that produces it.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from hmnet.book.banners import add_store_banner
from hmnet.book.ledger import claims_parts, ledger_builds
from hmnet.book.protocols import disclosure_page, page_stores, protocol_line, protocols_page
from hmnet.book.reproduce import EXAMPLE_PAGES, PAGES, executed_path, marker_parameters, placeholder_notebook
from hmnet.provenance import REPO
from hmnet.store import path_replacements, read_manifest, scrub_paths

log = logging.getLogger(__name__)


class BookError(RuntimeError):
    """The book cannot be built as asked; the message says what is missing and what produces it."""


def toc_pages(root: Path = REPO) -> list[str]:
    """Every file entry of _toc.yml (root + chapters), without suffixes, in order."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(entries):
        for e in entries or []:
            if "file" in e:
                pages.append(e["file"])
            walk(e.get("sections"))
            for part in e.get("parts", []) or []:
                walk(part.get("chapters"))

    walk(toc.get("chapters"))
    for part in toc.get("parts", []) or []:
        walk(part.get("chapters"))
    return pages


def stage(profile: str, out: Path, stage_dir: Path, root: Path = REPO) -> Path:
    """Assemble the book's sources with the executed notebooks; raise BookError if one is missing."""
    from hmnet.book import pages as generated

    sources = page_stores(profile, out)
    # A results store's book shows a placeholder for an example page it never rendered (hmnet.book.reproduce).
    placeholders = [s for s in EXAMPLE_PAGES if read_manifest(sources[s][0]) is not None
                    and not executed_path(sources[s][0], s).exists()]
    missing = [s for s in PAGES if not executed_path(sources[s][0], s).exists() and s not in placeholders]
    if missing:
        names = ", ".join(f"{PAGES[s]}.ipynb" for s in missing)
        raise BookError(f"executed notebook(s) missing under {out / 'notebooks'}: {names}. Produce them with "
                        f"`hmnet reproduce --profile {profile} --out {out} --sections {' '.join(missing)}` "
                        f"(or `hmnet book --profile {profile} --out {out}`, which runs it first)")
    if stage_dir.exists():
        shutil.rmtree(stage_dir)
    stage_dir.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(root / name, stage_dir / name)
    shutil.copytree(root / "book", stage_dir / "book", ignore=shutil.ignore_patterns("generated"))
    (stage_dir / "notebooks").mkdir()
    for s in PAGES:  # cell tags for the reader (plumbing folded away) and no absolute paths
        executed = executed_path(sources[s][0], s)
        if s in placeholders:
            import nbformat

            executed = stage_dir / ".placeholders" / f"{PAGES[s]}.ipynb"
            executed.parent.mkdir(exist_ok=True)
            nbformat.write(placeholder_notebook(s, profile, out), executed)
        stage_notebook(executed, stage_dir / "notebooks" / f"{PAGES[s]}.ipynb",
                                  root / "notebooks" / f"{PAGES[s]}.ipynb", sources[s][0], root)
    add_store_banners(profile, sources, stage_dir / "notebooks")  # a store: what produced each page's numbers
    for folder in dict.fromkeys([out, *(f for f, _ in sources.values())]):  # each page's tables from its store
        stage_tables(folder, stage_dir, root)  # the CSVs the tables link to, and book/_static
    gen = stage_dir / "book" / "generated"
    gen.mkdir()
    generated.write_generated(gen, profile, out, root)  # Markdown parts, performance figures, raw results
    claims, figures = claims_parts(ledger_builds(profile, out))
    (gen / "claims.md").write_text(claims, encoding="utf-8")
    for name, data in figures.items():
        (gen / name).parent.mkdir(parents=True, exist_ok=True)
        (gen / name).write_bytes(data)
    (gen / "protocols.md").write_text(protocols_page(profile), encoding="utf-8")
    (gen / "disclosure.md").write_text(disclosure_page(profile), encoding="utf-8")
    for page in toc_pages(stage_dir):
        if not any((stage_dir / f"{page}{ext}").exists() for ext in (".md", ".ipynb")):
            raise BookError(f"page {page!r} of _toc.yml has no source in {stage_dir}")
    return stage_dir


def add_store_banners(profile: str, sources: dict[str, tuple[Path, str | None]], staged: Path) -> None:
    """Each staged notebook of a results store gets its store's banner under its title (settings, data files,
    how many of the section's planned runs are complete, date and commit, the protocol it shows)."""
    import nbformat

    for s in PAGES:
        folder, protocol = sources[s]
        manifest = read_manifest(folder)
        if manifest is None:
            continue
        path = staged / f"{PAGES[s]}.ipynb"
        nb = nbformat.read(path, as_version=4)
        if not any("store-banner" in c.get("metadata", {}).get("tags", []) for c in nb.cells):
            add_store_banner(nb, manifest, s, protocol_line(profile, s, protocol))
        drop_banner_outputs(nb)  # the store's banner says it all: one banner a page
        nbformat.write(nb, path)


def drop_banner_outputs(nb):
    """The profile banner a notebook's setup displayed, taken out of its outputs (a store's page has the
    store's banner instead)."""
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell["outputs"] = [o for o in cell.get("outputs", [])
                               if 'class="hmnet-banner' not in str(o.get("data", {}).get("text/html", ""))]
    return nb


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


def is_plumbing(cell) -> bool:
    """Papermill's parameters and injected cells, the Colab install and the notebook's setup call."""
    tags = set(cell.get("metadata", {}).get("tags", []))
    source = cell.get("source", "")
    return cell.get("cell_type") == "code" and bool(
        tags & {"parameters", "injected-parameters"} or "google.colab" in source or "report.setup(" in source)


def fold_plumbing(nb):
    """The plumbing cells (:func:`is_plumbing`) as one folded cell where the first of them stood: their sources
    one after the other, their outputs (the setup's banner) shown, the code behind a toggle."""
    import copy

    at = [i for i, c in enumerate(nb.cells) if is_plumbing(c)]
    if len(at) < 2:
        return nb
    merged = copy.deepcopy(nb.cells[at[-1]])
    merged["source"] = "\n\n".join(nb.cells[i]["source"].strip() for i in at)
    merged["outputs"] = [o for i in at for o in nb.cells[i].get("outputs", [])]
    merged.setdefault("metadata", {})["tags"] = ["hide-input"]
    nb.cells = [*nb.cells[:at[0]], merged, *[c for i, c in enumerate(nb.cells) if i > at[0] and i not in at]]
    return nb


def strip_logs(nb):
    """No log line in a page: what a run wrote to stderr (warnings, progress) is not part of its results."""
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell["outputs"] = [o for o in cell.get("outputs", [])
                               if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
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
    the title first (:func:`title_first`), the plumbing folded into one cell (:func:`fold_plumbing`), no log
    line (:func:`strip_logs`), Markdown outputs read as MyST, and no absolute path of this machine in sources or
    text outputs (:func:`hmnet.store.path_replacements`)."""
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    stored = nbformat.read(source, as_version=4) if source is not None and Path(source).exists() else None
    tag_cells(nb, stored)
    title_first(nb)
    fold_plumbing(nb)
    strip_logs(nb)
    # Markdown outputs as MyST (MyST-NB renders them as plain CommonMark by default), so that the link under
    # each table to its CSV becomes a download that Sphinx copies into the HTML build.
    nb.metadata.setdefault("mystnb", {})["render_markdown_format"] = "myst"
    replacements = path_replacements(out, marker_parameters(out).get("data_dir"), root)
    for cell in nb.cells:
        _scrub_cell(cell, replacements)
    nbformat.write(nb, dest)
    return dest


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


__all__ = ["BookError", "toc_pages", "stage", "add_store_banners", "tag_cells", "title_first", "fold_plumbing",
           "strip_logs", "drop_banner_outputs", "stage_notebook",
           "stage_tables", "VISIBILITY_TAGS"]
