"""What a training run executes on and with: its errors, its process context (device, rank, precision),
the precision and accelerator setup, its data (loaded and tokenized once), evaluation sharded over its
processes, and the environment record of its result. The training loop itself is :mod:`hmnet.train`.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from hmnet import data as hdata
from hmnet.backbone import verify_backbone
from hmnet.errors import HmnetError
from hmnet.experiments import TRAINING_SEMANTICS, RunConfig
from hmnet.metrics import compute_metrics, table1_score
from hmnet.precision import (cpu_has_native_bf16, default_device_type, key_precision, machine_description,
                             resolve_precision)
from hmnet.provenance import code_commit, package_versions
from hmnet.results import PORTABLE_DATA_DIR
from hmnet.tasks import get_task


class TrainingError(HmnetError, RuntimeError):
    """A run that cannot start or continue; the message says why."""


class BatchOutOfMemoryError(TrainingError):
    """CUDA ran out of memory on one batch; the message names the batch and a grad_accum that fits."""


def oom_message(task: str, micro: np.ndarray, width: int, shard: int, config: RunConfig, world: int) -> str:
    """The message of a BatchOutOfMemoryError: the batch's shape and a grad_accum whose micro-batches fit."""
    rows = len(micro)
    suggestion = config.grad_accum
    while math.ceil(shard / suggestion) > max(1, rows // 2) and suggestion < config.batch_size:
        suggestion *= 2
    msg = (f"CUDA out of memory on a {task} batch: {rows} rows x {width} tokens (batch_size "
           f"{config.batch_size} over {world} process(es), grad_accum={config.grad_accum}). ")
    if rows > 1:
        msg += (f"Try grad_accum={suggestion} (micro-batches of about {math.ceil(shard / suggestion)} rows, "
                "same effective batch)")
    else:
        msg += "A single row does not fit: lower max_length"
    return msg + f"; max_length is {config.max_length}."


# ---------------------------------------------------------------------------------------------------------
# the run context: device, precision, processes


@dataclass
class RunContext:
    accelerator: Any
    device: torch.device
    rank: int
    world: int
    precision: str
    pad_id: int
    eval_batch_size: int

    @property
    def main(self) -> bool:
        return self.rank == 0

    def autocast(self):
        return self.accelerator.autocast()

    def barrier(self) -> None:
        if self.world > 1:
            torch.distributed.barrier()

    def any(self, flag: bool) -> bool:
        """Whether `flag` is true on any process."""
        if self.world == 1:
            return flag
        t = torch.tensor([float(flag)], device=self.device)
        torch.distributed.all_reduce(t)
        return bool(t.item() > 0)


THREADS_ENV = "HMNET_TORCH_THREADS"


def apply_thread_setting(default: int | None = None) -> int:
    """Set torch's CPU threads from ``$HMNET_TORCH_THREADS`` if set, else to `default` if given (else leave
    torch's choice). One thread per process pays off when several runs share a small CPU. Returns the
    thread count in use."""
    value = os.environ.get(THREADS_ENV)
    if value:
        try:
            threads = int(value)
        except ValueError:
            threads = 0
        if threads < 1:
            raise ValueError(f"${THREADS_ENV} must be a positive integer, got {value!r}")
        torch.set_num_threads(threads)
    elif default is not None:
        torch.set_num_threads(default)
    return torch.get_num_threads()


def make_accelerator(mixed_precision: str, cpu: bool):
    """An Accelerator for this run. accelerate keeps one process-wide state; when a previous run of this
    process used another precision, that state is reset (the process group is kept)."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, PartialState

    device_type = default_device_type(cpu)
    precision = resolve_precision(mixed_precision, device_type)
    if key_precision(mixed_precision, device_type) != key_precision(mixed_precision):
        raise TrainingError(f"mixed_precision 'auto' resolves to {precision!r} on the {device_type} this run was "
                            f"forced onto, but its cache key was made for {default_device_type()}; pass the "
                            "precision explicitly (--mixed-precision no or bf16)")
    if precision == "fp16" and device_type != "cuda":
        raise TrainingError("mixed_precision 'fp16' needs a CUDA GPU (it trains with a gradient scaler); "
                            "on this machine use 'bf16', 'auto' or 'no'")
    state = AcceleratorState._shared_state
    if state and (state.get("_mixed_precision") != precision or PartialState().device.type != device_type):
        AcceleratorState._reset_state(reset_partial_state=False)
    return Accelerator(mixed_precision=precision, cpu=cpu), precision


# ---------------------------------------------------------------------------------------------------------
# data


_ENCODED: dict[tuple, hdata.EncodedTask] = {}  # the last run's encoded tasks, reused by the next run


def _data_args(config: RunConfig) -> tuple:
    return (*config.data_args(), config.backbone, config.max_length)


def load_encoded(config: RunConfig, tokenizer) -> dict[str, hdata.EncodedTask]:
    """Load and tokenize the run's tasks (each text once per run). Runs of a plan that read the same data
    with the same tokenizer reuse the previous run's encoding."""
    args = _data_args(config)
    for k in [k for k in _ENCODED if k[0] != args]:
        del _ENCODED[k]
    encoder = hdata.TextEncoder(tokenizer, config.max_length)
    out = {}
    for task in config.tasks:
        if (args, task) not in _ENCODED:
            td = hdata.load_run_task(config, task)
            if not td.splits.get("train"):
                raise hdata.DataError(f"{task}: no training rows from {td.source}")
            _ENCODED[(args, task)] = encoder.encode(td, config.registry)
        out[task] = _ENCODED[(args, task)]
    return out


def preflight(config: RunConfig) -> None:
    """Checks that need no training, so that a run that cannot finish does not start: the data (a folder's
    files, named when missing, and its carves; the hub's datasets reachable or cached), the backbone (its folder
    or the hub, :func:`hmnet.backbone.verify_backbone`), backbone depth vs split. Raises early, in one line."""
    if config.data_dir == PORTABLE_DATA_DIR:
        raise TrainingError(f"data_dir is {PORTABLE_DATA_DIR}, the placeholder of a stored record: set "
                            "HMNET_DATA_DIR or pass --data-dir DIR with the data files")
    if config.source == "directory":
        hdata.check_directory(config)  # the built-in tasks' files (a task file's tasks read their own)
    elif config.source == "hub":
        hdata.verify_hub_data([t for t in config.tasks if config.registry.get(t).builtin])
    verify_backbone(config.backbone)
    if config.method == "hmnet" and config.split is not None:
        depth = config.depth
        if depth is not None and sum(config.split) != depth:
            raise TrainingError(f"split {config.split} does not fit backbone {config.backbone} ({depth} layers)")


# ---------------------------------------------------------------------------------------------------------
# evaluation


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    # Pinned host memory + non_blocking lets the copy overlap with compute on CUDA; a no-op on CPU.
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def _predict_rows(model, split: hdata.EncodedSplit, task: str, rows: np.ndarray, batch_size: int,
                  pad_token_id: int, autocast) -> np.ndarray:
    """Predictions (class ids, or scores for regression) for `rows`, in the order of `rows`."""
    device = next(model.parameters()).device
    regression = get_task(task, model.task_registry).regression
    out = np.zeros(len(rows), dtype=np.float64 if regression else np.int64)
    order = np.argsort(-split.lengths[rows], kind="stable")  # similar lengths together: less padding
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for i in range(0, len(order), batch_size):
                pos = order[i:i + batch_size]
                batch = to_device(hdata.collate(split, rows[pos], pad_token_id, pin_memory=device.type == "cuda"),
                                   device)
                batch.pop("labels")
                with autocast():
                    logits = model(task, **batch).logits.float()
                pred = logits if regression else logits.argmax(-1)
                out[pos] = pred.cpu().numpy()
    finally:
        model.train(was_training)
    return out


def predict(model, encoded_split: hdata.EncodedSplit, task: str, batch_size: int = 64, *,
            pad_token_id: int = 0, autocast=None) -> tuple[np.ndarray, np.ndarray]:
    """(predictions, labels) for every row of a split, in dataset order.

    Predictions are class ids, or scores for a regression task. Rows are batched by length internally.
    """
    rows = np.arange(len(encoded_split))
    task = get_task(task, model.task_registry).name
    preds = _predict_rows(model, encoded_split, task, rows, batch_size, pad_token_id,
                          autocast or contextlib.nullcontext)
    return preds, np.asarray(encoded_split.labels)


def evaluate(model, encoded: dict[str, hdata.EncodedTask], ctx: RunContext) -> dict[str, dict[str, dict]]:
    """Metrics per task and eval split; rows are sharded over processes and gathered."""
    metrics: dict[str, dict[str, dict[str, float]]] = {}
    for task, enc in encoded.items():
        metrics[task] = {}
        for split_name, split in enc.splits.items():
            if split_name == "train":
                continue
            rows = np.arange(len(split))[ctx.rank::ctx.world]
            preds = _predict_rows(model, split, task, rows, ctx.eval_batch_size, ctx.pad_id, ctx.autocast)
            if ctx.world > 1:
                gathered: list = [None] * ctx.world
                torch.distributed.all_gather_object(gathered, (rows, preds))
                full = np.zeros(len(split), dtype=preds.dtype)
                for r, p in gathered:
                    full[r] = p
                preds = full
            metrics[task][split_name] = compute_metrics(task, preds, split.labels, split.groups,
                                                        registry=model.task_registry)
    return metrics


def scores_of(metrics: dict[str, dict[str, dict[str, float]]],
              registry=None) -> dict[str, float | tuple[float, float]]:
    return {t: table1_score(t, m, registry) for t, m in metrics.items()}


# ---------------------------------------------------------------------------------------------------------
# the environment a result records


def run_environment(ctx: RunContext, model) -> dict[str, Any]:
    dev = ctx.device
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or platform.machine()
    return {"device": f"{dev.type}: {name}", "machine": machine_description(dev.type), "num_processes": ctx.world,
            "mixed_precision": ctx.precision,
            "attn_implementation": getattr(model.encoder_config, "_attn_implementation", None),
            "python": platform.python_version(), "platform": platform.platform(),
            "torch_threads": torch.get_num_threads(), "training_semantics": TRAINING_SEMANTICS,
            "commit": code_commit(), "packages": package_versions(),
            # kept at the top level for readers of older records
            "torch": torch.__version__, "transformers": package_versions()["transformers"],
            "accelerate": package_versions()["accelerate"]}


__all__ = ["TrainingError", "BatchOutOfMemoryError", "cpu_has_native_bf16", "resolve_precision", "load_encoded",
           "preflight", "predict"]
