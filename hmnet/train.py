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
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import platform
import random
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from hmnet import data as hdata
from hmnet.experiments import RunConfig
from hmnet.metrics import compute_metrics, mean_ci, paper_average, table1_score, task_score
from hmnet.tasks import TASK_NAMES, get_task

log = logging.getLogger(__name__)

RESULT_FORMAT = 1
CHECKPOINT_FORMAT = 1
LOSS_POINTS = 2000  # the stored training-loss curve has at most this many points (bucket means)
BUCKET_BYTES = 25 * 2**20  # gradient all-reduce bucket size (as DDP's default)


class TrainingError(RuntimeError):
    """A run that cannot start or continue; the message says why."""


class BatchOutOfMemoryError(TrainingError):
    """CUDA ran out of memory on one batch; the message names the batch and a grad_accum that fits."""


# ---------------------------------------------------------------------------------------------------------
# results


@dataclass
class Result:
    """One finished run, as stored in its result file."""

    config: RunConfig
    key: str
    metrics: dict[str, dict[str, dict[str, float]]]  # task -> eval split -> metric -> value (0-100)
    scores: dict[str, float | tuple[float, float]]  # Table 1's number(s) per task
    average: float  # Table 1's "Average Score" over this run's tasks
    params: dict[str, Any]  # {"overall": n, "activated": {task: n}, "activated_mean": x}
    wall_time: float  # seconds, all segments of a resumed run, data loading and evaluation included
    examples_per_second: float  # training rows per second of training time (all processes together)
    env: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)  # per epoch: train loss (and metrics)
    train_loss: list[float] = field(default_factory=list)  # bucket means of the per-step loss
    affinity: pd.DataFrame | None = None
    path: Path | None = None
    model_dir: str | None = None

    def score(self, task: str) -> float:
        """One number per task (MNLI: the mean of matched and mismatched)."""
        return task_score(self.scores[get_task(task).name])

    def to_dict(self) -> dict[str, Any]:
        aff = None
        if self.affinity is not None:
            vals = self.affinity.to_numpy(dtype=float)
            aff = {"tasks": list(self.affinity.index),
                   "values": [[None if not math.isfinite(v) else float(v) for v in row] for row in vals]}
        return {"format": RESULT_FORMAT, "key": self.key, "config": self.config.to_dict(),
                "metrics": self.metrics,
                "scores": {t: list(s) if isinstance(s, tuple) else s for t, s in self.scores.items()},
                "average": self.average, "params": self.params, "wall_time": self.wall_time,
                "examples_per_second": self.examples_per_second, "env": self.env, "history": self.history,
                "train_loss": self.train_loss, "affinity": aff, "model_dir": self.model_dir}

    @classmethod
    def from_dict(cls, d: dict[str, Any], config: RunConfig | None = None, path: Path | None = None) -> Result:
        aff = None
        if d.get("affinity"):
            a = d["affinity"]
            vals = np.array([[np.nan if v is None else v for v in row] for row in a["values"]], dtype=float)
            aff = pd.DataFrame(vals, index=a["tasks"], columns=a["tasks"])
            aff.index.name, aff.columns.name = "source", "target"  # as hmnet.relevance matrices
        return cls(config=config or RunConfig.from_dict(d["config"]), key=d["key"], metrics=d["metrics"],
                   scores={t: tuple(s) if isinstance(s, list) else s for t, s in d["scores"].items()},
                   average=d["average"], params=d["params"], wall_time=d["wall_time"],
                   examples_per_second=d["examples_per_second"], env=d["env"], history=d.get("history", []),
                   train_loss=d.get("train_loss", []), affinity=aff, path=path, model_dir=d.get("model_dir"))


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be opened
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, fsync, rename over `path`, fsync the directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def result_path(config: RunConfig, results_dir: str | Path) -> Path:
    return Path(results_dir) / config.result_name()


def write_result(result: Result, results_dir: str | Path) -> Path:
    """Write the result file atomically, with a completeness flag and a checksum of its content."""
    payload = result.to_dict()
    payload["complete"] = True
    payload["checksum"] = hashlib.sha256(_canonical(payload)).hexdigest()
    path = result_path(result.config, results_dir)
    atomic_write_bytes(path, json.dumps(payload, indent=1).encode())
    result.path = path
    return path


