"""`hmnet params`: Table 1's parameter rows beside our counts, measured on meta-device models."""

from __future__ import annotations

import argparse
from pathlib import Path

from hmnet.cli.args import parse_split
from hmnet.errors import UsageError


def _split(text: str) -> tuple[int, int, int]:
    try:
        return parse_split(text)
    except UsageError as err:  # argparse shows its own message for a bad `type=` value
        raise argparse.ArgumentTypeError(str(err)) from None


def add_parsers(sub) -> None:
    p = sub.add_parser("params", help="parameters activated per task and overall, beside Table 1's")
    p.add_argument("--backbone", default="random:bert-base",
                   help="backbone whose size is counted (default random:bert-base, no download)")
    p.add_argument("--split", type=_split, default=(8, 2, 2), help="HMNet split x,y,z (default 8,2,2)")
    p.add_argument("--notes", action="store_true", help="also print the note explaining each mismatch")
    p.add_argument("--by-task", action="store_true", help="also print activated parameters per task")
    p.set_defaults(func=run)


add_parser = add_parsers


def _check(backbone: str, split: tuple[int, int, int]) -> None:
    """The backbone must be known (or a readable model folder) and the split must use all of its layers."""
    from hmnet.backbone import encoder_config
    from hmnet.errors import UsageError

    if backbone.startswith(("/", ".", "~")) and not Path(backbone).expanduser().exists():
        raise UsageError(f"--backbone {backbone}: no such model folder")
    try:
        depth = int(encoder_config(backbone).num_hidden_layers)
    except (OSError, ValueError, ModuleNotFoundError) as err:  # a missing folder, a bad config.json, a hub id
        raise UsageError(f"--backbone {backbone!r} cannot be used ({' '.join(str(err).split())}); expected "
                         "random:bert-base, tiny, minilm or a local model folder") from err
    if sum(split) != depth:
        raise UsageError(f"--split {','.join(map(str, split))} has {sum(split)} layers, but backbone {backbone!r} "
                         f"has {depth}; x + y + z must equal the depth")


def run(args) -> int:
    import pandas as pd

    from hmnet.analysis.parameters import activated_by_task, parameter_table

    _check(args.backbone, args.split)
    table = parameter_table(args.backbone, args.split)
    shown = table.drop(columns=["note"])
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(shown.to_string())
        if args.notes:
            print()
            for method, note in table["note"].items():
                print(f"{method}: {note}\n")
        if args.by_task:
            print()
            print(activated_by_task(args.backbone, args.split).to_string())
    return 0
