"""The trainer: Algorithm 1 with AdamW and linear decay, evaluation, exact resume, and a result cache.

One call of :func:`train` is one run of a :class:`hmnet.experiments.RunConfig`:

1. If the result file ``<results>/<method>-<key>.json`` exists and verifies (complete flag and checksum),
   it is returned without training. A corrupt or partial file is ignored and the run recomputed.
2. Otherwise the data is loaded and tokenized once, the model built, and Algorithm 1 runs: every epoch
   packs each task into minibatches, merges and shuffles them (``hmnet.data.MultiTaskBatches``), and
   every batch goes along its task's path only. Unused modules get no gradient (``zero_grad`` sets
   gradients to None), so AdamW neither decays nor moves them.
3. Checkpoints (model as safetensors, optimizer, scheduler, grad scaler, RNG states and the position
   (epoch, step) in the epoch's batch order, which is a pure function of (seed, epoch)) are written
   atomically every ``checkpoint_every`` steps, every ``checkpoint_minutes`` and at each epoch end. A
   killed run restarted with the same config resumes from the newest checkpoint that verifies; on CPU it
   ends with exactly the metrics of an uninterrupted run.
4. The result (per-task metrics per eval split, Table-1 scores, paper average, parameter counts, wall
   time, throughput, environment) is written atomically, then the checkpoints are removed.

Data parallel (``accelerate launch`` / ``torchrun``): every rank iterates the same global batch order, so
all ranks take the same task, hence the same path, at every step; rank r trains on rows ``r::world`` of
the global batch. The model is not wrapped in DistributedDataParallel (whose unused-parameter search
costs a traversal of the autograd graph every step and which would all-reduce every parameter). Instead,
after the backward pass, only the gradients of that task's path parameters are flattened into buckets and
all-reduced (summed; each rank's loss is already scaled by its share of the global batch, so the sum is
the gradient of the global batch mean). One small extra all-reduce carries, per path parameter, whether
any rank produced a gradient (so parameters no rank used stay at ``grad=None`` and are not moved), the
loss, and rank 0's "checkpoint now" flag. Weights start identical (broadcast from rank 0) and every rank
applies the same update, so they stay identical without further communication. Evaluation is sharded
over ranks and gathered.

The trainer's other parts live beside it: :mod:`hmnet.results` (the result record and file, the cache,
the per-run lock, :func:`summarize`), :mod:`hmnet.train.checkpoint` (RNG states, writing, verifying and
loading checkpoints), :mod:`hmnet.train.optim` (the optimizer, the schedule, the gradient all-reduce) and
:mod:`hmnet.train.runtime` (errors, the process context, precision and accelerator, the run's data,
evaluation); :mod:`hmnet.train.callbacks` holds the affinity measurement. The package
:mod:`hmnet.train` re-exports their public names.
"""

from __future__ import annotations

import contextlib
import logging
import math
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hmnet import data as hdata
from hmnet.backbone import load_backbone
from hmnet.experiments import RunConfig
from hmnet.metrics import paper_average
from hmnet.models import build_model, count_model, load_model, save_model
from hmnet.results import Result, load_result, result_path, run_lock, write_result
from hmnet.train.callbacks import AffinityCallback
from hmnet.train.checkpoint import (latest_checkpoint, load_checkpoint, run_checkpoint_dir, save_checkpoint,
                                    seed_everything)
from hmnet.train.optim import all_reduce_path, make_optimizer, make_scheduler
from hmnet.train.runtime import (BatchOutOfMemoryError, RunContext, TrainingError, evaluate, load_encoded,
                                 make_accelerator, oom_message, preflight, run_environment, scores_of, to_device)

log = logging.getLogger(__name__)

LOSS_POINTS = 2000  # the stored training-loss curve has at most this many points (bucket means)


# ---------------------------------------------------------------------------------------------------------
# helpers (the optimisation ones are in hmnet.train.optim)


def _set_dropout(model: torch.nn.Module, p: float) -> None:
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = p


def _count_params(model) -> dict[str, Any]:
    c = count_model(model)
    return {"overall": int(c.overall), "activated": {t: int(v) for t, v in c.activated.items()},
            "activated_mean": float(np.mean(list(c.activated.values())))}


# ---------------------------------------------------------------------------------------------------------
# the state a checkpoint carries, and the parts of one run


