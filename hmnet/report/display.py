"""What a notebook page shows around its numbers: the Colab badge and install, the profile banner, and
side-by-side tables of ours against the paper's.

:func:`banner` states which profile, data, backbone and seeds produced the page's numbers, so smoke numbers
can never be mistaken for the paper reproduction.
"""

from __future__ import annotations

import html
import logging
import math
from collections.abc import Mapping

import pandas as pd
from scipy import stats

from hmnet.data import find_file
from hmnet.provenance import code_commit
from hmnet.sections.parameters import RunParameters
from hmnet.tasks import TASK_NAMES, get_task

log = logging.getLogger(__name__)

# The repository that Colab installs from and that the badges link to; the same org is in _config.yml
# and README.md (tests/test_book.py checks that the three agree).
GITHUB_ORG = "hmnet-companion"
GITHUB_REPO = f"{GITHUB_ORG}/hmnet"
REPO_URL = f"https://github.com/{GITHUB_REPO}"
COLAB_URL = "https://colab.research.google.com/github/{repo}/blob/main/notebooks/{notebook}"


# ---------------------------------------------------------------------------------------------------------
# banner, Colab


def colab_badge(notebook: str) -> str:
    url = COLAB_URL.format(repo=GITHUB_REPO, notebook=notebook)
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"


def banner_text(params: RunParameters) -> str:
    data = {"synthetic": "the built-in synthetic suite", "directory": f"files under {params.data_dir}",
            "hub": "the Hugging Face hub"}[params.data_source]
    if params.task_file:
        from pathlib import Path

        own = [t for t in params.tasks if not params.registry.get(t).builtin]
        data = (f"the task file {Path(params.task_file).name} for {', '.join(own)}"
                + (f", {data} for the others" if len(own) < len(params.tasks) else ""))
    kind = {"smoke": "SMOKE profile: a tiny random model on synthetic data; these numbers only show that "
                     "the pipeline runs and are not comparable with the paper",
            "local": "LOCAL profile: real data, small backbone and capped examples; indicative only",
            "paper": "PAPER profile: the full reproduction setting"}[params.profile]
    caps = ", ".join(f"{k}={v}" for k, v in (("max_train_examples", params.max_train_examples),
                                               ("max_eval_examples", params.max_eval_examples),
                                               ("max_length", params.max_length)) if v)
    gaps = data_gaps(params)
    return (f"{kind}. Profile {params.profile}; data: {data}; backbone: {params.backbone}; "
            f"seeds: {list(params.seeds)}; tasks: {', '.join(params.tasks)}"
            + (f"; caps: {caps}" if caps else "") + (f"; known data gaps: {'; '.join(gaps)}" if gaps else "")
            + f"; runs trained or read in this build's results/, {provenance_text()}.")


def data_gaps(params: RunParameters) -> list[str]:
    """What a build on files lacks: the paper's tasks with no file (left out), and evaluation splits with no file
    (a task scored on its other splits). Nothing for the synthetic suite or the hub."""
    if params.data_source != "directory":
        return []

    out = [f"no file for {t} (left out)" for t in TASK_NAMES if t not in params.tasks]
    for t in (t for t in params.tasks if params.registry.get(t).builtin):
        out += [f"no {split} file for {t}" for split in get_task(t).eval_splits
                if find_file(t, split, params.data_dir) is None]
    return out


def provenance_text() -> str:
    """When and from which commit a page was computed."""
    import datetime

    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"computed {when} at commit {(code_commit() or 'unknown')[:12]}"


def banner_html(params: RunParameters) -> str:
    colour = {"smoke": "#fff3cd", "local": "#e7f1ff", "paper": "#e6f4ea"}[params.profile]
    return (f'<div class="hmnet-banner hmnet-profile-{params.profile}" style="border:1px solid #999;'
            f'padding:0.6em;background:{colour}"><b>Numbers on this page:</b> '
            f'{html.escape(banner_text(params))}</div>')


def banner(params: RunParameters):
    """An HTML banner for the notebook (display it); its text is also logged."""
    from IPython.display import HTML

    log.info(banner_text(params))
    return HTML(banner_html(params))


# ---------------------------------------------------------------------------------------------------------
# side-by-side tables


