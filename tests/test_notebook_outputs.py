"""What the executed smoke notebooks show as prose: report.show_text writes Markdown (display_data), so the
checks on printed text in tests/test_notebooks.py are repeated here over every kind of output. Uses the same
once-per-session smoke run (tests/_companion.py)."""

from __future__ import annotations

import nbformat
import pytest

from _companion import smoke_run
from hmnet.book.reproduce import PAGES


def _output_text(path) -> str:
    nb = nbformat.read(path, as_version=4)
    parts = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            parts.append(str(o.get("text", "")))
            parts.extend(str(v) for k, v in o.get("data", {}).items() if k in ("text/markdown", "text/plain"))
    return "\n".join(parts)


@pytest.mark.parametrize("section", list(PAGES))
def test_no_part_is_missing_from_an_executed_notebook(section):
    text = _output_text(smoke_run() / "notebooks" / f"{PAGES[section]}.ipynb")
    assert "not available in this build" not in text, f"{section}: a part is missing"
    assert "Traceback" not in text
