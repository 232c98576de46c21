"""`hmnet relevance` and `hmnet cluster`: task relevance matrices and the groups k-means finds in them.

    hmnet relevance --measure vocab --data-dir DIR     Table 2 regenerated for the tasks found in DIR,
                                                       published values beside ours, and the error of
                                                       every candidate word definition
    hmnet relevance --measure vocab --source synthetic Eq. 2 on the synthetic suite
    hmnet relevance --measure manual                   the four groups of Section 4.1
    hmnet relevance --measure model --profile smoke    Eq. 4 from single and pairwise runs (trains them)
    hmnet cluster --from-paper table2|table3           k-means on the paper's own tables vs Appendix A
    hmnet cluster --matrix FILE                        k-means on a saved matrix (save with --out)

Your own tasks: every form takes --task-file FILE (hmnet.data.taskfile); --tasks may then name its tasks beside
the 13, and defaults to the file's tasks. `hmnet cluster --matrix FILE --clusters-out clusters.json` writes the
groups as HMNet clusters and prints the `hmnet train --method hmnet` command that trains them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from hmnet.cli.args import add_profile_option
from hmnet.errors import DataError, UsageError, input_folder, int_in_range, output_file, output_folder

SEED_MAX = 2**32 - 1  # what sklearn's and NumPy's seeding accept
MAX_RUNS = 100_000  # --n-init and --stability: far beyond any useful value, short of "never ends"


def add_parsers(sub) -> None:
    p = sub.add_parser("relevance", help="task relevance: vocabulary (Eq. 2), manual design, model-based (Eq. 4)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--measure", choices=("vocab", "manual", "model"), default="vocab")
    p.add_argument("--data-dir", help="folder of GLUE/SuperGLUE/aclImdb files (vocab: the directory source)")
    p.add_argument("--source", choices=("directory", "synthetic"),
                   help="where the texts come from (default: directory with --data-dir, else synthetic)")
    p.add_argument("--tasks", help="comma-separated tasks (default: all that have the needed files, or the task "
                                   "file's tasks)")
    p.add_argument("--task-file", help="a YAML/JSON file of your own tasks (hmnet.data.taskfile)")
    p.add_argument("--word", choices=("whitespace", "regex", "bert_basic", "wordpiece"),
                   help="word definition (default: wordpiece, the best match to Table 2)")
    p.add_argument("--splits", choices=("train", "train+dev"), help="splits whose texts count (default: train)")
    p.add_argument("--tokenizer", default="minilm", help="backbone whose tokenizer defines WordPiece tokens")
    p.add_argument("--normalize", choices=("target", "source"), default="target",
                   help="divide by |V_t| (Eq. 2, Table 2) or |V_s| (Eq. 1)")
    p.add_argument("--no-candidates", action="store_true", help="skip the comparison of word definitions")
    add_profile_option(p, "smoke")  # model: the profile of the single and pairwise runs
    p.add_argument("--results-dir", default="_build/runs/relevance", help="model: where run results are cached")
    p.add_argument("--seeds", default="0", help="model: comma-separated training seeds")
    p.add_argument("--k", type=int, default=None,
                   help="also print the k-means groups of the matrix (0: do not; default 3 when there are more tasks)")
    p.add_argument("--out", help="save the matrix (.json or .csv, written atomically)")
    p.set_defaults(func=run_relevance)

    c = sub.add_parser("cluster", help="k-means groups of a relevance matrix (Section 3.3, Appendix A)")
    src = c.add_mutually_exclusive_group(required=True)
    src.add_argument("--from-paper", choices=("table2", "table3"), help="the paper's own Table 2 or Table 3")
    src.add_argument("--matrix", help="a matrix saved by `hmnet relevance --out` (.json or .csv)")
    c.add_argument("--k", type=int, default=3)
    c.add_argument("--n-init", type=int, default=50, help="k-means initialisations (the best is kept)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--features", choices=("rows", "columns", "both"), default="rows",
                   help="a task's scores as source (rows, Section 3.3), as target (columns), or both")
    c.add_argument("--standardize", action="store_true", help="scale each feature to zero mean, unit variance")
    c.add_argument("--no-diagonal", action="store_true", help="leave out each task's score with itself")
    c.add_argument("--silhouette", action="store_true", help="print the silhouette score for k = 2..6")
    c.add_argument("--stability", type=int, default=0, metavar="N",
                   help="print how often N single-initialisation k-means seeds find the grouping")
    c.add_argument("--task-file", help="the task file whose tasks the matrix holds (checks the names)")
    c.add_argument("--clusters-out", metavar="FILE",
                   help="write the groups as HMNet clusters (JSON for `hmnet train --clusters-json @FILE`)")
    c.set_defaults(func=run_cluster)


def _registry(args):
    """The tasks the arguments can name: the 13, and those of --task-file."""
    from hmnet.config_checks import task_registry

    if args.task_file is not None and not Path(args.task_file).expanduser().is_file():
        raise UsageError(f"--task-file {args.task_file}: no such file")
    return task_registry(args.task_file)


def _tasks(text: str | None):
    return None if not text else [t for t in text.replace(",", " ").split() if t]


def _seeds(text: str) -> list[int]:
    parts = text.replace(",", " ").split()
    if not parts or not all(p.isascii() and p.isdigit() for p in parts):
        raise UsageError(f"--seeds expects comma-separated non-negative integers such as 0,1,2, got {text!r}")
    seeds = [int(p) for p in parts]
    for s in seeds:
        int_in_range(s, "--seeds", 0, SEED_MAX)
    return seeds


def _check_tokenizer(name: str) -> None:
    """The tokenizer that defines WordPiece tokens must load: a known backbone or a local model folder."""
    from hmnet.backbone import load_tokenizer, resolve

    key = resolve(name)
    if key.startswith(("/", ".", "~")) and not Path(key).expanduser().is_dir():
        raise UsageError(f"--tokenizer {name}: no such model folder")
    if key == "tiny":
        return
    try:
        if load_tokenizer(key) is None:
            raise UsageError(f"--tokenizer {name!r}: this backbone has no tokenizer")
    except (OSError, ValueError, ModuleNotFoundError) as err:
        if isinstance(err, UsageError):
            raise
        raise UsageError(f"--tokenizer {name!r} cannot be loaded ({' '.join(str(err).split())})") from err


def _check_relevance_args(args) -> None:
    """Checks that need no computation (and, for --measure model, come before any training)."""
    from hmnet.analysis import relevance as rel
    from hmnet.tasks import TASK_NAMES

    names = _tasks(args.tasks)
    if args.tasks is not None and not names:
        raise UsageError(f"--tasks names no task: {args.tasks!r}")
    registry = _registry(args)
    tasks = registry.resolve(names) if names else (registry.file_tasks or None)
    if args.out:
        output_file(args.out, "--out")
    if args.measure == "manual":
        return
    n = len(tasks) if tasks else len(TASK_NAMES)
    if args.measure == "vocab":
        source = args.source or ("directory" if args.data_dir else "synthetic")
        if source == "directory" and (tasks is None or any(registry.get(t).builtin for t in tasks)):
            if not args.data_dir:
                raise UsageError("the directory source needs --data-dir")
            input_folder(args.data_dir, "--data-dir")
            config = rel.VocabConfig(args.word or rel.DEFAULT_VOCAB.word, args.splits or rel.DEFAULT_VOCAB.splits,
                                     args.tokenizer)
            if tasks is None:
                found = rel.tasks_with_splits(args.data_dir, [config])
                if not found:
                    raise UsageError(f"--data-dir {args.data_dir}: no task has the files {config.splits!r} needs "
                                     "(expected <TASK>/train.tsv, <TASK>/train.jsonl, ... as in the GLUE/SuperGLUE "
                                     "downloads)")
                n = len(found)
    else:
        _seeds(args.seeds)
        if tasks is not None and len(tasks) < 2:
            raise UsageError(f"--measure model needs at least two tasks, got {list(tasks)}")
        output_folder(args.results_dir, "--results-dir")
    int_in_range(args.k, "--k", 0, n)
    if args.measure == "vocab" and rel.VocabConfig(args.word or rel.DEFAULT_VOCAB.word).needs_tokenizer:
        _check_tokenizer(args.tokenizer)  # last: it loads the tokenizer


def _side_by_side(ours: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """Cells "ours (paper)" over the tasks of `ours`."""
    tasks = list(ours.index)
    cells = [[f"{ours.loc[s, t]:6.2f} ({paper.loc[s, t]:6.2f})" for t in tasks] for s in tasks]
    return pd.DataFrame(cells, index=pd.Index(tasks, name="source"), columns=pd.Index(tasks, name="target"))


def _print_groups(matrix: pd.DataFrame, k: int) -> None:
    from hmnet.analysis.clustering import format_groups, kmeans_groups

    if 1 <= k <= len(matrix):
        print(f"\nk-means (k={k}, rows as features): {format_groups(kmeans_groups(matrix, k))}")


def _vocab(args) -> pd.DataFrame:
    from hmnet.analysis import relevance as rel
    from hmnet.paper import table2

    source = args.source or ("directory" if args.data_dir else "synthetic")
    config = rel.VocabConfig(args.word or rel.DEFAULT_VOCAB.word, args.splits or rel.DEFAULT_VOCAB.splits,
                             args.tokenizer)
    registry = _registry(args)
    tasks = _tasks(args.tasks) or (list(registry.file_tasks) or None)
    cache = rel.VocabularyCache(source, args.data_dir if source == "directory" else None, registry=registry)
    ours = rel.vocab_relevance(tasks, config=config, cache=cache, normalize=args.normalize)
    own = [t for t in ours.index if not registry.get(t).builtin]
    print(f"Vocabulary co-occurrence, Eq. ({'2' if args.normalize == 'target' else '1'}), percent; "
          f"row = source s, column = target t; words: {config.label}; source: {source}"
          + (f" ({', '.join(own)}: {args.task_file})" if own else ""))
    if source == "directory" and args.normalize == "target" and not own:
        errs = rel.paper_errors(ours)
        print("cells: ours (Table 2)\n")
        with pd.option_context("display.width", 250, "display.max_columns", None):
            print(_side_by_side(ours, table2()).to_string())
        print(f"\nmean absolute error {errs['mae']:.3f} points, max {errs['max_error']:.3f} "
              f"over {errs['cells']} off-diagonal cells")
        if not args.no_candidates:
            table = rel.vocab_candidates_table(args.data_dir, tasks=list(ours.index), cache=cache)
            print("\nCandidate word definitions against Table 2 (percentage points):\n")
            print(table[["word", "splits", "mae", "max_error", "cells", "default"]]
                  .to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    else:
        with pd.option_context("display.width", 250, "display.max_columns", None):
            print(ours.round(2).to_string())
    return ours


def _model(args) -> pd.DataFrame:
    from hmnet.analysis import relevance as rel

    from hmnet.profiles import get_profile
    from hmnet.sections.pairwise import plan_runs as pairwise_plan

    try:
        from hmnet.train import run_plan
    except ModuleNotFoundError as err:
        raise SystemExit(f"hmnet relevance --measure model needs the trainer (hmnet.train): {err}") from None
    seeds = _seeds(args.seeds)
    profile = get_profile(args.profile, **({"task_file": args.task_file} if args.task_file else {}))
    plan = pairwise_plan(profile, _tasks(args.tasks), seeds)
    print(f"training {len(plan)} runs (profile {args.profile}, seeds {seeds}); results in {args.results_dir}")
    results = run_plan(plan, args.results_dir)
    matrix = rel.model_relevance_from_results(results)
    print("Model-based relevance, Eq. (4), percent: gain of target t (column) when trained with source s (row)\n")
    with pd.option_context("display.width", 250, "display.max_columns", None):
        print(matrix.round(2).to_string())
    return matrix


def run_relevance(args) -> int:
    from hmnet.analysis import relevance as rel

    _check_relevance_args(args)
    if args.measure == "manual":
        from hmnet.analysis.clustering import format_groups

        registry = _registry(args)
        tasks = _tasks(args.tasks) or (list(registry.file_tasks) or None)
        print("Manual design (Section 4.1):", format_groups(rel.manual_grouping(tasks, registry)))
        return 0
    matrix = _vocab(args) if args.measure == "vocab" else _model(args)
    _print_groups(matrix, 3 if args.k is None else args.k)
    if args.out:
        try:
            path = rel.save_matrix(matrix, args.out, meta={"measure": args.measure} if args.out.endswith(".json")
                                   else None)
        except OSError as err:
            raise UsageError(f"--out {args.out}: cannot be written ({err.strerror or err})") from None
        print(f"\nsaved {path}")
    return 0


def _checked_matrix(matrix: pd.DataFrame, path: str) -> pd.DataFrame:
    """A loaded matrix that k-means can use: square, the same tasks in the same order on both axes, no gaps."""
    if list(matrix.index) != list(matrix.columns):
        raise DataError(f"{path}: a relevance matrix needs the same tasks in the same order as rows and columns; "
                        f"rows {list(matrix.index)}, columns {list(matrix.columns)}")
    missing = [(s, t) for s in matrix.index for t in matrix.columns if pd.isna(matrix.loc[s, t])]
    if missing:
        s, t = missing[0]
        raise DataError(f"{path}: the value of row {s}, column {t} is missing"
                        f"{f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''}; k-means needs every cell")
    return matrix


def _write_clusters(args, groups) -> None:
    """The groups as HMNet clusters ({"g1": [tasks], ...}), and the command that trains that HMNet."""
    import json
    import shlex

    from hmnet.files import atomic_write

    clusters = {f"g{i}": list(g) for i, g in enumerate(groups, 1)}
    atomic_write(args.clusters_out, json.dumps(clusters, indent=1) + "\n")
    tasks = ",".join(t for g in groups for t in g)
    extra = f" --task-file {shlex.quote(args.task_file)}" if args.task_file else ""
    print(f"\nclusters written to {args.clusters_out}; train this HMNet with:\n  hmnet train --method hmnet "
          f"--tasks {tasks}{extra} --clusters-json @{shlex.quote(args.clusters_out)}")


def run_cluster(args) -> int:
    from hmnet.analysis import clustering as cl
    from hmnet.paper import PAPER_GROUPINGS, table2, table3
    from hmnet.analysis.relevance import load_matrix

    if args.from_paper:
        matrix = table2() if args.from_paper == "table2" else table3()
        reference = PAPER_GROUPINGS["data" if args.from_paper == "table2" else "model"]
        what = f"the paper's {args.from_paper.replace('table', 'Table ')}"
    else:
        matrix, reference = _checked_matrix(load_matrix(Path(args.matrix)), args.matrix), None
        what = args.matrix
    registry = _registry(args)
    unknown = [t for t in matrix.index if t not in registry]
    if args.task_file and unknown:
        raise DataError(f"{args.matrix}: task(s) {unknown} are neither built-in nor in {args.task_file}")
    if args.clusters_out:
        output_file(args.clusters_out, "--clusters-out")
    int_in_range(args.k, "--k", 1, len(matrix))
    int_in_range(args.n_init, "--n-init", 1, MAX_RUNS)
    int_in_range(args.seed, "--seed", 0, SEED_MAX)
    int_in_range(args.stability, "--stability", 0, MAX_RUNS)
    if args.silhouette and len(matrix) < 3:
        raise UsageError(f"--silhouette needs a matrix of at least 3 tasks, {what} has {len(matrix)}")
    kw = dict(features=args.features, standardize=args.standardize, include_diagonal=not args.no_diagonal)
    res = cl.kmeans(matrix, args.k, seed=args.seed, n_init=args.n_init, **kw)
    print(f"k-means on {what}: k={args.k}, n_init={args.n_init}, seed={args.seed}, features={args.features}"
          f"{', standardized' if args.standardize else ''}{', no diagonal' if args.no_diagonal else ''}")
    print(f"groups: {cl.format_groups(res.groups)}   (inertia {res.inertia:.1f})")
    tasks = list(matrix.index)
    if reference is not None:
        ari = cl.agreement(res.groups, reference)
        print(f"Appendix A:   {cl.format_groups(reference)}")
        print(f"ARI vs Appendix A: {ari:.3f}{'  (reproduced exactly)' if res.groups == reference else ''}")
    manual = (cl.canonical_groups(registry.manual_groups(tasks)) if registry.file_tasks
              else cl.restrict(PAPER_GROUPINGS["manual"], tasks))
    print(f"ARI vs the manual design: {cl.agreement(res.groups, manual, tasks):.3f}")
    if args.clusters_out:
        _write_clusters(args, res.groups)
    if args.silhouette:
        ks = [k for k in range(2, 7) if k <= len(tasks) - 1]
        print("\n" + cl.silhouette_table(matrix, ks, n_init=args.n_init, seed=args.seed, **kw)
              .to_string(float_format=lambda v: f"{v:.3f}"))
    if args.stability:
        st = cl.seed_stability(matrix, args.k, seeds=range(args.stability), n_init=1,
                               reference=reference or res.groups, **kw)
        print(f"\n{args.stability} single-initialisation seeds: {st.reproduced_share:.0%} give the reference "
              f"grouping, mean ARI {st.mean_ari:.3f}")
        print(st.groupings.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
        off = st.coassignment.to_numpy()[~np.eye(len(tasks), dtype=bool)]
        print(f"co-assignment: {np.mean((off > 0) & (off < 1)):.0%} of task pairs are split in some seeds")
    return 0
