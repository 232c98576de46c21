"""One smoke execution of the notebooks and one book build per test session, shared by
tests/test_notebooks.py and tests/test_book.py (both import these; the work is cached per process)."""

from __future__ import annotations

import os
import tempfile
import time
from functools import cache
from pathlib import Path

TIMINGS: dict[str, float] = {}


@cache
def workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="hmnet-companion-"))


@cache
def smoke_run() -> Path:
    """`reproduce(profile="smoke")` into <workdir>/_build/runs/smoke; returns that folder."""
    from hmnet.book.reproduce import reproduce

    out = workdir() / "_build" / "runs" / "smoke"
    t0 = time.perf_counter()
    reproduce("smoke", out=out, progress=False)
    TIMINGS["reproduce"] = time.perf_counter() - t0
    return out


@cache
def built_book() -> Path:
    """The book built from smoke_run()'s notebooks (no re-execution); returns the html folder."""
    from hmnet.book.build import build_book

    out = smoke_run()
    t0 = time.perf_counter()
    # The smoke book is the build without data files (its findings page says what they would add), whatever
    # HMNET_DATA_DIR the shell running the tests has.
    data_dir = os.environ.pop("HMNET_DATA_DIR", None)
    try:
        index = build_book("smoke", out=out, run=False, build_root=workdir(), progress=False)
    finally:
        if data_dir is not None:
            os.environ["HMNET_DATA_DIR"] = data_dir
    TIMINGS["book"] = time.perf_counter() - t0
    return index.parent


@cache
def reference_book() -> Path:
    """The reference book as `make book` builds it on a fresh clone: from the committed results stores alone, no
    data and no training (reference/local, its pages from the newest protocol that completes them); returns the
    html folder."""
    from hmnet.book.build import build_book
    from hmnet.provenance import REPO

    t0 = time.perf_counter()
    data_dir = os.environ.pop("HMNET_DATA_DIR", None)
    try:
        index = build_book("local", out=REPO / "reference" / "local", run=False, build_root=workdir() / "reference",
                           progress=False, store_only=True)
    finally:
        if data_dir is not None:
            os.environ["HMNET_DATA_DIR"] = data_dir
    TIMINGS["reference book"] = time.perf_counter() - t0
    return index.parent