@dataclass
class TrainState:
    """Where a run is and what it has measured so far; saved in every checkpoint (field names are the
    checkpoint's keys) and restored on resume."""

    epoch: int = 0
    step: int = 0  # position in the epoch's batch order
    global_step: int = 0
    elapsed: float = 0.0  # wall seconds of earlier sessions of this run
    train_seconds: float = 0.0
    examples: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    loss_sum: list[float] = field(default_factory=list)  # the loss curve in buckets of `window` steps
    loss_count: list[int] = field(default_factory=list)
    epoch_loss: dict[str, list] = field(default_factory=dict)  # "<epoch>/<task>" -> [loss * rows, rows]
    affinity: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Run:
    """What one run trains with: built once by :func:`_setup`, read by every phase."""

    config: RunConfig
    ctx: RunContext
    model: torch.nn.Module
    encoded: dict[str, hdata.EncodedTask]
    train_splits: dict[str, hdata.EncodedSplit]
    paths: dict[str, list[torch.nn.Parameter]]
    batches: hdata.MultiTaskBatches
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: Any
    total_steps: int
    window: int  # optimizer steps per point of the stored loss curve
    epochs: int  # config.epochs, raised to reach config.min_steps
    affinity: AffinityCallback | None


def _setup(config: RunConfig, accelerator, precision: str) -> Run:
    """Data (loaded and tokenized once), the model (one path per task, every copy of a layer from the
    backbone's layer), Algorithm 1's batch order, the optimizer and the schedule."""
    device = accelerator.device
    rank, world = accelerator.process_index, accelerator.num_processes
    seed_everything(config.seed)
    backbone = load_backbone(config.backbone, attn_implementation=config.attn_implementation, seed=config.seed)
    encoded = load_encoded(config, backbone.tokenizer)
    pad_id = backbone.tokenizer.pad_token_id or 0
    train_splits = {t: e["train"] for t, e in encoded.items()}
    ctx = RunContext(accelerator, device, rank, world, precision, pad_id, eval_batch_size=2 * config.batch_size)
    model = build_model(config.method, backbone, config.tasks, clusters=config.clusters, split=config.split,
                        seed=config.seed, pooling=config.pooling, registry=config.registry)
    del backbone
    if config.dropout is not None:
        _set_dropout(model, config.dropout)
    model.to(device)
    model.train()
    paths = {t: [p for p in model.path_parameters(t) if p.requires_grad] for t in config.tasks}
    if world > 1:
        for tensor in model.state_dict().values():  # identical start on every process
            torch.distributed.broadcast(tensor, src=0)
        # Dropout masks differ per process (as they would for different rows); rank 0 keeps the stream of
        # a single-process run.
        if rank > 0:
            torch.manual_seed(config.seed * 1_000_003 + rank)
    # Algorithm 1: the batch order, a pure function of (seed, epoch).
    batches = hdata.MultiTaskBatches({t: len(s) for t, s in train_splits.items()}, config.batch_size,
                                     seed=config.seed, sampling=config.sampling, temperature=config.temperature,
                                     lengths={t: s.lengths for t, s in train_splits.items()}
                                     if config.group_by_length else None, group_by_length=config.group_by_length,
                                     length_chunk=config.length_chunk)
    epochs = config.epochs_for(batches.num_batches(0))
    total_steps = sum(batches.num_batches(e) for e in range(epochs))
    optimizer = make_optimizer(model, config, device)
    scheduler = make_scheduler(optimizer, total_steps, round(config.warmup_ratio * total_steps))
    return Run(config, ctx, model, encoded, train_splits, paths, batches, optimizer, scheduler,
               scaler=accelerator.scaler,  # a GradScaler for fp16 on CUDA, else None
               total_steps=total_steps, window=max(1, math.ceil(total_steps / LOSS_POINTS)), epochs=epochs,
               affinity=AffinityCallback(config) if config.affinity else None)


def _resume(run: Run, ckpt_dir: Path, resume: bool) -> TrainState:
    """A fresh state, or the newest checkpoint's (model, optimizer, RNG and callback states restored)."""
    points = math.ceil(run.total_steps / run.window)
    state = TrainState(loss_sum=[0.0] * points, loss_count=[0] * points)
    found = latest_checkpoint(ckpt_dir, run.config.key()) if resume else None
    if found is not None:
        path, saved = found
        load_checkpoint(path, saved, run.model, run.optimizer, run.scheduler, run.scaler, run.affinity,
                        run.ctx.rank, run.ctx.device)
        state = TrainState(**{k: saved[k] if k in saved else v for k, v in state.as_dict().items()})
        if saved["total_steps"] != run.total_steps:
            raise TrainingError(f"checkpoint {path} was made for {saved['total_steps']} steps, this run has "
                                f"{run.total_steps}; is it the same config?")
        log.info("%s: resuming from %s (epoch %d, step %d)", run.config.variant, path.name, state.epoch, state.step)
    elif run.ctx.main and ckpt_dir.exists() and resume:
        log.info("%s: no usable checkpoint in %s; starting afresh", run.config.variant, ckpt_dir)
    return state


