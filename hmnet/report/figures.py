"""Figures and files: figure/table files with their tidy data, plot and runtime set-up, recorded findings."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import torch

from hmnet.files import atomic_write as _atomic_write
from hmnet.sections.parameters import RunParameters


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
    from hmnet.train.runtime import apply_thread_setting

    return apply_thread_setting(1 if params.profile == "smoke" and not torch.cuda.is_available() else None)


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


def env_summary() -> dict[str, str]:
    import platform

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
