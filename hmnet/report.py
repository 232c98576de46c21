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
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from hmnet.tasks import TASK_NAMES, UnknownTaskError, get_task

log = logging.getLogger(__name__)
# tqdm.auto warns once per kernel that ipywidgets is absent; the notebooks show no progress bars anyway.
warnings.filterwarnings("ignore", message="IProgress not found")

PROFILES: tuple[str, ...] = ("smoke", "local", "paper")
# The repository that Colab installs from and that the badges link to; the same org is in _config.yml
# and README.md (tests/test_book.py checks that the three agree).
GITHUB_ORG = "hmnet-companion"
GITHUB_REPO = f"{GITHUB_ORG}/hmnet"
REPO_URL = f"https://github.com/{GITHUB_REPO}"
COLAB_URL = "https://colab.research.google.com/github/{repo}/blob/main/notebooks/{notebook}"

# The notebooks' cap on training rows per task on the smoke profile, so `make book` stays within minutes.
SMOKE_MAX_TRAIN = 64

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

    def experiment_profile(self, tasks: Sequence[str] | None = None, **overrides):
        """The ``hmnet.experiments.Profile`` these parameters stand for (optionally for other tasks)."""
        from hmnet.experiments import ConfigError, get_profile

        values: dict[str, Any] = {"tasks": tuple(tasks) if tasks is not None else self.tasks,
                                  "seeds": self.seeds, "backbone": self.backbone,
                                  "max_examples": self.max_train_examples,
                                  "max_eval_examples": self.max_eval_examples}
        if self.data_dir is not None:
            values.update(source="directory", data_dir=self.data_dir)
            if self.profile != "local":
                values["carve_train"] = 0.8
        values.update(overrides)
        try:
            return get_profile(self.profile, **values)
        except ConfigError as err:
            raise ParameterError(f"the parameters do not make a valid {self.profile} profile: {err}") from None


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


def profile_defaults(profile: str, data_dir: str | None = None) -> dict[str, Any]:
    """The profile's default tasks, seeds, backbone and caps (from ``hmnet.experiments.get_profile``)."""
    from hmnet.experiments import ConfigError, get_profile

    overrides = {"data_dir": data_dir} if data_dir is not None and profile == "local" else {}
    try:
        prof = get_profile(profile, **overrides)
    except ConfigError as err:
        raise ParameterError(f"profile {profile!r}: {err}") from None
    return {"tasks": tuple(prof.tasks), "seeds": tuple(prof.seeds), "backbone": prof.backbone,
            "max_train_examples": prof.max_examples, "max_eval_examples": prof.max_eval_examples}


