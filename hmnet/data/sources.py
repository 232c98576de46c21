"""One interface over the three sources (hub, directory, synthetic): load, cap by seeded subsampling, carve."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from hmnet import synthetic
from hmnet.choices import CARVE_UNITS, SOURCES
from hmnet.data.directory import find_file, read_split
from hmnet.data.examples import Example, TaskData
from hmnet.data.hub import load_hub_split
from hmnet.data.tabular import read_task_split
from hmnet.errors import DataError
from hmnet.tasks import TaskRegistry, TaskSpec, get_task, resolve_tasks

log = logging.getLogger(__name__)



def subsample(examples: list[Example], max_examples: int | None, seed: int, key: str) -> list[Example]:
    """A seeded subset of at most max_examples rows, in the original order.

    Rows that share a group (MultiRC question) are kept or dropped together so EM stays meaningful.
    """
    if max_examples is None or len(examples) <= max_examples:
        return examples
    rng = np.random.default_rng([seed, synthetic.hash_str(key)])
    if examples[0].group is None:
        keep = np.sort(rng.choice(len(examples), size=max_examples, replace=False))
        return [examples[i] for i in keep]
    groups: dict[str, list[int]] = {}
    for i, ex in enumerate(examples):
        groups.setdefault(ex.group, []).append(i)
    order = rng.permutation(len(groups))
    names = list(groups)
    chosen: list[int] = []
    for g in order:
        rows = groups[names[g]]
        if chosen and len(chosen) + len(rows) > max_examples:
            continue
        chosen.extend(rows)
    return [examples[i] for i in sorted(chosen)]


def load_task(task: str, source: str = "synthetic", data_dir: str | Path | None = None,
              splits: Sequence[str] | None = None, max_examples: int | None = None,
              max_eval_examples: int | None = None, seed: int = 0, scale: float = 1.0,
              carve_train: float | None = None, carve_by: str = "row",
              carve_tasks: Sequence[str] | None = None, registry: TaskRegistry | None = None) -> TaskData:
    """Load the train split and the task's eval splits (or `splits`) from one source.

    `max_examples` caps the train split and `max_eval_examples` the others, each by seeded subsampling.
    With `carve_train` (directory source), a task without a training file gets one carved from its first
    eval file (see :func:`carve`, whose unit `carve_by` names); the TaskData's `source` says so. With
    `carve_tasks` the carve is explicit: exactly the tasks named are carved (from their first eval file), and
    a missing training file of any other task is an error naming it; None (protocol v1) carves every task
    whose training file is absent. A task of a task file (found in `registry`) reads its own files or hub
    dataset whatever `source` says, and is never carved.
    """
    spec = get_task(task, registry)
    if not spec.builtin:
        return _file_task(spec, splits, max_examples, max_eval_examples, seed)
    if source not in SOURCES:
        raise ValueError(f"data source {source!r} is unknown; known: {', '.join(SOURCES)}")
    wanted = list(splits) if splits is not None else ["train", *spec.eval_splits]
    out: dict[str, list[Example]] = {}
    carved = False
    if (source == "directory" and carve_train and "train" in wanted and data_dir is not None
            and _carved(spec.name, data_dir, carve_tasks)):
        # No training file: hold out a seeded share of the first eval file as training rows.
        out.update(carve(spec.name, read_split(spec.name, spec.eval_splits[0], data_dir), carve_train, seed,
                         carve_by))
        wanted = [s for s in wanted if s not in out]
        carved = True
        log.warning("%s", carve_report(spec.name, data_dir, carve_train, carve_by, carve_tasks))
    if source == "directory" and carve_train and data_dir is not None:
        absent = [s for s in wanted if s != "train" and find_file(spec.name, s, data_dir) is None]
        if absent:
            log.warning("%s: no file for eval split(s) %s under %s; evaluating without them",
                        spec.name, absent, data_dir)
            wanted = [s for s in wanted if s not in absent]
    for split in wanted:
        if source == "synthetic":
            rows = [Example(**r) for r in synthetic.generate(spec.name, split, seed=0, scale=scale)]
        elif source == "directory":
            if data_dir is None:
                raise ValueError("the directory source needs data_dir")
            rows = read_split(spec.name, split, data_dir)
        else:
            rows = load_hub_split(spec.name, split)
        out[split] = rows
    for split, rows in out.items():
        cap = max_examples if split == "train" else max_eval_examples
        out[split] = subsample(rows, cap, seed, f"{spec.name}/{split}")
    where = {"directory": f"directory:{data_dir}", "hub": f"hub:{spec.hub.path}"}.get(source, source)
    if carved:
        unit = "rows" if carve_by == "row" else "units of rows that share a text"
        where += f" (train carved from {spec.eval_splits[0]}: {carve_train:.0%} of its {unit})"
    return TaskData(spec.name, out, where)


def _file_task(spec: TaskSpec, splits: Sequence[str] | None, max_examples: int | None,
               max_eval_examples: int | None, seed: int) -> TaskData:
    """A task file's task: its declared splits (or `splits`), capped like any other task's."""
    out = {}
    for split in (list(splits) if splits is not None else ["train", *spec.eval_splits]):
        cap = max_examples if split == "train" else max_eval_examples
        out[split] = subsample(read_task_split(spec, split), cap, seed, f"{spec.name}/{split}")
    where = f"hub:{spec.hub.path}" if spec.files is None else "files:" + ", ".join(
        sorted({str(Path(f).parent) for fs in spec.files.splits.values() for f in fs}))
    return TaskData(spec.name, out, where)


def _carved(task: str, data_dir: str | Path, carve_tasks: Sequence[str] | None) -> bool:
    """Whether a run carves `task`'s training rows (see :func:`load_task`); an undeclared task without its
    training file is an error."""
    if carve_tasks is None:
        return find_file(task, "train", data_dir) is None
    if task in carve_tasks:
        return True
    if find_file(task, "train", data_dir) is None:
        layout = get_task(task).layout
        raise DataError(f"{task}: no training file under {data_dir} (looked for {layout.directory}/"
                        f"{' or '.join(layout.files['train'])}), and {task} is not among the tasks this run "
                        f"carves from an eval file ({', '.join(carve_tasks) or 'none'}); add the file, or "
                        "declare the task in carve_tasks")
    return False


def official_files(task: str, split: str) -> str:
    """The file(s) a task split reads, relative to the data folder: ``RTE/train.tsv``, ``IMDB/train or ...``."""
    layout = get_task(task).layout
    return " or ".join(f"{layout.directory}/{name}" for name in layout.files[split])


def carve_note(task: str, carve_train: float, carve_by: str, declared: bool) -> str:
    """What a run's record says about a carved task (no path of the machine)."""
    spec = get_task(task)
    unit = "rows" if carve_by == "row" else "units of rows that share a text"
    why = ("declared in carve_tasks" if declared else
           f"no {official_files(task, 'train')} in the data folder, and carve_tasks unset (v1 carves every task "
           "without its training file)")
    return f"train carved from {spec.eval_splits[0]} ({carve_train:.0%} of its {unit}; the rest evaluates): {why}"


