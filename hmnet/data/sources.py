"""One interface over the three sources (hub, directory, synthetic): load, cap by seeded subsampling, carve."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from hmnet import synthetic
from hmnet.choices import CARVE_UNITS, SOURCES
from hmnet.data.directory import find_file, read_split
from hmnet.data.examples import Example, TaskData
from hmnet.errors import DataError
from hmnet.data.hub import load_hub_split
from hmnet.tasks import get_task, resolve_tasks

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
              carve_tasks: Sequence[str] | None = None) -> TaskData:
    """Load the train split and the task's eval splits (or `splits`) from one source.

    `max_examples` caps the train split and `max_eval_examples` the others, each by seeded subsampling.
    With `carve_train` (directory source), a task without a training file gets one carved from its first
    eval file (see :func:`carve`, whose unit `carve_by` names); the TaskData's `source` says so. With
    `carve_tasks` the carve is explicit: exactly the tasks named are carved (from their first eval file), and
    a missing training file of any other task is an error naming it; None (protocol v1) carves every task
    whose training file is absent.
    """
    spec = get_task(task)
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
    return {t: load_task(t, source, **kwargs) for t in resolve_tasks(tasks)}


def load_run_task(config, task: str, **overrides) -> TaskData:
    """`task` as a run reads it: `config` (a :class:`hmnet.experiments.RunConfig`, or anything with its data
    fields) gives the source, directory, caps, data seed, scale and carving; `overrides` replace any of
    :func:`load_task`'s keyword arguments (e.g. ``splits=["train"]``)."""
    kwargs = dict(data_dir=config.data_dir, max_examples=config.max_examples,
                  max_eval_examples=config.max_eval_examples, seed=config.data_seed, scale=config.scale,
                  carve_train=config.carve_train, carve_by=config.carve_by, carve_tasks=config.carve_tasks)
    kwargs.update(overrides)
    return load_task(task, config.source, **kwargs)
