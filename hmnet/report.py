"""Report helpers for the notebooks and the book: parameter checks, banners, side-by-side tables, figures.

Every notebook calls :func:`check_parameters` right after its ``parameters`` cell, so a papermill
parameter of the wrong type or value fails in the first code cell with a message that names the
parameter and the allowed values. :func:`banner` then states which profile, data, backbone and seeds
produced the page's numbers, so smoke numbers can never be mistaken for the paper reproduction.

No logic lives only in a notebook: the comparisons with the paper, the tidy frames behind each figure
and the figure files are made here.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import math
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from hmnet.tasks import TASK_NAMES, UnknownTaskError, get_task

log = logging.getLogger(__name__)

PROFILES: tuple[str, ...] = ("smoke", "local", "paper")
# The repository that Colab installs from and that the badges link to; the same org is in _config.yml
# and README.md (tests/test_book.py checks that the three agree).
GITHUB_ORG = "hmnet-companion"
GITHUB_REPO = f"{GITHUB_ORG}/hmnet"
REPO_URL = f"https://github.com/{GITHUB_REPO}"
COLAB_URL = "https://colab.research.google.com/github/{repo}/blob/main/notebooks/{notebook}"

# What each profile uses when a notebook parameter is left at None (the profile's own choice).
_PROFILE_DATA = {"smoke": "synthetic", "local": "directory", "paper": "hub"}
_PROFILE_BACKBONE = {"smoke": "tiny", "local": "minilm", "paper": "bert-base-uncased"}


class ParameterError(ValueError):
    """A notebook or runner parameter has the wrong type or value; the message names it."""


# ---------------------------------------------------------------------------------------------------------
# parameters


@dataclass(frozen=True)
class RunParameters:
    """The resolved parameters of one notebook run (after the profile's defaults are filled in)."""

    profile: str
    tasks: tuple[str, ...]
    seeds: tuple[int, ...]
    backbone: str
    data_source: str
    data_dir: str | None
    out_dir: str
    max_train_examples: int | None = None
    max_eval_examples: int | None = None
    extra: dict = field(default_factory=dict)

    @property
    def results_dir(self) -> Path:
        return Path(self.out_dir) / "results"

    @property
    def figures_dir(self) -> Path:
        return Path(self.out_dir) / "figures"

    @property
    def tables_dir(self) -> Path:
        return Path(self.out_dir) / "tables"

    def overrides(self) -> dict[str, Any]:
        """Keyword overrides for ``experiments.get_profile`` (only what the notebook set explicitly)."""
        out: dict[str, Any] = {"backbone": self.backbone}
        if self.data_dir is not None:
            out["data_dir"] = self.data_dir
        if self.max_train_examples is not None:
            out["max_train_examples"] = self.max_train_examples
        if self.max_eval_examples is not None:
            out["max_eval_examples"] = self.max_eval_examples
        return out

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _allowed_tasks() -> str:
    return ", ".join(TASK_NAMES)


def _check_int(name: str, value, minimum: int = 0, allow_none: bool = True) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ParameterError(f"parameter {name!r} must be an integer >= {minimum}"
                             + (" or None" if allow_none else "") + f", got {value!r}")
    if value < minimum:
        raise ParameterError(f"parameter {name!r} must be >= {minimum}, got {value}")
    return int(value)


def check_tasks(tasks, name: str = "tasks", minimum: int = 1) -> tuple[str, ...]:
    """Canonical task names, or a ParameterError naming the parameter and the known tasks."""
    if isinstance(tasks, str):
        tasks = [tasks]
    if not isinstance(tasks, (list, tuple)):
        raise ParameterError(f"parameter {name!r} must be a list of task names (allowed: {_allowed_tasks()}), "
                             f"got {tasks!r}")
    out = []
    for t in tasks:
        if not isinstance(t, str):
            raise ParameterError(f"parameter {name!r}: {t!r} is not a task name; allowed: {_allowed_tasks()}")
        try:
            out.append(get_task(t).name)
        except UnknownTaskError:
            raise ParameterError(f"parameter {name!r}: task {t!r} is unknown; allowed: {_allowed_tasks()}") \
                from None
    if len(out) < minimum:
        raise ParameterError(f"parameter {name!r} needs at least {minimum} task(s), got {list(out)}")
    if len(set(out)) != len(out):
        raise ParameterError(f"parameter {name!r} names a task twice: {list(out)}")
    return tuple(out)


def check_data_dir(data_dir, tasks: Sequence[str] | None = None, name: str = "data_dir") -> str:
    """An existing directory that holds at least one recognisable task file (GLUE/SuperGLUE layout)."""
    from hmnet.data import available_tasks

    if not isinstance(data_dir, (str, os.PathLike)):
        raise ParameterError(f"parameter {name!r} must be a directory path, got {data_dir!r}")
    path = Path(data_dir).expanduser()
    if not path.is_dir():
        raise ParameterError(f"parameter {name!r}: directory {str(path)!r} does not exist")
    found = available_tasks(path)
    if not found:
        layout = ", ".join(f"{get_task(t).layout.directory}/{next(iter(get_task(t).layout.files.values()))[0]}"
                           for t in TASK_NAMES[:3])
        raise ParameterError(f"parameter {name!r}: {str(path)!r} holds no recognisable task files "
                             f"(expected the GLUE/SuperGLUE layout, e.g. {layout}, ...)")
    if tasks is not None:
        missing = [t for t in tasks if t not in found]
        if missing:
            raise ParameterError(f"parameter {name!r}: {str(path)!r} has no files for task(s) {missing}; "
                                 f"it has {sorted(found)}")
    return str(path.resolve())


def profile_defaults(profile: str) -> dict[str, Any]:
    """The profile's default tasks, seeds, backbone and caps, from ``hmnet.experiments`` when installed."""
    out: dict[str, Any] = {"tasks": tuple(TASK_NAMES), "seeds": (0,), "backbone": _PROFILE_BACKBONE[profile],
                           "max_train_examples": None, "max_eval_examples": None}
    try:
        from hmnet.experiments import get_profile
    except ImportError:
        return out
    prof = get_profile(profile)
    for key in ("tasks", "seeds", "backbone", "max_train_examples", "max_eval_examples"):
        value = getattr(prof, key, None)
        if value is not None:
            out[key] = tuple(value) if isinstance(value, (list, tuple)) else value
    return out


def check_parameters(profile: str = "smoke", tasks=None, seeds=None, backbone=None, data_dir=None,
                     out_dir=None, max_train_examples=None, max_eval_examples=None,
                     min_tasks: int = 1, **extra) -> RunParameters:
    """Validate a notebook's parameters and fill in the profile's defaults for those left at None.

    Raises :class:`ParameterError` naming the parameter and the allowed values: an unknown profile, an
    unknown task, seeds that are not integers, a missing data directory or one without task files.
    """
    if not isinstance(profile, str) or profile not in PROFILES:
        raise ParameterError(f"parameter 'profile' must be one of {', '.join(PROFILES)}; got {profile!r}")
    defaults = profile_defaults(profile)
    tasks = check_tasks(defaults["tasks"] if tasks is None else tasks, minimum=min_tasks)
    if seeds is None:
        seeds = defaults["seeds"]
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        seeds = [seeds]
    if not isinstance(seeds, (list, tuple)) or not seeds:
        raise ParameterError(f"parameter 'seeds' must be a non-empty list of integers, got {seeds!r}")
    seeds = tuple(_check_int("seeds", s, allow_none=False) for s in seeds)
    if backbone is None:
        backbone = defaults["backbone"]
    if not isinstance(backbone, str) or not backbone:
        raise ParameterError(f"parameter 'backbone' must be a backbone name (tiny, minilm, random:bert-base, "
                             f"a hub id or a local path), got {backbone!r}")
    max_train = _check_int("max_train_examples", defaults["max_train_examples"]
                           if max_train_examples is None else max_train_examples, 1)
    max_eval = _check_int("max_eval_examples", defaults["max_eval_examples"]
                          if max_eval_examples is None else max_eval_examples, 1)
    source = _PROFILE_DATA[profile]
    if data_dir is not None and data_dir != "":
        data_dir = check_data_dir(data_dir)
        source = "directory"
    else:
        data_dir = None
        if profile == "local":
            raise ParameterError("parameter 'data_dir' is required by the local profile: a directory with the "
                                 "GLUE/SuperGLUE files (see book/reproduce.md)")
    if out_dir is None:
        out_dir = str(Path("_build") / "runs" / profile)
    if not isinstance(out_dir, (str, os.PathLike)):
        raise ParameterError(f"parameter 'out_dir' must be a directory path, got {out_dir!r}")
    out = Path(out_dir).expanduser().resolve()
    for sub in ("figures", "tables", "results"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    return RunParameters(profile=profile, tasks=tasks, seeds=seeds, backbone=backbone, data_source=source,
                         data_dir=data_dir, out_dir=str(out), max_train_examples=max_train,
                         max_eval_examples=max_eval, extra=dict(extra))


def parameters_hash(params: Mapping[str, Any]) -> str:
    blob = json.dumps(params, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------------------
# banner, Colab


def on_colab() -> bool:
    return "google.colab" in sys.modules


def colab_install_command(ref: str = "main") -> list[str]:
    return [sys.executable, "-m", "pip", "install", "-q", f"git+{REPO_URL}@{ref}"]


def colab_badge(notebook: str) -> str:
    url = COLAB_URL.format(repo=GITHUB_REPO, notebook=notebook)
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"


def banner_text(params: RunParameters) -> str:
    data = {"synthetic": "the built-in synthetic suite", "directory": f"files under {params.data_dir}",
            "hub": "the Hugging Face hub"}[params.data_source]
    kind = {"smoke": "SMOKE profile: a tiny random model on synthetic data; these numbers only show that "
                     "the pipeline runs and are not comparable with the paper",
            "local": "LOCAL profile: real data, small backbone and capped examples; indicative only",
            "paper": "PAPER profile: the full reproduction setting"}[params.profile]
    caps = ", ".join(f"{k}={v}" for k, v in (("max_train_examples", params.max_train_examples),
                                               ("max_eval_examples", params.max_eval_examples)) if v)
    return (f"{kind}. Profile {params.profile}; data: {data}; backbone: {params.backbone}; "
            f"seeds: {list(params.seeds)}; tasks: {', '.join(params.tasks)}"
            + (f"; caps: {caps}" if caps else "") + ".")


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
    from scipy import stats

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


# ---------------------------------------------------------------------------------------------------------
# figures and files


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def save_table(df: pd.DataFrame, out_dir: str | Path, name: str) -> Path:
    """Write a tidy CSV (atomically) under out_dir/tables/<name>.csv."""
    path = Path(out_dir) / "tables" / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, lambda p: df.to_csv(p, index=not isinstance(df.index, pd.RangeIndex)))
    return path


def save_figure(fig, data: pd.DataFrame, out_dir: str | Path, name: str, dpi: int = 110) -> tuple[Path, Path]:
    """Save a figure as PNG with its tidy data as CSV next to it (out_dir/figures/<name>.png/.csv)."""
    folder = Path(out_dir) / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    png, csv = folder / f"{name}.png", folder / f"{name}.csv"
    _atomic_write(png, lambda p: fig.savefig(p, dpi=dpi, bbox_inches="tight", format="png"))
    _atomic_write(csv, lambda p: data.to_csv(p, index=False))
    return png, csv


def setup_plots() -> None:
    import matplotlib

    if "ipykernel" not in sys.modules:
        matplotlib.use("Agg")
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook")


def heatmap(matrix: pd.DataFrame, title: str, ax=None, fmt: str = ".1f", cmap: str = "RdBu_r",
            center: float | None = None, annot: bool = True, cbar_label: str = ""):
    import matplotlib.pyplot as plt
    import seaborn as sns

    if ax is None:
        _, ax = plt.subplots(figsize=(0.55 * matrix.shape[1] + 2.5, 0.45 * matrix.shape[0] + 1.5))
    sns.heatmap(matrix.astype(float), annot=annot, fmt=fmt, cmap=cmap, center=center, ax=ax,
                annot_kws={"size": 7}, cbar_kws={"label": cbar_label})
    ax.set_title(title)
    ax.set_xlabel(matrix.columns.name or "")
    ax.set_ylabel(matrix.index.name or "")
    return ax


def grouping_frame(groupings: Mapping[str, Sequence[Sequence[str]]]) -> pd.DataFrame:
    """{name: [[tasks], ...]} -> tidy frame (grouping, cluster, task) with clusters numbered from 1."""
    rows = []
    for name, groups in groupings.items():
        for i, group in enumerate(groups, 1):
            rows.extend({"grouping": name, "cluster": i, "task": t} for t in group)
    return pd.DataFrame(rows)


def grouping_text(groups: Iterable[Iterable[str]]) -> str:
    return "  ".join("{" + ", ".join(g) + "}" for g in groups)


def env_summary() -> dict[str, str]:
    import platform

    import torch

    return {"python": platform.python_version(), "torch": torch.__version__,
            "device": "cuda:" + torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
            "threads": str(torch.get_num_threads())}


def record_finding(out_dir: str | Path, section: str, finding: str, measured: str, paper: str = "") -> None:
    """Append one finding of a notebook to out_dir/findings/<section>.json (collected by the findings page).

    `measured` must be text computed from this run's values (never typed in by hand).
    """
    path = Path(out_dir) / "findings" / f"{section}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = json.loads(path.read_text()) if path.exists() else []
    rows = [r for r in rows if r.get("finding") != finding]
    rows.append({"section": section, "finding": finding, "measured": measured, "paper": paper})
    _atomic_write(path, lambda p: p.write_text(json.dumps(rows, indent=1)))


def reset_findings(out_dir: str | Path, section: str) -> None:
    """Forget a section's findings (called at the start of each notebook so stale rows never survive)."""
    (Path(out_dir) / "findings" / f"{section}.json").unlink(missing_ok=True)
