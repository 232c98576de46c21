"""Encoding (paper Section 4.3): Examples to token ids, `[CLS] a [SEP] b [SEP]` and `[CLS] q [SEP] p [SEP] a [SEP]`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from hmnet.data.examples import Example, TaskData
from hmnet.errors import DataError
from hmnet.tasks import TaskRegistry, get_task


@dataclass
class EncodedSplit:
    input_ids: list[list[int]]
    token_type_ids: list[list[int]]
    labels: np.ndarray
    groups: list[str] | None = None

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(x) for x in self.input_ids), dtype=np.int64, count=len(self.input_ids))


@dataclass
class EncodedTask:
    task: str
    splits: dict[str, EncodedSplit]

    def __getitem__(self, split: str) -> EncodedSplit:
        return self.splits[split]


@dataclass
class TextEncoder:
    """Turns Examples into token ids: `[CLS] a [SEP]`, `[CLS] a [SEP] b [SEP]`, `[CLS] q [SEP] p [SEP] a [SEP]`.

    Each distinct text is tokenized once per TextEncoder (MultiRC repeats its passage for every answer, and
    tasks share sentences), with the backbone's fast tokenizer; segments are then truncated longest-first
    to `max_length`, like the tokenizer's own pair truncation.
    """

    tokenizer: object
    max_length: int = 512
    _cache: dict[str, list[int]] = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if self.max_length < 4:
            raise ValueError(f"max_length must be at least 4, got {self.max_length}")
        self.cls_id = self.tokenizer.cls_token_id
        self.sep_id = self.tokenizer.sep_token_id
        self.pad_id = self.tokenizer.pad_token_id

    def _tokenize(self, texts: Iterable[str]) -> None:
        new = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if new:
            ids = self.tokenizer(new, add_special_tokens=False)["input_ids"]
            self._cache.update(zip(new, ids))

    @property
    def tokenized_texts(self) -> int:
        return len(self._cache)

    def assemble(self, segments: list[list[int]]) -> tuple[list[int], list[int]]:
        segs = [list(s) for s in segments]
        budget = self.max_length - 1 - len(segs)  # [CLS] + one [SEP] per segment
        while sum(map(len, segs)) > budget:
            longest = max(range(len(segs)), key=lambda i: (len(segs[i]), i))
            segs[longest].pop()
        ids, types = [self.cls_id], [0]
        for k, s in enumerate(segs):
            ids += s + [self.sep_id]
            types += [0 if k == 0 else 1] * (len(s) + 1)
        return ids, types

    def encode_examples(self, examples: list[Example]) -> EncodedSplit:
        self._tokenize(t for ex in examples for t in (ex.text_a, ex.text_b, ex.text_c) if t is not None)
        ids, types = [], []
        for ex in examples:
            segs = [self._cache[t] for t in (ex.text_a, ex.text_b, ex.text_c) if t is not None]
            i, tt = self.assemble(segs)
            ids.append(i)
            types.append(tt)
        labels = np.array([ex.label for ex in examples])
        groups = [ex.group for ex in examples] if examples and examples[0].group is not None else None
        return EncodedSplit(ids, types, labels, groups)

    def encode(self, data: TaskData, registry: TaskRegistry | None = None) -> EncodedTask:
        answers = get_task(data.task, registry).has_answers
        for split, rows in data.splits.items():
            if answers and rows and rows[0].text_c is None:
                raise DataError(f"{data.task} {split}: question-passage-answer rows need an answer (text_c)")
        return EncodedTask(data.task, {s: self.encode_examples(rows) for s, rows in data.splits.items()})
