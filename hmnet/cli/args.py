"""Argument parsers shared by the command groups."""

from __future__ import annotations

from hmnet.errors import UsageError


def parse_split(text: str | None, option: str = "--split") -> tuple[int, int, int] | None:
    """An HMNet split {x, y, z}: three non-negative integers, written 8,2,2 or 8-2-2 or {8, 2, 2} (None stays
    None). A bad value is a :class:`UsageError` naming `option` (argparse turns it into its own message when
    used as a ``type=``)."""
    if text is None:
        return None
    parts = [p for p in text.replace("{", " ").replace("}", " ").replace("-", ",").replace(",", " ").split() if p]
    if len(parts) != 3 or not all(p.isascii() and p.isdigit() for p in parts):
        raise UsageError(f"{option} expects three non-negative integers such as 8,2,2, got {text!r}")
    return int(parts[0]), int(parts[1]), int(parts[2])
