"""The rows of a task file's task (:mod:`hmnet.data.taskfile`): CSV, TSV, JSON lines and Parquet files, a folder
of them, or a Hugging Face dataset, as :class:`Example` rows.

- CSV is read with Python's ``csv`` module (quoted fields may hold commas and newlines); its first row is the
  header. TSV is split on tabs only, never parsed as CSV (as the GLUE files are), its first line the header.
  JSON lines hold one object per line. Parquet columns are read with pyarrow. Every text file is UTF-8
  (:func:`hmnet.errors.read_text`); empty lines hold no row.
- A split may be several files or a folder (every supported file inside, by name), read in order.
- A missing column, a text that is not a string, an empty label or one not in the task's list, a score
  that is not a finite number: each is a :class:`DataError` naming the file and the line (Parquet: the row).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from pathlib import Path

from hmnet.data.examples import Example, parse_label
from hmnet.errors import DataError, parse_json, read_text
from hmnet.tasks import TaskSpec

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".parquet": "parquet"}
FIELDS = ("text_a", "text_b", "text_c")


def file_format(path: Path) -> str:
    """csv, tsv, jsonl or parquet, by the file's suffix; a DataError for any other."""
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"{path}: unsupported data file type {path.suffix or '(no suffix)'!r}; "
                        f"supported: {', '.join(FORMATS)}")
    return kind


def data_files(path: Path) -> list[Path]:
    """A data file, or the supported files of a folder (sorted by name; none is a DataError)."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in FORMATS)
        if not files:
            raise DataError(f"{path}: the folder holds no data file ({', '.join(FORMATS)})")
        return files
    if not path.exists():
        raise DataError(f"{path}: no such data file")
    file_format(path)
    return [path]


def _first_line(path: Path) -> str:
    """The first non-empty line of a text file, read without reading the rest."""
    try:
        with open(path, "rb") as fh:
            for raw in fh:
                line = raw.decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r\n")
                if line.strip():
                    return line
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None
    raise DataError(f"{path}: the file is empty")


def file_columns(path: Path) -> tuple[str, ...]:
    """The columns of a data file: its header (CSV, TSV), the keys of its first object (JSON lines) or its
    schema (Parquet). Reads as little of the file as it can."""
    kind = file_format(path)
    if kind == "parquet":
        import pyarrow.parquet as pq

        try:
            return tuple(pq.read_schema(path).names)
        except Exception as err:  # noqa: BLE001 - pyarrow raises several types for a bad file
            raise DataError(f"{path}: not a readable Parquet file ({err})") from None
    line = _first_line(path)
    if kind == "tsv":
        return tuple(line.split("\t"))
    if kind == "csv":
        return tuple(next(csv.reader([line])))
    record = parse_json(line, path, 1)
    if not isinstance(record, dict):
        raise DataError(f"{path} line 1: expected a JSON object, got {type(record).__name__}")
    return tuple(record)


def records(path: Path) -> Iterator[tuple[str, dict]]:
    """(where, record) for every row of one data file; `where` is "FILE line N" (Parquet: "FILE row N")."""
    kind = file_format(path)
    if kind == "parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as err:  # noqa: BLE001
            raise DataError(f"{path}: not a readable Parquet file ({err})") from None
        for i, row in enumerate(table.to_pylist(), start=1):
            yield f"{path} row {i}", row
        return
    text = read_text(path)
    if kind == "jsonl":
        for no, line in enumerate(text.split("\n"), start=1):
            if line.strip():
                record = parse_json(line, path, no)
                if not isinstance(record, dict):
                    raise DataError(f"{path} line {no}: expected a JSON object, got {type(record).__name__}")
                yield f"{path} line {no}", record
        return
    yield from _delimited(path, text, kind)


def _delimited(path: Path, text: str, kind: str) -> Iterator[tuple[str, dict]]:
    if kind == "tsv":
        rows = ((no, line.rstrip("\r").split("\t")) for no, line in enumerate(text.split("\n"), start=1)
                if line.strip())
    else:
        reader = csv.reader(io.StringIO(text, newline=""))
        rows = ((reader.line_num, row) for row in reader if row)
    header = None
    for no, fields in rows:
        if header is None:
            header = fields
            continue
        if len(fields) != len(header):
            raise DataError(f"{path} line {no}: expected {len(header)} fields ({', '.join(header)}), "
                            f"got {len(fields)}")
        yield f"{path} line {no}", dict(zip(header, fields))
    if header is None:
        raise DataError(f"{path}: the file is empty")


def _text(record: dict, column: str, where: str) -> str:
    if column not in record:
        raise DataError(f"{where}: no column {column!r}; the row has {', '.join(map(str, record))}")
    value = record[column]
    if not isinstance(value, str):
        raise DataError(f"{where}: column {column!r} holds {value!r}, not a text")
    return value


def example(spec: TaskSpec, record: dict, where: str, columns: dict[str, str]) -> Example:
    """One row as an Example: texts, the label checked against the task's labels (or a finite score), the group."""
    texts = {f: _text(record, columns[f], where) for f in FIELDS if f in columns}
    label_col = columns["label"]
    if label_col not in record:
        raise DataError(f"{where}: no column {label_col!r}; the row has {', '.join(map(str, record))}")
    raw = record[label_col]
    if raw is None or (isinstance(raw, str) and not raw.strip()) or (isinstance(raw, float) and math.isnan(raw)):
        raise DataError(f"{where}: the label (column {label_col!r}) is empty")
    if isinstance(raw, float) and raw.is_integer() and not spec.regression:
        raw = int(raw)  # Parquet and pandas store integer labels with gaps as floats
    group = None
    if "group" in columns:
        if columns["group"] not in record or record[columns["group"]] is None:
            raise DataError(f"{where}: no group (column {columns['group']!r})")
        group = str(record[columns["group"]])
    return Example(**texts, label=parse_label(spec, raw, f"{where}, column {label_col!r}"), group=group)


