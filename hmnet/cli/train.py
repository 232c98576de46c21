"""`hmnet train` (one run) and `hmnet plan` (list, export or run a named plan of runs).

Every run writes one result file keyed by its config into the results folder, so `hmnet plan export`
can hand the runs to a scheduler (one shell command per line: SLURM arrays, ``xargs -P``) and all of
them share the same cache; runs whose result exists return immediately.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from pathlib import Path

from hmnet.choices import METHODS
from hmnet.cli.args import add_profile_option, add_setting_options, parse_split, setting_overrides
from hmnet.errors import HmnetError, UsageError, int_in_range, output_folder, read_text, writing
from hmnet.experiments import ConfigError, RunConfig
from hmnet.profiles import get_profile, runs_dir
from hmnet.results import expand_data_dir, is_record
from hmnet.sections.groupings import named_groupings

PLANS = ("table1", "layer_grid", "shared_layers", "pairwise")  # the sections `hmnet plan` builds from options

SEED_MAX = 2**32 - 1  # NumPy's legacy seeding (seed_everything) takes 0 .. 2**32 - 1


def _default_results(profile: str) -> str:
    return str(runs_dir(profile) / "results")


def _overrides(pairs: list[str] | None) -> dict:
    """`key=value` pairs; values parsed as JSON when they can be (numbers, true/false, null, lists)."""
    out = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ConfigError(f"--set expects key=value, got {pair!r}")
        k, v = pair.split("=", 1)
        try:
            out[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            out[k.strip()] = v
        if isinstance(out[k.strip()], list):
            out[k.strip()] = tuple(out[k.strip()])
    return out


def _profile(args):
    """The profile the arguments name, with --set overrides and then the generated setting options."""
    return get_profile(args.profile, **{**_overrides(args.set), **setting_overrides(args)})


def _tasks(text: str | None):
    return None if text is None else tuple(t for t in text.replace(",", " ").split() if t)


def _json_arg(text: str | None, option: str = "JSON"):
    """Inline JSON, or @FILE / a path to a JSON file."""
    if text is None:
        return None
    path = Path(text[1:] if text.startswith("@") else text)
    where = option
    if text.startswith("@") or (not text.lstrip().startswith(("{", "[")) and path.exists()):
        text, where = read_text(path, "JSON file"), f"{option} {path}"
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{where}: not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})") from None
    except RecursionError:
        raise ConfigError(f"{where}: not valid JSON (nested too deeply)") from None


def _common(p: argparse.ArgumentParser) -> None:
    add_profile_option(p, "smoke")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override any profile field, e.g. tasks=[\"RTE\",\"CB\"] (repeatable; JSON values)")
    p.add_argument("--results", help="results folder, shared by all runs (default _build/runs/<profile>/results)")
    p.add_argument("--cpu", action="store_true", help="train on the CPU even when a GPU is present")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--checkpoint-every", type=int, help="also checkpoint every N optimizer steps")
    p.add_argument("--checkpoint-minutes", type=float, default=15.0, help="checkpoint every M minutes (15)")
    p.add_argument("--keep-model", action="store_true", help="save each final model under <results>/models")
    add_setting_options(p)


def add_parsers(sub) -> None:
    p = sub.add_parser("train", help="train one run (or return its stored result)",
                       description="Train one run. The config comes from --config-json / --config, or from a "
                                   "profile plus --method/--tasks/--seed. Prints the Table-1 scores.")
    p.add_argument("--config-json", help="a run config as JSON (what `hmnet plan export` writes)")
    p.add_argument("--config", help="a JSON file holding a run config, or a stored record (its config is used; "
                                    "its $HMNET_DATA_DIR placeholder is --data-dir or the variable)")
    p.add_argument("--method", choices=METHODS, default="multi")
    p.add_argument("--tasks", help="comma-separated tasks (default: the profile's)")
    p.add_argument("--clusters-json", help='HMNet clusters, e.g. \'{"a": ["RTE", "MNLI"], "b": ["MRPC"]}\'')
    p.add_argument("--split", help="HMNet split shared,cluster,task, e.g. 8,2,2")
    p.add_argument("--seed", type=int)
    p.add_argument("--name", default="", help="a display label for tables")
    p.add_argument("--checkpoint-dir", help="where checkpoints go (default <results>/checkpoints/<run>)")
    p.add_argument("--no-resume", action="store_true", help="start afresh even if a checkpoint exists")
    _common(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("plan", help="list, export (one shell command per run) or run a plan of runs",
                       description="Plans: " + ", ".join(PLANS) + ". `export` prints one `hmnet train` command "
                                   "per run, e.g. for `xargs -P 4 -I{} sh -c {}` or a SLURM array.")
    p.add_argument("action", choices=("list", "export", "run"))
    p.add_argument("plan", choices=tuple(PLANS))
    p.add_argument("--seeds", type=int, nargs="+", help="seeds (default: the profile's)")
    p.add_argument("--tasks", help="tasks for shared_layers / pairwise (comma-separated)")
    p.add_argument("--groupings",
                   help="named groupings for table1 / layer_grid: manual, planted, data, model (comma-separated; "
                        "default manual)")
    p.add_argument("--groupings-json", help='groupings as JSON: {"name": {"cluster": ["TASK", ...]}, ...}')
    p.add_argument("--splits", nargs="+", help="layer_grid splits, e.g. 8,2,2 6,3,3")
    p.add_argument("--format", choices=("cmd", "json"), default="cmd", help="export format (cmd)")
    _common(p)
    p.set_defaults(func=cmd_plan)


def _train_kwargs(args) -> dict:
    return {"cpu": args.cpu, "checkpoint_every": args.checkpoint_every,
            "checkpoint_minutes": args.checkpoint_minutes, "keep_model": args.keep_model}


def config_from_args(args) -> RunConfig:
    """The run config the arguments name. --config / --config-json take a run config or a whole stored record
    (its config is used); its data folder is --data-dir where given (the one setting allowed beside them: the
    folder is no part of the key), else a record's placeholder is replaced by $HMNET_DATA_DIR."""
    if args.config_json or args.config:
        option = "--config-json" if args.config_json else "--config"
        overrides = setting_overrides(args)
        ignored = [f"--{k.replace('_', '-')}" for k in overrides if k != "data_dir"] + (["--set"] if args.set else [])
        if ignored:
            raise UsageError(f"{option} is the whole run config; {', '.join(ignored)} would be ignored: put the "
                             "setting in the config instead")
        data = _json_arg(args.config_json if args.config_json else "@" + args.config, option)
        data = data["config"] if is_record(data) else data
        if not isinstance(data, dict):
            raise ConfigError(f"{option}: a run config must be a JSON object, got {type(data).__name__}")
        return RunConfig.from_dict(expand_data_dir(data, overrides.get("data_dir"), option))
    profile = _profile(args)
    clusters = _json_arg(args.clusters_json, "--clusters-json")
    return profile.run_config(args.method, tasks=_tasks(args.tasks), clusters=clusters, split=parse_split(args.split),
                              seed=args.seed, name=args.name)


