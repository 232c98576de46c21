"""`hmnet rerun`: train stored records again from their own configs and report whether the scores match."""

from __future__ import annotations

from hmnet.errors import input_folder, output_folder, writing


def add_parsers(sub) -> None:
    from hmnet.campaign.rerun import DEFAULT_TOLERANCE

    p = sub.add_parser("rerun", help="re-run stored records from their own configs; report whether the scores match",
                       description="Train records of a results store again, each from its own config, into a "
                                   "scratch folder (never the store), and report per record whether every Table-1 "
                                   "score matches within the tolerance, with the machine and precision of both "
                                   "sides. Exit status 0 when every record matches, 1 otherwise.")
    p.add_argument("records", nargs="*", help="records to re-run: file names or keys (default: all, or --sample)")
    p.add_argument("--results", required=True, help="the results store (the folder holding the records)")
    p.add_argument("--sample", type=int, help="re-run a seeded random sample of this many records")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample (0)")
    p.add_argument("--scratch", default="_build/rerun", help="where the reruns train (default _build/rerun)")
    p.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                   help=f"largest difference of a score that still matches, in points 0-100 ({DEFAULT_TOLERANCE})")
    p.add_argument("--data-dir", help="the data folder for records of the directory source (default $HMNET_DATA_DIR)")
    p.add_argument("--cpu", action="store_true", help="train on the CPU even when a GPU is present")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_rerun)


def cmd_rerun(args) -> int:
    from hmnet.campaign.rerun import REPORT_NAME, outcome_table, rerun_store

    store = input_folder(args.results, "--results")
    scratch = output_folder(args.scratch, "--scratch")
    if args.data_dir is not None:
        input_folder(args.data_dir, "--data-dir")
    with writing("--scratch", scratch):
        outcomes = rerun_store(store, scratch, args.records, args.sample, args.seed, args.tolerance, args.data_dir,
                               cpu=args.cpu, progress=not args.no_progress)
    print(f"tolerance: {args.tolerance:g} points on every Table-1 score and the average")
    print(outcome_table(outcomes).to_string(index=False))
    matched = sum(o.status == "match" for o in outcomes)
    print(f"{matched} of {len(outcomes)} record(s) match; report: {scratch / REPORT_NAME}")
    return 0 if matched == len(outcomes) else 1