def read_file_split(spec: TaskSpec, split: str) -> list[Example]:
    """Every row of one split of a task file's task (its files in order)."""
    if spec.files is None:
        raise ValueError(f"task {spec.name!r} reads no files")
    if split not in spec.files.splits:
        raise DataError(f"task {spec.name} has no split {split!r}; it has {', '.join(spec.files.splits)}")
    out: list[Example] = []
    for name in spec.files.splits[split]:
        for path in data_files(Path(name)):
            out += [example(spec, record, where, spec.files.columns) for where, record in records(path)]
    if not out:
        raise DataError(f"task {spec.name} split {split}: no rows in {', '.join(spec.files.splits[split])}")
    return out


def read_hub_split(spec: TaskSpec, split: str) -> list[Example]:
    """One split of a task file's task that names a Hugging Face dataset (labels matched as in files)."""
    import datasets

    hub = spec.hub
    if split not in hub.splits:
        raise DataError(f"task {spec.name} has no split {split!r}; it has {', '.join(hub.splits)}")
    args = (hub.path, hub.config) if hub.config else (hub.path,)
    rows = datasets.load_dataset(*args, split=hub.splits[split])
    where = f"hub {hub.path}{f'/{hub.config}' if hub.config else ''} split {hub.splits[split]} row"
    return [example(spec, dict(row), f"{where} {i}", hub.columns) for i, row in enumerate(rows, start=1)]


def read_task_split(spec: TaskSpec, split: str) -> list[Example]:
    """One split of a task file's task, from its files or its hub dataset."""
    return read_file_split(spec, split) if spec.files is not None else read_hub_split(spec, split)


__all__ = ["FORMATS", "file_format", "data_files", "file_columns", "records", "example", "read_file_split",
           "read_hub_split", "read_task_split"]
