"""Algorithm 1's minibatches (:class:`MultiTaskBatches`), their collation (dynamic padding), padding efficiency."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from hmnet.choices import SAMPLINGS
from hmnet.data.encoding import EncodedSplit


def collate(split: EncodedSplit, indices: Sequence[int], pad_token_id: int = 0,
            pad_to: int | None = None, pin_memory: bool = False) -> dict[str, torch.Tensor]:
    """A padded batch of the given rows: input_ids, attention_mask, token_type_ids, labels.

    Pads to the longest row (dynamic padding), or to `pad_to` when given.
    """
    rows = [split.input_ids[i] for i in indices]
    width = pad_to or max(map(len, rows))
    n = len(rows)
    ids = torch.full((n, width), pad_token_id, dtype=torch.long)
    types = torch.zeros((n, width), dtype=torch.long)
    mask = torch.zeros((n, width), dtype=torch.long)
    for r, i in enumerate(indices):
        row = split.input_ids[i]
        ids[r, :len(row)] = torch.tensor(row)
        types[r, :len(row)] = torch.tensor(split.token_type_ids[i])
        mask[r, :len(row)] = 1
    labels = split.labels[np.asarray(indices)]
    label_t = torch.tensor(labels, dtype=torch.float32 if labels.dtype.kind == "f" else torch.long)
    batch = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types, "labels": label_t}
    if pin_memory:
        batch = {k: v.pin_memory() for k, v in batch.items()}
    return batch



@dataclass
class MultiTaskBatches:
    """Algorithm 1: pack each task into minibatches, merge all of them, shuffle, every epoch.

    Each batch holds rows of one task. With ``sampling="proportional"`` (the paper) every training
    example is visited exactly once per epoch. With ``"temperature"`` the number of batches of task t is
    proportional to n_t^(1/T) (same total), drawing rows without replacement until a task's rows run out
    and then reshuffling. ``group_by_length`` sorts rows by length inside chunks of ``length_chunk`` batches
    of the epoch's shuffled order before packing, which cuts padding without changing which rows an epoch
    visits. A chunk larger than a task's rows (v1's 100 batches on 1,000 rows) sorts the whole task, so its
    batches are the same blocks by length rank in every epoch and only their order changes; a small chunk
    (8 batches) keeps most of the saving and draws new batches every epoch.
    The order is a pure function of (seed, epoch): a resumed run replays it exactly.
    """

    sizes: dict[str, int]
    batch_size: int
    seed: int = 0
    sampling: str = "proportional"
    temperature: float = 2.0
    lengths: dict[str, np.ndarray] | None = None
    group_by_length: bool = False
    drop_last: bool = False
    length_chunk: int = 100

    def __post_init__(self):
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {self.batch_size}")
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"sampling {self.sampling!r} is unknown; known: {', '.join(SAMPLINGS)}")
        if self.sampling == "temperature" and self.temperature <= 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")
        empty = [t for t, n in self.sizes.items() if n <= 0]
        if empty:
            raise ValueError(f"task(s) {empty} have no training rows")
        if self.length_chunk < 1:
            raise ValueError(f"length_chunk must be a positive number of batches, got {self.length_chunk}")
        if self.group_by_length and self.lengths is None:
            raise ValueError("group_by_length needs the row lengths")

    def _pack(self, task: str, order: np.ndarray) -> list[np.ndarray]:
        bs = self.batch_size
        if self.group_by_length:
            # Sort each chunk of `length_chunk` batches by length and pack it on its own, so no batch
            # straddles two chunks (which would put a chunk's shortest rows beside the next one's longest).
            lengths = self.lengths[task]
            chunk = bs * self.length_chunk
            batches = []
            for start in range(0, len(order), chunk):
                c = order[start:start + chunk]
                c = c[np.argsort(-lengths[c], kind="stable")]
                batches += [c[i:i + bs] for i in range(0, len(c), bs)]
        else:
            batches = [order[i:i + bs] for i in range(0, len(order), bs)]
        if self.drop_last and len(batches) > 1 and len(batches[-1]) < bs:
            batches.pop()
        return batches

    def num_batches(self, epoch: int = 0) -> int:
        return len(self.epoch(epoch))

    def _quota(self) -> dict[str, int]:
        total = sum(math.ceil(n / self.batch_size) for n in self.sizes.values())
        weights = {t: n ** (1.0 / self.temperature) for t, n in self.sizes.items()}
        z = sum(weights.values())
        return {t: max(1, round(total * w / z)) for t, w in weights.items()}

    def epoch(self, epoch: int) -> list[tuple[str, np.ndarray]]:
        rng = np.random.default_rng([self.seed, epoch])
        batches: list[tuple[str, np.ndarray]] = []
        quota = self._quota() if self.sampling == "temperature" else None
        for task in sorted(self.sizes):
            n = self.sizes[task]
            if quota is None:
                order = rng.permutation(n)
            else:
                need = quota[task] * self.batch_size
                order = np.concatenate([rng.permutation(n) for _ in range(math.ceil(need / n))])[:need]
            batches += [(task, b) for b in self._pack(task, order)]
        perm = rng.permutation(len(batches))
        return [batches[i] for i in perm]


def padding_efficiency(lengths: np.ndarray, batches: Iterable[np.ndarray], pad_to: int | None = None) -> float:
    """Real tokens divided by processed tokens (batch rows x padded width)."""
    real = processed = 0
    for b in batches:
        ls = lengths[b]
        real += int(ls.sum())
        processed += len(b) * (pad_to or int(ls.max()))
    return real / processed if processed else 1.0
