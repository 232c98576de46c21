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
import subprocess
import sys
import time
from pathlib import Path

from hmnet.book.reproduce import default_out, reproduce
from hmnet.book.stage import BookError, stage, toc_pages
from hmnet.provenance import REPO

log = logging.getLogger(__name__)


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
    out = Path(out if out is not None else default_out(profile, store_only)).resolve()
    build_root = Path(build_root).resolve() if build_root is not None else REPO
    if run:
        reproduce(profile, data_dir=data_dir, out=out, progress=progress, store_only=store_only)
    t0 = time.perf_counter()
    staged = stage(profile, out, build_root / "_build" / "book_src")
    index = build_html(staged, build_root)
    log.info("book built in %.0f s", time.perf_counter() - t0)
    return index


__all__ = ["BookError", "toc_pages", "build_html", "build_book"]
