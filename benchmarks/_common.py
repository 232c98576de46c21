"""Helpers shared by the benchmark scripts: the real task mix, run metadata, atomic JSON output.

The scripts run as ``python benchmarks/<name>.py`` from the repository root, which puts this folder on
``sys.path``; the tests import them the same way.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
DEFAULT_DATA = Path(os.environ.get("HMNET_SHARED_DATA", REPO.parent / "shared" / "data" / "nlu"))


def write_json(path: str | Path, payload: dict) -> Path:
    """Write JSON atomically, with the data, repository, temporary and home directories replaced by
    placeholders: a committed result names no path of the machine that measured it."""
    from hmnet.files import atomic_write
    from hmnet.store import path_replacements, scrub_paths

    text = json.dumps(payload, indent=1, sort_keys=False) + "\n"
    atomic_write(Path(path), scrub_paths(text, path_replacements(data_dir=DEFAULT_DATA)).encode("utf-8"))
    return Path(path)


def run_metadata(argv: list[str] | None = None, script: str | None = None) -> dict:
    """Where and when a benchmark ran, and the exact command line (`script` + `argv` when a test calls a
    benchmark's main(argv) in-process, else this process's own command line)."""
    import torch
    import transformers

    words = [Path(sys.executable).name, *sys.argv] if argv is None else ["python", script or "?", *argv]
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(shlex.quote(str(a)) for a in words),
        "host": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }


@dataclass
class TaskLengths:
    """Token lengths of one task's rows, and which split of the shared files they came from."""

    task: str
    splits: list[str]
    lengths: np.ndarray
    encoded: object = None  # the hmnet.data.EncodedSplit (kept for collation), or None


def load_real_mix(data_dir: str | Path, max_length: int = 512, tokenizer_name: str = "minilm",
                  keep_encoded: bool = False) -> dict[str, TaskLengths]:
    """Encode every task that has a file under `data_dir` with the MiniLM tokenizer (bert-base-uncased
    vocabulary), exactly as training does (hmnet.data.TextEncoder).

    The train split is used where it exists; tasks that only ship eval files (MNLI, QNLI, SNLI, IMDB,
    BoolQ in the shared bundle) use all of those instead: the point is the length distribution.
    """
    from hmnet.backbone import load_tokenizer
    from hmnet.data import EncodedSplit, TextEncoder, available_tasks, load_task

    data_dir = Path(data_dir)
    found = available_tasks(data_dir)
    if not found:
        raise FileNotFoundError(f"no task files found under {data_dir}")
    encoder = TextEncoder(load_tokenizer(tokenizer_name), max_length)
    out: dict[str, TaskLengths] = {}
    for task, splits in found.items():
        use = ["train"] if "train" in splits else list(splits)
        enc = encoder.encode(load_task(task, "directory", data_dir, splits=use))
        parts = [enc[s] for s in use]
        merged = parts[0] if len(parts) == 1 else EncodedSplit(
            [r for p in parts for r in p.input_ids], [r for p in parts for r in p.token_type_ids],
            np.concatenate([p.labels for p in parts]), None)
        out[task] = TaskLengths(task, use, merged.lengths, merged if keep_encoded else None)
    return out


# Full training-set sizes (paper Table 4; SNLI without its 785 no-gold rows, MultiRC in answer rows).
PAPER_TRAIN_SIZES: dict[str, int] = {
    "MNLI": 392702, "QNLI": 104743, "RTE": 2490, "WNLI": 635, "CB": 250, "SNLI": 549367, "IMDB": 25000,
    "SST-2": 67349, "QQP": 363846, "STS-B": 5749, "MRPC": 3668, "BoolQ": 9427, "MultiRC": 27243,
}
