"""Relevance matrices as DataFrames (index = source task, columns = target task), saved and loaded."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hmnet.errors import DataError, parse_json, read_text
from hmnet.files import atomic_write

log = logging.getLogger(__name__)


def relevance_frame(values: np.ndarray, tasks: Sequence[str]) -> pd.DataFrame:
    """A square matrix in the orientation every relevance matrix has (rows: source, columns: target)."""
    df = pd.DataFrame(np.asarray(values, dtype=float), index=list(tasks), columns=list(tasks))
    df.index.name, df.columns.name = "source", "target"
    return df


def save_matrix(matrix: pd.DataFrame, path: str | Path, meta: Mapping[str, Any] | None = None) -> Path:
    """Write a relevance matrix atomically as JSON (``.json``) or CSV (anything else).

    JSON keeps ``meta`` (e.g. the word definition) beside the values; NaN is written as null.
    """
    path = Path(path)
    if path.suffix == ".json":
        vals = [[None if not np.isfinite(v) else float(v) for v in row] for row in matrix.to_numpy(float)]
        text = json.dumps({"index": "source", "columns": "target", "tasks": [str(t) for t in matrix.index],
                           "targets": [str(t) for t in matrix.columns], "values": vals,
                           "meta": dict(meta or {})}, indent=1)
    else:
        if meta:
            raise ValueError("meta is only stored in JSON files; use a .json path")
        text = matrix.to_csv(index_label="source")
    return atomic_write(path, text)


def load_matrix(path: str | Path) -> pd.DataFrame:
    """Read a matrix written by :func:`save_matrix` (index = source, columns = target).

    JSON ``null`` (or ``NaN``) and an empty (or ``nan``) CSV cell are missing values; every other value
    must be a finite number. A CSV matrix is square (save_matrix writes one line per task). Text rules
    as for data files: UTF-8, a BOM dropped, LF or CRLF, a missing final newline accepted with a warning.
    A file that is not such a matrix (unreadable, not UTF-8, ragged, a string where a number belongs,
    repeated task names, cut short) raises :class:`hmnet.errors.DataError` naming the file, line and field.
    """
    path = Path(path)
    text = read_text(path, "matrix file")
    rows, tasks, targets = _matrix_json(text, path) if path.suffix == ".json" else _matrix_csv(text, path)
    # (JSON may be rectangular: it names its targets. A cut JSON file is never valid JSON.)
    for what, names in (("task", tasks), ("target", targets)):
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise DataError(f"{path}: {what} name(s) {twice} appear more than once")
    df = pd.DataFrame(np.array(rows, dtype=float).reshape(len(tasks), len(targets)), index=tasks, columns=targets)
    df.index.name, df.columns.name = "source", "target"
    return df


def _matrix_value(value: Any, where: str, text: bool = False) -> float:
    """A cell: a finite number, or NaN for a missing value (JSON null or NaN, an empty or "nan" CSV cell)."""
    if value is None or value == "":
        return float("nan")
    if isinstance(value, bool) or not isinstance(value, (str, int, float) if text else (int, float)):
        raise DataError(f"{where}: {value!r} is not a number")
    try:
        out = float(value)
    except (ValueError, OverflowError):
        raise DataError(f"{where}: {value!r} is not a number") from None
    if np.isinf(out):
        raise DataError(f"{where}: {value!r} is not a finite number")
    return out


def _matrix_json(text: str, path: Path) -> tuple[list[list[float]], list[str], list[str]]:
    data = parse_json(text, path)
    if not isinstance(data, dict) or "tasks" not in data or "values" not in data:
        raise DataError(f"{path}: expected a JSON object with 'tasks' and 'values' (as save_matrix writes)")
    tasks, values = data["tasks"], data["values"]
    targets = data.get("targets", tasks)
    for key, names in (("tasks", tasks), ("targets", targets)):
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
            raise DataError(f"{path}: field {key!r} must be a non-empty list of task names, got {names!r:.80}")
    if not isinstance(values, list) or len(values) != len(tasks):
        raise DataError(f"{path}: field 'values' must be a list of {len(tasks)} rows (one per task), got "
                        f"{len(values) if isinstance(values, list) else type(values).__name__}")
    rows = []
    for task, row in zip(tasks, values):
        if not isinstance(row, list) or len(row) != len(targets):
            raise DataError(f"{path}: the row of {task} must be a list of {len(targets)} values, got {row!r:.80}")
        rows.append([_matrix_value(v, f"{path}: values[{task}][{t}]") for t, v in zip(targets, row)])
    return rows, tasks, targets


def _matrix_csv(text: str, path: Path) -> tuple[list[list[float]], list[str], list[str]]:
    import csv
    import io

    try:
        lines = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as err:
        raise DataError(f"{path}: not a CSV file ({err})") from None
    numbered = [(no, r) for no, r in enumerate(lines, start=1) if r]
    if len(numbered) < 2:
        raise DataError(f"{path}: expected a header line (source,<task>,...) and one line per task")
    if not text.endswith("\n"):
        log.warning("%s: line %d does not end with a newline; if the file was cut short, its last value may be "
                    "incomplete", path, numbered[-1][0])
    (_, header), body = numbered[0], numbered[1:]
    targets = [c.strip() for c in header[1:]]
    if not targets or not all(targets):
        raise DataError(f"{path} line 1: the header must name the target tasks after its first cell, got {header}")
    rows, tasks = [], []
    for no, cells in body:
        if len(cells) != len(header):
            raise DataError(f"{path} line {no}: expected {len(header)} fields, got {len(cells)}")
        task = cells[0].strip()
        if not task:
            raise DataError(f"{path} line {no}: the first field must name the source task")
        tasks.append(task)
        rows.append([_matrix_value(v.strip(), f"{path} line {no}, column {t}", text=True)
                     for t, v in zip(targets, cells[1:])])
    if len(rows) != len(targets):  # save_matrix writes square CSV files: fewer lines means a cut file
        raise DataError(f"{path}: {len(targets)} target columns but {len(rows)} task lines; a CSV matrix is square "
                        "(one line per task: was the file cut short?)")
    return rows, tasks, targets
