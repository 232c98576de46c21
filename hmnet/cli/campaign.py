"""`hmnet campaign` (run or inspect every pending run of a profile's store) and `hmnet results` (print a
section's reference results from the store: no data, no training)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hmnet.cli.args import add_profile_option
from hmnet.cli.book import parse_params


def add_parsers(sub) -> None:
    from hmnet.sections import registry

    known = registry().names

    c = sub.add_parser("campaign", help="run every pending run of a profile's results store (resumable)")
    csub = c.add_subparsers(dest="campaign_command", required=True)
    for name, helptext in (("run", "run the pending runs, in priority order, within a time budget"),
                           ("status", "planned, stored and pending runs per section, with the projected cost"),
                           ("export", "print the pending runs as `hmnet train` commands or a SLURM array script "
                                      "that trains them into the same store")):
        p = csub.add_parser(name, help=helptext)
        add_profile_option(p, "local")
        p.add_argument("--data-dir", default=os.environ.get("HMNET_DATA_DIR"),
                       help="the GLUE/SuperGLUE files (default $HMNET_DATA_DIR)")
        p.add_argument("--protocol", default=None,
                       help="the profile's registered protocol (hmnet/protocols; local: v1, v2; default the newest)")
        p.add_argument("--store", default=None, help="the results store (default the protocol's, reference/<store>)")
        p.add_argument("--sections", nargs="+", default=None, choices=known,
                       help=f"which sections, in this priority order: {' '.join(known)} (default the protocol's)")
        p.add_argument("--workers", type=int, default=2, help="runs side by side (default 2)")
        p.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"),
                       help="notebook parameter for every section, as in hmnet reproduce, e.g. -p seeds '[0]'")
        if name == "export":
            p.add_argument("--format", choices=("cmd", "slurm"), default="cmd",
                           help="cmd: one shell command per run (for xargs -P); slurm: an sbatch array script")
            p.add_argument("--slurm-options", default="--cpus-per-task=2 --time=04:00:00",
                           help="extra #SBATCH options for the array script (space-separated)")
        if name == "run":
            p.add_argument("--budget", default=None, help="time budget, e.g. 120m or 2.5h (default none)")
            p.add_argument("--threads", type=int, default=1,
                           help="torch threads per run (default 1: on CPU, two 1-thread runs beat one 2-thread run)")
            p.add_argument("--checkpoint-minutes", type=float, default=5.0,
                           help="checkpoint each run this often, so an interrupted run resumes (default 5)")
        p.set_defaults(func=cmd_campaign)

    k = csub.add_parser("pack", help="MiniLM (bf16) and the data files (xz) for a GPU machine: scripts/gpu_campaign.sh")
    k.add_argument("--data-dir", default=os.environ.get("HMNET_DATA_DIR"), required=False)
    k.add_argument("--dest", default=".gpu", help="where (default .gpu, git-ignored; carry it to the device)")
    k.set_defaults(func=cmd_pack)
    k = csub.add_parser("pack-results", help="a store's records as results-NN.tar.xz parts (at most 8 x 15 MiB)")
    k.add_argument("--store", required=True)
    k.add_argument("--out", required=True)
    k.set_defaults(func=cmd_pack)
    k = csub.add_parser("collect", help="add the records of results-NN.tar.xz parts to a store (verified)")
    k.add_argument("parts", nargs="+", help="results-NN.tar.xz files")
    k.add_argument("--store", required=True)
    k.set_defaults(func=cmd_pack)

    r = sub.add_parser("results", help="print a section's results, or the claims ledger, from a store")
    r.add_argument("section", choices=(*known, "status", "claims"),
                   help="what to print: a section (mean, 95%% CI, seeds), the store's status, or the claims ledger "
                        "(verdicts, Holm-adjusted, beside the paper's effects)")
    r.add_argument("--profile", default="local", help="which profile's store (default local)")
    r.add_argument("--protocol", default=None, help="which protocol's store (default the newest)")
    r.add_argument("--store", default=None, help="another store folder")
    r.set_defaults(func=cmd_results)


def _store(args, must_exist: bool = False) -> Path:
    from hmnet.campaign.plan import store_dir
    from hmnet.errors import UsageError

    path = Path(args.store) if args.store else store_dir(args.profile, _protocol(args))
    if path.exists() and not path.is_dir():
        raise UsageError(f"--store {str(path)!r} is a file, not a folder")
    if must_exist and not (path / "manifest.json").is_file():
        raise UsageError(f"--store {str(path)!r} holds no results store (no manifest.json): run `hmnet campaign "
                         "status` or `hmnet campaign run` with the data to start one")
    return path


def _protocol(args) -> str | None:
    """--protocol, checked against the profile's registered protocols (a UsageError names the known ones)."""
    from hmnet.errors import UsageError
    from hmnet.protocol import ProtocolError, get_protocol

    try:
        get_protocol(args.profile, args.protocol)
    except ProtocolError as err:
        raise UsageError(f"--protocol: {err}") from None
    return args.protocol


