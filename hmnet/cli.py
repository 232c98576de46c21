"""The `hmnet` command. Each concept registers its subcommands from its own small module."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

# Modules that contribute subcommands: each has add_parsers(subparsers); every parser sets `func`.
SUBCOMMAND_MODULES = ("hmnet.cli", "hmnet.cli_params", "hmnet.cli_relevance", "hmnet.cli_train", "hmnet.cli_book",
                      "hmnet.cli_campaign")


def add_parsers(sub) -> None:
    p = sub.add_parser("tasks", help="list the 13 tasks: format, labels, metrics, group")
    p.set_defaults(func=cmd_tasks)


def task_table():
    import pandas as pd

    from hmnet.tasks import TASKS

    return pd.DataFrame([{
        "task": s.name, "group": s.category, "format": s.input_format,
        "labels": s.num_labels if not s.regression else "regression",
        "label names": ", ".join(s.labels) or "score 0-5", "metrics": ", ".join(s.metrics),
        "Table 1": ", ".join(s.table1_metrics), "eval splits": ", ".join(s.eval_splits),
        "hub": f"{s.hub.path}" + (f"/{s.hub.config}" if s.hub.config else ""),
    } for s in TASKS.values()])


def cmd_tasks(args) -> int:
    print(task_table().to_string(index=False))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hmnet", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:  # a subcommand module that is not part of this install
                continue
            raise
        module.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if os.environ.get("HMNET_TORCH_THREADS"):  # as in the notebooks (torch is imported only when it is set)
        from hmnet.runtime import apply_thread_setting

        apply_thread_setting()
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