def side_by_side(ours: pd.DataFrame | pd.Series, paper: pd.DataFrame | pd.Series,
                 ours_label: str = "ours", paper_label: str = "paper") -> pd.DataFrame:
    """Ours next to the paper's numbers with the difference (ours - paper), column by column.

    Both frames share an index; for each column C the result holds (C, ours), (C, paper), (C, diff).
    Rows or columns present on one side only are kept, with NaN on the other.
    """
    if isinstance(ours, pd.Series):
        ours = ours.to_frame(ours.name or "value")
    if isinstance(paper, pd.Series):
        paper = paper.to_frame(paper.name or "value")
    if list(ours.columns) == ["value"] and len(paper.columns) == 1:
        ours = ours.rename(columns={"value": paper.columns[0]})
    cols = list(dict.fromkeys([*paper.columns, *ours.columns]))
    index = list(dict.fromkeys([*paper.index, *ours.index]))
    ours = ours.reindex(index=index, columns=cols).apply(pd.to_numeric, errors="coerce")
    paper = paper.reindex(index=index, columns=cols).apply(pd.to_numeric, errors="coerce")
    parts = {}
    for c in cols:
        parts[(c, ours_label)] = ours[c]
        parts[(c, paper_label)] = paper[c]
        parts[(c, "diff")] = ours[c] - paper[c]
    out = pd.DataFrame(parts, index=pd.Index(index, name=paper.index.name))
    out.columns = pd.MultiIndex.from_tuples(out.columns)
    return out


def long_comparison(ours: pd.DataFrame, paper: pd.DataFrame, row: str = "source",
                    col: str = "target") -> pd.DataFrame:
    """Two matrices as a tidy frame (row, col, ours, paper, diff), e.g. Table 2 vs our recomputation."""
    o = ours.rename_axis(index=row, columns=col).stack().rename("ours")
    p = paper.rename_axis(index=row, columns=col).stack().rename("paper")
    df = pd.concat([o, p], axis=1).reset_index()
    df["diff"] = df["ours"] - df["paper"]
    return df


def agreement_summary(ours: pd.DataFrame, paper: pd.DataFrame) -> dict[str, float]:
    """How close two matrices are: mean/max absolute difference, Pearson and Spearman over shared cells."""
    df = long_comparison(ours, paper).dropna()
    df = df[df["source"] != df["target"]]
    if len(df) < 3:
        return {"cells": len(df), "mean_abs_diff": float("nan"), "max_abs_diff": float("nan"),
                "pearson": float("nan"), "spearman": float("nan")}
    same = df["ours"].nunique() < 2 or df["paper"].nunique() < 2
    return {"cells": int(len(df)), "mean_abs_diff": float(df["diff"].abs().mean()),
            "max_abs_diff": float(df["diff"].abs().max()),
            "pearson": float("nan") if same else float(stats.pearsonr(df["ours"], df["paper"])[0]),
            "spearman": float("nan") if same else float(stats.spearmanr(df["ours"], df["paper"])[0])}


def describe_agreement(summary: Mapping[str, float], what: str) -> str:
    """A sentence from measured values only (for the notebooks' prose)."""
    if not summary.get("cells") or math.isnan(summary.get("pearson", float("nan"))):
        return f"{what}: too few comparable cells to measure agreement."
    r = summary["pearson"]
    strength = "strong" if abs(r) >= 0.7 else "moderate" if abs(r) >= 0.4 else "weak"
    direction = "positive" if r >= 0 else "negative"
    return (f"{what}: over {summary['cells']} off-diagonal cells the correlation with the paper is "
            f"{strength} and {direction} (Pearson {r:.2f}, Spearman {summary['spearman']:.2f}); the mean "
            f"absolute difference is {summary['mean_abs_diff']:.2f} and the largest {summary['max_abs_diff']:.2f}.")


def style_comparison(df: pd.DataFrame, decimals: int = 2):
    """A pandas Styler with the diff columns coloured (used for display; the frame itself is returned too)."""
    fmt = "{:." + str(decimals) + "f}"
    styler = df.style.format(fmt, na_rep="–")
    diff_cols = [c for c in df.columns if (isinstance(c, tuple) and c[-1] == "diff") or c == "diff"]
    if diff_cols:
        styler = styler.background_gradient(cmap="RdBu", subset=diff_cols, vmin=-abs(df[diff_cols]).max().max(),
                                            vmax=abs(df[diff_cols]).max().max())
    return styler
