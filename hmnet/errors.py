"""The package's error convention (a leaf module: it imports nothing from hmnet).

Every *expected* failure (bad input data, a bad argument, an impossible configuration, a stored file that
does not verify) raises a subclass of :class:`HmnetError` whose message names the culprit: the file, the
line, the field, the value and what was expected. ``hmnet.cli.main`` prints that message as one line on
stderr and exits with status 2; any other exception is a bug and keeps its traceback.

The subclasses live beside the code that raises them (``ConfigError`` in :mod:`hmnet.experiments`,
``ParameterError`` in :mod:`hmnet.sections.parameters`, ``CheckpointError`` in :mod:`hmnet.train.checkpoint`,
``TrainingError`` in :mod:`hmnet.train.runtime`); :class:`DataError` is defined here because loaders that
must not import torch (relevance matrices) raise it too, and :mod:`hmnet.data` re-exports it.

A fault of an external resource (the hub, a model folder, an output folder, the disk) is a
:class:`ResourceError` (``HubError`` in :mod:`hmnet.remote`, ``BackboneError`` in :mod:`hmnet.backbone`) whose
one line names the resource, the likely cause and what to do; :func:`writing` turns a failed write (disk full,
read-only, permission) into one.

:func:`read_text` is the one way input text files are decoded, so every loader applies the same
tolerance rules: UTF-8 only, a leading BOM is dropped, NUL bytes and invalid UTF-8 are errors naming
the file and the line.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path


class HmnetError(ValueError):
    """An expected failure caused by the input; the message names the culprit and what was expected."""


class DataError(HmnetError):
    """Malformed or missing input data; the message names the file, line and problem."""


class UsageError(HmnetError):
    """A command-line value that cannot be used (a missing path, a number out of range)."""


class ResourceError(HmnetError):
    """An external resource that fails: the hub, a model folder, a data folder or file, an output folder, the
    disk. The message is one line: the resource, the likely cause (offline, not found, damaged, not writable,
    disk full) and what to do (see :func:`resource_message`)."""


def resource_message(resource: str, cause: str, fix: str) -> str:
    """The one line of a :class:`ResourceError`: ``<resource>: <cause>; <what to do>``."""
    return f"{resource}: {cause}; {fix}"


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
    """`path` if it is a writable folder or can be created as one, else a UsageError naming `option`.

    Besides the permission bits, a write is tried (an empty folder made and removed in `path`, or in its nearest
    existing ancestor): a read-only mount or a pseudo-filesystem refuses it even where ``os.access`` says yes
    (as it does for root)."""
    p = Path(path)
    if p.exists():
        if not p.is_dir():
            raise UsageError(f"{option} {path}: is a file; expected a folder (existing or to be created)")
        if not os.access(p, os.W_OK | os.X_OK):
            raise UsageError(f"{option} {path}: the folder is not writable (permission denied)")
        _try_write(p, p, option)
        return p
    _try_write(p, _creatable(p, option), option)
    return p


def _try_write(path: Path, folder: Path, option: str) -> None:
    """A UsageError naming `option` unless an empty folder can be made (and removed) in `folder`."""
    import tempfile

    try:
        os.rmdir(tempfile.mkdtemp(prefix=".hmnet-write-check-", dir=folder))
    except OSError as err:
        where = "" if folder == path else f" in {folder}"
        raise UsageError(f"{option} {path}: cannot be written{where} ({err.strerror or err}); pass {option} "
                         "with a folder on a writable disk") from None


def _creatable(path: Path, option: str) -> Path:
    """The nearest existing ancestor of the missing `path`; a UsageError unless it is a writable folder."""
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"{option} {path}: cannot be created, {parent} is a file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: cannot be created, {parent} is not writable (permission denied)")
    return parent


# The errors of a write that come from the disk or the mount, not from the program: disk full, quota, read-only,
# permission, I/O error.
WRITE_FAULTS = {errno.ENOSPC: "disk full", errno.EDQUOT: "disk quota exceeded", errno.EROFS: "read-only file system",
                errno.EACCES: "permission denied", errno.EPERM: "not permitted", errno.EIO: "input/output error"}


@contextlib.contextmanager
def writing(option: str, folder: str | os.PathLike):
    """Turn a failed write under `folder` (see :data:`WRITE_FAULTS`) into a :class:`ResourceError` naming
    `option`, the folder, the file and the cause. Files are written atomically (:func:`hmnet.files.atomic_write`),
    so whatever was stored before stays as it was."""
    try:
        yield
    except OSError as err:
        if err.errno not in WRITE_FAULTS:
            raise
        file = Path(err.filename).absolute() if isinstance(err.filename, (str, os.PathLike)) else None
        outside = file is not None and not file.is_relative_to(Path(folder).absolute())
        raise ResourceError(resource_message(
            str(file) if outside else f"{option} {folder}",
            f"{'cannot be written' if outside else 'a file could not be written'}"
            f"{f' ({file})' if file and not outside else ''}: {err.strerror or err} ({WRITE_FAULTS[err.errno]})",
            "free space or pass a folder on a writable disk; what was stored before is unchanged")) from err


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


__all__ = ["HmnetError", "DataError", "UsageError", "ResourceError", "resource_message", "writing", "decode_text",
           "read_bytes", "read_text", "line_of", "input_folder", "output_folder", "output_file", "int_in_range",
           "one_line"]