def _step(run: Run, task: str, rows: np.ndarray, want_ckpt: bool) -> tuple[float, bool]:
    """One optimizer step on one batch of one task, along that task's path only.

    Returns the batch loss and whether any process asks for a checkpoint now.
    """
    config, ctx, model, optimizer = run.config, run.ctx, run.model, run.optimizer
    rank, world, device = ctx.rank, ctx.world, ctx.device
    split = run.train_splits[task]
    # This process's rows of the global batch, in grad_accum micro-batches.
    shard = rows[rank::world]
    parts = np.array_split(shard, min(config.grad_accum, len(shard))) if len(shard) else []
    loss_acc = torch.zeros((), device=device)
    for micro in parts:
        batch = to_device(hdata.collate(split, micro, ctx.pad_id, pin_memory=device.type == "cuda"), device)
        try:
            with ctx.autocast():
                out = model(task, **batch)
            # Each micro-batch weighs by its share of the global batch: the summed gradient is the
            # gradient of the mean loss over the whole batch, on any number of processes.
            loss = out.loss * (len(micro) / len(rows))
            ctx.accelerator.backward(loss)
        except torch.OutOfMemoryError as err:
            optimizer.zero_grad(set_to_none=True)
            with contextlib.suppress(Exception):
                torch.cuda.empty_cache()
            raise BatchOutOfMemoryError(oom_message(task, micro, batch["input_ids"].shape[1], len(shard), config,
                                                     world)) from err
        loss_acc += loss.detach().float()
    if world > 1:
        # Same task on every process, hence the same path: reduce only its gradients.
        batch_loss, flag = all_reduce_path(run.paths[task], [float(loss_acc), float(want_ckpt and rank == 0)], world)
        want_ckpt = flag > 0
    else:
        batch_loss = float(loss_acc)
    _apply_update(run, task)
    return batch_loss, want_ckpt


def _apply_update(run: Run, task: str) -> None:
    """Clip the path's gradients, step AdamW and the schedule, and drop the gradients."""
    if run.scaler is not None:
        run.scaler.unscale_(run.optimizer)
    if run.config.grad_clip:
        torch.nn.utils.clip_grad_norm_([p for p in run.paths[task] if p.grad is not None], run.config.grad_clip)
    if run.scaler is not None:
        run.scaler.step(run.optimizer)
        run.scaler.update()
    else:
        run.optimizer.step()
    run.scheduler.step()
    # None, not zero: modules off the next batch's path then get no decay or momentum update.
    run.optimizer.zero_grad(set_to_none=True)


