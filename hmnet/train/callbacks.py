"""Callbacks: analyses the training loop calls without being part of it (LibMTL keeps them apart too).

A callback sees the run at the start of every optimizer step (before the step's batch), carries state
through checkpoints and adds a field to the result. The only one today is :class:`AffinityCallback`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from hmnet import data as hdata
from hmnet.experiments import RunConfig
from hmnet.train.affinity import LookaheadAffinity
from hmnet.train.runtime import RunContext, to_device


class AffinityCallback:
    """Lookahead task affinity (:class:`hmnet.train.affinity.LookaheadAffinity`) measured every
    ``config.affinity_every`` steps on one batch per task, on the main process only.

    Each measurement draws its batches with an RNG of its own and forks torch's, so the training
    trajectory is the same with and without measuring.
    """

    def __init__(self, config: RunConfig):
        self.config = config
        self.affinity = LookaheadAffinity(list(config.tasks))

    def on_step_begin(self, model, splits: dict[str, hdata.EncodedSplit], global_step: int, lr: float,
                      ctx: RunContext) -> None:
        if global_step % self.config.affinity_every != 0 or not ctx.main:
            return
        rng = np.random.default_rng([self.config.seed, global_step, 0xAFF])
        batches = {}
        for t, s in splits.items():
            rows = rng.choice(len(s), size=min(self.config.batch_size, len(s)), replace=False)
            batches[t] = to_device(hdata.collate(s, np.sort(rows), ctx.pad_id), ctx.device)
        with torch.random.fork_rng(devices=[ctx.device] if ctx.device.type == "cuda" else []):
            with ctx.autocast():
                self.affinity.update(model, batches, lr)

    def state_dict(self) -> dict[str, Any]:
        return self.affinity.state_dict()

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        if state is not None:
            self.affinity.load_state_dict(state)

    def result(self):
        return self.affinity.matrix()
