"""The package's error convention (a leaf module: it imports nothing from hmnet).

Every *expected* failure (bad input data, a bad argument, an impossible configuration, a stored file that
does not verify) raises a subclass of :class:`HmnetError` whose message names the culprit: the file, the
line, the field, the value and what was expected. ``hmnet.cli.main`` prints that message as one line on
stderr and exits with status 2; any other exception is a bug and keeps its traceback.

The subclasses live beside the code that raises them (``ConfigError`` in :mod:`hmnet.experiments`,
``ParameterError`` in :mod:`hmnet.report.parameters`, ``CheckpointError`` in :mod:`hmnet.train.checkpoint`,
``TrainingError`` in :mod:`hmnet.train.runtime`); :class:`DataError` is defined here because loaders that
must not import torch (relevance matrices) raise it too, and :mod:`hmnet.data` re-exports it.

:func:`read_text` is the one way input text files are decoded, so every loader applies the same
tolerance rules: UTF-8 only, a leading BOM is dropped, NUL bytes and invalid UTF-8 are errors naming
the file and the line.
"""

from __future__ import annotations

import os
from pathlib import Path


class HmnetError(ValueError):
    """An expected failure caused by the input; the message names the culprit and what was expected."""


class DataError(HmnetError):
    """Malformed or missing input data; the message names the file, line and problem."""


class UsageError(HmnetError):
    """A command-line value that cannot be used (a missing path, a number out of range)."""


BOM = "\ufeff"


def line_of(data: bytes, offset: int) -> int:
    """The 1-based line number of byte `offset` in `data`."""
    return data.count(b"\n", 0, offset) + 1


def decode_text(data: bytes, where: str | os.PathLike) -> str:
    """`data` as UTF-8 text (a leading BOM dropped); invalid UTF-8 or a NUL byte is a DataError naming
    `where` and the line."""
    nul = data.find(b"\0")
    if nul >= 0:
        raise DataError(f"{where} line {line_of(data, nul)}: NUL byte (a binary or corrupt file?)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        hint = " (the file ends inside a character: truncated?)" if err.end >= len(data) else ""
        raise DataError(f"{where} line {line_of(data, err.start)}: invalid UTF-8 byte "
                        f"{data[err.start:err.start + 1]!r} at offset {err.start}{hint}; "
                        "expected UTF-8 text") from None
    return text[1:] if text.startswith(BOM) else text


def parse_json(text: str, where: str | os.PathLike, line: int | None = None):
    """`text` as JSON; a syntax error is a DataError naming `where` and the line (`line` for one line of a
    JSON-lines file, else the error's own line)."""
    import json

    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        at = f"line {line}: invalid JSON ({err.msg} at column {err.colno})" if line else \
            f"line {err.lineno}: invalid JSON ({err.msg})"
        raise DataError(f"{where} {at}") from None
    except RecursionError:
        raise DataError(f"{where}{f' line {line}' if line else ''}: invalid JSON (nested too deeply)") from None


def read_bytes(path: str | os.PathLike, what: str = "file") -> bytes:
    """The bytes of a file, or a DataError saying why they cannot be read (missing, a folder, no access)."""
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such {what}") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder; expected a {what}") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None


def read_text(path: str | os.PathLike, what: str = "file") -> str:
    """A UTF-8 text file as a string (see :func:`decode_text`); unreadable files raise DataError."""
    return decode_text(read_bytes(path, what), path)


def input_folder(path: str | os.PathLike, option: str) -> Path:
    """`path` if it is a readable folder, else a UsageError naming `option`."""
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{option} {path}: no such folder")
    if not p.is_dir():
        raise UsageError(f"{option} {path}: is a file; expected a folder")
    if not os.access(p, os.R_OK | os.X_OK):
        raise UsageError(f"{option} {path}: the folder cannot be read (permission denied)")
    return p


def output_folder(path: str | os.PathLike, option: str) -> Path:
    """`path` if it is a writable folder or can be created as one, else a UsageError naming `option`."""
    p = Path(path)
    if p.exists():
        if not p.is_dir():
            raise UsageError(f"{option} {path}: is a file; expected a folder (existing or to be created)")
        if not os.access(p, os.W_OK | os.X_OK):
            raise UsageError(f"{option} {path}: the folder is not writable (permission denied)")
        return p
    _creatable(p, option)
    return p


def _creatable(path: Path, option: str) -> None:
    """A UsageError unless the missing `path` can be created (its nearest existing ancestor is a writable folder)."""
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"{option} {path}: cannot be created, {parent} is a file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: cannot be created, {parent} is not writable (permission denied)")


def output_file(path: str | os.PathLike, option: str) -> Path:
    """`path` if a file can be written there (its folder exists or can be created), else a UsageError."""
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{option} {path}: is a folder; expected a file name")
    if p.exists():
        if not os.access(p, os.W_OK) or not os.access(p.absolute().parent, os.W_OK | os.X_OK):
            raise UsageError(f"{option} {path}: the file is not writable (permission denied)")
    else:
        _creatable(p, option)
    return p


def int_in_range(value: int | None, option: str, low: int, high: int | None = None) -> None:
    """A UsageError naming `option` unless low <= value (<= high); None passes."""
    if value is None:
        return
    if value < low or (high is not None and value > high):
        allowed = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise UsageError(f"{option} must be {allowed}, got {value}")


def one_line(err: BaseException) -> str:
    """An exception's message on one line (what the CLI prints)."""
    text = " ".join(part.strip() for part in str(err).splitlines() if part.strip())
    return text or type(err).__name__


__all__ = ["HmnetError", "DataError", "UsageError", "decode_text", "read_bytes", "read_text", "line_of",
           "input_folder", "output_folder", "output_file", "int_in_range", "one_line"]
