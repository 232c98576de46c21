"""`hmnet export` (a stored run's kept model as a Hugging Face folder with its model card) and `hmnet predict`
(labels or scores for rows of text from such a folder, with the task's own encoding).

    hmnet export RUN_KEY DIR --results _build/runs/smoke/results    the folder: weights, config, tokenizer, card
    hmnet export RUN_KEY DIR --push-to-hub user/name                 ... and upload it (needs a hub token)
    hmnet predict DIR --task RTE --input rows.jsonl                  one JSON line per row: its prediction
    hmnet predict DIR --task RTE --input rows.jsonl --score          ... and the task's metrics on the rows' labels
                                                                     (one JSON line)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hmnet.errors import DataError, UsageError, int_in_range, output_file, output_folder


def add_parsers(sub) -> None:
    p = sub.add_parser("export", help="a stored run's kept model as a Hugging Face folder (model card included)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("key", metavar="RUN_KEY", help="the run's key (its result file is <method>-<key>.json)")
    p.add_argument("dir", metavar="DIR", help="the folder to write")
    p.add_argument("--results", default="_build/runs/smoke/results", help="the results folder holding the run "
                   "(default _build/runs/smoke/results)")
    p.add_argument("--data-dir", help="where the run's data files are, for the card's floors (default "
                   "$HMNET_DATA_DIR for the directory source)")
    p.add_argument("--push-to-hub", metavar="REPO_ID", help="also upload the folder to this hub repository")
    p.set_defaults(func=cmd_export)

    q = sub.add_parser("predict", help="predict labels or scores for rows with a saved model (hmnet export)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    q.add_argument("dir", metavar="DIR", help="a folder written by save_pretrained / hmnet export (or a hub id)")
    q.add_argument("--task", required=True, help="which of the model's tasks")
    q.add_argument("--input", required=True, help="rows: JSON lines (also CSV, TSV or Parquet), one object a row, "
                   "with the task's texts (text_a, text_b, text_c or the task's own column names)")
    q.add_argument("--output", help="write the predictions here (JSON lines) instead of printing them")
    q.add_argument("--score", action="store_true", help="also compute the task's metrics against the rows' labels")
    q.add_argument("--batch-size", type=int, help="rows per batch (default: the run's evaluation batches)")
    q.add_argument("--precision", choices=("no", "bf16"), help="autocast precision (default: the run's evaluation)")
    q.set_defaults(func=cmd_predict)


def cmd_export(args) -> int:
    from hmnet.report.export import export_run

    output_folder(args.dir, "DIR")
    hf = export_run(args.key, args.dir, args.results, args.data_dir)
    print(f"exported {hf.model.method} run {hf.run['key']} ({', '.join(hf.tasks)}) to {args.dir}: "
          + ", ".join(sorted(p.name for p in Path(args.dir).iterdir())))
    if args.push_to_hub:
        url = hf.push_to_hub(args.push_to_hub)
        print(f"pushed to {url}")
    return 0


def _load(folder: str):
    from hmnet.models import HMNetForTasks

    path = Path(folder)
    if path.exists() and not (path / "config.json").is_file():
        raise UsageError(f"DIR {folder}: no config.json (is it a folder written by hmnet export?)")
    try:
        return HMNetForTasks.from_pretrained(folder)
    except (OSError, json.JSONDecodeError) as err:
        raise UsageError(f"DIR {folder}: cannot be loaded ({' '.join(str(err).split())})") from None


def _label(spec, raw, where: str):
    """A row's gold label as a class index (the label as written, or its index) or a score."""
    from hmnet.data.examples import parse_label

    if not spec.regression and isinstance(raw, int) and not isinstance(raw, bool) and str(raw) not in spec.labels \
            and 0 <= raw < spec.num_labels:
        return raw
    return parse_label(spec, raw, where)


def _gold(spec, rows):
    columns = [c for c in ("label", *(s.columns.get("label") for s in (spec.files, spec.layout, spec.hub) if s))
               if c]
    labels, groups = [], []
    group_cols = [c for c in ("group", spec.files.columns.get("group") if spec.files else None) if c]
    for where, row in rows:
        name = next((c for c in columns if c in row), None)
        if name is None:
            raise DataError(f"{where}: --score needs the row's label (a key among {', '.join(columns)})")
        labels.append(_label(spec, row[name], f"{where}, key {name!r}"))
        group = next((row[c] for c in group_cols if c in row), None)
        groups.append(None if group is None else str(group))
    return labels, (groups if all(g is not None for g in groups) else None)


def cmd_predict(args) -> int:
    from hmnet.data.tabular import records
    from hmnet.metrics import compute_metrics

    int_in_range(args.batch_size, "--batch-size", 1)
    if not Path(args.input).is_file():
        raise UsageError(f"--input {args.input}: no such file")
    if args.output:
        output_file(args.output, "--output")
    model = _load(args.dir)
    spec = model._spec(args.task)
    rows = list(records(Path(args.input)))
    if not rows:
        raise DataError(f"{args.input}: no rows")
    preds = model.predict(spec.name, [r for _, r in rows], batch_size=args.batch_size, precision=args.precision)
    key = "score" if spec.regression else "label"
    lines = [json.dumps({key: p}) for p in preds]
    if args.output:
        from hmnet.files import atomic_write

        atomic_write(args.output, "\n".join(lines) + "\n")
    else:
        print("\n".join(lines))
    if args.score:
        labels, groups = _gold(spec, rows)
        ids = preds if spec.regression else [spec.labels.index(p) for p in preds]
        metrics = compute_metrics(spec.name, ids, labels, groups, registry=model.registry)
        # One JSON line with the metrics at full precision (on stderr when the predictions fill stdout).
        print(json.dumps({"task": spec.name, "rows": len(rows), "input": str(args.input), "metrics": metrics}),
              file=sys.stderr if not args.output else sys.stdout)
    return 0