def _data_dir(args) -> str:
    from hmnet.errors import UsageError, input_folder

    if not args.data_dir:
        raise UsageError(f"the {getattr(args, 'profile', 'local')} profile reads the data files: pass --data-dir DIR "
                         "(or set HMNET_DATA_DIR)")
    return str(input_folder(args.data_dir, "--data-dir"))


def _positive(name: str, value, integer: bool = True):
    from hmnet.errors import UsageError

    if value is None or value <= 0:
        raise UsageError(f"{name} must be a positive {'integer' if integer else 'number'}, got {value}")
    return value


def _projection(args, store: Path, plan) -> str:
    """Pending runs per section and their projected hours, from the throughput measured in the store (on this
    machine, for the kinds of run it has stored)."""
    from hmnet.campaign.plan import is_stored
    from hmnet.campaign.projection import measured_rates, projection_table, resumed_fractions
    from hmnet.precision import machine_description
    from hmnet.results import load_results
    from hmnet.sections import registry

    known = registry()
    pending = [p for p in plan if not is_stored(p, store, known)]
    if not pending:
        return "nothing pending: every planned run is stored"
    rates = measured_rates(load_results(store / "results"), args.data_dir, machine_description())
    done = resumed_fractions(pending, store / "results")
    return projection_table(pending, rates, args.workers, done).to_string(index=False, float_format="%.2f")


def _empty_store(args, store: Path, plan) -> dict:
    """The whole plan's projection from an empty store, at the throughput measured in the store."""
    from hmnet.campaign.projection import empty_store, measured_rates
    from hmnet.results import load_results

    return empty_store(plan, measured_rates(load_results(store / "results"), args.data_dir), args.workers)


def cmd_campaign(args) -> int:
    from hmnet.campaign.export import export_pending
    from hmnet.campaign.plan import campaign_plan
    from hmnet.campaign.runner import parse_budget, run_campaign
    from hmnet.store import write_manifest

    data_dir = _data_dir(args) if args.profile != "smoke" else None
    _positive("--workers", args.workers)
    if args.campaign_command == "run":
        _positive("--threads", args.threads)
        _positive("--checkpoint-minutes", args.checkpoint_minutes, integer=False)
    args.data_dir = data_dir
    store, protocol = _store(args), _protocol(args)
    overrides = parse_params(args.param)
    if args.campaign_command == "export":
        print(export_pending(args.profile, data_dir, store, args.sections, overrides, args.format,
                             args.slurm_options.split(), protocol))
        return 0
    if args.campaign_command == "status":
        plan = campaign_plan(args.profile, data_dir, store, args.sections, overrides, protocol)
        manifest = write_manifest(args.profile, data_dir, store, plan, overrides, protocol,
                                  projection=_empty_store(args, store, plan))
        for name, s in manifest["sections"].items():
            print(f"{name:14s} " + (f"waits: {s['waiting']}" if s.get("waiting")
                                    else f"{s['complete']:3d} of {s['planned']:3d} runs stored"))
        print(_projection(args, store, plan))
        return 0
    report = run_campaign(args.profile, data_dir, store, sections=args.sections, overrides=overrides,
                          budget=parse_budget(args.budget), workers=args.workers, threads=args.threads,
                          checkpoint_minutes=args.checkpoint_minutes, echo=print, protocol=protocol)
    print(f"campaign {report.stopped_by}: {len(report.completed)} runs stored, {len(report.failed)} failed, "
          f"{report.pending_left} pending, {report.seconds / 60:.0f} min")
    if report.pending_left:
        plan = campaign_plan(args.profile, data_dir, store, args.sections, overrides, protocol)
        print("still to run, projected from the measured throughput:\n" + _projection(args, store, plan))
    for name, err in report.failed.items():
        print(f"  failed {name}: {err}", file=sys.stderr)
    return 1 if report.failed else 0


def cmd_pack(args) -> int:
    from hmnet.campaign import device_pack

    if args.campaign_command == "pack":
        sizes = device_pack.pack_inputs(args.dest, _data_dir(args))
        print(f"packed {sum(sizes.values()) / 2**20:.1f} MiB into {args.dest}: " + ", ".join(
            f"{k} {v / 2**20:.1f} MiB" for k, v in sizes.items() if v > 2**20))
    elif args.campaign_command == "pack-results":
        for path in device_pack.pack_results(args.store, args.out):
            print(f"{path} ({path.stat().st_size / 2**20:.2f} MiB)")
    else:
        counts = device_pack.collect_results(args.parts, args.store)
        print(", ".join(f"{n} {k}" for k, n in counts.items()))
        return 1 if counts["rejected"] else 0
    return 0


def cmd_results(args) -> int:
    from hmnet.store import section_results_table

    text = section_results_table(_store(args, must_exist=True), args.section)
    print(text)
    return 0