def read_result_file(path: str | Path, config: RunConfig | None = None) -> Result | None:
    """A verified result, or None (with a warning) when the file is partial, corrupt or for another key."""
    path = Path(path)
    try:
        payload = json.loads(path.read_text())
        checksum = payload.pop("checksum")
        if not payload.get("complete") or hashlib.sha256(_canonical(payload)).hexdigest() != checksum:
            raise ValueError("incomplete or checksum mismatch")
        if payload.get("format") != RESULT_FORMAT:
            raise ValueError(f"format {payload.get('format')!r}, expected {RESULT_FORMAT}")
        if config is not None and payload["key"] != config.key():
            raise ValueError(f"key {payload['key']} does not match the config's {config.key()}")
        return Result.from_dict(payload, config=config, path=path)
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        log.warning("ignoring result file %s (%s); the run will be recomputed", path, err)
        return None


def load_result(config: RunConfig, results_dir: str | Path) -> Result | None:
    """The stored result of `config`, or None when there is none or it does not verify."""
    return read_result_file(result_path(config, results_dir), config)


def load_results(results_dir: str | Path) -> list[Result]:
    """Every verified result file in a directory (sorted by file name)."""
    out = []
    for path in sorted(Path(results_dir).glob("*.json")):
        r = read_result_file(path)
        if r is not None:
            out.append(r)
    return out


@contextlib.contextmanager
def _run_lock(results_dir: Path, config: RunConfig, enabled: bool = True):
    """An exclusive lock per run (flock; released when the process dies), so that two jobs of a plan
    that ask for the same config do not both train it: the second waits, then finds the result."""
    if not enabled:
        yield
        return
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    lock_dir = results_dir / ".locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / f"{config.method}-{config.key()}.lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("another process is training %s; waiting for it", config.result_name())
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# ---------------------------------------------------------------------------------------------------------
# checkpoints


def _sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch (CPU and CUDA) RNG states, in a form torch.load(weights_only=True) reads."""
    py = random.getstate()
    npst = np.random.get_state()
    out = {"python": (py[0], list(py[1]), py[2]),
           "numpy": (npst[0], torch.from_numpy(npst[1].astype(np.int64)), int(npst[2]), int(npst[3]),
                     float(npst[4])),
           "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state((n[0], n[1].numpy().astype(np.uint32), n[2], n[3], n[4]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    """The one place seeds are set: Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def list_checkpoints(directory: Path) -> list[Path]:
    """Completed checkpoint folders, newest first (temporary folders of interrupted writes excluded)."""
    if not directory.is_dir():
        return []
    found = [p for p in directory.glob("ckpt-*") if p.is_dir()]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]), reverse=True)


def verify_checkpoint(path: Path, key: str) -> dict[str, Any]:
    """The checkpoint's state if every file is present and matches its recorded checksum; else raise."""
    state = json.loads((path / "state.json").read_text())
    checksum = state.pop("checksum", None)
    if checksum != hashlib.sha256(_canonical(state)).hexdigest():
        raise ValueError("state.json checksum mismatch")
    if state.get("format") != CHECKPOINT_FORMAT or state.get("key") != key:
        raise ValueError(f"checkpoint of another run or format (key {state.get('key')})")
    for name, digest in state["files"].items():
        if _sha256_file(path / name) != digest:
            raise ValueError(f"{name} does not match its checksum")
    return state


