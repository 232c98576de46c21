"""No committed or rendered file may name a path of the machine that produced it: :func:`scrub_paths` replaces
the output, data, repository, temporary and home directories with placeholders (:func:`path_replacements`), and
:func:`machine_paths` finds any that remain (the tests run it over every committed store)."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

from hmnet.files import atomic_write
from hmnet.provenance import REPO

# Absolute paths of this kind of machine that must not appear in a committed or rendered file.
_PATH_PATTERN = re.compile(r"(?<![\w.~<$])/(?:work|tmp|root|home|Users|private/var|var/folders|content)/[^\s\"'<>)]*")


def path_replacements(out_dir: str | Path | None = None, data_dir: str | Path | None = None,
                      root: str | Path = REPO) -> dict[str, str]:
    """Absolute paths of this machine and what is written instead, longest first: the output folder relative
    to the repository when it lies inside it (else ``<out_dir>``), the data as ``$HMNET_DATA_DIR``, the
    repository as ``.``, the temporary directory as ``<tmp>`` and the home directory as ``~``."""
    root = Path(root).resolve()
    pairs: dict[str, str] = {}
    if data_dir:
        pairs[str(data_dir)] = pairs[str(Path(data_dir).resolve())] = "$HMNET_DATA_DIR"
    if out_dir:
        out = Path(out_dir).resolve()
        pairs[str(out)] = out.relative_to(root).as_posix() if out.is_relative_to(root) else "<out_dir>"
    pairs.setdefault(str(root), ".")
    pairs.setdefault(str(Path(tempfile.gettempdir()).resolve()), "<tmp>")
    pairs.setdefault(str(Path.home()), "~")
    return dict(sorted(((k, v) for k, v in pairs.items() if k not in ("", "/", ".")), key=lambda kv: -len(kv[0])))


def scrub_paths(text: str, replacements: Mapping[str, str]) -> str:
    """Replace each absolute path by its stand-in, only where a path component ends (``/a/b`` is not the
    start of ``/a/bc``)."""
    for path, shown in replacements.items():
        text = re.sub(re.escape(path) + r"(?![\w.-])", lambda _m, s=shown: s, text)
    return text


def machine_paths(text: str) -> list[str]:
    """Absolute paths of a machine's working, temporary or home directories found in `text`."""
    return sorted(set(_PATH_PATTERN.findall(text)))


def scrub_file(path: Path, replacements: Mapping[str, str]) -> None:
    text = path.read_text(encoding="utf-8")
    clean = scrub_paths(text, replacements)
    if clean != text:
        atomic_write(path, clean)



__all__ = ["path_replacements", "scrub_paths", "machine_paths", "scrub_file"]
