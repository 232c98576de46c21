"""Build the Jupyter Book from the executed notebooks of one profile (execution off).

The book's sources are the repository's ``_config.yml``, ``_toc.yml`` and ``book/``. :func:`build_book`
copies them into a staging folder (``_build/book_src``), lays the executed notebooks of ``<out>/notebooks``
over ``notebooks/`` there (so the Colab launch buttons point at the same path in the repository), writes
the generated parts of the narrative pages (``book/generated/*.md``: the profile banner, the findings and
performance tables), then runs ``jupyter-book build`` with its output in ``_build/html``.

A page is never dropped silently: a missing executed notebook is an error naming the command that
produces it, and after the build every page of the table of contents must exist as HTML.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import time
from pathlib import Path

from hmnet.reproduce import EXAMPLE_SECTIONS, REPO, SECTIONS, executed_path, placeholder_notebook

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
    from hmnet import book_pages
    from hmnet.book_protocols import disclosure_page, protocols_page
    from hmnet.store import claims_page, read_manifest

    from hmnet.book_protocols import page_stores

    sources = page_stores(profile, out)
    # A results store's book shows a placeholder for an example page it never rendered (hmnet.reproduce).
    placeholders = [s for s in EXAMPLE_SECTIONS if read_manifest(sources[s][0]) is not None
                    and not executed_path(sources[s][0], s).exists()]
    missing = [s for s in SECTIONS if not executed_path(sources[s][0], s).exists() and s not in placeholders]
    if missing:
        names = ", ".join(f"{SECTIONS[s]}.ipynb" for s in missing)
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
    for s in SECTIONS:  # cell tags for the reader (plumbing folded away) and no absolute paths: book_pages
        executed = executed_path(sources[s][0], s)
        if s in placeholders:
            import nbformat

            executed = stage_dir / ".placeholders" / f"{SECTIONS[s]}.ipynb"
            executed.parent.mkdir(exist_ok=True)
            nbformat.write(placeholder_notebook(s, profile, out), executed)
        book_pages.stage_notebook(executed, stage_dir / "notebooks" / f"{SECTIONS[s]}.ipynb",
                                  root / "notebooks" / f"{SECTIONS[s]}.ipynb", sources[s][0], root)
    add_store_banners(profile, sources, stage_dir / "notebooks")  # a store: what produced each page's numbers
    for folder in dict.fromkeys([out, *(f for f, _ in sources.values())]):  # each page's tables from its store
        book_pages.stage_tables(folder, stage_dir, root)  # the CSVs the tables link to, and book/_static
    gen = stage_dir / "book" / "generated"
    gen.mkdir()
    book_pages.write_generated(gen, profile, out, root)  # Markdown parts, performance figures, raw results
    (gen / "claims.md").write_text(claims_page(ledger_builds(profile, out)), encoding="utf-8")
    (gen / "protocols.md").write_text(protocols_page(profile), encoding="utf-8")
    (gen / "disclosure.md").write_text(disclosure_page(profile), encoding="utf-8")
    for page in toc_pages(stage_dir):
        if not any((stage_dir / f"{page}{ext}").exists() for ext in (".md", ".ipynb")):
            raise BookError(f"page {page!r} of _toc.yml has no source in {stage_dir}")
    return stage_dir


def ledger_builds(profile: str, out: Path) -> dict[str, Path]:
    """The builds the claims ledger reports: this one, and every committed results store."""
    from hmnet.campaign_plan import STORE_ROOT

    from hmnet.campaign_manifest import read_manifest

    def label(folder: Path) -> str:
        protocol = (read_manifest(folder) or {}).get("protocol")
        return f"`reference/{folder.name}`" + (f", protocol {protocol}" if protocol else "")

    builds = {f"Profile `{profile}` (this book: {label(Path(out))})"
              if (Path(out) / "manifest.json").exists() else f"Profile `{profile}` (this book)": out}
    for store in sorted(STORE_ROOT.glob("*/manifest.json")):
        if store.parent.resolve() != Path(out).resolve():
            builds[f"Reference store {label(store.parent)}"] = store.parent
    return builds


def add_store_banners(profile: str, sources: dict[str, tuple[Path, str | None]], staged: Path) -> None:
    """Each staged notebook of a results store gets its store's banner under its title (settings, data files,
    how many of the section's planned runs are complete, date and commit, the protocol it shows)."""
    import nbformat

    from hmnet.book_protocols import protocol_line
    from hmnet.store import add_store_banner, read_manifest

    for s in SECTIONS:
        folder, protocol = sources[s]
        manifest = read_manifest(folder)
        if manifest is None:
            continue
        path = staged / f"{SECTIONS[s]}.ipynb"
        nb = nbformat.read(path, as_version=4)
        if not any("store-banner" in c.get("metadata", {}).get("tags", []) for c in nb.cells):
            add_store_banner(nb, manifest, s, protocol_line(profile, s, protocol))
            nbformat.write(nb, path)


def build_html(stage_dir: Path, build_root: Path) -> Path:
    """Run ``jupyter-book build`` (Jupyter Book 1.x) on the staged sources; HTML goes to build_root/_build."""
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", str(stage_dir), "--path-output",
           str(build_root), "--keep-going"]
    log.info("running %s", " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True)
    html_dir = build_root / "_build" / "html"
    if proc.returncode != 0 or not (html_dir / "index.html").exists():
        tail = (proc.stdout + proc.stderr)[-4000:]
        raise BookError(f"jupyter-book build failed (exit {proc.returncode}):\n{tail}")
    warnings = [line for line in (proc.stdout + proc.stderr).splitlines() if "WARNING" in line]
    for w in warnings:
        log.warning("sphinx: %s", w)
    missing = [p for p in toc_pages(stage_dir) if not (html_dir / f"{p}.html").exists()]
    if missing:
        raise BookError(f"pages missing from the HTML build: {missing}")
    return html_dir / "index.html"


def build_book(profile: str = "smoke", out: str | Path | None = None, data_dir: str | Path | None = None,
               run: bool = True, build_root: str | Path | None = None, progress: bool = True,
               store_only: bool = False) -> Path:
    """Run the notebooks (resumably) unless run=False, then build the book; returns index.html's path.

    With `store_only` the notebooks render a results store (``hmnet.campaign``) and train nothing."""
    from hmnet.reproduce import default_out, reproduce

    out = Path(out if out is not None else default_out(profile, store_only)).resolve()
    build_root = Path(build_root).resolve() if build_root is not None else REPO
    if run:
        reproduce(profile, data_dir=data_dir, out=out, progress=progress, store_only=store_only)
    t0 = time.perf_counter()
    staged = stage(profile, out, build_root / "_build" / "book_src")
    index = build_html(staged, build_root)
    log.info("book built in %.0f s", time.perf_counter() - t0)
    return index
