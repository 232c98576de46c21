"""Saving and loading a trained model: ``model.safetensors`` and ``model_config.json`` (method, the model's
configuration and the encoder's, and the definitions of its tasks that come from a task file), refusing a
checkpoint that does not match what is asked for."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import AutoConfig, AutoModel

from hmnet.data.taskfile import registry_from_definitions
from hmnet.files import atomic_write
from hmnet.models.config import task_tuple
from hmnet.models.layers import TaskModel
from hmnet.models.model import model_from_spec
from hmnet.tasks import TaskRegistry, get_task

log = logging.getLogger(__name__)

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "model_config.json"
MODEL_FORMAT = 1


class CheckpointMismatchError(ValueError):
    """A checkpoint whose method, tasks, clusters, split or weights differ from what is asked for."""
# ---------------------------------------------------------------------------------------------------------
# Checkpoints


def _dedupe_storage(state: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """safetensors refuses tensors that share memory: keep the first name of each, record the others."""
    first: dict[tuple, str] = {}
    tensors: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    for name, tensor in state.items():
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape),
               tuple(tensor.stride()), tensor.dtype) if tensor.numel() else None
        if key is not None and key in first:
            aliases[name] = first[key]
            continue
        if key is not None:
            first[key] = name
        tensors[name] = tensor.detach().contiguous().cpu()
    return tensors, aliases


def save_model(model: TaskModel, directory: str | Path) -> Path:
    """Write ``model.safetensors`` and ``model_config.json`` into ``directory`` (each atomically)."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors, aliases = _dedupe_storage(model.state_dict())
    meta = {"format": str(MODEL_FORMAT), "aliases": json.dumps(aliases)}
    atomic_write(directory / WEIGHTS_FILE, lambda tmp: save_file(tensors, tmp, metadata=meta))
    description = {"format": MODEL_FORMAT, "method": model.method, "config": model.spec(),
                   "encoder_config": model.encoder_config.to_dict()}
    definitions = model.task_definitions()
    if definitions:  # a model of task-file tasks is self-describing (written only then: older files unchanged)
        description["task_definitions"] = definitions
    text = json.dumps(description, indent=2, sort_keys=True, default=str)
    atomic_write(directory / CONFIG_FILE, lambda tmp: Path(tmp).write_text(text + "\n"))
    return directory


def read_model_config(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / CONFIG_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; is {directory} a checkpoint written by save_model?")
    return json.loads(path.read_text())


def _differences(saved: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    out = []
    for key in ("tasks", "clusters", "split", "task_skills", "skills", "num_labels"):
        if key not in wanted or wanted[key] is None:
            continue
        if key not in saved:
            out.append(f"{key}: the checkpoint's model has none, asked for {wanted[key]}")
        else:
            a, b = saved[key], wanted[key]
            if key == "tasks":
                a, b = sorted(a), sorted(b)
            elif key in ("clusters", "task_skills"):  # names matter: a cluster's weights belong to its tasks
                a = {k: sorted(v) for k, v in a.items()}
                b = {k: sorted(v) for k, v in b.items()}
            elif key == "split":
                a, b = list(a), list(b)
            if a != b:
                out.append(f"{key}: checkpoint has {saved[key]}, asked for {wanted[key]}")
    return out


def _load_state(model: nn.Module, directory: Path) -> None:
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = directory / WEIGHTS_FILE
    state = load_file(str(path))
    with safe_open(str(path), framework="pt") as handle:
        aliases = json.loads((handle.metadata() or {}).get("aliases", "{}"))
    for name, target in aliases.items():
        state[name] = state[target]
    expected = set(model.state_dict())
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise CheckpointMismatchError(f"{path} does not fit the model: missing {missing[:5]}"
                                      f"{' ...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}"
                                      f"{' ...' if len(unexpected) > 5 else ''}")
    own = model.state_dict()
    shapes = [f"{k}: {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own
              if tuple(state[k].shape) != tuple(own[k].shape)]
    if shapes:
        raise CheckpointMismatchError(f"{path}: tensor shapes differ from the model's: {shapes[:5]}")
    model.load_state_dict(state, strict=True)


def saved_registry(saved: Mapping[str, Any]) -> TaskRegistry | None:
    """The tasks a saved model's names refer to: the built-ins, and the task definitions it holds."""
    if not saved.get("task_definitions"):
        return None

    return registry_from_definitions(saved["task_definitions"])


def load_model(directory: str | Path, *, method: str | None = None, tasks: Iterable[str] | None = None,
               clusters: Mapping[str, Iterable[str]] | None = None, split: Sequence[int] | None = None,
               attn_implementation: str | None = None) -> TaskModel:
    """Rebuild a saved model and load its weights.

    Whatever of ``method``, ``tasks``, ``clusters`` and ``split`` is given must match the checkpoint,
    otherwise :class:`CheckpointMismatchError` says what differs (``clusters`` and ``split`` are ignored
    for the baselines, as in :func:`build_model`). Task-file tasks are rebuilt from the definitions saved
    beside the weights.
    """
    directory = Path(directory)
    saved = read_model_config(directory)
    registry = saved_registry(saved)
    if saved.get("format") != MODEL_FORMAT:
        raise CheckpointMismatchError(f"{directory}: checkpoint format {saved.get('format')!r}, "
                                      f"this version reads {MODEL_FORMAT}")
    if method is not None and method != saved["method"]:
        raise CheckpointMismatchError(f"{directory} holds a {saved['method']!r} model, asked for {method!r}")
    if saved["method"] != "hmnet" and (clusters is not None or split is not None):
        log.info("load_model: clusters/split apply to HMNet only and are ignored for %r", saved["method"])
        clusters = split = None  # as build_model does
    wanted: dict[str, Any] = {}
    if tasks is not None:
        wanted["tasks"] = list(task_tuple(tasks, "load_model", registry))
    if clusters is not None:
        wanted["clusters"] = {c: [get_task(t, registry).name for t in ([m] if isinstance(m, str) else m)]
                              for c, m in clusters.items()}
    if split is not None:
        wanted["split"] = list(split)
    problems = _differences(saved["config"], wanted)
    if problems:
        raise CheckpointMismatchError(f"{directory} does not match the requested configuration: "
                                      + "; ".join(problems))
    enc_dict = dict(saved["encoder_config"])
    config = AutoConfig.for_model(enc_dict.pop("model_type"), **enc_dict)
    if attn_implementation:
        config._attn_implementation = attn_implementation
    encoder = AutoModel.from_config(config, add_pooling_layer=False)
    model = model_from_spec(saved["method"], encoder, saved["config"], registry=registry)
    del encoder
    _load_state(model, directory)
    return model


def load_weights(model: TaskModel, directory: str | Path) -> TaskModel:
    """Load a checkpoint into an existing model, refusing a different method, task or cluster map."""
    directory = Path(directory)
    saved = read_model_config(directory)
    if saved["method"] != model.method:
        raise CheckpointMismatchError(f"{directory} holds a {saved['method']!r} model, this is {model.method!r}")
    problems = _differences(saved["config"], model.spec())
    if problems:
        raise CheckpointMismatchError(f"{directory} does not match this model: " + "; ".join(problems))
    _load_state(model, directory)
    return model
