"""Trained models in the Hugging Face format: :class:`HMNetForTasks` wraps any of the four models (HMNet,
multi-task, SkillNet-style, single-task) with ``save_pretrained`` / ``from_pretrained`` / ``push_to_hub``
(huggingface_hub's ``PyTorchModelHubMixin``) and ``predict``.

A saved folder holds ``model.safetensors`` (the weights, keys ``model.<name>``), ``config.json`` (the method,
tasks, clusters, split and labels, the model's own configuration, the encoder's configuration, the definitions of
the tasks that come from a task file, and the summary of the run that trained it), the tokenizer's files and a
generated ``README.md`` model card (:mod:`hmnet.models.card`).

Why the mixin and not a ``transformers.PreTrainedModel`` subclass: an hmnet model is a set of paths through
copied encoder layers, called as ``model(task, **batch)``; it fits none of transformers' task heads, pipelines or
Auto classes, so a PreTrainedModel would bring their machinery (a PretrainedConfig subclass, weight
initialisation and renaming on load, remote code to be loaded by AutoModel) without what it is for. The mixin
saves exactly the state dict and a JSON config built from the constructor's arguments, loads strictly, and
uploads the folder as it is; the encoder inside stays a transformers model, rebuilt from its own config.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from huggingface_hub import ModelCard, PyTorchModelHubMixin, snapshot_download
from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer

from hmnet.data.encoding import TextEncoder
from hmnet.data.examples import Example
from hmnet.data.sampling import collate
from hmnet.data.taskfile import registry_from_definitions
from hmnet.errors import HmnetError
from hmnet.models.card import render_card
from hmnet.models.layers import TaskModel
from hmnet.models.model import model_from_spec
from hmnet.tasks import TaskSpec, get_task

HF_FORMAT = 1
FIELDS = ("text_a", "text_b", "text_c")


class PredictError(HmnetError):
    """Inputs `predict` cannot use: a task the model lacks, rows without the task's texts, no tokenizer."""


class HMNetForTasks(nn.Module, PyTorchModelHubMixin, library_name="hmnet",
                    tags=["hmnet", "multi-task-learning", "text-classification"],
                    repo_url="https://github.com/hmnet-companion/hmnet"):
    """One of the four models in the Hugging Face format. Build it with :meth:`from_model` (a trained
    ``TaskModel`` and its tokenizer), or load it with ``from_pretrained(folder or hub id)``."""

    def __init__(self, method: str, model_config: dict, encoder_config: dict, tasks: list | None = None,
                 clusters: dict | None = None, split: list | None = None, labels: dict | None = None,
                 task_definitions: list | None = None, run: dict | None = None, hf_format: int = HF_FORMAT):
        super().__init__()
        if hf_format != HF_FORMAT:
            raise PredictError(f"hmnet model format {hf_format!r}; this version reads {HF_FORMAT}")
        self.registry = registry_from_definitions(task_definitions or [])
        enc = dict(encoder_config)
        config = AutoConfig.for_model(enc.pop("model_type"), **enc)
        encoder = AutoModel.from_config(config, add_pooling_layer=False)
        self.model: TaskModel = model_from_spec(method, encoder, model_config, registry=self.registry)
        del encoder
        described = describe(self.model)
        for name, given in (("tasks", tasks), ("clusters", clusters), ("split", split), ("labels", labels)):
            if given is not None and given != described[name]:
                raise PredictError(f"config.json: {name} {given!r} do not match the model's {described[name]!r}")
        self.run = dict(run or {})
        self.tokenizer = None
        self.eval()

    @classmethod
    def from_model(cls, model: TaskModel, tokenizer=None, run: Mapping[str, Any] | None = None) -> HMNetForTasks:
        """A trained model (its weights copied), with the tokenizer its texts were encoded with and the summary
        of the run that trained it (:func:`hmnet.report.export.run_summary`)."""
        out = cls(method=model.method, model_config=model.spec(), encoder_config=model.encoder_config.to_dict(),
                  task_definitions=model.task_definitions() or None, run=dict(run) if run else None,
                  **describe(model))
        out.model.load_state_dict(model.state_dict(), strict=True)
        out.tokenizer = tokenizer
        return out.eval()

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(self.model.tasks)

    def forward(self, task: str, **batch):
        return self.model(task, **batch)

    # -----------------------------------------------------------------------------------------------------
    # save and load

    def _save_pretrained(self, save_directory: Path) -> None:
        from safetensors.torch import save_model

        save_model(self, str(Path(save_directory) / "model.safetensors"))
        if self.tokenizer is not None:
            self.tokenizer.save_pretrained(str(save_directory))

    @classmethod
    def _from_pretrained(cls, *, model_id: str, revision: str | None, cache_dir, force_download: bool,
                         local_files_only: bool, token, map_location: str = "cpu", **model_kwargs) -> HMNetForTasks:
        from safetensors.torch import load_model

        folder = Path(model_id)
        if not folder.is_dir():

            folder = Path(snapshot_download(model_id, revision=revision, cache_dir=cache_dir, token=token,
                                            force_download=force_download, local_files_only=local_files_only))
        model = cls(**model_kwargs)
        load_model(model, str(folder / "model.safetensors"), strict=True, device=map_location)
        if (folder / "tokenizer_config.json").exists():
            model.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        return model.eval()

    def generate_model_card(self, *args, **kwargs) -> ModelCard:
        return ModelCard(render_card({**describe(self.model), "method": self.model.method, "run": self.run,
                                      "task_info": task_info(self.model)}))

    # -----------------------------------------------------------------------------------------------------
    # predict

    @property
    def max_length(self) -> int:
        given = self.run.get("settings", {}).get("max_length")
        return int(given) if given else min(512, int(self.model.encoder_config.max_position_embeddings))

    def logits(self, task: str, texts: Sequence, batch_size: int | None = None,
               precision: str | None = None) -> torch.Tensor:
        """The head's outputs for `texts` ([N, labels]; [N] for regression), in input order. Rows are encoded as
        in training (the task's format) and batched by length, `batch_size` at a time (default: the run's
        evaluation batches), under `precision` ("no" or "bf16"; default: the run's)."""
        if self.tokenizer is None:
            raise PredictError("this model has no tokenizer: save it with one (HMNetForTasks.from_model(model, "
                               "tokenizer)) or set model.tokenizer")
        spec = self._spec(task)
        if isinstance(texts, (str, Mapping)):
            texts = [texts]
        split = TextEncoder(self.tokenizer, self.max_length).encode_examples(
            [as_example(spec, t, f"row {i + 1}") for i, t in enumerate(texts)])
        size = int(batch_size or self.run.get("eval_batch_size") or 64)
        order = np.argsort(-split.lengths, kind="stable")
        device = next(self.parameters()).device
        out: list[torch.Tensor | None] = [None] * len(split)
        with torch.inference_mode(), self._autocast(precision, device):
            for i in range(0, len(order), size):
                pos = order[i:i + size]
                batch = collate(split, pos, self.tokenizer.pad_token_id)
                batch.pop("labels")
                logits = self.model(spec.name, **{k: v.to(device) for k, v in batch.items()}).logits.float()
                for p, row in zip(pos, logits.cpu()):
                    out[p] = row
        return torch.stack(out) if out else torch.zeros(0)

    def predict(self, task: str, texts: Sequence, batch_size: int | None = None,
                precision: str | None = None) -> list:
        """Labels (the task's label names) or scores (regression) for `texts`: each a string, a sequence of the
        task's texts (a pair; MultiRC's question, passage, answer) or a dict of them (``text_a``... or the
        task's own column names)."""
        spec = self._spec(task)
        logits = self.logits(spec.name, texts, batch_size, precision)
        if spec.regression:
            return [float(v) for v in logits.reshape(-1)]
        return [spec.labels[i] for i in logits.argmax(-1).tolist()]

    def _spec(self, task: str) -> TaskSpec:
        try:
            return get_task(self.model.check_task(task), self.registry)
        except ValueError as err:
            raise PredictError(str(err)) from None

    def _autocast(self, precision: str | None, device: torch.device):
        precision = precision or self.run.get("precision") or "no"
        if precision == "no":
            return contextlib.nullcontext()
        if precision != "bf16":
            raise PredictError(f"precision {precision!r} is not one predict runs; use 'no' or 'bf16'")
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


