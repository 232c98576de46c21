"""Markdown helpers of the book's generated pages (:mod:`hmnet.book.pages`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def md_table(df: pd.DataFrame, index: bool = False, floatfmt: str = ".3g") -> str:
    """A Markdown pipe table (no optional dependency on `tabulate`)."""
    frame = df.reset_index() if index else df
    cols = [str(c) for c in frame.columns]

    def cell(v) -> str:
        if isinstance(v, (float, np.floating)):
            return "–" if np.isnan(v) else format(float(v), floatfmt)
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def csv_line(name: str) -> str:
    return f"\nDownload this table as CSV: [{Path(name).name}](/book/generated/{name})\n"