def latest_checkpoint(directory: Path, key: str) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint that verifies; newer ones that do not are skipped with a warning."""
    for path in list_checkpoints(directory):
        try:
            return path, verify_checkpoint(path, key)
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as err:
            log.warning("skipping checkpoint %s: %s", path, err)
    return None


# ---------------------------------------------------------------------------------------------------------
# evaluation


def _to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    # Pinned host memory + non_blocking lets the copy overlap with compute on CUDA; a no-op on CPU.
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def _predict_rows(model, split: hdata.EncodedSplit, task: str, rows: np.ndarray, batch_size: int,
                  pad_token_id: int, autocast) -> np.ndarray:
    """Predictions (class ids, or scores for regression) for `rows`, in the order of `rows`."""
    device = next(model.parameters()).device
    regression = get_task(task).regression
    out = np.zeros(len(rows), dtype=np.float64 if regression else np.int64)
    order = np.argsort(-split.lengths[rows], kind="stable")  # similar lengths together: less padding
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for i in range(0, len(order), batch_size):
                pos = order[i:i + batch_size]
                batch = _to_device(hdata.collate(split, rows[pos], pad_token_id, pin_memory=device.type == "cuda"),
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
    preds = _predict_rows(model, encoded_split, get_task(task).name, rows, batch_size, pad_token_id,
                          autocast or contextlib.nullcontext)
    return preds, np.asarray(encoded_split.labels)


def _evaluate(model, encoded: dict[str, hdata.EncodedTask], ctx: _Context) -> dict[str, dict[str, dict]]:
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
            metrics[task][split_name] = compute_metrics(task, preds, split.labels, split.groups)
    return metrics


def _scores(metrics: dict[str, dict[str, dict[str, float]]]) -> dict[str, float | tuple[float, float]]:
    return {t: table1_score(t, m) for t, m in metrics.items()}


# ---------------------------------------------------------------------------------------------------------
# the run context: device, precision, processes


@dataclass
class _Context:
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


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 matrix products natively (AVX512-BF16 or AMX): there, bf16 autocast
    roughly halves a BERT training step (MiniLM-L6 here: 2.6 s -> 1.5 s per batch of 32). CPUs without
    these instructions only emulate bf16, which is slower than fp32."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


def resolve_precision(mixed_precision: str, device_type: str) -> str:
    """"auto" means bf16 where the hardware computes it natively (a CUDA device with bf16 support, or a
    CPU with AVX512-BF16/AMX), full precision otherwise. The precision a run used is in its result."""
    if mixed_precision != "auto":
        return mixed_precision
    if device_type == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16"
    if device_type == "cpu" and cpu_has_native_bf16():
        return "bf16"
    return "no"


def _accelerator(mixed_precision: str, cpu: bool):
    """An Accelerator for this run. accelerate keeps one process-wide state; when a previous run of this
    process used another precision, that state is reset (the process group is kept)."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, PartialState

    device_type = "cpu" if cpu or not torch.cuda.is_available() else "cuda"
    precision = resolve_precision(mixed_precision, device_type)
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
    return (config.source, config.data_dir, config.scale, config.carve_train, config.data_seed,
            config.max_examples, config.max_eval_examples, config.backbone, config.max_length)


def load_encoded(config: RunConfig, tokenizer) -> dict[str, hdata.EncodedTask]:
    """Load and tokenize the run's tasks (each text once per run). Runs of a plan that read the same data
    with the same tokenizer reuse the previous run's encoding."""
    args = _data_args(config)
    for k in [k for k in _ENCODED if k[0] != args]:
        del _ENCODED[k]
    encoder = hdata.Encoder(tokenizer, config.max_length)
    out = {}
    for task in config.tasks:
        if (args, task) not in _ENCODED:
            td = hdata.load_task(task, config.source, data_dir=config.data_dir, max_examples=config.max_examples,
                                 max_eval_examples=config.max_eval_examples, seed=config.data_seed,
                                 scale=config.scale, carve_train=config.carve_train)
            if not td.splits.get("train"):
                raise hdata.DataError(f"{task}: no training rows from {td.source}")
            _ENCODED[(args, task)] = encoder.encode(td)
        out[task] = _ENCODED[(args, task)]
    return out


def preflight(config: RunConfig) -> None:
    """Checks that need no training: data files present, backbone depth vs split. Raises early."""
    if config.source == "directory":
        base = Path(config.data_dir)
        if not base.is_dir():
            raise TrainingError(f"data_dir {config.data_dir!r} is not a directory")
        found = hdata.available_tasks(base)
        for t in config.tasks:
            if t not in found:
                raise TrainingError(f"{t}: no files under {base} (found: {sorted(found)})")
            if "train" not in found[t] and not config.carve_train:
                raise TrainingError(f"{t}: no training file under {base}; set carve_train to carve one")
            if not any(s in found[t] for s in get_task(t).eval_splits) and "train" in found[t]:
                raise TrainingError(f"{t}: no eval split file ({', '.join(get_task(t).eval_splits)}) under {base}")
    if config.method == "hmnet" and config.split is not None:
        depth = config.depth
        if depth is not None and sum(config.split) != depth:
            raise TrainingError(f"split {config.split} does not fit backbone {config.backbone} ({depth} layers)")


# ---------------------------------------------------------------------------------------------------------
# optimisation helpers


