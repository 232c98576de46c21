"""`hmnet reproduce` and `hmnet book`: run the notebooks with papermill, then build the Jupyter Book."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from hmnet.cli.args import add_profile_option
from hmnet.book.reproduce import PAGES, default_out

# The reference build's profile: its notebooks render the committed results store (reference/local) and
# never train; `hmnet campaign run` fills the store.
STORE_PROFILES = ("local",)


def _store_only(args) -> bool:
    return args.profile in STORE_PROFILES and not args.train


def parse_params(items: list[str] | None) -> dict:
    """`-p name value` pairs; values are parsed as JSON when they can be (lists, numbers), else strings."""
    out = {}
    for name, value in items or []:
        try:
            out[name] = json.loads(value)
        except json.JSONDecodeError:
            out[name] = value
    return out


def add_parsers(sub) -> None:
    pages = ", ".join(f"{k}={v}" for k, v in PAGES.items())
    p = sub.add_parser("reproduce", help="run the notebooks with papermill into an output folder (resumable)")
    add_profile_option(p, "smoke")
    p.add_argument("--sections", nargs="+", default=None, help=f"which pages (notebooks; default all): {pages}")
    p.add_argument("--data-dir", default=None, help="GLUE/SuperGLUE files (required by the local profile)")
    p.add_argument("--out", default=None, help="output folder (default _build/runs/<profile>)")
    p.add_argument("--force", action="store_true", help="re-run pages even if done with these parameters")
    p.add_argument("--train", action="store_true",
                   help="local profile: train missing runs in the notebooks instead of rendering the store "
                        "(default out then _build/runs/local)")
    p.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"),
                   help="extra notebook parameter for every page, e.g. -p seeds '[0,1,2]'")
    p.add_argument("--protocol", default=None,
                   help="the profile's registered protocol (local: v1, v2; default the newest); a store is rendered "
                        "from the protocol's own store")
    p.set_defaults(func=cmd_reproduce)

    b = sub.add_parser("book", help="run the notebooks (resumably) and build the Jupyter Book")
    add_profile_option(b, "smoke")
    b.add_argument("--data-dir", default=None, help="GLUE/SuperGLUE files (required by the local profile)")
    b.add_argument("--out", default=None,
                   help="the runs' output folder (default: reference/local for local, else _build/runs/<profile>)")
    b.add_argument("--no-run", action="store_true", help="only build from notebooks executed earlier")
    b.add_argument("--train", action="store_true", help="local profile: train instead of rendering the store")
    b.set_defaults(func=cmd_book)


def cmd_reproduce(args) -> int:
    from hmnet.book.reproduce import ReproduceError, reproduce
    from hmnet.protocol import ProtocolError
    from hmnet.sections import ParameterError

    start = time.perf_counter()
    try:
        out = Path(args.out) if args.out else default_out(args.profile, _store_only(args), args.protocol)
        results = reproduce(args.profile, pages=args.sections, data_dir=args.data_dir, out=out,
                            force=args.force, extra=parse_params(args.param), store_only=_store_only(args),
                            protocol=args.protocol)
    except (ReproduceError, ParameterError, FileNotFoundError, ProtocolError) as err:
        print(f"hmnet reproduce: {err}", file=sys.stderr)
        return 1
    for r in results:
        print(f"{r.page} {r.notebook.name}: {r.status}" + (f" in {r.seconds:.0f} s" if r.status == "ran" else ""))
    print(f"executed notebooks in {out / 'notebooks'} ({time.perf_counter() - start:.0f} s)")
    return 0


def cmd_book(args) -> int:
    from hmnet.book.build import BookError, build_book
    from hmnet.book.reproduce import ReproduceError
    from hmnet.sections import ParameterError

    store_only = _store_only(args)
    out = Path(args.out) if args.out else default_out(args.profile, store_only)
    # The reference build without its data files: the book renders the store's executed notebooks as they are.
    run = not args.no_run and not (store_only and args.data_dir is None)
    start = time.perf_counter()
    try:
        index = build_book(args.profile, out=out, data_dir=args.data_dir, run=run, store_only=store_only)
    except (ReproduceError, ParameterError, BookError, FileNotFoundError) as err:
        print(f"hmnet book: {err}", file=sys.stderr)
        return 1
    print(f"book built in {time.perf_counter() - start:.0f} s: {index}")
    return 0
