"""The hub source: ``datasets.load_dataset`` with the hub ids in :mod:`hmnet.tasks` (what users run)."""

from __future__ import annotations

from collections.abc import Iterable

from hmnet.data.examples import Example, hub_label
from hmnet.errors import DataError
from hmnet.tasks import get_task


def hub_examples(task: str, rows: Iterable[dict]) -> list[Example]:
    """Map rows with the hub's schema (a `datasets.Dataset` or dicts) to Examples.

    SNLI rows without a gold label (-1) are dropped, as every published SNLI result does.
    """
    spec = get_task(task)
    cols = spec.hub.columns
    out = []
    for i, row in enumerate(rows):
        missing = [c for c in cols.values() if c not in row]
        if missing:
            raise DataError(f"hub {spec.hub.path}/{spec.hub.config} row {i}: missing column(s) {missing}")
        if spec.name == "SNLI" and int(row["label"]) == -1:
            continue
        group = None
        if spec.name == "MultiRC":
            idx = row["idx"]
            group = f"{idx['paragraph']}-{idx['question']}"
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
    ds = datasets.load_dataset(*args, split=spec.hub.splits[split])
    return hub_examples(task, ds)
