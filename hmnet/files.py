"""The one atomic file write: every result, record, table, figure and model file goes through it."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Make a rename inside `path` durable (where the filesystem lets a directory be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def canonical_json(obj: object) -> bytes:
    """The bytes a checksum is taken over: sorted keys, no spaces."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def atomic_write(path: str | Path, data: bytes | str | Callable[[Path], object]) -> Path:
    """Write `data` to a temporary file beside `path`, fsync, rename it over `path`, fsync the directory.

    `data` is bytes, text (UTF-8) or a function that writes the file at the path it is given (for
    writers that want a file name: ``df.to_csv``, ``fig.savefig``, ``safetensors.torch.save_file``).
    Readers see the old file or the new one, never a partial one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A name of its own per write (process and random token), so concurrent writers, threads included,
    # never share a temporary file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        if callable(data):
            data(tmp)
        else:
            with open(tmp, "xb") as fh:
                fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        fsync_file(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)
    return path