def check_parameters(profile: str = "smoke", tasks=None, seeds=None, backbone=None, data_dir=None,
                     out_dir=None, max_train_examples=None, max_eval_examples=None,
                     min_tasks: int = 1, smoke_seeds: Sequence[int] | None = None, **extra) -> RunParameters:
    """Validate a notebook's parameters and fill in the profile's defaults for those left at None.

    Raises :class:`ParameterError` naming the parameter and the allowed values: an unknown profile, an
    unknown task, seeds that are not integers, a missing data directory or one without task files.
    `out_dir` None means ``$HMNET_OUT_DIR`` if set, else ``_build/runs/<profile>`` (relative to the
    working directory). `smoke_seeds` replaces the profile's seeds on the smoke profile when `seeds` is None
    (sections that show confidence intervals run several cheap seeds there). On the smoke profile the
    notebooks cap each task's training rows at SMOKE_MAX_TRAIN unless max_train_examples is given.
    """
    if not isinstance(profile, str) or profile not in PROFILES:
        raise ParameterError(f"parameter 'profile' must be one of {', '.join(PROFILES)}; got {profile!r}")
    source = _PROFILE_DATA[profile]
    if data_dir is not None and data_dir != "":
        data_dir = check_data_dir(data_dir)
        source = "directory"
    else:
        data_dir = None
        if profile == "local":
            raise ParameterError("parameter 'data_dir' is required by the local profile: a directory with the "
                                 "GLUE/SuperGLUE files (see book/reproduce.md)")
    defaults = profile_defaults(profile, data_dir)
    tasks = check_tasks(defaults["tasks"] if tasks is None else tasks, minimum=min_tasks)
    if data_dir is not None:
        check_data_dir(data_dir, tasks)
    if seeds is None:
        seeds = tuple(smoke_seeds) if smoke_seeds and profile == "smoke" else defaults["seeds"]
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
    if max_train_examples is None:
        max_train_examples = SMOKE_MAX_TRAIN if profile == "smoke" else defaults["max_train_examples"]
    max_train = _check_int("max_train_examples", max_train_examples, 1)
    max_eval = _check_int("max_eval_examples", defaults["max_eval_examples"]
                          if max_eval_examples is None else max_eval_examples, 1)
    if out_dir is None:
        out_dir = os.environ.get("HMNET_OUT_DIR") or str(Path("_build") / "runs" / profile)
    if not isinstance(out_dir, (str, os.PathLike)):
        raise ParameterError(f"parameter 'out_dir' must be a directory path, got {out_dir!r}")
    out = Path(out_dir).expanduser().resolve()
    for sub in ("figures", "tables", "results"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    params = RunParameters(profile=profile, tasks=tasks, seeds=seeds, backbone=backbone, data_source=source,
                           data_dir=data_dir, out_dir=str(out), max_train_examples=max_train,
                           max_eval_examples=max_eval, extra=dict(extra))
    params.experiment_profile()  # every field checked where the trainer checks it, before any run
    return params


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


def setup_runtime(params: RunParameters) -> int:
    """CPU threads for training: 1 for the smoke profile's tiny model (more threads only contend on a
    shared CPU: measured several times slower on 2 busy cores), else torch's default; $HMNET_TORCH_THREADS
    overrides. Returns the thread count in use."""
    import torch

    env = os.environ.get("HMNET_TORCH_THREADS")
    if env:
        torch.set_num_threads(int(env))
    elif params.profile == "smoke" and not torch.cuda.is_available():
        torch.set_num_threads(1)
    return torch.get_num_threads()


def setup_plots() -> None:
    import matplotlib

    if "ipykernel" not in sys.modules:
        matplotlib.use("Agg")
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook")
    # Tables show whole groupings and every column (pandas truncates cells at 50 characters by default).
    pd.set_option("display.max_colwidth", None)
    pd.set_option("display.max_columns", 60)
    pd.set_option("display.width", 200)


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


# ---------------------------------------------------------------------------------------------------------
# section helpers: what each notebook computes (no logic lives only in a notebook)

# Smoke-only reductions that keep `make book` within minutes; every other profile uses its full task list.
SMOKE_RELEVANCE_TASKS = ("MNLI", "RTE", "SST-2", "MRPC", "BoolQ")


def section_tasks(params: RunParameters, requested, smoke_default: Sequence[str], name: str,
                  minimum: int = 2) -> tuple[str, ...]:
    """A section's task list: the notebook parameter if given, else a small smoke default or all tasks."""
    if requested is not None:
        return check_tasks(requested, name=name, minimum=minimum)
    tasks = tuple(smoke_default) if params.profile == "smoke" else params.tasks
    tasks = tuple(t for t in tasks if t in params.tasks) or params.tasks
    return check_tasks(tasks, name=name, minimum=minimum)


def data_relevance(params: RunParameters, tasks: Sequence[str] | None = None) -> pd.DataFrame:
    """Eq. (2) on this profile's data (synthetic suite, the files of data_dir, or the hub)."""
    from hmnet.relevance import DEFAULT_VOCAB, VocabularyCache, tasks_with_splits, vocab_relevance

    prof = params.experiment_profile()
    tasks = list(tasks or params.tasks)
    if params.data_source == "directory":
        usable = set(tasks_with_splits(params.data_dir, [DEFAULT_VOCAB]))
        dropped = [t for t in tasks if t not in usable]
        if dropped:
            log.warning("no training file for %s under %s: left out of the vocabulary matrix", dropped,
                        params.data_dir)
        tasks = [t for t in tasks if t in usable]
    cache = VocabularyCache(params.data_source, params.data_dir, getattr(prof, "scale", 1.0))
    return vocab_relevance(tasks, config=DEFAULT_VOCAB, cache=cache)


def matrix_side_by_side(ours: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """Rows = source; for each target three columns: ours, paper, diff (only the tasks ours holds)."""
    tasks = [t for t in ours.index if t in paper.index]
    return side_by_side(ours.loc[tasks, tasks], paper.loc[tasks, tasks])


def matrix_figure(ours: pd.DataFrame, paper: pd.DataFrame, what: str, params: RunParameters, name: str,
                  center: float | None = None):
    """Ours, the paper's, and ours - paper as three heatmaps; saved with the tidy CSV. Returns the figure."""
    import matplotlib.pyplot as plt

    tasks = [t for t in ours.index if t in paper.index]
    o, p = ours.loc[tasks, tasks], paper.loc[tasks, tasks]
    size = 0.5 * len(tasks) + 2.5
    fig, axes = plt.subplots(1, 3, figsize=(3 * size, size * 0.85))
    heatmap(o, f"{what}: ours ({params.profile})", axes[0], center=center, annot=len(tasks) <= 8)
    heatmap(p, f"{what}: paper", axes[1], center=center, annot=len(tasks) <= 8)
    heatmap(o - p, "ours − paper", axes[2], center=0, annot=len(tasks) <= 8)
    fig.tight_layout()
    save_figure(fig, long_comparison(o, p), params.out_dir, name)
    return fig


def influence_frame(ours: pd.DataFrame | None, paper: pd.DataFrame, task: str = "BoolQ") -> pd.DataFrame:
    """Figure 2's data, tidy: the gain of `task` from each other task (column) and of each other task from
    `task` (row), ours and the paper's, in percent (Eq. 4)."""
    rows = []
    for label, m in (("ours", ours), ("paper", paper)):
        if m is None or task not in m.index:
            continue
        others = [t for t in m.index if t != task]
        rows += [{"direction": f"influence on {task}", "other task": t, "gain (%)": float(m.loc[t, task]),
                  "source": label} for t in others]
        rows += [{"direction": f"influence of {task}", "other task": t, "gain (%)": float(m.loc[task, t]),
                  "source": label} for t in others]
    return pd.DataFrame(rows)


def influence_figure(frame: pd.DataFrame, params: RunParameters, task: str = "BoolQ", name: str = "figure2"):
    import matplotlib.pyplot as plt
    import seaborn as sns

    directions = list(dict.fromkeys(frame["direction"]))
    fig, axes = plt.subplots(1, len(directions), figsize=(6 * len(directions), 3.8), squeeze=False)
    for ax, d in zip(axes[0], directions):
        sub = frame[frame["direction"] == d]
        sns.barplot(data=sub, x="other task", y="gain (%)", hue="source", ax=ax)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_title(d.capitalize())
        ax.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    save_figure(fig, frame, params.out_dir, name)
    return fig


def run_plan(configs: Sequence, params: RunParameters, desc: str = "") -> list:
    """Run (or load from the cache in out_dir/results) a plan of hmnet.experiments.RunConfig."""
    from hmnet.experiments import ConfigError
    from hmnet.train import run_plan as _run_plan

    if not configs:
        raise ParameterError(f"{desc or 'the plan'} holds no runs")
    try:
        return _run_plan(list(configs), params.results_dir, progress=False)
    except ConfigError as err:
        raise ParameterError(str(err)) from None


def pairwise_relevance(params: RunParameters, tasks: Sequence[str]) -> tuple[pd.DataFrame, list]:
    """Eq. (4) from single-task and pairwise multi-task runs (hmnet.experiments.pairwise_plan)."""
    from hmnet.experiments import pairwise_plan
    from hmnet.relevance import model_relevance_from_results

    prof = params.experiment_profile()
    results = run_plan(pairwise_plan(prof, tasks, params.seeds), params, "pairwise relevance")
    return model_relevance_from_results(results), results


def lookahead_affinity(params: RunParameters, tasks: Sequence[str]):
    """The cheap estimate: lookahead affinity measured inside one multi-task run of the same tasks."""
    prof = params.experiment_profile()
    runs = [prof.run_config("multi", tasks=tasks, seed=s, affinity=True, name="affinity") for s in params.seeds]
    results = run_plan(runs, params, "lookahead affinity")
    mats = [r.affinity for r in results if getattr(r, "affinity", None) is not None]
    if not mats:
        raise RuntimeError("the multi-task runs recorded no affinity matrix")
    mats = [m if isinstance(m, pd.DataFrame) else pd.DataFrame(m) for m in mats]
    mean = sum(m.loc[list(tasks), list(tasks)] for m in mats) / len(mats)
    mean.index.name, mean.columns.name = "source", "target"
    return mean, results


def run_seconds(results: Iterable) -> float:
    """Total training seconds recorded in a list of results (0 for those without a record)."""
    total = 0.0
    for r in results:
        for attr in ("wall_time", "seconds"):
            v = getattr(r, attr, None)
            if isinstance(v, (int, float)):
                total += float(v)
                break
    return total


# ---------------------------------------------------------------------------------------------------------
# groupings


def grouping_dict(groups: Sequence[Sequence[str]], prefix: str = "g") -> dict[str, tuple[str, ...]]:
    """[[tasks], ...] -> {"g1": (tasks), ...}, the clusters form RunConfig takes."""
    return {f"{prefix}{i}": tuple(g) for i, g in enumerate(groups, 1) if g}


def paper_groupings(tasks: Sequence[str]) -> dict[str, list[list[str]]]:
    """Appendix A (data, model) and Section 4.1 (manual), restricted to `tasks` (empty groups dropped)."""
    from hmnet.clustering import restrict
    from hmnet.paper import PAPER_GROUPINGS

    return {name: restrict(groups, tasks) for name, groups in PAPER_GROUPINGS.items()}


def save_groupings(groupings: Mapping[str, Sequence[Sequence[str]]], params: RunParameters,
                   name: str = "groupings_ours") -> Path:
    path = params.tables_dir / f"{name}.json"
    _atomic_write(path, lambda p: p.write_text(json.dumps({k: [list(g) for g in v]
                                                           for k, v in groupings.items()}, indent=1)))
    return path


def load_groupings(params: RunParameters, source: str = "paper") -> tuple[dict[str, list[list[str]]], str]:
    """The groupings HMNet runs use: "paper" (Appendix A / Section 4.1) or "ours" (notebook 02's output,
    falling back to the paper's with a note when it is missing). Returns (groupings, note)."""
    if source not in ("paper", "ours"):
        raise ParameterError(f"parameter 'grouping_source' must be 'paper' or 'ours', got {source!r}")
    paper = paper_groupings(params.tasks)
    if source == "paper":
        return paper, "Groupings: the paper's (Appendix A and Section 4.1), restricted to this run's tasks."
    path = params.tables_dir / "groupings_ours.json"
    if not path.exists():
        return paper, (f"Groupings: ours were requested but {path} does not exist (run notebook 02 first); "
                       "using the paper's instead.")
    ours = json.loads(path.read_text())
    out = {k: paper[k] for k in paper}
    out.update({k: [list(g) for g in v] for k, v in ours.items() if k in paper})
    missing = [k for k in paper if k not in ours]
    note = "Groupings: ours, regenerated by notebook 02" + (f" (paper's for {missing})" if missing else "") + "."
    return out, note


def affinity_scatter(cheap: pd.DataFrame, pairwise: pd.DataFrame, params: RunParameters,
                     name: str = "affinity_vs_pairwise"):
    """Each ordered pair's cheap affinity against its pairwise Eq. (4) gain; saved with the tidy CSV."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    df = long_comparison(cheap, pairwise).rename(columns={"ours": "lookahead affinity (%)",
                                                          "paper": "pairwise gain, Eq. 4 (%)"})
    df = df[df["source"] != df["target"]].drop(columns="diff").dropna()
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    sns.scatterplot(data=df, x="lookahead affinity (%)", y="pairwise gain, Eq. 4 (%)", hue="target", ax=ax)
    ax.axhline(0, color="grey", linewidth=0.7)
    ax.axvline(0, color="grey", linewidth=0.7)
    ax.set_title("Cheap estimate against pairwise runs (one point per ordered pair)")
    ax.legend(fontsize=7, title="target", title_fontsize=8, loc="best")
    fig.tight_layout()
    save_figure(fig, df, params.out_dir, name)
    return fig


def groupings_table(groupings: Mapping[str, Sequence[Sequence[str]]]) -> pd.DataFrame:
    """One row per grouping with its clusters written out."""
    return pd.DataFrame([{"grouping": k, "clusters": len(v), "groups": grouping_text(v)} for k, v in groupings.items()])


# ---------------------------------------------------------------------------------------------------------
# 02: clustering


def cluster_relevance(matrices: Mapping[str, pd.DataFrame], k: int = 3) -> dict[str, list[list[str]]]:
    """k-means (rows as features, Section 3.3) of each matrix; k is lowered to n-1 for small matrices."""
    from hmnet.clustering import kmeans_groups

    out = {}
    for name, m in matrices.items():
        n = len(m)
        if n < 3:
            continue
        out[name] = kmeans_groups(m.fillna(0.0), min(k, n - 1))
    return out


def agreement_table(ours: Mapping[str, Sequence[Sequence[str]]],
                    reference: Mapping[str, Sequence[Sequence[str]]]) -> pd.DataFrame:
    """Adjusted Rand index of each of our groupings with the reference grouping of the same name, on the
    tasks both cover."""
    from hmnet.clustering import agreement, restrict

    rows = []
    for name, groups in ours.items():
        if name not in reference:
            continue
        tasks = sorted({t for g in groups for t in g} & {t for g in reference[name] for t in g})
        a, b = restrict(groups, tasks), restrict(reference[name], tasks)
        rows.append({"grouping": name, "tasks compared": len(tasks), "ours": grouping_text(a),
                     "reference": grouping_text(b), "ARI": agreement(a, b, tasks) if len(tasks) >= 2 else np.nan,
                     "identical": a == b})
    return pd.DataFrame(rows)


def stability_summary(matrices: Mapping[str, pd.DataFrame], k: int = 3, seeds: int = 30,
                      reference: Mapping[str, Sequence[Sequence[str]]] | None = None) -> tuple[pd.DataFrame, dict]:
    """Seed stability of k-means (one initialisation per seed) for each matrix: mean ARI with the
    reference grouping and the share of seeds that find it. Returns (table, {name: Stability})."""
    from hmnet.clustering import restrict, seed_stability

    rows, detail = [], {}
    for name, m in matrices.items():
        n = len(m)
        if n < 3:
            continue
        ref = restrict(reference[name], list(m.index)) if reference and name in reference else None
        st = seed_stability(m.fillna(0.0), min(k, n - 1), seeds=range(seeds), reference=ref)
        detail[name] = st
        rows.append({"matrix": name, "tasks": n, "k": min(k, n - 1), "seeds": seeds,
                     "mean ARI with reference": st.mean_ari, "share reproducing it": st.reproduced_share,
                     "distinct groupings": len(st.groupings)})
    return pd.DataFrame(rows), detail


def coassignment_figure(detail: Mapping[str, Any], params: RunParameters, name: str = "coassignment"):
    """Heatmaps of how often each pair of tasks shares a cluster across k-means seeds; tidy CSV saved."""
    import matplotlib.pyplot as plt

    items = list(detail.items())
    if not items:
        return None
    fig, axes = plt.subplots(1, len(items), figsize=(5.2 * len(items), 4.6), squeeze=False)
    tidy = []
    for ax, (label, st) in zip(axes[0], items):
        m = st.coassignment.copy()
        m.index.name, m.columns.name = "task", "task"
        heatmap(m, label, ax, fmt=".2f", cmap="Blues", annot=len(m) <= 8, cbar_label="share of seeds")
        long = m.rename_axis(index="task_a", columns="task_b").stack().rename("share").reset_index()
        long.insert(0, "matrix", label)
        tidy.append(long)
    fig.tight_layout()
    save_figure(fig, pd.concat(tidy, ignore_index=True), params.out_dir, name)
    return fig


def load_relevance(params: RunParameters, name: str) -> pd.DataFrame | None:
    """A relevance matrix saved by notebook 01 (``relevance_<name>.json``), or None when it is missing."""
    from hmnet.relevance import load_matrix

    path = params.tables_dir / f"relevance_{name}.json"
    return load_matrix(path) if path.exists() else None


# ---------------------------------------------------------------------------------------------------------
# 03: Table 1


SMOKE_SEEDS = (0, 1)  # the smoke seeds of the sections that show confidence intervals (03, 04)


def table1_runs(params: RunParameters, groupings: Mapping[str, Sequence[Sequence[str]]],
                seeds: Sequence[int]) -> list:
    from hmnet.experiments import table1_plan

    prof = params.experiment_profile()
    clusters = {name: grouping_dict(g) for name, g in groupings.items()}
    return run_plan(table1_plan(prof, clusters, seeds), params, "Table 1")


_VARIANT_TO_COLUMN = {"single": "Single-task", "multi": "Multi-task", "skillnet": "SkillNet",
                      "hmnet:data": "HMNet_d", "hmnet:manual": "HMNet_md", "hmnet:model": "HMNet_m"}


def table1_comparison(summary: pd.DataFrame) -> pd.DataFrame:
    """Our Table 1 (mean over seeds, with the CI half-width) beside the paper's, per task and method.

    Rows: Table 1 entries (MNLI-m, MNLI-mm, ..., Average); columns: (method, ours / ± / paper / diff).
    """
    from hmnet import paper

    t1 = paper.table1()
    entries = [f"{t}-{m.split('_')[-1]}" if t == "MNLI" else t for t, m in t1.index]
    pub = pd.DataFrame(t1.to_numpy(), index=entries, columns=t1.columns)
    pub.loc["Average"] = paper.table1_averages()
    s = summary[summary["variant"].isin(_VARIANT_TO_COLUMN)].copy()
    s["column"] = s["variant"].map(_VARIANT_TO_COLUMN)
    s["half"] = (s["ci_high"] - s["ci_low"]) / 2
    mean = s.pivot_table(index="task", columns="column", values="mean", sort=False)
    half = s.pivot_table(index="task", columns="column", values="half", sort=False, dropna=False)
    order = [e for e in pub.index if e in mean.index]
    parts = {}
    for col in [c for c in pub.columns if c in mean.columns]:
        parts[(col, "ours")] = mean.loc[order, col]
        parts[(col, "±95%")] = half.reindex(order)[col] if col in half else np.nan
        parts[(col, "paper")] = pub.loc[order, col]
        parts[(col, "diff")] = mean.loc[order, col] - pub.loc[order, col]
    out = pd.DataFrame(parts)
    out.columns = pd.MultiIndex.from_tuples(out.columns)
    out.index.name = "entry"
    return out


def ranking_sentence(summary: pd.DataFrame) -> str:
    """Which method has the best measured average, and whether HMNet beats multi-task (measured)."""
    avg = summary[(summary["task"] == "Average") & summary["variant"].isin(_VARIANT_TO_COLUMN)]
    if avg.empty:
        return "No averages were measured."
    avg = avg.assign(column=avg["variant"].map(_VARIANT_TO_COLUMN)).set_index("column")
    best = avg["mean"].idxmax()
    order = ", ".join(f"{c} {v:.1f}" for c, v in avg["mean"].sort_values(ascending=False).items())
    text = f"Measured averages, best first: {order}. The best is {best}"
    text += " (the paper's best is HMNet_m)." if best != "HMNet_m" else ", as in the paper."
    if "Multi-task" in avg.index:
        hm = [c for c in avg.index if c.startswith("HMNet")]
        overlap = [c for c in hm if avg.loc[c, "ci_low"] <= avg.loc["Multi-task", "ci_high"]
                   and avg.loc["Multi-task", "ci_low"] <= avg.loc[c, "ci_high"]]
        if len(avg["n"].unique()) and avg["n"].min() > 1:
            text += (f" The 95% intervals of {', '.join(overlap)} overlap the multi-task one." if overlap else
                     " No HMNet interval overlaps the multi-task one.")
    return text


def table1_figure(summary: pd.DataFrame, params: RunParameters, name: str = "table1_averages"):
    import matplotlib.pyplot as plt

    from hmnet import paper

    avg = summary[(summary["task"] == "Average") & summary["variant"].isin(_VARIANT_TO_COLUMN)].copy()
    avg["method"] = avg["variant"].map(_VARIANT_TO_COLUMN)
    avg["paper"] = avg["method"].map(paper.table1_averages())
    fig, ax = plt.subplots(figsize=(7, 3.6))
    x = np.arange(len(avg))
    ax.bar(x - 0.2, avg["mean"], 0.4, yerr=[avg["mean"] - avg["ci_low"], avg["ci_high"] - avg["mean"]],
           label=f"ours ({params.profile}, mean ± 95% CI)", capsize=3)
    ax.bar(x + 0.2, avg["paper"], 0.4, label="paper", color="grey")
    ax.set_xticks(x, avg["method"], rotation=20)
    ax.set_ylabel("average score")
    ax.set_title("Table 1: average score per method")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, avg[["method", "n", "mean", "std", "ci_low", "ci_high", "paper"]], params.out_dir, name)
    return fig


def parameter_rows(params: RunParameters) -> tuple[pd.DataFrame | None, str]:
    """Table 1's parameter rows: hmnet.params counts for bert-base beside the paper's (and for this backbone)."""
    try:
        from hmnet.params import parameter_table
    except ImportError:
        return None, "hmnet.params is not available in this build."
    return parameter_table("random:bert-base"), "Counts for bert-base (random weights of the same shape)."


# ---------------------------------------------------------------------------------------------------------
# 04: shared layers (Figure 3); 05: layer grid (Figure 4)


def scores_frame(results: Iterable, by: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """One row per (run, task): variant, seed, split, task, score (MNLI: mean of m/mm), plus `by` columns."""
    rows = []
    for r in results:
        c = r.config
        for t in r.scores:
            rows.append({"variant": c.variant, "seed": c.seed, "split": "-".join(map(str, c.split or ())),
                         "shared layers": c.split[0] if c.split else np.nan, "task": t, "score": r.score(t),
                         "average": r.average})
    return pd.DataFrame(rows)


def ci_frame(frame: pd.DataFrame, keys: Sequence[str], value: str = "score") -> pd.DataFrame:
    """Mean and Student-t 95% CI of `value` over seeds for each group of `keys`."""
    from hmnet.metrics import mean_ci

    rows = []
    for key, g in frame.groupby(list(keys), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(keys, key)), **mean_ci(g[value].to_numpy())})
    return pd.DataFrame(rows)


def shared_layers_runs(params: RunParameters, tasks: Sequence[str], seeds: Sequence[int]) -> list:
    from hmnet.experiments import shared_layers_plan

    prof = params.experiment_profile(tasks=tasks)
    return run_plan(shared_layers_plan(prof, tasks, seeds), params, "shared layers")


def band_figure(summary: pd.DataFrame, x: str, hue: str, params: RunParameters, name: str, title: str,
                ylabel: str, reference: Mapping[str, float] | None = None, per_seed: pd.DataFrame | None = None):
    """Mean over seeds with a 95% CI band per `hue` group; optional horizontal reference lines."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(6.5, 4))
    palette = sns.color_palette(n_colors=max(1, summary[hue].nunique()))
    for colour, (label, g) in zip(palette, summary.groupby(hue, sort=False)):
        g = g.sort_values(x)
        xs = np.arange(len(g)) if g[x].dtype == object else g[x]
        ax.plot(xs, g["mean"], marker="o", color=colour, label=str(label))
        if g["n"].max() > 1:
            ax.fill_between(xs, g["ci_low"], g["ci_high"], color=colour, alpha=0.2)
        if g[x].dtype == object:
            ax.set_xticks(xs, g[x], rotation=30)
    for colour, (label, value) in zip(sns.color_palette("dark", n_colors=len(reference or {})),
                                      (reference or {}).items()):
        ax.axhline(value, linestyle="--", color=colour, label=label)
    if summary[x].dtype != object:
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, per_seed if per_seed is not None else summary, params.out_dir, name)
    return fig


def layer_grid(depth: int) -> list[tuple[int, int, int]]:
    """{x, y, z} splits for a backbone of `depth` layers, scaled from the paper's depth-12 setting.

    The figure's exact combinations are not given in the paper's text; it names shared-layer counts from
    2 to 10 and the default {8, 2, 2}. For depth 12: x in {2, 4, 6, 8, 10}, the rest split evenly
    between cluster and task layers (cluster gets the odd one), plus {8, 1, 3} and {8, 3, 1} around the
    default. Smaller backbones scale x by depth/12; duplicates and invalid splits are dropped.
    """
    if not isinstance(depth, int) or depth < 2:
        raise ParameterError(f"the backbone depth must be an integer >= 2 for a layer grid, got {depth!r}")
    out: list[tuple[int, int, int]] = []
    for x12 in (2, 4, 6, 8, 10):
        x = max(1, min(depth - 1, round(x12 * depth / 12)))
        r = depth - x
        split = (x, r - r // 2, r // 2)
        if split not in out:
            out.append(split)
    x = max(1, min(depth - 1, round(8 * depth / 12)))
    r = depth - x
    for y in range(r + 1):
        if abs(y - (r - y)) <= 2 and (x, y, r - y) not in out and y != r - r // 2:
            out.append((x, y, r - y))
    return sorted(out)


def check_grid(grid, depth: int) -> list[tuple[int, int, int]]:
    """Validate a `grid` parameter: a list of [x, y, z] with x + y + z == depth."""
    if not isinstance(grid, (list, tuple)) or not grid:
        raise ParameterError(f"parameter 'grid' must be a non-empty list of [x, y, z] splits, got {grid!r}")
    out = []
    for s in grid:
        if (not isinstance(s, (list, tuple)) or len(s) != 3
                or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in s)):
            raise ParameterError(f"parameter 'grid': {s!r} is not an [x, y, z] triple of integers >= 0")
        if sum(s) != depth:
            raise ParameterError(f"parameter 'grid': {list(s)} sums to {sum(s)}, but the backbone has {depth} "
                                 f"layers; valid splits: {layer_grid(depth)}")
        out.append(tuple(s))
    return out


def backbone_depth(params: RunParameters) -> int:
    from hmnet.experiments import backbone_depth as _depth

    d = _depth(params.backbone)
    if d is None:
        raise ParameterError(f"parameter 'backbone': the depth of {params.backbone!r} is unknown offline")
    return d


def layer_grid_runs(params: RunParameters, tasks: Sequence[str], groupings: Mapping[str, Sequence[Sequence[str]]],
                    grid: Sequence[tuple[int, int, int]], seeds: Sequence[int]) -> tuple[list, list]:
    """HMNet over the grid for each grouping, and the multi-task baseline on the same tasks and seeds."""
    from hmnet.clustering import restrict
    from hmnet.experiments import layer_grid_plan

    prof = params.experiment_profile(tasks=tasks)
    clusters = {name: grouping_dict(restrict(g, tasks)) for name, g in groupings.items()}
    grid_results = run_plan(layer_grid_plan(prof, clusters, grid, seeds), params, "layer grid")
    baseline = run_plan([prof.run_config("multi", seed=s, name="multi") for s in seeds], params, "multi-task")
    return grid_results, baseline


# ---------------------------------------------------------------------------------------------------------
# 06: attention similarity


PAPER_ATTENTION_PAIRS = {"positive": ("QQP", "RTE"), "negative": ("MRPC", "RTE")}


def choose_attention_pairs(params: RunParameters, anchor: str = "RTE") -> tuple[dict[str, tuple[str, str]], str]:
    """A positive and a negative task pair from this profile's model-based relevance (notebook 01).

    The anchor (RTE, as in the paper) is paired with the task of the largest and of the smallest mutual
    gain (Eq. 4 both ways). Falls back to the paper's pairs (QQP & RTE, MRPC & RTE) with a note when the
    relevance results are missing, do not hold the anchor, or do not separate the pairs.
    """
    m = load_relevance(params, "model")
    fallback = dict(PAPER_ATTENTION_PAIRS)
    if m is None:
        return fallback, ("Model-based relevance results of this profile are not available (run notebook 01 "
                          "first): using the paper's pairs QQP & RTE (positive) and MRPC & RTE (negative).")
    if anchor not in m.index or len(m) < 3:
        return fallback, (f"The relevance results do not hold {anchor} and two other tasks: using the paper's "
                          "pairs QQP & RTE (positive) and MRPC & RTE (negative).")
    mutual = (m.loc[anchor] + m[anchor]).drop(anchor).dropna()
    if mutual.empty or mutual.max() == mutual.min():
        return fallback, ("The relevance results do not separate the pairs (all gains equal): using the "
                          "paper's pairs QQP & RTE (positive) and MRPC & RTE (negative).")
    pos, neg = str(mutual.idxmax()), str(mutual.idxmin())
    return ({"positive": (pos, anchor), "negative": (neg, anchor)},
            f"Pairs chosen from this profile's Eq. 4 results: {pos} & {anchor} has the largest mutual gain "
            f"({mutual.max():.2f}), {neg} & {anchor} the smallest ({mutual.min():.2f}).")


def attention_runs(params: RunParameters, pairs: Mapping[str, tuple[str, str]], seed: int) -> dict:
    """Single-task models of each task and a multi-task model per pair, kept for the attention maps."""
    from hmnet.train import run_plan as _run_plan

    prof = params.experiment_profile(tasks=sorted({t for p in pairs.values() for t in p}))
    singles = {t: prof.run_config("single", tasks=(t,), seed=seed, name="single")
               for t in dict.fromkeys(t for p in pairs.values() for t in p)}
    joint = {k: prof.run_config("multi", tasks=tuple(p), seed=seed, name="pair") for k, p in pairs.items()}
    _run_plan([*singles.values(), *joint.values()], params.results_dir, progress=False, keep_model=True)
    return {"single": singles, "pair": joint}


def attention_tables(params: RunParameters, pairs: Mapping[str, tuple[str, str]], runs: Mapping,
                     probe_examples: int = 64) -> pd.DataFrame:
    """Per layer and head, the cosine similarity between each task's single-task model and the pair's
    model, on a fixed probe set of that task's first eval split. Tidy: pair, kind, task, layer, head, similarity."""
    from hmnet.attention import attention_similarity, probe_batches, use_eager_attention
    from hmnet.backbone import load_tokenizer
    from hmnet.data import Encoder, load_task
    from hmnet.tasks import get_task
    from hmnet.train import load_trained_model

    tokenizer = load_tokenizer(params.backbone)
    prof = params.experiment_profile()
    rows = []
    for kind, pair in pairs.items():
        joint = use_eager_attention(load_trained_model(runs["pair"][kind], params.results_dir))
        for task in pair:
            single = use_eager_attention(load_trained_model(runs["single"][task], params.results_dir))
            split = get_task(task).eval_splits[0]
            cfg = runs["single"][task]
            data = load_task(task, cfg.source, data_dir=cfg.data_dir, splits=None if cfg.carve_train else [split],
                             max_eval_examples=probe_examples, seed=cfg.data_seed, scale=cfg.scale,
                             carve_train=cfg.carve_train)
            enc = Encoder(tokenizer, prof.max_length).encode(data)[split]
            sim = attention_similarity(single, joint, task, probe_batches(enc, 32, probe_examples))
            long = sim.stack().rename("similarity").reset_index()
            long.insert(0, "task", task)
            long.insert(0, "pair", " & ".join(pair))
            long.insert(0, "kind", kind)
            rows.append(long)
    return pd.concat(rows, ignore_index=True)


def attention_figure(tidy: pd.DataFrame, params: RunParameters, name: str = "attention_similarity"):
    import matplotlib.pyplot as plt

    from hmnet.attention import similarity_heatmap

    panels = list(tidy.groupby(["kind", "pair", "task"], sort=False))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    vmin = float(tidy["similarity"].min())
    for ax, ((kind, pair, task), g) in zip(axes[0], panels):
        m = g.pivot(index="layer", columns="head", values="similarity")
        similarity_heatmap(m, ax=ax, title=f"{kind}: {pair}\non {task}", vmin=vmin)
    fig.tight_layout()
    save_figure(fig, tidy, params.out_dir, name)
    return fig


def layer_similarity(tidy: pd.DataFrame) -> pd.DataFrame:
    """Mean similarity per layer for each (kind, pair, task) panel: the numbers the prose refers to."""
    return tidy.pivot_table(index="layer", columns=["kind", "task"], values="similarity", aggfunc="mean")
