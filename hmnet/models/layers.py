"""Building blocks shared by every model: the task head, the TaskModel base (one path per task), layer copying
and the SkillNet skill layers."""

from __future__ import annotations

import copy
import logging
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.masking_utils import create_bidirectional_mask
from transformers.utils import ModelOutput

from hmnet.tasks import TaskRegistry, UnknownTaskError, get_task

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------------------
# Building blocks


@dataclass
class TaskOutput(ModelOutput):
    """``logits`` is [B, num_labels] ([B] for regression); ``cls_hidden_state`` is what the head reads (the
    [CLS] state, or the mean of the real tokens' states with mean pooling)."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    attentions: tuple[torch.Tensor, ...] | None = None
    cls_hidden_state: torch.Tensor | None = None


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor | None, pooling: str) -> torch.Tensor:
    """What a head reads from the last hidden states [B, T, H]: the [CLS] state (``"cls"``) or the mean over
    the real tokens, padding left out (``"mean"``: sentence-transformers' pooling)."""
    if pooling == "cls":
        return hidden[:, 0]
    if attention_mask is None:
        return hidden.mean(dim=1)
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


class TaskHead(nn.Module):
    """Dropout and a linear layer on the pooled hidden state (see :func:`pool`)."""

    def __init__(self, hidden_size: int, num_labels: int, dropout: float, regression: bool,
                 *, init_std: float, seed: int, task: str, device: torch.device | None = None,
                 dtype: torch.dtype | None = None):
        super().__init__()
        self.regression = regression
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden_size, num_labels, device=device, dtype=dtype)
        if self.classifier.weight.device.type != "meta":
            # BERT's initialisation, from a generator that depends only on (seed, task).
            gen = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(task.encode()))
            with torch.no_grad():
                weight = torch.empty(num_labels, hidden_size).normal_(0.0, init_std, generator=gen)
                self.classifier.weight.copy_(weight)
                self.classifier.bias.zero_()

    def forward(self, cls_hidden: torch.Tensor) -> torch.Tensor:
        logits = self.classifier(self.dropout(cls_hidden))
        return logits.squeeze(-1) if self.regression else logits


def unique_params(params: Iterable[nn.Parameter]) -> list[nn.Parameter]:
    seen: dict[int, nn.Parameter] = {}
    for p in params:
        seen.setdefault(id(p), p)
    return list(seen.values())


def check_encoder(encoder: PreTrainedModel) -> None:
    if not (hasattr(encoder, "embeddings") and hasattr(getattr(encoder, "encoder", None), "layer")):
        raise TypeError(f"expected a BERT-style encoder with .embeddings and .encoder.layer, "
                        f"got {type(encoder).__name__}")
    if getattr(encoder.config, "is_decoder", False):
        raise ValueError("the encoder is configured as a decoder (is_decoder=True); HMNet needs a "
                         "bidirectional encoder")


class LayerCopier:
    """Deep copies of an encoder's modules that share one private copy of its config (so that
    switching the attention implementation reaches every layer)."""

    def __init__(self, encoder: PreTrainedModel):
        self.config = copy.deepcopy(encoder.config)
        self._source = encoder.config

    def __call__(self, module: nn.Module) -> nn.Module:
        return copy.deepcopy(module, memo={id(self._source): self.config})


