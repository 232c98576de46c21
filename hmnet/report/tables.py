"""Tables as a reader sees them: narrow enough for the page, each with its CSV one click away.

- :func:`show_table` saves a table's data as ``<out>/tables/<name>.csv``, displays the table and a link to
  that file right under it. The link is relative to the executed notebook (``<out>/notebooks``), and the
  book stages ``<out>/tables`` beside its notebooks, so the book turns the link into a download.
- :func:`comparison_html` is the paper's own shape for a comparison: one row per entry, one column per
  method, each cell ours (± the CI half-width) with the paper's number beneath it, tinted by the difference.
- :func:`table1_long` / :func:`table1_difference_figure`: Table 1 as a tidy table and as one heatmap of
  ours − paper with the cells where the paper's number lies inside our 95% interval marked.
- :func:`parameter_display`: Table 1's parameter rows without the long notes, which go under the table.
"""

from __future__ import annotations

import html
import math

import numpy as np
import pandas as pd

from hmnet.report.display import long_comparison
from hmnet.report.figures import save_figure, save_table
from hmnet.sections.parameters import RunParameters
from hmnet.sections.table1 import COLUMNS

# Where an executed notebook (<out>/notebooks/<name>.ipynb) finds the CSVs of save_table (<out>/tables).
TABLES_LINK = "../tables"


def csv_link(name: str) -> str:
    """Markdown: a link to ``<out>/tables/<name>.csv`` as seen from an executed notebook."""
    return f"Download this table as CSV: [{name}.csv]({TABLES_LINK}/{name}.csv)"


def readable(df: pd.DataFrame, decimals: int = 3):
    """A table for display: floats to `decimals`, underscores in headers turned into spaces (so a header can
    wrap instead of widening its column), and a plain 0..n-1 index hidden. Returns a pandas Styler."""
    shown = df.rename(columns=lambda c: c.replace("_", " ") if isinstance(c, str) else c)
    styler = shown.style.format(precision=decimals, na_rep="–")
    return styler.hide(axis="index") if isinstance(df.index, pd.RangeIndex) else styler


def show_table(data: pd.DataFrame, out_dir, name: str, shown=None, decimals: int = 3) -> None:
    """Save `data` as ``<out>/tables/<name>.csv``, display `shown` (default: :func:`readable` of `data`), then
    the link to the CSV."""
    from IPython.display import Markdown, display

    save_table(data, out_dir, name)
    display(readable(data, decimals) if shown is None else shown)
    display(Markdown(csv_link(name)))


# ---------------------------------------------------------------------------------------------------------
# compact comparisons: ours (± CI) with the paper's number beneath


def _tint(diff: float, scale: float) -> str:
    """A light background for a difference: red below the paper, blue above, white at zero."""
    if diff is None or not np.isfinite(diff) or not scale:
        return "transparent"
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    r, g, b, _ = colormaps["RdBu"](0.5 + 0.5 * max(-1.0, min(1.0, diff / scale)))
    mix = 0.45  # blend with white so that black text stays readable
    return to_hex((1 - mix + mix * r, 1 - mix + mix * g, 1 - mix + mix * b))


def _fmt(v, decimals: int) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{float(v):.{decimals}f}"


