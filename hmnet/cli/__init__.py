"""The `hmnet` command. Each concept registers its subcommands from its own small module."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import traceback

# Modules that contribute subcommands: each has add_parsers(subparsers); every parser sets `func`.
SUBCOMMAND_MODULES = ("hmnet.cli", "hmnet.cli.params", "hmnet.cli.relevance", "hmnet.cli.train", "hmnet.cli.book",
                      "hmnet.cli.campaign", "hmnet.cli.rerun", "hmnet.cli.models")


def add_parsers(sub) -> None:
    p = sub.add_parser("tasks", help="list the 13 tasks (and a task file's): format, labels, metrics, group")
    p.add_argument("--task-file", help="also list the tasks of this YAML/JSON task file (hmnet.data.taskfile)")
    p.add_argument("--check", action="store_true",
                   help="with --task-file: read every row of its tasks (labels checked) and print the counts")
    p.set_defaults(func=cmd_tasks)


def _source(s) -> str:
    if s.files is not None:
        return "files: " + "; ".join(f"{split} {', '.join(os.path.basename(f) for f in fs)}"
                                     for split, fs in s.files.splits.items())
    return "hub: " + s.hub.path + (f"/{s.hub.config}" if s.hub.config else "")


def task_table(registry=None):
    import pandas as pd

    from hmnet.tasks import BUILTIN

    return pd.DataFrame([{
        "task": s.name, "group": s.category, "format": s.input_format,
        "labels": s.num_labels if not s.regression else "regression",
        "label names": ", ".join(s.labels) or ("score 0-5" if s.builtin else "score"),
        "metrics": ", ".join(s.metrics), "Table 1": ", ".join(s.table1_metrics),
        "eval splits": ", ".join(s.eval_splits), "source": _source(s) if not s.builtin else _source(s)[5:],
    } for s in (registry or BUILTIN).specs])


def cmd_tasks(args) -> int:
    from hmnet.errors import UsageError

    registry = None
    if args.task_file:
        from hmnet.data.taskfile import load_task_file

        registry = load_task_file(args.task_file)
    elif args.check:
        raise UsageError("--check reads a task file's rows: pass --task-file FILE")
    print((task_table(registry) if registry is not None else task_table()).to_string(index=False))
    if args.check:
        from hmnet.data.taskfile import check_rows

        for task, counts in check_rows(registry).items():
            print(f"{task}: " + ", ".join(f"{n} {split} rows" for split, n in counts.items()))
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
    """Run one command. An expected failure (:class:`hmnet.errors.HmnetError`, an unknown task) ends in one
    line on stderr naming the culprit and exit status 2 (with ``-v``, after its traceback); any other
    exception is a bug and keeps its traceback."""
    from hmnet.errors import HmnetError, UsageError, one_line
    from hmnet.tasks import UnknownTaskError

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        if os.environ.get("HMNET_TORCH_THREADS"):  # as in the notebooks (torch is imported only when it is set)
            from hmnet.train.runtime import apply_thread_setting

            try:
                apply_thread_setting()
            except ValueError as err:
                raise UsageError(str(err)) from err
        return int(args.func(args) or 0)
    except (HmnetError, UnknownTaskError) as err:
        if args.verbose:
            traceback.print_exc(file=sys.stderr)
        print(f"hmnet {args.command}: {one_line(err)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
