"""The hub source: ``datasets.load_dataset`` with the hub ids in :mod:`hmnet.tasks` (what users run), through
:func:`hmnet.remote.hub_load` (a probe of the hub with bounded retries, the offline mode, one-line errors)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from hmnet.data.examples import Example, hub_label
from hmnet.errors import DataError
from hmnet.remote import NotCachedError, hub_load
from hmnet.tasks import get_task

DATA_FIX = "pass --source directory --data-dir DIR with the GLUE/SuperGLUE/aclImdb files (the local profile)"


def hub_examples(task: str, rows: Iterable[dict]) -> list[Example]:
    """Map rows with the hub's schema (a `datasets.Dataset` or dicts) to Examples.

    Rows without a gold label (SNLI's -1: ``HubSource.unlabelled``) are dropped, as every published SNLI result
    does; ``HubSource.group`` gives a row's group (MultiRC's question).
    """
    spec = get_task(task)
    cols = spec.hub.columns
    out = []
    for i, row in enumerate(rows):
        missing = [c for c in cols.values() if c not in row]
        if missing:
            raise DataError(f"hub {spec.hub.path}/{spec.hub.config} row {i}: missing column(s) {missing}")
        if spec.hub.unlabelled is not None and int(row["label"]) == spec.hub.unlabelled:
            continue
        group = None
        if spec.hub.group is not None:
            column, keys = spec.hub.group
            group = "-".join(str(row[column][k]) for k in keys)
        out.append(Example(text_a=row[cols["text_a"]], text_b=row.get(cols.get("text_b")) if "text_b" in cols
                           else None, text_c=row.get(cols.get("text_c")) if "text_c" in cols else None,
                           label=hub_label(spec, row[cols["label"]], f"hub {spec.name} row {i}"), group=group))
    return out


def load_hub_split(task: str, split: str) -> list[Example]:
    import datasets

    spec = get_task(task)
    if split not in spec.hub.splits:
        raise DataError(f"{spec.name} has no hub split {split!r}; known: {list(spec.hub.splits)}")
    args = (spec.hub.path, spec.hub.config) if spec.hub.config else (spec.hub.path,)

    def load(local_only: bool):
        if local_only and not dataset_cached(spec.hub.path, spec.hub.config):
            raise NotCachedError(f"{spec.hub.path} is not in the datasets cache")
        return datasets.load_dataset(*args, split=spec.hub.splits[split])

    ds = hub_load(_what(spec, split), load, DATA_FIX)
    return hub_examples(task, ds)


def dataset_cached(path: str, config: str | None = None) -> bool:
    """Whether the datasets cache holds a prepared copy of hub dataset `path` (with `config`, of that config): the
    folders ``datasets`` itself falls back to when the hub cannot be reached,
    ``<cache>/<namespace>___<name>/<config>/<version>/<hash>``."""
    from datasets import config
    from datasets.naming import camelcase_to_snakecase

    parts = path.split("/")
    parts[-1] = camelcase_to_snakecase(parts[-1])
    root = Path(config.HF_DATASETS_CACHE) / "___".join(parts)
    return any(p.is_dir() for p in root.glob(f"{config or '*'}/*/*"))


def verify_hub_data(tasks: Iterable[str]) -> None:
    """Before a run reads the hub: a dataset that is not cached needs a reachable hub. The first such dataset is
    checked as :func:`load_hub_split` would load its training rows, so the error is the same one line (within the
    probe's bounded time); the rows themselves load with the run."""
    missing = [get_task(t) for t in tasks if not dataset_cached(get_task(t).hub.path, get_task(t).hub.config)]
    if not missing:
        return
    spec = missing[0]

    def load(local_only: bool) -> None:
        if local_only:
            raise NotCachedError(f"{spec.hub.path} is not in the datasets cache")

    hub_load(_what(spec, "train"), load, DATA_FIX)


def _what(spec, split: str) -> str:
    """How a hub dataset split is named in messages: ``dataset nyu-mll/glue/rte (RTE train)``."""
    return f"dataset {'/'.join(x for x in (spec.hub.path, spec.hub.config) if x)} ({spec.name} {split})"