def carve_report(task: str, data_dir: str | Path, carve_train: float, carve_by: str,
                 carve_tasks: Sequence[str] | None) -> str:
    """The warning a carve logs when its task is loaded (the CLI shows it on stderr)."""
    spec = get_task(task)
    source = official_files(task, spec.eval_splits[0])
    if carve_tasks is not None:
        return (f"{task}: training rows carved from {source} under {data_dir} ({carve_train:.0%}, by {carve_by}), "
                "as the run declares (carve_tasks); the official training file is not read")
    return (f"{task}: no training file under {data_dir} (looked for {official_files(task, 'train')}): carving "
            f"{carve_train:.0%} of {source} into training rows, the rest evaluates. carve_tasks is unset, so every "
            "task without its training file is carved (protocol v1); declare carve_tasks to make a missing file an "
            "error")


def carve_notes(config) -> dict[str, str]:
    """Per carved task of a run (`config` as in :func:`load_run_task`), the note its record keeps."""
    if config.source != "directory" or not config.carve_train or config.data_dir is None:
        return {}
    registry = getattr(config, "registry", None)
    return {t: carve_note(t, config.carve_train, config.carve_by, config.carve_tasks is not None)
            for t in config.tasks if get_task(t, registry).builtin and _carved(t, config.data_dir, config.carve_tasks)}


def check_directory(config) -> None:
    """Before a run reads a data folder (`config` as in :func:`load_run_task`): the folder exists, every task has
    its training file or is carved (an undeclared carve is an error, see :func:`load_task`), and has its
    evaluation file (a carved task: the file it is carved from). A DataError names the missing file."""
    base = Path(config.data_dir)
    if not base.is_dir():
        raise DataError(f"data folder {config.data_dir}: no such folder; pass --data-dir DIR (or set "
                        "HMNET_DATA_DIR) with the GLUE/SuperGLUE/aclImdb files")
    for task in config.tasks:
        spec = get_task(task, getattr(config, "registry", None))
        if not spec.builtin:  # a task file's task reads its own files
            continue
        carved = bool(config.carve_train) and _carved(task, base, config.carve_tasks)
        if not carved and find_file(task, "train", base) is None:
            raise DataError(f"{task}: no training file under {base} (looked for {official_files(task, 'train')}); "
                            "add the file, or carve training rows from its eval file (carve_train, carve_tasks)")
        # As load_task reads them: a carved task needs the eval file it is carved from; with carving on, any
        # other eval file may be absent (evaluated without, with a warning) as long as one is there; without
        # carving, every eval file is read.
        needed = spec.eval_splits[:1] if carved else spec.eval_splits
        absent = [split for split in needed if find_file(task, split, base) is None]
        if absent and (len(absent) == len(needed) or not config.carve_train):
            why = " (its training rows are carved from it)" if carved else ""
            raise DataError(f"{task}: no eval file under {base} (looked for "
                            f"{' or '.join(official_files(task, s) for s in absent)}){why}; add the file")