class TaskModel(nn.Module):
    """What all four models share: heads, the loss, the output and parameter bookkeeping."""

    encoder_config: Any
    # The tasks the model's task names refer to (None: the 13 built-ins); set before the heads are made.
    task_registry: TaskRegistry | None = None

    @property
    def method(self) -> str:
        raise NotImplementedError

    config_class: Any = None  # the config dataclass of models built from one config (HMNet, SkillNet)

    @property
    def tasks(self) -> tuple[str, ...]:
        return self.config.tasks

    def spec(self) -> dict[str, Any]:
        """A JSON-able description from which :meth:`from_spec` rebuilds the same architecture."""
        return self.config.to_dict()

    def task_definitions(self) -> list[dict[str, Any]]:
        """What the task file declared for each of the model's tasks that is not a built-in (none: [])."""
        specs = [get_task(t, self.task_registry) for t in self.tasks]
        return [dict(s.definition) for s in specs if not s.builtin]

    @classmethod
    def from_spec(cls, encoder: PreTrainedModel, spec: Mapping[str, Any], seed: int = 0,
                  registry: TaskRegistry | None = None) -> TaskModel:
        return cls(encoder, cls.config_class.from_dict(spec, registry=registry), seed=seed)

    def path_modules(self, task: str) -> list[nn.Module]:
        raise NotImplementedError

    def path_parameters(self, task: str) -> list[nn.Parameter]:
        """The parameters on ``task``'s path (each once)."""
        return unique_params(p for m in self.path_modules(task) for p in m.parameters())

    def check_task(self, task: str) -> str:
        if task in self._task_set:
            return task
        try:
            canon = get_task(task, self.task_registry).name
        except UnknownTaskError as err:
            raise UnknownTaskError(f"{type(self).__name__}: {err}") from None
        if canon not in self._task_set:
            raise ValueError(f"task {task!r} is not one of this model's tasks: {', '.join(self.tasks)}")
        return canon

    def set_attn_implementation(self, implementation: str) -> None:
        """Switch every layer to ``"eager"`` (needed for attention maps), ``"sdpa"``, ..."""
        for module in self.modules():
            config = getattr(module, "config", None)
            if config is not None and hasattr(config, "_attn_implementation"):
                config._attn_implementation = implementation
        self.encoder_config._attn_implementation = implementation

    def _make_heads(self, tasks: Sequence[str], num_labels: Mapping[str, int], dropout: float | None,
                    seed: int, like: torch.Tensor) -> nn.ModuleDict:
        """One head per task, on the device and in the dtype of ``like`` (an encoder weight)."""
        cfg = self.encoder_config
        p = cfg.hidden_dropout_prob if dropout is None else dropout
        regression = {t: get_task(t, self.task_registry).regression for t in tasks}
        return nn.ModuleDict({t: TaskHead(cfg.hidden_size, num_labels[t], p, regression[t],
                                          init_std=cfg.initializer_range, seed=seed, task=t,
                                          device=like.device, dtype=like.dtype)
                              for t in tasks})

    def _mask(self, hidden: torch.Tensor, attention_mask: torch.Tensor | None):
        return create_bidirectional_mask(config=self.encoder_config, inputs_embeds=hidden,
                                         attention_mask=attention_mask)

    def _attentions_wanted(self, output_attentions: bool) -> bool:
        if output_attentions and self.encoder_config._attn_implementation != "eager":
            raise ValueError(f"output_attentions needs eager attention, this model uses "
                             f"{self.encoder_config._attn_implementation!r}; load the backbone with "
                             "attn_implementation='eager' or call model.set_attn_implementation('eager')")
        return output_attentions

    @staticmethod
    def _finish(head: TaskHead, hidden: torch.Tensor, labels: torch.Tensor | None,
                attentions: list[torch.Tensor] | None, pooling: str = "cls",
                attention_mask: torch.Tensor | None = None) -> TaskOutput:
        cls = pool(hidden, attention_mask, pooling)
        logits = head(cls)
        loss = None
        if labels is not None:
            if head.regression:
                loss = F.mse_loss(logits, labels.to(logits.dtype))
            else:
                loss = F.cross_entropy(logits, labels.long())
        return TaskOutput(loss=loss, logits=logits, cls_hidden_state=cls,
                          attentions=tuple(attentions) if attentions is not None else None)


def run_layer(layer: nn.Module, hidden: torch.Tensor, mask, attentions: list | None) -> torch.Tensor:
    """A BertLayer; with ``attentions`` it is run as its two halves to keep the attention weights."""
    if attentions is None:
        return layer(hidden, mask)
    attn_out, weights = layer.attention(hidden, mask)
    attentions.append(weights)
    return layer.feed_forward_chunk(attn_out)


# ---------------------------------------------------------------------------------------------------------
# SkillNet-style: several skill FFNs per layer, a fixed subset active per task


class SkillFFN(nn.Module):
    """One skill: a copy of a BertLayer's feed-forward block without its residual and LayerNorm."""

    def __init__(self, intermediate: nn.Module, dense: nn.Linear):
        super().__init__()
        self.intermediate = intermediate  # dense hidden->intermediate and activation
        self.dense = dense  # intermediate->hidden

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.dense(self.intermediate(hidden))


class SkillLayer(nn.Module):
    """A BertLayer whose FFN is replaced by the average of the active skills' FFNs."""

    def __init__(self, layer: nn.Module, skills: Sequence[str], copier: LayerCopier):
        super().__init__()
        self.attention = copier(layer.attention)
        self.skills = nn.ModuleDict({s: SkillFFN(copier(layer.intermediate), copier(layer.output.dense))
                                     for s in skills})
        self.dropout = copier(layer.output.dropout)
        self.LayerNorm = copier(layer.output.LayerNorm)

    def path_modules(self, skills: Sequence[str]) -> list[nn.Module]:
        return [self.attention, *(self.skills[s] for s in skills), self.LayerNorm]

    def forward(self, hidden: torch.Tensor, mask, skills: Sequence[str],
                attentions: list | None = None) -> torch.Tensor:
        attn_out, weights = self.attention(hidden, mask)
        if attentions is not None:
            attentions.append(weights)
        ffn = None
        for s in skills:
            out = self.skills[s](attn_out)
            ffn = out if ffn is None else ffn + out
        ffn = ffn / len(skills)
        return self.LayerNorm(self.dropout(ffn) + attn_out)
