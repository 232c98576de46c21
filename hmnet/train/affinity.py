"""Lookahead task affinity (Task Affinity Grouping, Fifty et al., 2021), measured inside one multi-task run
(beyond the paper): ``[s, t] = 100 (1 - L_t(θ - lr ∇L_s) / L_t(θ))``, averaged over training.

It lives with the trainer, which measures it (:class:`hmnet.train.callbacks.AffinityCallback`);
:mod:`hmnet.analysis.relevance` compares it with the pairwise measure."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch


def _params(items: Iterable) -> list:
    """Parameters from path_parameters(): plain tensors or (name, tensor) pairs."""
    out, seen = [], set()
    for item in items:
        p = item[1] if isinstance(item, tuple) else item
        if id(p) not in seen:  # a tied weight counts once
            seen.add(id(p))
            out.append(p)
    return out


class LookaheadAffinity:
    """Inter-task affinity from lookahead steps inside one multi-task run (Fifty et al., 2021).

    ``Z[s, t] = 100 (1 - L_t(θ_s') / L_t(θ))`` where ``θ_s' = θ - lr ∇_θ L_s`` on the parameters shared by
    the paths of s and t (everything else unchanged). Positive: a step on s lowers t's loss. The model
    needs ``model(task, input_ids=..., attention_mask=..., token_type_ids=..., labels=...)`` returning an
    object with ``.loss`` and ``model.path_parameters(task)``. Measurement runs in eval mode (no
    dropout), does not touch ``.grad``, and restores the weights bit for bit and each module's mode.
    Cost per :meth:`measure` with n tasks: n forward+backward passes and n + n² forward-only passes.
    """

    def __init__(self, tasks: Sequence[str]):
        self.tasks = list(tasks)
        if len(set(self.tasks)) != len(self.tasks) or not self.tasks:
            raise ValueError(f"tasks must be a non-empty list without repeats, got {self.tasks}")
        n = len(self.tasks)
        self._sum = np.zeros((n, n))
        self._count = np.zeros((n, n))
        self.seconds = 0.0
        self.forward_passes = 0
        self.backward_passes = 0

    @staticmethod
    def _loss(model, task: str, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        keys = ("input_ids", "attention_mask", "token_type_ids", "labels")
        return model(task, **{k: batch[k] for k in keys if k in batch}).loss

    def measure(self, model, batches: Mapping[str, Mapping[str, torch.Tensor]], lr: float) -> pd.DataFrame:
        """One affinity matrix (percent) from one batch per task; rows = source s, columns = target t."""
        if lr <= 0:
            raise ValueError(f"the lookahead learning rate must be positive, got {lr}")
        tasks = [t for t in self.tasks if t in batches]
        if len(tasks) < 2:
            raise ValueError(f"need batches of at least two of {self.tasks}, got {sorted(batches)}")
        t0 = time.perf_counter()
        modes = {m: m.training for m in model.modules()}
        model.eval()
        paths = {t: _params(model.path_parameters(t)) for t in tasks}
        out = np.full((len(tasks), len(tasks)), np.nan)
        try:
            with torch.no_grad():
                base = {t: float(self._loss(model, t, batches[t])) for t in tasks}
            self.forward_passes += len(tasks)
            for i, s in enumerate(tasks):
                params = [p for p in paths[s] if p.requires_grad]
                with torch.enable_grad():
                    loss = self._loss(model, s, batches[s])
                    grads = torch.autograd.grad(loss, params, allow_unused=True)
                self.forward_passes += 1
                self.backward_passes += 1
                grad_of = {id(p): g for p, g in zip(params, grads) if g is not None}
                for j, t in enumerate(tasks):
                    on_t = {id(p) for p in paths[t]}
                    shared = [p for p in params if id(p) in on_t and id(p) in grad_of]
                    saved = [p.detach().clone() for p in shared]
                    try:
                        with torch.no_grad():
                            for p in shared:
                                p.sub_(lr * grad_of[id(p)])
                            after = float(self._loss(model, t, batches[t]))
                    finally:
                        with torch.no_grad():
                            for p, v in zip(shared, saved):
                                p.copy_(v)
                    self.forward_passes += 1
                    out[i, j] = 100.0 * (1.0 - after / base[t]) if base[t] != 0 else np.nan
        finally:
            for m, was_training in modes.items():
                m.train(was_training)
            self.seconds += time.perf_counter() - t0
        return _frame(out, tasks)

    def update(self, model, batches: Mapping[str, Mapping[str, torch.Tensor]], lr: float) -> pd.DataFrame:
        """Measure once and add it to the running mean; returns this measurement."""
        m = self.measure(model, batches, lr)
        pos = [self.tasks.index(t) for t in m.index]
        vals = m.to_numpy()
        ok = np.isfinite(vals)
        block_sum = self._sum[np.ix_(pos, pos)]
        block_cnt = self._count[np.ix_(pos, pos)]
        block_sum[ok] += vals[ok]
        block_cnt[ok] += 1
        self._sum[np.ix_(pos, pos)] = block_sum
        self._count[np.ix_(pos, pos)] = block_cnt
        return m

    def state_dict(self) -> dict[str, Any]:
        """JSON-able running sums and counters (for checkpoints; :meth:`load_state_dict` restores them)."""
        return {"tasks": list(self.tasks), "sum": self._sum.tolist(), "count": self._count.tolist(),
                "seconds": self.seconds, "forward_passes": self.forward_passes,
                "backward_passes": self.backward_passes}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if list(state["tasks"]) != self.tasks:
            raise ValueError(f"affinity state is for tasks {list(state['tasks'])}, not {self.tasks}")
        n = len(self.tasks)
        total, count = np.asarray(state["sum"], dtype=float), np.asarray(state["count"], dtype=float)
        if total.shape != (n, n) or count.shape != (n, n):
            raise ValueError(f"affinity state matrices must be {n}x{n}, got {total.shape} and {count.shape}")
        self._sum, self._count = total, count
        self.seconds = float(state["seconds"])
        self.forward_passes = int(state["forward_passes"])
        self.backward_passes = int(state["backward_passes"])

    @property
    def measurements(self) -> int:
        return int(self._count.max()) if self._count.size else 0

    def matrix(self) -> pd.DataFrame:
        """The running mean over all updates (NaN where a pair was never measured)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(self._count > 0, self._sum / np.maximum(self._count, 1), np.nan)
        return _frame(mean, self.tasks)


def _frame(values: np.ndarray, tasks: Sequence[str]) -> pd.DataFrame:
    # the orientation of hmnet.analysis.relevance.relevance_frame (rows: source, columns: target)
    df = pd.DataFrame(np.asarray(values, dtype=float), index=list(tasks), columns=list(tasks))
    df.index.name, df.columns.name = "source", "target"
    return df