# ---------------------------------------------------------------------------------------------------------
# helpers


def describe(model: TaskModel) -> dict[str, Any]:
    """What config.json states plainly: the tasks, clusters and split (HMNet), and each task's labels."""
    spec = model.spec()
    hmnet = model.method == "hmnet"
    labels = {}
    for t in model.tasks:
        s = get_task(t, model.task_registry)
        labels[t] = "regression" if s.regression else list(s.labels)
    return {"tasks": list(model.tasks), "clusters": spec["clusters"] if hmnet else None,
            "split": list(spec["split"]) if hmnet else None, "labels": labels}


def task_info(model: TaskModel) -> dict[str, dict[str, Any]]:
    out = {}
    for t in model.tasks:
        s = get_task(t, model.task_registry)
        out[t] = {"category": s.category, "input_format": s.input_format, "labels": list(s.labels),
                  "regression": s.regression, "metric": ", ".join(s.table1_metrics)}
    return out


def text_columns(spec: TaskSpec) -> dict[str, list[str]]:
    """Per text field, the names a row may give it: ours, then the task file's, official and hub columns."""
    out: dict[str, list[str]] = {}
    sources = [spec.files.columns if spec.files else {}, spec.layout.columns if spec.layout else {},
               spec.hub.columns if spec.hub else {}]
    for f in FIELDS:
        names = [f, *(c[f] for c in sources if f in c)]
        if len(names) > 1 or f == "text_a":
            out[f] = list(dict.fromkeys(names))
    return out


def as_example(spec: TaskSpec, row, where: str) -> Example:
    """One input as an Example: a string (one text), a sequence of texts, or a dict (see :func:`text_columns`)."""
    fields = text_columns(spec)
    if isinstance(row, str):
        row = [row]
    if isinstance(row, Mapping):
        texts = []
        for f, names in fields.items():
            name = next((n for n in names if n in row), None)
            if name is None:
                raise PredictError(f"{where}: no {f} for {spec.name} (a key among {', '.join(names)})")
            texts.append(row[name])
    elif isinstance(row, Sequence):
        texts = list(row)
    else:
        raise PredictError(f"{where}: expected a text, a list of texts or an object, got {type(row).__name__}")
    if len(texts) != len(fields) or not all(isinstance(t, str) for t in texts):
        raise PredictError(f"{where}: {spec.name} takes {len(fields)} text(s) ({', '.join(fields)}), got "
                           f"{texts!r}")
    return Example(*texts)


__all__ = ["HMNetForTasks", "PredictError", "describe", "as_example", "text_columns"]