def comparison_html(ours: pd.DataFrame, paper: pd.DataFrame, half: pd.DataFrame | None = None,
                    decimals: int = 1, corner: str = "", note: str | None = None,
                    paper_label: str = "paper", vertical_headers: bool = False,
                    paper_decimals: int | None = None) -> str:
    """An HTML table in the paper's shape: rows and columns of `paper`; each cell ours (± `half`, the 95% CI
    half-width) over the paper's number (small, grey), the background tinted by ours − paper.

    Cells ours lacks show "–". Inline styles only, so it reads the same in Jupyter, Colab and the book.
    `vertical_headers` turns the column headers sideways, for matrices with many columns; `paper_decimals`
    prints the paper's numbers with their own precision (default: `decimals`).
    """
    pdec = decimals if paper_decimals is None else paper_decimals
    ours = ours.reindex(index=paper.index, columns=paper.columns).apply(pd.to_numeric, errors="coerce")
    paper = paper.apply(pd.to_numeric, errors="coerce")
    diff = ours - paper
    scale = float(np.nanmax(np.abs(diff.to_numpy()))) if np.isfinite(diff.to_numpy()).any() else 0.0
    pad = "2px 3px" if vertical_headers else "2px 5px"
    td = f"padding:{pad};text-align:right;border-bottom:1px solid #ddd;line-height:1.15;white-space:nowrap"
    th = f"padding:{pad};border-bottom:1px solid #999;white-space:nowrap"
    turn = ";writing-mode:vertical-rl;transform:rotate(180deg);vertical-align:bottom" if vertical_headers else ""
    wrap = "" if vertical_headers else ";white-space:normal;max-width:6.5em;vertical-align:bottom"  # a long name wraps
    head = "".join(f'<th style="{th};text-align:right{turn}{wrap}">{html.escape(str(c))}</th>' for c in paper.columns)
    rows = []
    for idx in paper.index:
        cells = []
        for col in paper.columns:
            o, p, d = ours.loc[idx, col], paper.loc[idx, col], diff.loc[idx, col]
            h = None if half is None or idx not in half.index or col not in half.columns else half.loc[idx, col]
            has_ci = h is not None and bool(np.isfinite(h))
            ci = f' <span style="font-size:0.8em">±{_fmt(h, decimals)}</span>' if has_ci else ""
            title = (f"ours {_fmt(o, decimals)}" + (f" ± {_fmt(h, decimals)}" if has_ci else "")
                     + f"; {paper_label} {_fmt(p, pdec)}; diff {_fmt(d, decimals)}")
            cells.append(f'<td style="{td};background:{_tint(d, scale)}" title="{html.escape(title)}">'
                         f'<b>{_fmt(o, decimals)}</b>{ci}<br>'
                         f'<span style="color:#555;font-size:0.8em">{_fmt(p, pdec)}</span></td>')
        rows.append(f'<tr><th style="{th};text-align:left;border-bottom:1px solid #ddd">{html.escape(str(idx))}'
                    f'</th>{"".join(cells)}</tr>')
    legend = note if note is not None else (
        f"Each cell: <b>ours</b>{' ± the 95% CI half-width' if half is not None else ''}, the {paper_label}'s "
        "number beneath in grey; the background shows ours − paper (red: below the paper, blue: above).")
    return (f'<div class="hmnet-compact-table"><p style="font-size:0.85em;margin:0 0 0.3em 0">{legend}</p>'
            f'<table style="border-collapse:collapse;font-size:{0.8 if vertical_headers else 0.85}em;width:auto;'
            f'margin:0">'
            f'<thead><tr><th style="{th};text-align:left">{html.escape(corner)}</th>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


class HTMLTable:
    """An HTML string that notebooks display as rich output (IPython's HTML, without importing it here)."""

    def __init__(self, text: str):
        self.text = text

    def _repr_html_(self) -> str:
        return self.text


def matrix_comparison_html(ours: pd.DataFrame, paper: pd.DataFrame, decimals: int = 1) -> HTMLTable:
    """Tables 2 and 3: rows = source, columns = target (the tasks ours holds), ours over the paper's (as
    printed, two decimals)."""
    tasks = [t for t in ours.index if t in paper.index]
    note = ("Rows: source task; columns: target task. Each cell: <b>ours</b>, the paper's number beneath in "
            "grey; the background shows ours − paper (red: below the paper, blue: above).")
    return HTMLTable(comparison_html(ours.loc[tasks, tasks], paper.loc[tasks, tasks], decimals=decimals,
                                     corner="source \\ target", note=note, vertical_headers=len(tasks) > 6,
                                     paper_decimals=2))  # Tables 2 and 3 print two decimals


def show_matrix_comparison(ours: pd.DataFrame, paper: pd.DataFrame, out_dir, name: str) -> None:
    """A relevance matrix beside the paper's (compact, see :func:`matrix_comparison_html`); the CSV is tidy:
    source, target, ours, paper, diff over the tasks ours holds."""
    tasks = [t for t in ours.index if t in paper.index]
    show_table(long_comparison(ours.loc[tasks, tasks], paper.loc[tasks, tasks]), out_dir, name,
               shown=matrix_comparison_html(ours, paper))


# ---------------------------------------------------------------------------------------------------------
# Table 1


def _table1_parts(comparison: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """ours / ±95% / paper / diff as entry x method frames, from table1_comparison's wide frame."""
    return {part: comparison.xs(part, axis=1, level=1) for part in ("ours", "±95%", "paper", "diff")}


def table1_long(comparison: pd.DataFrame) -> pd.DataFrame:
    """Table 1 as a tidy frame, entry by entry: entry, method, ours, ci95_half, paper, diff, paper_inside_ci."""
    parts = _table1_parts(comparison)
    names = {"ours": "ours", "±95%": "ci95_half", "paper": "paper", "diff": "diff"}
    out = pd.DataFrame({names[k]: v.stack(future_stack=True) for k, v in parts.items()})
    out.index = out.index.set_names(["entry", "method"])
    out = out.reset_index()
    out["paper_inside_ci"] = out["diff"].abs() <= out["ci95_half"]
    return out


def table1_html(comparison: pd.DataFrame) -> HTMLTable:
    """Table 1 in the paper's shape: entries as rows, methods as columns, ours ± CI over the paper's; a column of
    ours the paper has not (HMNet with one of our groupings) is explained under the table."""
    parts = _table1_parts(comparison)
    table = comparison_html(parts["ours"], parts["paper"], parts["±95%"], decimals=1, corner="task")
    ours = [c for c in parts["ours"].columns if c not in COLUMNS]
    if ours:
        table += ('<p style="font-size:0.8em;margin:0.3em 0 0 0">' + "; ".join(html.escape(c) for c in ours)
                  + ": HMNet with a grouping of every task that we computed (page 02: k-means over our own relevance "
                  "estimate of that name; <i>lookahead</i> is the one-run affinity estimate of page 01). The paper "
                  "has no such column, so its cells hold no paper number.</p>")
    return HTMLTable(table)


def show_table1(comparison: pd.DataFrame, out_dir, name: str = "table1_comparison") -> None:
    """Display Table 1 compactly; its CSV is the tidy long form (one row per entry and method)."""
    show_table(table1_long(comparison), out_dir, name, shown=table1_html(comparison))


def table1_difference_figure(comparison: pd.DataFrame, params: RunParameters,
                             name: str = "table1_differences"):
    """One heatmap of ours − paper (entries x methods); a box marks a cell whose 95% CI holds the paper's
    number. Saved with its tidy data. Returns the figure."""
    import matplotlib.pyplot as plt
    import seaborn as sns
    from matplotlib.patches import Rectangle

    parts = _table1_parts(comparison)
    diff, half = parts["diff"].astype(float), parts["±95%"].astype(float)
    labels = diff.map(lambda v: "–" if pd.isna(v) else f"{v:+.1f}")
    labels = labels + half.map(lambda v: "" if pd.isna(v) else f"\n±{v:.1f}")
    lim = float(np.nanmax(np.abs(diff.to_numpy()))) if np.isfinite(diff.to_numpy()).any() else 1.0
    fig, ax = plt.subplots(figsize=(1.05 * diff.shape[1] + 2.2, 0.34 * diff.shape[0] + 1.2))
    sns.heatmap(diff, annot=labels.to_numpy(), fmt="", cmap="RdBu", center=0, vmin=-lim, vmax=lim, ax=ax,
                annot_kws={"size": 7}, cbar_kws={"label": "ours − paper (points)"}, linewidths=0.5,
                linecolor="white")
    inside = (diff.abs() <= half).to_numpy()
    for i, j in zip(*np.nonzero(inside)):
        ax.add_patch(Rectangle((j + 0.04, i + 0.04), 0.92, 0.92, fill=False, edgecolor="black", linewidth=1.6))
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.set_title(f"Table 1: ours ({params.profile}) − paper; boxed: the paper's number is inside our 95% CI",
                 fontsize=9)
    fig.tight_layout()
    save_figure(fig, table1_long(comparison), params.out_dir, name)
    return fig


# ---------------------------------------------------------------------------------------------------------
# the parameter rows

PARAMETER_COLUMNS = ("grouping", "clusters", "activated (paper)", "activated (ours)", "overall (paper)",
                     "overall (ours)")


def parameter_display(table: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """hmnet.analysis.parameters.parameter_table without its long columns: the compact table and its notes as Markdown
    (one bullet per method), to show under the table."""
    shown = table[[c for c in PARAMETER_COLUMNS if c in table.columns]].reset_index()
    notes = table["note"] if "note" in table.columns else pd.Series(dtype=str)
    text = "\n".join(f"- **{method}**: {note}" for method, note in notes.items() if isinstance(note, str) and note)
    return shown, text


def show_parameter_table(table: pd.DataFrame, out_dir, name: str = "table1_parameters") -> None:
    """The parameter rows: compact table, CSV link (the full table, exact counts and notes), then the notes."""
    from IPython.display import Markdown, display

    shown, notes = parameter_display(table)
    show_table(table, out_dir, name, shown=readable(shown))
    if notes:
        display(Markdown(notes))