def carve(task: str, rows: list[Example], share: float, seed: int, by: str = "row") -> dict[str, list[Example]]:
    """Split one eval file into train (`share` of the units) and the task's first eval split, seeded.

    Used by the local profile for tasks whose training file is not available (BoolQ, MNLI, QNLI, SNLI
    and IMDB in the shared bundle). The unit that goes to one side whole is, with ``by="row"`` (protocol v1),
    a row (a MultiRC question's rows stay together); with ``by="text"``, a set of rows linked by any text
    they share (:func:`shared_text_units`): no premise (MNLI, SNLI), context sentence (QNLI), passage
    (BoolQ) or review appears on both sides.
    """
    if not 0 < share < 1:
        raise ValueError(f"carve_train must be between 0 and 1, got {share}")
    if by not in CARVE_UNITS:
        raise ValueError(f"carve_by {by!r} is unknown; known: {', '.join(CARVE_UNITS)}")
    spec = get_task(task)
    if by == "text":
        keys = [str(u) for u in shared_text_units(rows)]
    else:
        keys = [ex.group if ex.group is not None else str(i) for i, ex in enumerate(rows)]
    uniq = list(dict.fromkeys(keys))
    rng = np.random.default_rng([seed, synthetic.hash_str(task + "/carve")])
    train_keys = set(np.array(uniq, dtype=object)[rng.permutation(len(uniq))[:int(len(uniq) * share)]])
    train = [ex for ex, k in zip(rows, keys) if k in train_keys]
    dev = [ex for ex, k in zip(rows, keys) if k not in train_keys]
    return {"train": train, spec.eval_splits[0]: dev}


def shared_text_units(rows: Sequence[Example]) -> list[int]:
    """For each row, the id of its unit: the connected set of rows that share a text (any of text_a, text_b,
    text_c, compared after stripping surrounding whitespace) or a group (a MultiRC question). Union-find over
    the rows; ids are the unit's first row, so they follow the file's order."""
    parent = list(range(len(rows)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[tuple[str, str], int] = {}
    for i, ex in enumerate(rows):
        links = [("text", t.strip()) for t in (ex.text_a, ex.text_b, ex.text_c) if t is not None and t.strip()]
        if ex.group is not None:
            links.append(("group", ex.group))
        for link in links:
            j = first.setdefault(link, i)
            a, b = root(i), root(j)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return [root(i) for i in range(len(rows))]


def load_tasks(tasks: Iterable[str] | None, source: str = "synthetic", **kwargs) -> dict[str, TaskData]:
    return {t: load_task(t, source, **kwargs) for t in resolve_tasks(tasks, kwargs.get("registry"))}


def load_run_task(config, task: str, **overrides) -> TaskData:
    """`task` as a run reads it: `config` (a :class:`hmnet.experiments.RunConfig`, or anything with its data
    fields) gives the source, directory, caps, data seed, scale and carving; `overrides` replace any of
    :func:`load_task`'s keyword arguments (e.g. ``splits=["train"]``)."""
    kwargs = dict(data_dir=config.data_dir, max_examples=config.max_examples,
                  max_eval_examples=config.max_eval_examples, seed=config.data_seed, scale=config.scale,
                  carve_train=config.carve_train, carve_by=config.carve_by, carve_tasks=config.carve_tasks,
                  registry=getattr(config, "registry", None))
    kwargs.update(overrides)
    return load_task(task, config.source, **kwargs)


def train_row_counts(config) -> dict[str, int]:
    """Training rows per task in one epoch of a run (read from the files, after the caps), cached per task and
    data settings (a campaign counts them for every planned run)."""
    return {t: _train_rows(t, _SameData(config)) for t in config.tasks}


class _SameData:
    """A run config as a cache key that two runs reading the same rows share (their ``data_args``)."""

    def __init__(self, config):
        self.config, self.args = config, config.data_args()

    def __hash__(self) -> int:
        return hash(repr(self.args))

    def __eq__(self, other) -> bool:
        return isinstance(other, _SameData) and self.args == other.args


@functools.lru_cache(maxsize=1024)
def _train_rows(task: str, data: _SameData) -> int:
    return len(load_run_task(data.config, task, splits=["train"])["train"])
