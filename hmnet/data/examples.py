"""The rows every source yields (:class:`Example`, :class:`TaskData`) and the official labels they hold."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from hmnet.errors import DataError
from hmnet.tasks import TaskSpec


@dataclass(frozen=True)
class Example:
    text_a: str
    text_b: str | None = None
    text_c: str | None = None
    label: int | float = 0
    group: str | None = None  # MultiRC: the question id that EM and F1a group by


@dataclass
class TaskData:
    task: str
    splits: dict[str, list[Example]]
    source: str

    def __getitem__(self, split: str) -> list[Example]:
        if split not in self.splits:
            raise KeyError(f"{self.task} has no split {split!r}; it has {sorted(self.splits)}")
        return self.splits[split]

    def texts(self, split: str) -> Iterator[str]:
        for ex in self[split]:
            yield from (t for t in (ex.text_a, ex.text_b, ex.text_c) if t)


# labels

# Scores outside these ranges are errors (the official STS-B scores are 0-5).
SCORE_RANGES: dict[str, tuple[float, float]] = {"STS-B": (0.0, 5.0)}


def parse_label(spec: TaskSpec, raw, where: str) -> int | float:
    """Official label -> class index (or float score), with an error naming `where` otherwise."""
    if spec.regression:
        if isinstance(raw, bool):
            raise DataError(f"{where}: label {raw!r} is not a number")
        try:
            value = float(raw)
        except (TypeError, ValueError, OverflowError):
            raise DataError(f"{where}: label {raw!r} is not a number") from None
        if not math.isfinite(value):
            raise DataError(f"{where}: label {raw!r} is not finite")
        low, high = SCORE_RANGES.get(spec.name, (-math.inf, math.inf))
        if not low <= value <= high:
            raise DataError(f"{where}: score {raw!r} is outside {low:g}..{high:g} for {spec.name}")
        return value
    key = str(raw)
    if key not in spec.labels:
        raise DataError(f"{where}: label {raw!r} is not one of {list(spec.labels)} for {spec.name}")
    return spec.labels.index(key)


def hub_label(spec: TaskSpec, raw, where: str) -> int | float:
    if spec.regression:
        return float(raw)
    value = int(raw)
    if not 0 <= value < spec.num_labels:
        raise DataError(f"{where}: label {raw!r} is outside 0..{spec.num_labels - 1} for {spec.name}")
    return value
