"""Where a number came from: the commit of the code and the versions of the packages it ran with.

Each result records both (``Result.env``), and so does the reference store's manifest. Neither is part
of a run's cache key: the hand-bumped training-semantics version is (see :mod:`hmnet.experiments`).
"""

from __future__ import annotations

import subprocess
from functools import cache
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("hmnet", "torch", "transformers", "accelerate", "numpy", "pandas", "scikit-learn", "scipy")


@cache
def code_commit(repo: Path = REPO) -> str | None:
    """The checkout's commit (``<sha>`` or ``<sha>+dirty`` when hmnet/ has uncommitted changes), or None
    outside a git checkout (an installed wheel)."""
    try:
        sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--", "hmnet"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return sha + ("+dirty" if dirty else "") if sha else None


@cache
def package_versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Installed version of each package (None when it is not installed)."""
    out: dict[str, str | None] = {}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


__all__ = ["code_commit", "package_versions"]
