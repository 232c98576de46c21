"""Checkpoints for exact resume: RNG states, atomic checkpoint writes, and the newest checkpoint that verifies.

A checkpoint is a folder ``ckpt-<global step>`` in the run's checkpoint directory: the model
(safetensors), the optimizer, scheduler and grad-scaler states (``training_state.pt``), every process's
RNG states (``rng-<rank>.pt``) and ``state.json`` (the position (epoch, step) in the batch order, the
run's counters, and the SHA-256 of every file; itself checksummed). It is written into a temporary
folder and renamed into place, so a ``ckpt-*`` folder is complete; one whose files do not match their
checksums is skipped when resuming. The training loop that writes and reads them is :mod:`hmnet.train`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from hmnet.errors import HmnetError, decode_text
from hmnet.files import canonical_json, fsync_dir, fsync_file
from hmnet.models import load_weights

if TYPE_CHECKING:
    from hmnet.train.runtime import RunContext

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1


class CheckpointError(HmnetError):
    """A checkpoint that cannot be used for this run (another run's, another format, damaged); the message
    says why. :func:`latest_checkpoint` skips such checkpoints with a warning."""


def _sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


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
    found = [p for p in directory.glob("ckpt-*") if p.is_dir() and p.name[5:].isascii() and p.name[5:].isdigit()]
    return sorted(found, key=lambda p: int(p.name[5:]), reverse=True)


def verify_checkpoint(path: Path, key: str) -> dict[str, Any]:
    """The checkpoint's state if it belongs to the run with `key` and every file is present and matches its
    recorded checksum; else :class:`CheckpointError` saying why."""
    try:
        state = json.loads(decode_text((path / "state.json").read_bytes(), path / "state.json"))
    except OSError as err:
        raise CheckpointError(f"state.json cannot be read ({err.strerror or err})") from None
    except json.JSONDecodeError as err:
        raise CheckpointError(f"state.json is not valid JSON ({err.msg}, line {err.lineno})") from None
    except (ValueError, RecursionError) as err:  # DataError from decode_text: not UTF-8 text
        raise CheckpointError(f"state.json is damaged: {err}") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"state.json holds a {type(state).__name__}, not a JSON object")
    checksum = state.pop("checksum", None)
    if checksum != hashlib.sha256(canonical_json(state)).hexdigest():
        raise CheckpointError("state.json checksum mismatch (the file was cut short or edited)")
    if state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"checkpoint format {state.get('format')!r}, this version reads {CHECKPOINT_FORMAT}")
    if state.get("key") != key:
        raise CheckpointError(f"checkpoint of another run (its key {state.get('key')!r}, this run's {key!r})")
    files = state.get("files")
    if not isinstance(files, dict) or not files:
        raise CheckpointError("state.json lists no files")
    for name, digest in files.items():
        file = path / name
        if Path(name).name != name:
            raise CheckpointError(f"state.json lists {name!r}, which is not a file of the checkpoint folder")
        try:
            actual = _sha256_file(file)
        except OSError as err:
            raise CheckpointError(f"{name} cannot be read ({err.strerror or err})") from None
        if actual != digest:
            raise CheckpointError(f"{name} does not match its checksum (cut short or edited)")
    return state


def latest_checkpoint(directory: Path, key: str) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint that verifies; newer ones that do not are skipped with a warning."""
    for path in list_checkpoints(directory):
        try:
            return path, verify_checkpoint(path, key)
        except CheckpointError as err:
            log.warning("skipping checkpoint %s: %s", path, err)
    return None


def run_checkpoint_dir(results_dir: Path, result_name: str) -> Path:
    """Where a run keeps its checkpoints by default: ``checkpoints/<result name without .json>`` beside its
    result (a campaign's runners and the projection of its pending runs look there)."""
    return Path(results_dir) / "checkpoints" / result_name.removesuffix(".json")


def done_fraction(directory: Path, key: str) -> float:
    """How far a run got before it was interrupted: its newest verifying checkpoint's optimizer steps over the
    run's total (0.0 without one)."""
    found = latest_checkpoint(directory, key)
    if found is None:
        return 0.0
    state = found[1]
    total = state.get("total_steps")
    step = state.get("global_step")
    if not isinstance(total, int) or not isinstance(step, int) or total <= 0:
        return 0.0
    return min(1.0, max(0.0, step / total))


def _load_affinity_state(affinity, state: dict | None) -> None:
    if affinity is not None and state is not None:
        affinity.load_state_dict(state)


def save_checkpoint(ckpt_dir: Path, key: str, st: dict, total_steps: int, model, optimizer, scheduler, scaler,
                     ctx: RunContext, save_model) -> bool:
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
            fsync_file(tmp / f"rng-{ctx.rank}.pt")
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
                fsync_file(tmp / f)
            state = {"format": CHECKPOINT_FORMAT, "key": key, "total_steps": total_steps, "world_size": ctx.world,
                     **st, "files": {f: _sha256_file(tmp / f) for f in files}}
            state["checksum"] = hashlib.sha256(canonical_json(state)).hexdigest()
            (tmp / "state.json").write_text(json.dumps(state))
            fsync_file(tmp / "state.json")
            fsync_dir(tmp)
            final = ckpt_dir / name
            if final.exists():  # a leftover of the same step: replaced (older checkpoints are kept)
                shutil.rmtree(final)
            os.replace(tmp, final)  # the checkpoint exists from here on, complete
            fsync_dir(ckpt_dir)
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


def load_checkpoint(path: Path, state: dict, model, optimizer, scheduler, scaler, affinity, rank: int,
                     device: torch.device) -> None:
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


__all__ = ["CHECKPOINT_FORMAT", "CheckpointError", "rng_state", "set_rng_state", "seed_everything", "list_checkpoints",
           "verify_checkpoint", "latest_checkpoint"]