def _print_result(result) -> None:
    print(f"{result.config.variant} seed {result.config.seed}: average {result.average:.2f} "
          f"({result.wall_time:.0f} s, {result.examples_per_second:.0f} ex/s) -> {result.path}")
    for task, score in result.scores.items():
        text = " / ".join(f"{s:.2f}" for s in score) if isinstance(score, tuple) else f"{score:.2f}"
        print(f"  {task:8s} {text}")


def _check_run_options(args, configs: list[RunConfig]) -> str:
    """Everything a run needs that can be checked before training: seeds, checkpoint options, folders.
    Returns the results folder."""
    for c in configs:
        int_in_range(c.seed, f"the seed of {c.variant}", 0, SEED_MAX)
    int_in_range(args.checkpoint_every, "--checkpoint-every", 1)
    if args.checkpoint_minutes is not None and not (math.isfinite(args.checkpoint_minutes)
                                                    and args.checkpoint_minutes > 0):
        raise UsageError(f"--checkpoint-minutes must be a positive number, got {args.checkpoint_minutes}")
    results = args.results or _default_results(args.profile)
    if getattr(args, "action", None) != "export":  # exported commands may run on another machine
        output_folder(results, "--results")
    if getattr(args, "checkpoint_dir", None):
        output_folder(args.checkpoint_dir, "--checkpoint-dir")
    return results


def _as_config_error(err: ValueError) -> HmnetError:
    """A ValueError met while building configs from arguments, as the CLI's one-line error."""
    return err if isinstance(err, HmnetError) else ConfigError(str(err))