def make_optimizer(model: torch.nn.Module, config: RunConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW; no weight decay on biases and LayerNorm weights (as BERT); fused kernels on CUDA and CPU
    (on CPU the fused step is about 5x faster than the default for-each one)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or "LayerNorm" in name or name.endswith("bias") else decay).append(p)
    groups = [{"params": decay, "weight_decay": config.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    kwargs = {"fused": True} if device.type in ("cuda", "cpu") else {}
    return torch.optim.AdamW(groups, lr=config.lr, **kwargs)


def make_scheduler(optimizer, total_steps: int, warmup_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up (off by default, as in the paper), then linear decay to 0 at the last step."""
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _all_reduce_path(params: list[torch.nn.Parameter], extra: list[float], world: int) -> list[float]:
    """Sum the gradients of one path over processes (flattened into buckets), plus a few scalars.

    Returns the summed scalars. Parameters that no process produced a gradient for keep grad=None.
    """
    dist = torch.distributed
    device = params[0].device
    flags = [float(p.grad is not None) for p in params] + [float(x) for x in extra]
    meta = torch.tensor(flags, dtype=torch.float64, device=device)
    dist.all_reduce(meta)
    any_grad = meta[:len(params)] > 0
    with_grad = [p for p, used in zip(params, any_grad.tolist()) if used]
    for p in with_grad:
        if p.grad is None:  # another process used it (e.g. this process had no rows): contribute zeros
            p.grad = torch.zeros_like(p)
    bucket: list[torch.nn.Parameter] = []
    size = 0
    for p in with_grad + [None]:
        if p is not None:
            bucket.append(p)
            size += p.grad.numel() * p.grad.element_size()
        if bucket and (p is None or size >= BUCKET_BYTES):
            flat = torch.cat([q.grad.reshape(-1) for q in bucket])
            dist.all_reduce(flat)
            offset = 0
            for q in bucket:
                n = q.grad.numel()
                q.grad.copy_(flat[offset:offset + n].view_as(q.grad))
                offset += n
            bucket, size = [], 0
    return meta[len(params):].tolist()


def _oom_message(task: str, micro: np.ndarray, width: int, shard: int, config: RunConfig, world: int) -> str:
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


def _set_dropout(model: torch.nn.Module, p: float) -> None:
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = p


def _count_params(model) -> dict[str, Any]:
    try:
        from hmnet.params import count_model

        c = count_model(model)
        activated, overall = c.activated, c.overall
    except ImportError:
        def n(ps):
            return sum({id(p): p.numel() for p in ps}.values())
        activated = {t: n(model.path_parameters(t)) for t in model.tasks}
        overall = n(model.parameters())
    return {"overall": int(overall), "activated": {t: int(v) for t, v in activated.items()},
            "activated_mean": float(np.mean(list(activated.values())))}


def _environment(ctx: _Context, model) -> dict[str, Any]:
    import accelerate
    import transformers

    from hmnet.experiments import code_version

    dev = ctx.device
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or platform.machine()
    return {"device": f"{dev.type}: {name}", "num_processes": ctx.world, "mixed_precision": ctx.precision,
            "attn_implementation": getattr(model.encoder_config, "_attn_implementation", None),
            "torch": torch.__version__, "transformers": transformers.__version__,
            "accelerate": accelerate.__version__, "python": platform.python_version(),
            "platform": platform.platform(), "torch_threads": torch.get_num_threads(),
            "code_version": code_version(False)}


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
    ``<results_dir>/models/<method>-<key>`` (``hmnet.models.load_model`` reads it). `cpu` forces the CPU.
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
    accelerator, precision = _accelerator(config.mixed_precision, cpu)
    rank, world = accelerator.process_index, accelerator.num_processes
    with _run_lock(results_dir, config, enabled=rank == 0):
        found = [load_result(config, results_dir) is not None] if rank == 0 else [False]
        if world > 1:
            torch.distributed.broadcast_object_list(found, src=0)
        if found[0] and model_dir is None:  # trained meanwhile by another job
            return load_result(config, results_dir)
        ckpt_dir = Path(checkpoint_dir) if checkpoint_dir else results_dir / "checkpoints" / config.result_name()[:-5]
        result = _train(config, results_dir, ckpt_dir, resume, accelerator, precision, checkpoint_every,
                        checkpoint_minutes, model_dir, progress)
        if rank == 0 and not keep_checkpoints:
            shutil.rmtree(ckpt_dir, ignore_errors=True)
        return result


def _train(config: RunConfig, results_dir: Path, ckpt_dir: Path, resume: bool, accelerator, precision: str,
           checkpoint_every: int | None, checkpoint_minutes: float | None, model_dir: Path | None,
           progress: bool) -> Result:
    from tqdm.auto import tqdm

    from hmnet.backbone import load_backbone
    from hmnet.models import build_model, save_model

    t_start = time.perf_counter()
    device = accelerator.device
    rank, world = accelerator.process_index, accelerator.num_processes
    key = config.key()

    # --- data: load and tokenize every task once ------------------------------------------------------
    seed_everything(config.seed)
    backbone = load_backbone(config.backbone, attn_implementation=config.attn_implementation, seed=config.seed)
    encoded = load_encoded(config, backbone.tokenizer)
    pad_id = backbone.tokenizer.pad_token_id or 0
    train_splits = {t: e["train"] for t, e in encoded.items()}
    ctx = _Context(accelerator, device, rank, world, precision, pad_id, eval_batch_size=2 * config.batch_size)

    # --- model: one path per task; every copy of a layer starts from the backbone's layer ---------------
    model = build_model(config.method, backbone, config.tasks, clusters=config.clusters, split=config.split,
                        seed=config.seed)
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

    # --- Algorithm 1: the batch order, a pure function of (seed, epoch) ---------------------------------
    batches = hdata.MultiTaskBatches({t: len(s) for t, s in train_splits.items()}, config.batch_size,
                                     seed=config.seed, sampling=config.sampling, temperature=config.temperature,
                                     lengths={t: s.lengths for t, s in train_splits.items()}
                                     if config.group_by_length else None, group_by_length=config.group_by_length)
    steps_per_epoch = [batches.num_batches(e) for e in range(config.epochs)]
    total_steps = sum(steps_per_epoch)
    optimizer = make_optimizer(model, config, device)
    scheduler = make_scheduler(optimizer, total_steps, round(config.warmup_ratio * total_steps))
    scaler = accelerator.scaler  # a GradScaler for fp16 on CUDA, else None
    window = max(1, math.ceil(total_steps / LOSS_POINTS))

    affinity = None
    if config.affinity:
        from hmnet.relevance import LookaheadAffinity

        affinity = LookaheadAffinity(list(config.tasks))

    # --- state that a checkpoint carries -----------------------------------------------------------------
    st: dict[str, Any] = {"epoch": 0, "step": 0, "global_step": 0, "elapsed": 0.0, "train_seconds": 0.0,
                          "examples": 0, "history": [], "loss_sum": [0.0] * math.ceil(total_steps / window),
                          "loss_count": [0] * math.ceil(total_steps / window), "epoch_loss": {},
                          "affinity": None}
    found = latest_checkpoint(ckpt_dir, key) if resume else None
    if found is not None:
        path, saved = found
        _load_checkpoint(path, saved, model, optimizer, scheduler, scaler, affinity, rank, device)
        st.update({k: saved[k] for k in st if k in saved})
        if saved["total_steps"] != total_steps:
            raise TrainingError(f"checkpoint {path} was made for {saved['total_steps']} steps, this run has "
                                f"{total_steps}; is it the same config?")
        log.info("%s: resuming from %s (epoch %d, step %d)", config.variant, path.name, st["epoch"], st["step"])
    elif rank == 0 and ckpt_dir.exists() and resume:
        log.info("%s: no usable checkpoint in %s; starting afresh", config.variant, ckpt_dir)

    elapsed_before = st["elapsed"]
    last_ckpt = time.perf_counter()

    def save(epoch: int, step: int) -> None:
        nonlocal last_ckpt
        st.update(epoch=epoch, step=step, elapsed=elapsed_before + time.perf_counter() - t_start,
                  affinity=_affinity_state(affinity))
        _save_checkpoint(ckpt_dir, key, st, total_steps, model, optimizer, scheduler, scaler, ctx, save_model)
        last_ckpt = time.perf_counter()

    bar = tqdm(total=total_steps, initial=st["global_step"], desc=config.variant or config.method, unit="step",
               disable=not (progress and rank == 0), dynamic_ncols=True, leave=False)
    ema = None
    # --- the loop ----------------------------------------------------------------------------------------
    for epoch in range(st["epoch"], config.epochs):
        order = batches.epoch(epoch)  # merge every task's minibatches and shuffle (Algorithm 1)
        first = st["step"] if epoch == st["epoch"] else 0
        for step in range(first, len(order)):
            task, rows = order[step]
            split = train_splits[task]
            t0 = time.perf_counter()
            if affinity is not None and st["global_step"] % config.affinity_every == 0 and rank == 0:
                _measure_affinity(affinity, model, train_splits, config, st["global_step"],
                                  scheduler.get_last_lr()[0], ctx)
            # This process's rows of the global batch, in grad_accum micro-batches.
            shard = rows[rank::world]
            parts = np.array_split(shard, min(config.grad_accum, len(shard))) if len(shard) else []
            loss_acc = torch.zeros((), device=device)
            for micro in parts:
                batch = _to_device(hdata.collate(split, micro, pad_id, pin_memory=device.type == "cuda"), device)
                try:
                    with accelerator.autocast():
                        out = model(task, **batch)
                    # Each micro-batch weighs by its share of the global batch: the summed gradient is
                    # the gradient of the mean loss over the whole batch, on any number of processes.
                    loss = out.loss * (len(micro) / len(rows))
                    accelerator.backward(loss)
                except torch.OutOfMemoryError as err:
                    optimizer.zero_grad(set_to_none=True)
                    with contextlib.suppress(Exception):
                        torch.cuda.empty_cache()
                    raise BatchOutOfMemoryError(_oom_message(task, micro, batch["input_ids"].shape[1],
                                                             len(shard), config, world)) from err
                loss_acc += loss.detach().float()
            want_ckpt = bool(checkpoint_minutes) and time.perf_counter() - last_ckpt > 60 * checkpoint_minutes
            if world > 1:
                # Same task on every process, hence the same path: reduce only its gradients.
                batch_loss, flag = _all_reduce_path(paths[task], [float(loss_acc), float(want_ckpt and rank == 0)],
                                                    world)
                want_ckpt = flag > 0
            else:
                batch_loss = float(loss_acc)
            if scaler is not None:
                scaler.unscale_(optimizer)
            if config.grad_clip:
                torch.nn.utils.clip_grad_norm_([p for p in paths[task] if p.grad is not None], config.grad_clip)
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            scheduler.step()
            # None, not zero: modules off the next batch's path then get no decay or momentum update.
            optimizer.zero_grad(set_to_none=True)

            # --- bookkeeping -----------------------------------------------------------------------------
            g = st["global_step"]
            st["loss_sum"][g // window] += batch_loss
            st["loss_count"][g // window] += 1
            el = st["epoch_loss"].setdefault(f"{epoch}/{task}", [0.0, 0])
            el[0] += batch_loss * len(rows)
            el[1] += len(rows)
            st["global_step"] = g + 1
            st["examples"] += len(rows)
            st["train_seconds"] += time.perf_counter() - t0
            ema = batch_loss if ema is None else 0.95 * ema + 0.05 * batch_loss
            bar.update(1)
            bar.set_postfix(epoch=epoch, task=task, loss=f"{ema:.4f}",
                            ex_s=f"{st['examples'] / max(st['train_seconds'], 1e-9):.0f}", refresh=False)
            due = checkpoint_every and st["global_step"] % checkpoint_every == 0
            if (due or want_ckpt) and step + 1 < len(order):
                save(epoch, step + 1)

        # --- end of epoch: optional evaluation, then a checkpoint at the start of the next epoch ---------
        entry: dict[str, Any] = {"epoch": epoch, "train_loss": {
            t: v[0] / v[1] for k, v in st["epoch_loss"].items() for t in [k.split("/", 1)[1]]
            if k.split("/", 1)[0] == str(epoch)}}
        if config.eval_every_epoch and epoch + 1 < config.epochs:
            m = _evaluate(model, encoded, ctx)
            entry.update(metrics=m, average=paper_average(_scores(m)))
        st["history"].append(entry)
        if epoch + 1 < config.epochs:
            save(epoch + 1, 0)
    bar.close()

    # --- final evaluation and the result file -------------------------------------------------------------
    metrics = _evaluate(model, encoded, ctx)
    scores = _scores(metrics)
    if st["history"]:
        st["history"][-1].update(metrics=metrics, average=paper_average(scores))
    wall = elapsed_before + time.perf_counter() - t_start
    loss_curve = [s / c for s, c in zip(st["loss_sum"], st["loss_count"]) if c]
    result = Result(config=config, key=key, metrics=metrics, scores=scores, average=paper_average(scores),
                    params=_count_params(model), wall_time=wall,
                    examples_per_second=st["examples"] / max(st["train_seconds"], 1e-9),
                    env=_environment(ctx, model), history=st["history"], train_loss=loss_curve,
                    affinity=affinity.matrix() if affinity is not None else None,
                    model_dir=str(model_dir) if model_dir else None)
    if rank == 0:
        if model_dir is not None:
            save_model(model, model_dir)
        write_result(result, results_dir)
        log.info("%s: average %.2f, %.0f s -> %s", config.variant, result.average, wall, result.path)
    ctx.barrier()
    result.path = result_path(config, results_dir)
    return result


def _affinity_state(affinity) -> dict | None:
    return None if affinity is None else affinity.state_dict()


def _load_affinity_state(affinity, state: dict | None) -> None:
    if affinity is not None and state is not None:
        affinity.load_state_dict(state)


def _measure_affinity(affinity, model, splits, config: RunConfig, global_step: int, lr: float, ctx) -> None:
    """One lookahead-affinity measurement on one batch per task, drawn with its own RNG so that the
    training trajectory is the same with and without measuring (torch's RNG is forked too)."""
    rng = np.random.default_rng([config.seed, global_step, 0xAFF])
    batches = {}
    for t, s in splits.items():
        rows = rng.choice(len(s), size=min(config.batch_size, len(s)), replace=False)
        batches[t] = _to_device(hdata.collate(s, np.sort(rows), ctx.pad_id), ctx.device)
    with torch.random.fork_rng(devices=[ctx.device] if ctx.device.type == "cuda" else []):
        with ctx.autocast():
            affinity.update(model, batches, lr)


def _save_checkpoint(ckpt_dir: Path, key: str, st: dict, total_steps: int, model, optimizer, scheduler, scaler,
                     ctx: _Context, save_model) -> bool:
    """Write a checkpoint atomically: a temporary folder, every file fsynced, then one rename.

    Older checkpoints stay until the new one is complete; then all but the newest two are removed. A
    failed write (disk full, ...) is logged and its temporary folder removed; training goes on and the
    previous checkpoints stay usable. Returns whether the checkpoint was written.
    """
    name = f"ckpt-{st['global_step']:09d}"
    tmp = ckpt_dir / f".tmp-{name}"
    failed = False
    if ctx.main:
        try:
            ckpt_dir.mkdir(parents=True, exist_ok=True)
            for stale in ckpt_dir.glob(".tmp-ckpt-*"):
                shutil.rmtree(stale, ignore_errors=True)
            tmp.mkdir()
        except OSError as err:
            failed = _checkpoint_failed(tmp, err)
    failed = ctx.any(failed)
    if not failed:
        try:
            torch.save(rng_state(), tmp / f"rng-{ctx.rank}.pt")  # every process's own RNG streams
            _fsync_file(tmp / f"rng-{ctx.rank}.pt")
        except OSError as err:
            failed = _checkpoint_failed(tmp, err)
        failed = ctx.any(failed)
    if ctx.main and not failed:
        try:
            save_model(model, tmp)
            torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                        "scaler": scaler.state_dict() if scaler is not None else None}, tmp / "training_state.pt")
            files = sorted(p.name for p in tmp.iterdir())
            for f in files:
                _fsync_file(tmp / f)
            state = {"format": CHECKPOINT_FORMAT, "key": key, "total_steps": total_steps, "world_size": ctx.world,
                     **st, "files": {f: _sha256_file(tmp / f) for f in files}}
            state["checksum"] = hashlib.sha256(_canonical(state)).hexdigest()
            (tmp / "state.json").write_text(json.dumps(state))
            _fsync_file(tmp / "state.json")
            _fsync_dir(tmp)
            final = ckpt_dir / name
            if final.exists():  # a leftover of the same step: replaced (older checkpoints are kept)
                shutil.rmtree(final)
            os.replace(tmp, final)  # the checkpoint exists from here on, complete
            _fsync_dir(ckpt_dir)
            for old in list_checkpoints(ckpt_dir)[2:]:
                shutil.rmtree(old, ignore_errors=True)
        except OSError as err:
            failed = _checkpoint_failed(tmp, err)
    ctx.barrier()
    return not failed


def _checkpoint_failed(tmp: Path, err: OSError) -> bool:
    log.error("could not write checkpoint %s (%s); training goes on, the previous checkpoint stays usable",
              tmp.name[5:], err)
    shutil.rmtree(tmp, ignore_errors=True)
    return True


def _load_checkpoint(path: Path, state: dict, model, optimizer, scheduler, scaler, affinity, rank: int,
                     device: torch.device) -> None:
    from hmnet.models import load_weights

    load_weights(model, path)
    model.to(device)
    # On the CPU: optimizer.load_state_dict moves each state tensor to its parameter's device.
    ts = torch.load(path / "training_state.pt", weights_only=True, map_location="cpu")
    optimizer.load_state_dict(ts["optimizer"])
    scheduler.load_state_dict(ts["scheduler"])
    if scaler is not None and ts["scaler"] is not None:
        scaler.load_state_dict(ts["scaler"])
    rng_file = path / f"rng-{rank}.pt"
    if rng_file.exists():
        set_rng_state(torch.load(rng_file, weights_only=True))
    else:
        log.warning("%s has no RNG state for process %d (different process count); reseeding", path, rank)
        seed_everything(1_000_003 + rank)
    _load_affinity_state(affinity, state.get("affinity"))


# ---------------------------------------------------------------------------------------------------------
# plans and summaries


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


def _entries(result: Result) -> dict[str, float]:
    """Table-1 entries of one result: MNLI-m and MNLI-mm separately, other tasks by name."""
    out = {}
    for t, s in result.scores.items():
        if isinstance(s, tuple):
            out[f"{t}-m"], out[f"{t}-mm"] = s
        else:
            out[t] = s
    return out


def summarize(results: Iterable[Result], confidence: float = 0.95) -> pd.DataFrame:
    """Mean, std and a Student-t confidence interval over seeds per variant and Table-1 entry.

    Rows: variant (the config's name, else its method), method, task (MNLI as MNLI-m / MNLI-mm, and
    "Average": Table 1's average over the variant's tasks per seed), n, mean, std, ci_low, ci_high.
    Single-task runs of one task each combine into one "single" variant.
    """
    values: dict[str, dict[str, dict[int, float]]] = {}
    methods: dict[str, str] = {}
    for r in results:
        v = r.config.variant
        methods.setdefault(v, r.config.method)
        for entry, score in _entries(r).items():
            per_seed = values.setdefault(v, {}).setdefault(entry, {})
            if r.config.seed in per_seed:
                raise ValueError(f"summarize: variant {v!r} has two results for {entry} with seed {r.config.seed}; "
                                 "give runs that differ a distinct config name")
            per_seed[r.config.seed] = float(score)
    rank = {t: i for i, t in enumerate(TASK_NAMES)}

    def order(entry: str) -> tuple:
        base = entry[:-3] if entry.endswith("-mm") else entry[:-2] if entry.endswith("-m") else entry
        return (rank.get(base, len(rank)), entry)

    rows = []
    for v, entries in values.items():
        for entry in sorted(entries, key=order):
            rows.append({"variant": v, "method": methods[v], "task": entry,
                         **mean_ci(list(entries[entry].values()), confidence)})
        seeds = sorted({s for e in entries.values() for s in e})
        averages = [paper_average(_avg_scores(entries, s)) for s in seeds]
        rows.append({"variant": v, "method": methods[v], "task": "Average", **mean_ci(averages, confidence)})
    cols = ["variant", "method", "task", "n", "mean", "std", "ci_low", "ci_high"]
    return pd.DataFrame(rows, columns=cols)


def _avg_scores(entries: dict[str, dict[int, float]], seed: int) -> dict[str, Any]:
    """Per-seed scores keyed by task, as paper_average wants them (MNLI as an (m, mm) pair)."""
    out: dict[str, Any] = {}
    for e, vals in entries.items():
        if seed not in vals:
            continue
        if e.endswith("-mm"):
            out.setdefault(e[:-3], [None, None])[1] = vals[seed]
        elif e.endswith("-m") and e[:-2] in TASK_NAMES:
            out.setdefault(e[:-2], [None, None])[0] = vals[seed]
        else:
            out[e] = vals[seed]
    return {t: tuple(x for x in s if x is not None) if isinstance(s, list) else s for t, s in out.items()}


def load_trained_model(config: RunConfig, results_dir: str | Path):
    """The final model of a run trained with ``keep_model=True``."""
    from hmnet.models import load_model

    path = Path(results_dir) / "models" / f"{config.method}-{config.key()}"
    if not (path / "model.safetensors").exists():
        raise FileNotFoundError(f"no saved model for {config.result_name()} in {path}; train with keep_model=True")
    return load_model(path, method=config.method, tasks=config.tasks, clusters=config.clusters,
                      split=config.split)


__all__ = ["Result", "train", "run_plan", "load_result", "load_results", "summarize", "predict",
           "write_result", "read_result_file", "latest_checkpoint", "TrainingError", "BatchOutOfMemoryError",
           "load_trained_model", "preflight"]
