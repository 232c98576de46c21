"""The generated parts of the book's narrative pages (``book/generated/*.md``), written at build time.

- ``banner.md``: which profile, data, backbone and seeds produced the book's numbers;
- ``findings_tables.md``: what does not reproduce or is inconsistent inside the paper, each row computed
  from the paper's own tables (``hmnet.paper``) or from this build's runs (``<out>/findings``):
  :mod:`hmnet.book.findings`;
- ``performance_tables.md``: every benchmark of ``benchmarks/results/*.json`` with the command that
  reproduces it, and "not yet measured" for those without a result file: :mod:`hmnet.book.performance`.

Staging the executed notebooks themselves is :mod:`hmnet.book.stage`'s.
"""

from __future__ import annotations

import logging
from pathlib import Path

from hmnet import report
from hmnet.book.banners import store_banner
from hmnet.book.findings import findings_parts
from hmnet.book.performance import performance_banner, performance_parts
from hmnet.book.reproduce import marker_parameters
from hmnet.provenance import REPO
from hmnet.store import read_manifest

log = logging.getLogger(__name__)


def run_parameters(profile: str, out: Path) -> report.RunParameters:
    """The parameters this build's notebooks ran with (from the first page's done-marker)."""
    params = marker_parameters(out)
    if params:
        return report.check_parameters(**{**params, "out_dir": str(out)})
    return report.check_parameters(profile=profile, out_dir=str(out))


def banner_page(params: report.RunParameters) -> str:
    note = ("<p><i>Each result chapter repeats this banner with the seeds and tasks its own runs used "
            "(sections 03 and 04 run several seeds on the smoke profile).</i></p>")
    return report.banner_html(params) + "\n" + note + "\n"


def generated_pages(profile: str, out: Path, root: Path = REPO) -> dict[str, str | bytes]:
    """Every generated file of the staged book/generated folder: name (may hold a subfolder) -> content."""
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