def cmd_train(args) -> int:
    from hmnet.train import train

    int_in_range(args.seed, "--seed", 0, SEED_MAX)
    try:
        config = config_from_args(args)
    except ValueError as err:
        raise _as_config_error(err) from err
    results = _check_run_options(args, [config])
    with writing("--results", results):  # disk full, read-only: one line; what was stored stays
        result = train(config, results, checkpoint_dir=args.checkpoint_dir, resume=not args.no_resume,
                       progress=not args.no_progress, **_train_kwargs(args))
    _print_result(result)
    return 0


def _plan_options(args) -> list[tuple[str, object, tuple[str, ...]]]:
    """The plan-specific options: each one's value in `args` and the plans it applies to."""
    grouped = ("table1", "layer_grid")
    return [("--tasks", args.tasks, ("shared_layers", "pairwise")), ("--groupings", args.groupings, grouped),
            ("--groupings-json", args.groupings_json, grouped), ("--splits", args.splits, ("layer_grid",))]


def build_plan(args) -> list[RunConfig]:
    from hmnet.sections import layer_grid, pairwise, shared_layers, table1

    options = _plan_options(args)
    inapplicable = [o for o, value, plans in options if value is not None and args.plan not in plans]
    if inapplicable:
        raise UsageError(f"plan {args.plan} takes no {', '.join(inapplicable)}: "
                         + "; ".join(f"{o} is for {' / '.join(plans)}" for o, _, plans in options if o in inapplicable)
                         + (" (table1 and layer_grid train the profile's tasks: --set tasks=[...])"
                            if "--tasks" in inapplicable else ""))
    profile = _profile(args)
    seeds = args.seeds
    groupings = _json_arg(args.groupings_json, "--groupings-json")
    if groupings is None:
        names = (args.groupings or "manual").split(",")
        groupings = named_groupings([g for g in names if g], profile.tasks, profile.registry)
    if args.plan == "table1":
        return table1.plan_runs(profile, groupings, seeds)
    if args.plan == "layer_grid":
        if not args.splits:
            raise ConfigError("plan layer_grid needs --splits, e.g. --splits 8,2,2 6,3,3")
        return layer_grid.plan_runs(profile, groupings, [parse_split(s, "--splits") for s in args.splits], seeds)
    if args.plan == "shared_layers":
        return shared_layers.plan_runs(profile, _tasks(args.tasks) or ("MNLI", "BoolQ"), seeds)
    return pairwise.plan_runs(profile, _tasks(args.tasks), seeds)


def export_commands(configs, results_dir: str, extra: list[str] | None = None) -> list[str]:
    """One `hmnet train` shell command per run; all share `results_dir` (the cache)."""
    tail = " ".join(shlex.quote(x) for x in (extra or []))
    return [f"hmnet train --config-json {shlex.quote(c.to_json())} --results {shlex.quote(str(results_dir))}"
            + (f" {tail}" if tail else "") for c in configs]


def _emit(lines: list[str]) -> None:
    """Print lines; a closed pipe (`... | head`) ends quietly."""
    import os

    try:
        print("\n".join(lines), flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def cmd_plan(args) -> int:
    from hmnet.train import load_result, run_plan, summarize

    for seed in args.seeds or ():
        int_in_range(seed, "--seeds", 0, SEED_MAX)
    try:
        configs = build_plan(args)
    except ValueError as err:
        raise _as_config_error(err) from err
    results = _check_run_options(args, configs)
    if args.action == "export":
        if args.format == "json":
            _emit([c.to_json() for c in configs])
            return 0
        extra = ["--cpu"] if args.cpu else []
        if args.checkpoint_every:
            extra += ["--checkpoint-every", str(args.checkpoint_every)]
        extra += ["--no-progress"] if args.no_progress else []
        extra += ["--keep-model"] if args.keep_model else []
        _emit(export_commands(configs, results, extra))
        return 0
    if args.action == "list":
        import pandas as pd

        rows = [{"variant": c.variant, "method": c.method, "tasks": ",".join(c.tasks), "seed": c.seed,
                 "key": c.key(), "done": load_result(c, results) is not None} for c in configs]
        print(pd.DataFrame(rows).to_string(index=False))
        print(f"{len(configs)} runs, {sum(r['done'] for r in rows)} with a stored result in {results}")
        return 0
    with writing("--results", results):
        done = run_plan(configs, results, progress=not args.no_progress, **_train_kwargs(args))
    print(summarize(done).to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    return 0
