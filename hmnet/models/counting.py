"""Parameter accounting: parameters activated per task and overall, counted from instantiated modules
(``model.parameters()`` and ``model.path_parameters(task)``), on the meta device for bert-base size."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch
from torch import nn
from transformers import AutoModel

from hmnet.backbone import encoder_config, load_backbone, resolve
from hmnet.models.layers import TaskModel


def count_parameters(params: Iterable[nn.Parameter]) -> int:
    """Number of scalars in a set of parameters, each distinct tensor counted once."""
    seen: dict[int, int] = {}
    for p in params:
        seen[id(p)] = p.numel()
    return sum(seen.values())


def activated_parameters(model: TaskModel, task: str) -> int:
    """Parameters on ``task``'s path: what one forward pass for that task uses."""
    return count_parameters(model.path_parameters(task))


def overall_parameters(model: nn.Module) -> int:
    """All parameters the model holds (``nn.Module.parameters`` already yields each tensor once)."""
    return count_parameters(model.parameters())


@dataclass(frozen=True)
class ParameterCount:
    activated: dict[str, int]  # task -> parameters on its path
    overall: int

    @property
    def activated_min(self) -> int:
        return min(self.activated.values())

    @property
    def activated_max(self) -> int:
        return max(self.activated.values())

    @property
    def activated_mean(self) -> float:
        return sum(self.activated.values()) / len(self.activated)


def count_model(model: TaskModel) -> ParameterCount:
    return ParameterCount({t: activated_parameters(model, t) for t in model.tasks}, overall_parameters(model))


def traced_path_parameters(model: TaskModel, task: str, batch: Mapping[str, torch.Tensor]) -> list[nn.Parameter]:
    """The parameters that receive a gradient from one real forward and backward pass of ``task``.

    An independent check of ``model.path_parameters(task)`` (gradients are cleared before and after).
    """
    model.zero_grad(set_to_none=True)
    out = model(task, batch["input_ids"], batch["attention_mask"], token_type_ids=batch.get("token_type_ids"),
                labels=batch["labels"])
    out.loss.backward()
    used = [p for p in model.parameters() if p.grad is not None]
    model.zero_grad(set_to_none=True)
    return used



def meta_encoder(backbone: str = "random:bert-base", *, pooler: bool = False):
    """The backbone's encoder instantiated on the meta device (true shapes, no memory, no download)."""
    name = resolve(backbone)
    with torch.device("meta"):
        if not pooler and (name == "tiny" or name.startswith("random:")):
            return load_backbone(name, with_tokenizer=False).encoder
        return AutoModel.from_config(encoder_config(name), add_pooling_layer=pooler)