def _record_step(run: Run, state: TrainState, epoch: int, task: str, n_rows: int, batch_loss: float,
                 seconds: float) -> None:
    g = state.global_step
    state.loss_sum[g // run.window] += batch_loss
    state.loss_count[g // run.window] += 1
    el = state.epoch_loss.setdefault(f"{epoch}/{task}", [0.0, 0])
    el[0] += batch_loss * n_rows
    el[1] += n_rows
    state.global_step = g + 1
    state.examples += n_rows
    state.train_seconds += seconds


def _end_epoch(run: Run, state: TrainState, epoch: int) -> None:
    """The epoch's mean training loss per task and, if asked for, an evaluation (not after the last epoch:
    the final evaluation follows)."""
    entry: dict[str, Any] = {"epoch": epoch, "train_loss": {
        t: v[0] / v[1] for k, v in state.epoch_loss.items() for t in [k.split("/", 1)[1]]
        if k.split("/", 1)[0] == str(epoch)}}
    if run.config.eval_every_epoch and epoch + 1 < run.epochs:
        m = evaluate(run.model, run.encoded, run.ctx)
        entry.update(metrics=m, average=paper_average(scores_of(m, run.config.registry), run.config.registry))
    state.history.append(entry)


class _Checkpointer:
    """Writes checkpoints of the run: the state with the position to resume from."""

    def __init__(self, run: Run, state: TrainState, ckpt_dir: Path, t_start: float, checkpoint_every: int | None,
                 checkpoint_minutes: float | None):
        self.run, self.state, self.ckpt_dir, self.t_start = run, state, ckpt_dir, t_start
        self.every, self.minutes = checkpoint_every, checkpoint_minutes
        self.elapsed_before = state.elapsed
        self.last = time.perf_counter()

    def time_due(self) -> bool:
        return bool(self.minutes) and time.perf_counter() - self.last > 60 * self.minutes

    def step_due(self) -> bool:
        return bool(self.every) and self.state.global_step % self.every == 0

    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.t_start

    def save(self, epoch: int, step: int) -> None:
        run, st = self.run, self.state
        st.epoch, st.step, st.elapsed = epoch, step, self.elapsed()
        st.affinity = run.affinity.state_dict() if run.affinity is not None else None
        save_checkpoint(self.ckpt_dir, run.config.key(), st.as_dict(), run.total_steps, run.model, run.optimizer,
                        run.scheduler, run.scaler, run.ctx, save_model)
        self.last = time.perf_counter()


def _run_epochs(run: Run, state: TrainState, ckpt: _Checkpointer, progress: bool) -> None:
    """Algorithm 1: every epoch merges every task's minibatches, shuffles them and steps through them."""
    from tqdm.auto import tqdm

    config = run.config
    bar = tqdm(total=run.total_steps, initial=state.global_step, desc=config.variant or config.method, unit="step",
               disable=not (progress and run.ctx.main), dynamic_ncols=True, leave=False)
    ema = None
    for epoch in range(state.epoch, run.epochs):
        order = run.batches.epoch(epoch)
        first = state.step if epoch == state.epoch else 0
        for step in range(first, len(order)):
            task, rows = order[step]
            t0 = time.perf_counter()
            if run.affinity is not None:
                run.affinity.on_step_begin(run.model, run.train_splits, state.global_step,
                                           run.scheduler.get_last_lr()[0], run.ctx)
            batch_loss, want_ckpt = _step(run, task, rows, ckpt.time_due())
            _record_step(run, state, epoch, task, len(rows), batch_loss, time.perf_counter() - t0)
            ema = batch_loss if ema is None else 0.95 * ema + 0.05 * batch_loss
            bar.update(1)
            bar.set_postfix(epoch=epoch, task=task, loss=f"{ema:.4f}",
                            ex_s=f"{state.examples / max(state.train_seconds, 1e-9):.0f}", refresh=False)
            if (ckpt.step_due() or want_ckpt) and step + 1 < len(order):
                ckpt.save(epoch, step + 1)
        _end_epoch(run, state, epoch)
        if epoch + 1 < run.epochs:  # a checkpoint at the start of the next epoch
            ckpt.save(epoch + 1, 0)
    bar.close()


def _finish(run: Run, state: TrainState, results_dir: Path, model_dir: Path | None, wall: float,
            model_only: bool = False) -> Result:
    """The final evaluation and the result file (written by the main process; with `model_only`, beside the
    model, leaving the stored result as it was)."""
    config, ctx = run.config, run.ctx
    metrics = evaluate(run.model, run.encoded, ctx)
    scores = scores_of(metrics, config.registry)
    average = paper_average(scores, config.registry)
    if state.history:
        state.history[-1].update(metrics=metrics, average=average)
    loss_curve = [s / c for s, c in zip(state.loss_sum, state.loss_count) if c]
    result = Result(config=config, key=config.key(), metrics=metrics, scores=scores, average=average,
                    params=_count_params(run.model), wall_time=wall,
                    examples_per_second=state.examples / max(state.train_seconds, 1e-9),
                    env=run_environment(ctx, run.model), history=state.history, train_loss=loss_curve,
                    affinity=run.affinity.result() if run.affinity is not None else None,
                    model_dir=model_dir.relative_to(results_dir).as_posix() if model_dir else None,
                    data_notes=hdata.carve_notes(config))
    if ctx.main:
        if model_dir is not None:
            save_model(run.model, model_dir)
        write_result(result, model_dir if model_only else results_dir)
        log.info("%s: average %.2f, %.0f s -> %s", config.variant, result.average, wall, result.path)
    ctx.barrier()
    result.path = result_path(config, results_dir)
    return result


# ---------------------------------------------------------------------------------------------------------
# the public entry points


def train(config: RunConfig, results_dir: str | Path, checkpoint_dir: str | Path | None = None,
          resume: bool = True, *, checkpoint_every: int | None = None, checkpoint_minutes: float | None = 15.0,
          keep_checkpoints: bool = False, keep_model: bool = False, progress: bool = True,
          cpu: bool = False) -> Result:
    """Run `config` (or return its stored result) and write its result file into `results_dir`.

    `checkpoint_dir` defaults to ``<results_dir>/checkpoints/<method>-<key>``; with `resume` a run
    continues from its newest valid checkpoint. Checkpoints are written every `checkpoint_every` optimizer
    steps, every `checkpoint_minutes` and at each epoch end, and removed once the result is written
    (unless `keep_checkpoints`). `keep_model` also saves the final model to
    ``<results_dir>/models/<method>-<key>`` (``hmnet.models.load_model`` reads it); a run whose result is
    stored without a model is trained again for the model, which is saved with that retraining's own result
    beside it, and the stored result stays as it was. `cpu` forces the CPU.
    """
    if not isinstance(config, RunConfig):
        raise TypeError(f"train() needs a RunConfig, got {type(config).__name__}")
    results_dir = Path(results_dir)
    model_dir = results_dir / "models" / f"{config.method}-{config.key()}" if keep_model else None
    cached = load_result(config, results_dir)
    if cached is not None and (model_dir is None or (model_dir / "model.safetensors").exists()):
        log.info("%s: result found in %s", config.variant, cached.path)
        return cached
    preflight(config)
    accelerator, precision = make_accelerator(config.mixed_precision, cpu)
    rank, world = accelerator.process_index, accelerator.num_processes
    with run_lock(results_dir, config, enabled=rank == 0):
        found = [load_result(config, results_dir) is not None] if rank == 0 else [False]
        if world > 1:
            torch.distributed.broadcast_object_list(found, src=0)
        if found[0] and model_dir is None:  # trained meanwhile by another job
            return load_result(config, results_dir)
        ckpt_dir = Path(checkpoint_dir) if checkpoint_dir else run_checkpoint_dir(results_dir, config.result_name())
        result = _train(config, results_dir, ckpt_dir, resume, accelerator, precision, checkpoint_every,
                        checkpoint_minutes, model_dir, progress, model_only=found[0])
        if rank == 0 and not keep_checkpoints:
            shutil.rmtree(ckpt_dir, ignore_errors=True)
        return load_result(config, results_dir) if found[0] else result


def _train(config: RunConfig, results_dir: Path, ckpt_dir: Path, resume: bool, accelerator, precision: str,
           checkpoint_every: int | None, checkpoint_minutes: float | None, model_dir: Path | None,
           progress: bool, model_only: bool = False) -> Result:
    """One run as its phases: set up, resume, the epochs, the final evaluation and result."""
    t_start = time.perf_counter()
    run = _setup(config, accelerator, precision)
    state = _resume(run, ckpt_dir, resume)
    ckpt = _Checkpointer(run, state, ckpt_dir, t_start, checkpoint_every, checkpoint_minutes)
    _run_epochs(run, state, ckpt, progress)
    return _finish(run, state, results_dir, model_dir, ckpt.elapsed(), model_only)


# ---------------------------------------------------------------------------------------------------------
# plans and trained models


def run_plan(configs: Sequence[RunConfig], results_dir: str | Path, progress: bool = True,
             **train_kwargs) -> list[Result]:
    """Run every config in order (stored results are reused), after checking all of them first."""
    from tqdm.auto import tqdm

    configs = list(configs)
    for c in configs:
        if not isinstance(c, RunConfig):
            raise TypeError(f"run_plan needs RunConfigs, got {type(c).__name__}")
        preflight(c)
    out = []
    bar = tqdm(configs, desc="plan", unit="run", disable=not progress, dynamic_ncols=True)
    for c in bar:
        bar.set_postfix_str(f"{c.variant} {'+'.join(c.tasks) if len(c.tasks) < 4 else f'{len(c.tasks)} tasks'} "
                            f"seed {c.seed}")
        out.append(train(c, results_dir, progress=progress, **train_kwargs))
    return out


def load_trained_model(config: RunConfig, results_dir: str | Path):
    """The final model of a run trained with ``keep_model=True``."""
    path = Path(results_dir) / "models" / f"{config.method}-{config.key()}"
    if not (path / "model.safetensors").exists():
        raise FileNotFoundError(f"no saved model for {config.result_name()} in {path}; train with keep_model=True")
    return load_model(path, method=config.method, tasks=config.tasks, clusters=config.clusters,
                      split=config.split)
