"""Argument parsers shared by the command groups."""

from __future__ import annotations

import argparse
import dataclasses
import typing

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


# ---------------------------------------------------------------------------------------------------------
# options generated from the run config (HfArgumentParser's idea): each setting of RunConfig is one option,
# with the field's type, choices and help; nothing is restated here.

_NONE = "none"  # what an optional setting takes on the command line to mean None
_METAVARS = {str: "TEXT", int: "INT", float: "NUMBER"}


def add_profile_option(parser: argparse.ArgumentParser, default: str) -> None:
    """``--profile``: one of the named profiles (hmnet.profiles.PROFILES). Checked by the command, which
    reports an unknown name with its own exit status."""
    from hmnet.profiles import PROFILES

    parser.add_argument("--profile", default=default, help=f"{' | '.join(PROFILES)} (default {default}); "
                        "hmnet.experiments checks the name")


def add_setting_options(parser: argparse.ArgumentParser) -> None:
    """One option per run setting (``max_length`` -> ``--max-length``), built from RunConfig's fields: their
    type, choices and help. Left out, a setting is the profile's; ``hmnet.experiments`` checks the value."""
    from hmnet.experiments import RunConfig
    from hmnet.profiles import SETTINGS

    group = parser.add_argument_group("run settings (each overrides the profile's; see hmnet.experiments.RunConfig)")
    hints = typing.get_type_hints(RunConfig)
    for f in dataclasses.fields(RunConfig):
        if f.name not in SETTINGS:
            continue
        kind, optional = _value_type(hints[f.name])
        flag = "--" + f.name.replace("_", "-")
        text = f"{f.metadata.get('help', '')} (RunConfig default: {f.default}{'; none clears it' if optional else ''})"
        if kind is bool:
            group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=text)
            continue
        choices = f.metadata.get("choices")
        group.add_argument(flag, dest=f.name, default=None, type=_parse_as(kind, optional, flag),
                           choices=(*choices, *((_NONE_VALUE,) if optional else ())) if choices else None,
                           metavar=None if choices else _METAVARS.get(kind, kind.__name__.upper()),
                           help=text)


def setting_overrides(args: argparse.Namespace) -> dict:
    """The settings given on the command line (see :func:`add_setting_options`), as profile overrides."""
    from hmnet.profiles import SETTINGS

    given = {name: getattr(args, name, None) for name in SETTINGS}
    return {name: (None if value is _NONE_VALUE else value) for name, value in given.items() if value is not None}


class _NoneValue:
    def __repr__(self) -> str:
        return _NONE


_NONE_VALUE = _NoneValue()


def _value_type(hint) -> tuple[type, bool]:
    """(scalar type, whether None is allowed) of a field's type hint such as ``int | None``."""
    args = typing.get_args(hint)
    if args:
        kinds = [a for a in args if a is not type(None)]
        return kinds[0], len(kinds) < len(args)
    return hint, False


def _parse_as(kind: type, optional: bool, flag: str):
    def parse(text: str):
        if optional and text.strip().lower() == _NONE:
            return _NONE_VALUE
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} expects {'an integer' if kind is int else 'a number'}"
                                             f"{' or none' if optional else ''}, got {text!r}") from None
    parse.__name__ = kind.__name__
    return parse
