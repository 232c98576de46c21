"""Models: HMNet and the three baselines of Section 4.2, all with one calling convention.

Every model is called as ``model(task, input_ids, attention_mask, token_type_ids=None, labels=None,
output_attentions=False)`` and runs the batch along exactly one path, the one of ``task``. Every model
names the modules on that path (``path_modules(task)``) and their parameters (``path_parameters(task)``);
:mod:`hmnet.params` counts from those, and the tests check that a training step moves nothing else.

- :class:`HMNet` (Section 3.3): embeddings and the bottom ``x`` layers are shared by all tasks, every task
  cluster has its own stack of ``y`` layers and every task its own ``z`` layers and head. Every layer is a
  deep copy of the encoder's own ``encoder.layer[i]`` at the same depth, so at initialisation every path
  computes exactly what the pretrained encoder computes.
- Multi-task (MT-DNN style): :meth:`HMNet.multi_task`, an HMNet with the split ``{depth, 0, 0}`` and one
  cluster that holds all tasks; it is the same class, not a second implementation.
- Single-task: :class:`SingleTaskModel`, one independent single-task HMNet ``{depth, 0, 0}`` per task.
- SkillNet-style (Tang et al., 2022): :class:`SkillNetModel`. Every layer keeps the encoder layer's
  attention block and holds seven skill FFNs, each a copy of that layer's FFN (intermediate dense +
  output dense). A task activates a fixed set of skills; their FFN outputs are averaged, then the layer's
  own dropout, residual and LayerNorm apply (at initialisation this equals the pretrained layer).

  Assumption (the paper does not list SkillNet's task-to-skill map for these 13 tasks). Skills follow
  SkillNet-NLU: s1 sentence semantics, s2 pair interaction, s3 sentiment, s4 similarity, s5 question
  understanding, s6 passage reasoning, s7 general. The five task categories ("each requiring a unique skill
  combination", Section 4.2) and their skills are:

  ================================  ==========================================  ============
  category                          tasks                                       skills
  ================================  ==========================================  ============
  natural language inference        MNLI, RTE, WNLI, CB, SNLI                   s1, s2, s7
  question-sentence inference       QNLI                                        s2, s5, s7
  sentiment                         IMDB, SST-2                                 s1, s3, s7
  similarity and paraphrase         QQP, STS-B, MRPC                            s2, s4, s7
  question answering                BoolQ, MultiRC                              s5, s6, s7
  ================================  ==========================================  ============

  Three skills per task reproduces the paper's own figure for SkillNet's inference cost (Section 4.2:
  "223M vs. 110M" activated), and seven skills per layer its 450M overall (see :mod:`hmnet.params`).

Heads: dropout (the encoder's ``hidden_dropout_prob`` unless the config says otherwise) and a linear layer
on the [CLS] hidden state; cross-entropy for classification, MSE on a single output for regression
(STS-B). A head's initial weights depend only on (seed, task), so every method starts a task from the
same head.

Checkpoints: :func:`save_model` writes ``model.safetensors`` and ``model_config.json`` (method, the
model's configuration and the encoder's configuration); :func:`load_model` rebuilds the model and loads
the weights, and refuses a checkpoint whose tasks, clusters or split differ from the ones asked for.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedModel
from transformers.masking_utils import create_bidirectional_mask
from transformers.utils import ModelOutput

from hmnet.choices import METHODS, default_split
from hmnet.files import atomic_write
from hmnet.tasks import UnknownTaskError, get_task, manual_groups, resolve_tasks

log = logging.getLogger(__name__)

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "model_config.json"
CHECKPOINT_FORMAT = 1

# SkillNet-NLU's seven skills and the task-to-skill map assumed for the SkillNet-style baseline
# (module docstring explains the choice).
SKILLS: dict[str, str] = {
    "s1": "sentence semantics",
    "s2": "pair interaction",
    "s3": "sentiment",
    "s4": "similarity",
    "s5": "question understanding",
    "s6": "passage reasoning",
    "s7": "general",
}
SKILL_CATEGORIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "natural language inference": (("MNLI", "RTE", "WNLI", "CB", "SNLI"), ("s1", "s2", "s7")),
    "question-sentence inference": (("QNLI",), ("s2", "s5", "s7")),
    "sentiment": (("IMDB", "SST-2"), ("s1", "s3", "s7")),
    "similarity and paraphrase": (("QQP", "STS-B", "MRPC"), ("s2", "s4", "s7")),
    "question answering": (("BoolQ", "MultiRC"), ("s5", "s6", "s7")),
}
TASK_SKILLS: dict[str, tuple[str, ...]] = {
    task: skills for tasks, skills in SKILL_CATEGORIES.values() for task in tasks}


class CheckpointMismatchError(ValueError):
    """A checkpoint whose method, tasks, clusters, split or weights differ from what is asked for."""


# ---------------------------------------------------------------------------------------------------------
# Configuration


def _canonical_task(name: str, where: str) -> str:
    try:
        return get_task(name).name
    except UnknownTaskError as err:
        raise UnknownTaskError(f"{where}: {err}") from None


_RESERVED_KEYS = frozenset(dir(nn.ModuleDict))


def _check_key(name: object, what: str) -> str:
    """Cluster and skill names become nn.ModuleDict keys (and state-dict key parts)."""
    if not isinstance(name, str) or not name or "." in name or name in _RESERVED_KEYS:
        raise ValueError(f"{what} name {name!r} is not usable: it must be a non-empty string without '.' "
                         "that is not an attribute of nn.ModuleDict")
    return name


def _num_labels(tasks: Sequence[str], given: Mapping[str, int] | None, where: str) -> dict[str, int]:
    given = {_canonical_task(t, f"{where}.num_labels"): int(n) for t, n in (given or {}).items()}
    extra = sorted(set(given) - set(tasks))
    if extra:
        raise ValueError(f"{where}.num_labels names task(s) {extra} that are not among the tasks {list(tasks)}")
    out = {}
    for task in tasks:
        spec = get_task(task)
        n = given.get(task, spec.num_labels)
        if spec.regression and n != 1:
            raise ValueError(f"{where}.num_labels[{task!r}] = {n}, but {task} is a regression task (1 output)")
        if not spec.regression and n < 2:
            raise ValueError(f"{where}.num_labels[{task!r}] = {n}; a classification task needs >= 2 labels")
        out[task] = n
    return out


def _check_dropout(dropout: float | None, where: str) -> float | None:
    if dropout is not None and not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"{where}.dropout = {dropout} is not a probability in [0, 1)")
    return None if dropout is None else float(dropout)


def _task_tuple(tasks: Iterable[str] | str, where: str) -> tuple[str, ...]:
    if isinstance(tasks, str):
        tasks = [tasks]
    names = tuple(_canonical_task(t, f"{where}.tasks") for t in tasks)
    if not names:
        raise ValueError(f"{where}.tasks is empty; a model needs at least one task")
    twice = sorted({t for t in names if names.count(t) > 1})
    if twice:
        raise ValueError(f"{where}.tasks lists {twice} more than once")
    return names


@dataclass
class HMNetConfig:
    """What HMNet shares: the split ``{x, y, z}`` of the encoder's layers and the task-to-cluster map.

    ``clusters`` maps a cluster name to its tasks; every task is in exactly one cluster and every cluster
    holds at least one task. ``num_labels`` defaults to each task's TaskSpec; ``dropout`` (before the
    heads) to the encoder's ``hidden_dropout_prob``. ``x + y + z`` must equal the encoder's depth, which
    :meth:`check_depth` verifies when the model is built.
    """

    tasks: tuple[str, ...]
    clusters: dict[str, tuple[str, ...]]
    split: tuple[int, int, int]
    num_labels: dict[str, int] | None = None
    dropout: float | None = None
    cluster_of: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.tasks = _task_tuple(self.tasks, "HMNetConfig")
        if not isinstance(self.clusters, Mapping) or not self.clusters:
            raise ValueError(f"HMNetConfig.clusters must be a non-empty mapping cluster -> tasks, "
                             f"got {self.clusters!r}")
        clusters: dict[str, tuple[str, ...]] = {}
        cluster_of: dict[str, str] = {}
        for name, members in self.clusters.items():
            name = _check_key(name, "HMNetConfig.clusters: cluster")
            members = [members] if isinstance(members, str) else list(members)
            canon = tuple(_canonical_task(t, f"HMNetConfig.clusters[{name!r}]") for t in members)
            if not canon:
                raise ValueError(f"HMNetConfig.clusters: cluster {name!r} has no task; every cluster needs "
                                 "at least one task")
            for task in canon:
                if task not in self.tasks:
                    raise ValueError(f"HMNetConfig.clusters: cluster {name!r} lists task {task!r}, which is "
                                     f"not among the model's tasks {list(self.tasks)}")
                if task in cluster_of:
                    raise ValueError(f"HMNetConfig.clusters: task {task!r} is in two clusters, "
                                     f"{cluster_of[task]!r} and {name!r}")
                cluster_of[task] = name
            clusters[name] = canon
        missing = [t for t in self.tasks if t not in cluster_of]
        if missing:
            raise ValueError(f"HMNetConfig.clusters: task(s) {missing} have no cluster; "
                             f"clusters: {dict(clusters)}")
        self.clusters = clusters
        self.cluster_of = cluster_of
        split = tuple(self.split) if isinstance(self.split, Iterable) else ()
        if len(split) != 3 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in split):
            raise ValueError(f"HMNetConfig.split must be three non-negative integers (x shared, y cluster, "
                             f"z task-specific layers), got {self.split!r}")
        self.split = split  # type: ignore[assignment]
        self.num_labels = _num_labels(self.tasks, self.num_labels, "HMNetConfig")
        self.dropout = _check_dropout(self.dropout, "HMNetConfig")

    @property
    def depth(self) -> int:
        return sum(self.split)

    def check_depth(self, depth: int) -> None:
        """Raise unless ``x + y + z`` equals the encoder's number of layers."""
        x, y, z = self.split
        if x + y + z != depth:
            raise ValueError(f"HMNetConfig.split {{{x}, {y}, {z}}} has x+y+z = {x + y + z} layers, but the "
                             f"encoder has {depth}; the split must use every layer exactly once")

    def to_dict(self) -> dict[str, Any]:
        return {"tasks": list(self.tasks), "clusters": {k: list(v) for k, v in self.clusters.items()},
                "split": list(self.split), "num_labels": dict(self.num_labels), "dropout": self.dropout}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HMNetConfig:
        return cls(tasks=tuple(data["tasks"]), clusters={k: tuple(v) for k, v in data["clusters"].items()},
                   split=tuple(data["split"]), num_labels=data.get("num_labels"), dropout=data.get("dropout"))


@dataclass
class SkillNetConfig:
    """The SkillNet-style baseline: which skills every layer holds and which ones each task activates."""

    tasks: tuple[str, ...]
    task_skills: dict[str, tuple[str, ...]] | None = None  # default: TASK_SKILLS
    skills: tuple[str, ...] = tuple(SKILLS)
    num_labels: dict[str, int] | None = None
    dropout: float | None = None
    min_skills: ClassVar[int] = 2

    def __post_init__(self) -> None:
        self.tasks = _task_tuple(self.tasks, "SkillNetConfig")
        self.skills = tuple(_check_key(s, "SkillNetConfig.skills: skill") for s in self.skills)
        if len(set(self.skills)) != len(self.skills):
            raise ValueError(f"SkillNetConfig.skills lists a skill twice: {list(self.skills)}")
        given = TASK_SKILLS if self.task_skills is None else self.task_skills
        given = {_canonical_task(t, "SkillNetConfig.task_skills"): tuple(s) for t, s in given.items()}
        task_skills = {}
        for task in self.tasks:
            if task not in given:
                raise ValueError(f"SkillNetConfig.task_skills: task {task!r} has no skills")
            chosen = given[task]
            unknown = [s for s in chosen if s not in self.skills]
            if unknown:
                raise ValueError(f"SkillNetConfig.task_skills[{task!r}] uses unknown skill(s) {unknown}; "
                                 f"skills: {list(self.skills)}")
            if len(set(chosen)) < self.min_skills:
                raise ValueError(f"SkillNetConfig.task_skills[{task!r}] = {list(chosen)}; every task activates "
                                 f"at least {self.min_skills} distinct skills")
            task_skills[task] = tuple(dict.fromkeys(chosen))
        self.task_skills = task_skills
        self.num_labels = _num_labels(self.tasks, self.num_labels, "SkillNetConfig")
        self.dropout = _check_dropout(self.dropout, "SkillNetConfig")

    def to_dict(self) -> dict[str, Any]:
        return {"tasks": list(self.tasks), "task_skills": {k: list(v) for k, v in self.task_skills.items()},
                "skills": list(self.skills), "num_labels": dict(self.num_labels), "dropout": self.dropout}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SkillNetConfig:
        return cls(tasks=tuple(data["tasks"]), task_skills={k: tuple(v) for k, v in data["task_skills"].items()},
                   skills=tuple(data["skills"]), num_labels=data.get("num_labels"), dropout=data.get("dropout"))


# ---------------------------------------------------------------------------------------------------------
# Building blocks


@dataclass
class TaskOutput(ModelOutput):
    """``logits`` is [B, num_labels] ([B] for regression); ``cls_hidden_state`` is what the head reads."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    attentions: tuple[torch.Tensor, ...] | None = None
    cls_hidden_state: torch.Tensor | None = None


class TaskHead(nn.Module):
    """Dropout and a linear layer on the [CLS] hidden state."""

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


def _unique(params: Iterable[nn.Parameter]) -> list[nn.Parameter]:
    seen: dict[int, nn.Parameter] = {}
    for p in params:
        seen.setdefault(id(p), p)
    return list(seen.values())


def _check_encoder(encoder: PreTrainedModel) -> None:
    if not (hasattr(encoder, "embeddings") and hasattr(getattr(encoder, "encoder", None), "layer")):
        raise TypeError(f"expected a BERT-style encoder with .embeddings and .encoder.layer, "
                        f"got {type(encoder).__name__}")
    if getattr(encoder.config, "is_decoder", False):
        raise ValueError("the encoder is configured as a decoder (is_decoder=True); HMNet needs a "
                         "bidirectional encoder")


class _Copier:
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

    @classmethod
    def from_spec(cls, encoder: PreTrainedModel, spec: Mapping[str, Any], seed: int = 0) -> TaskModel:
        return cls(encoder, cls.config_class.from_dict(spec), seed=seed)

    def path_modules(self, task: str) -> list[nn.Module]:
        raise NotImplementedError

    def path_parameters(self, task: str) -> list[nn.Parameter]:
        """The parameters on ``task``'s path (each once)."""
        return _unique(p for m in self.path_modules(task) for p in m.parameters())

    def check_task(self, task: str) -> str:
        if task in self._task_set:
            return task
        try:
            canon = get_task(task).name
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
        return nn.ModuleDict({t: TaskHead(cfg.hidden_size, num_labels[t], p, get_task(t).regression,
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
                attentions: list[torch.Tensor] | None) -> TaskOutput:
        cls = hidden[:, 0]
        logits = head(cls)
        loss = None
        if labels is not None:
            if head.regression:
                loss = F.mse_loss(logits, labels.to(logits.dtype))
            else:
                loss = F.cross_entropy(logits, labels.long())
        return TaskOutput(loss=loss, logits=logits, cls_hidden_state=cls,
                          attentions=tuple(attentions) if attentions is not None else None)


def _run_layer(layer: nn.Module, hidden: torch.Tensor, mask, attentions: list | None) -> torch.Tensor:
    """A BertLayer; with ``attentions`` it is run as its two halves to keep the attention weights."""
    if attentions is None:
        return layer(hidden, mask)
    attn_out, weights = layer.attention(hidden, mask)
    attentions.append(weights)
    return layer.feed_forward_chunk(attn_out)


# ---------------------------------------------------------------------------------------------------------
# HMNet (and the multi-task model, which is HMNet {depth, 0, 0} with one cluster)


class HMNet(TaskModel):
    """Shared embeddings and bottom layers, one layer stack per cluster, one layer stack and head per task."""

    config_class = HMNetConfig

    def __init__(self, encoder: PreTrainedModel, config: HMNetConfig, seed: int = 0):
        super().__init__()
        _check_encoder(encoder)
        layers = encoder.encoder.layer
        config.check_depth(len(layers))
        self.config = config
        copier = _Copier(encoder)
        self.encoder_config = copier.config
        x, y, z = config.split
        self.embeddings = copier(encoder.embeddings)
        self.shared = nn.ModuleList(copier(layers[i]) for i in range(x))
        self.cluster_layers = nn.ModuleDict({c: nn.ModuleList(copier(layers[i]) for i in range(x, x + y))
                                             for c in config.clusters})
        self.task_layers = nn.ModuleDict({t: nn.ModuleList(copier(layers[i]) for i in range(x + y, x + y + z))
                                          for t in config.tasks})
        self.heads = self._make_heads(config.tasks, config.num_labels, config.dropout, seed,
                                      encoder.embeddings.word_embeddings.weight)
        self._task_set = frozenset(config.tasks)
        # Each task's layers in order, resolved once so that a step does no lookups beyond one dict access.
        self._paths: dict[str, tuple[nn.Module, ...]] = {
            t: (*self.shared, *self.cluster_layers[config.cluster_of[t]], *self.task_layers[t])
            for t in config.tasks}
        self.train()  # like any new nn.Module (the copies keep the encoder's mode otherwise)

    @classmethod
    def multi_task(cls, encoder: PreTrainedModel, tasks: Iterable[str], *, num_labels=None, dropout=None,
                   seed: int = 0) -> HMNet:
        """The MT-DNN-style baseline: every layer shared by all tasks, one head per task."""
        tasks = tuple(tasks) if not isinstance(tasks, str) else (tasks,)
        depth = encoder.config.num_hidden_layers
        config = HMNetConfig(tasks=tasks, clusters={"all": tasks}, split=(depth, 0, 0), num_labels=num_labels,
                             dropout=dropout)
        return cls(encoder, config, seed=seed)

    @property
    def method(self) -> str:
        x, y, z = self.config.split
        return "multi" if y == z == 0 and len(self.config.clusters) == 1 else "hmnet"

    def path_layers(self, task: str) -> tuple[nn.Module, ...]:
        return self._paths[self.check_task(task)]

    def path_modules(self, task: str) -> list[nn.Module]:
        task = self.check_task(task)
        return [self.embeddings, *self._paths[task], self.heads[task]]

    def forward(self, task: str, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                output_attentions: bool = False) -> TaskOutput:
        path = self._paths.get(task)
        if path is None:
            task = self.check_task(task)
            path = self._paths[task]
        attentions = [] if self._attentions_wanted(output_attentions) else None
        hidden = self.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)
        mask = self._mask(hidden, attention_mask)
        for layer in path:
            hidden = _run_layer(layer, hidden, mask, attentions)
        return self._finish(self.heads[task], hidden, labels, attentions)


# ---------------------------------------------------------------------------------------------------------
# Single-task: one independent model per task


class SingleTaskModel(TaskModel):
    """One independently fine-tuned encoder per task (13 models for 13 tasks), behind one forward."""

    method = "single"  # type: ignore[assignment]

    def __init__(self, encoder: PreTrainedModel, tasks: Iterable[str], *, num_labels=None, dropout=None,
                 seed: int = 0):
        super().__init__()
        tasks = _task_tuple(tasks, "SingleTaskModel")
        labels = _num_labels(tasks, num_labels, "SingleTaskModel")
        self._dropout = _check_dropout(dropout, "SingleTaskModel")
        self.models = nn.ModuleDict({t: HMNet.multi_task(encoder, (t,), num_labels={t: labels[t]},
                                                         dropout=self._dropout, seed=seed) for t in tasks})
        self.encoder_config = self.models[tasks[0]].encoder_config
        self._tasks = tasks
        self._task_set = frozenset(tasks)
        self.train()

    @property
    def tasks(self) -> tuple[str, ...]:
        return self._tasks

    def spec(self) -> dict[str, Any]:
        return {"tasks": list(self._tasks), "num_labels": {t: m.config.num_labels[t] for t, m in self.models.items()},
                "dropout": self._dropout}

    @classmethod
    def from_spec(cls, encoder: PreTrainedModel, spec: Mapping[str, Any], seed: int = 0) -> SingleTaskModel:
        return cls(encoder, spec["tasks"], num_labels=spec.get("num_labels"), dropout=spec.get("dropout"),
                   seed=seed)

    def set_attn_implementation(self, implementation: str) -> None:
        super().set_attn_implementation(implementation)
        for model in self.models.values():
            model.encoder_config._attn_implementation = implementation

    def path_modules(self, task: str) -> list[nn.Module]:
        task = self.check_task(task)
        return self.models[task].path_modules(task)

    def forward(self, task: str, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                output_attentions: bool = False) -> TaskOutput:
        task = self.check_task(task)
        return self.models[task](task, input_ids, attention_mask, token_type_ids=token_type_ids, labels=labels,
                                 output_attentions=output_attentions)


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

    def __init__(self, layer: nn.Module, skills: Sequence[str], copier: _Copier):
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


class SkillNetModel(TaskModel):
    """The SkillNet-style baseline (Section 4.2); the task-to-skill map is in the module docstring."""

    method = "skillnet"  # type: ignore[assignment]
    config_class = SkillNetConfig

    def __init__(self, encoder: PreTrainedModel, config: SkillNetConfig, seed: int = 0):
        super().__init__()
        _check_encoder(encoder)
        self.config = config
        copier = _Copier(encoder)
        self.encoder_config = copier.config
        self.embeddings = copier(encoder.embeddings)
        self.layers = nn.ModuleList(SkillLayer(layer, config.skills, copier) for layer in encoder.encoder.layer)
        self.heads = self._make_heads(config.tasks, config.num_labels, config.dropout, seed,
                                      encoder.embeddings.word_embeddings.weight)
        self._task_set = frozenset(config.tasks)
        self.train()

    def skills_of(self, task: str) -> tuple[str, ...]:
        return self.config.task_skills[self.check_task(task)]

    def path_modules(self, task: str) -> list[nn.Module]:
        skills = self.skills_of(task)
        return [self.embeddings, *(m for layer in self.layers for m in layer.path_modules(skills)),
                self.heads[self.check_task(task)]]

    def forward(self, task: str, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                output_attentions: bool = False) -> TaskOutput:
        task = self.check_task(task)
        skills = self.config.task_skills[task]
        attentions = [] if self._attentions_wanted(output_attentions) else None
        hidden = self.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)
        mask = self._mask(hidden, attention_mask)
        for layer in self.layers:
            hidden = layer(hidden, mask, skills, attentions)
        return self._finish(self.heads[task], hidden, labels, attentions)


# ---------------------------------------------------------------------------------------------------------
# Factory


def _encoder_of(encoder_or_backbone: Any, seed: int) -> PreTrainedModel:
    if isinstance(encoder_or_backbone, PreTrainedModel):
        return encoder_or_backbone
    if hasattr(encoder_or_backbone, "encoder") and isinstance(encoder_or_backbone.encoder, PreTrainedModel):
        return encoder_or_backbone.encoder  # a hmnet.backbone.Backbone
    if isinstance(encoder_or_backbone, (str, os.PathLike)):
        from hmnet.backbone import load_backbone

        return load_backbone(str(encoder_or_backbone), seed=seed, with_tokenizer=False).encoder
    raise TypeError(f"expected an encoder, a Backbone or a backbone name, got {type(encoder_or_backbone).__name__}")


def build_model(method: str, encoder_or_backbone_name: Any, tasks: Iterable[str] | None = None,
                clusters: Mapping[str, Iterable[str]] | None = None, split: Sequence[int] | None = None,
                seed: int = 0, *, num_labels: Mapping[str, int] | None = None, dropout: float | None = None,
                task_skills: Mapping[str, Sequence[str]] | None = None) -> TaskModel:
    """Build one of the four models of Table 1 from an encoder (deep-copied, never modified) or a name.

    ``tasks`` defaults to the clusters' tasks, or all 13. For ``"hmnet"`` the clusters default to the
    manual groups of Section 4.1 and the split to :func:`default_split` ({8, 2, 2} for 12 layers).
    ``clusters`` and ``split`` do not apply to the baselines and are ignored there. ``seed`` seeds a
    random backbone loaded by name and the heads.
    """
    if method not in METHODS:
        raise ValueError(f"method {method!r} is unknown; known: {', '.join(METHODS)}")
    if tasks is None:
        tasks = [t for members in clusters.values() for t in members] if clusters else resolve_tasks(None)
    tasks = _task_tuple(tasks, "build_model")
    if method != "hmnet" and (clusters is not None or split is not None):
        log.info("build_model(%r): clusters/split apply to HMNet only and are ignored", method)
    encoder = _encoder_of(encoder_or_backbone_name, seed)
    if method == "single":
        return SingleTaskModel(encoder, tasks, num_labels=num_labels, dropout=dropout, seed=seed)
    if method == "multi":
        return HMNet.multi_task(encoder, tasks, num_labels=num_labels, dropout=dropout, seed=seed)
    if method == "skillnet":
        config = SkillNetConfig(tasks, task_skills=None if task_skills is None else dict(task_skills),
                                num_labels=num_labels, dropout=dropout)
        return SkillNetModel(encoder, config, seed=seed)
    if clusters is None:
        clusters = manual_groups(tasks)
    if split is None:
        split = default_split(encoder.config.num_hidden_layers)
    config = HMNetConfig(tasks=tasks, clusters=dict(clusters), split=tuple(split), num_labels=num_labels,
                         dropout=dropout)
    return HMNet(encoder, config, seed=seed)


_CLASSES: dict[str, type[TaskModel]] = {"hmnet": HMNet, "multi": HMNet, "single": SingleTaskModel,
                                        "skillnet": SkillNetModel}


def model_from_spec(method: str, encoder: PreTrainedModel, spec: Mapping[str, Any], seed: int = 0) -> TaskModel:
    if method not in _CLASSES:
        raise ValueError(f"method {method!r} is unknown; known: {', '.join(METHODS)}")
    return _CLASSES[method].from_spec(encoder, spec, seed=seed)  # type: ignore[attr-defined]


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
    meta = {"format": str(CHECKPOINT_FORMAT), "aliases": json.dumps(aliases)}
    atomic_write(directory / WEIGHTS_FILE, lambda tmp: save_file(tensors, tmp, metadata=meta))
    description = {"format": CHECKPOINT_FORMAT, "method": model.method, "config": model.spec(),
                   "encoder_config": model.encoder_config.to_dict()}
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


def load_model(directory: str | Path, *, method: str | None = None, tasks: Iterable[str] | None = None,
               clusters: Mapping[str, Iterable[str]] | None = None, split: Sequence[int] | None = None,
               attn_implementation: str | None = None) -> TaskModel:
    """Rebuild a saved model and load its weights.

    Whatever of ``method``, ``tasks``, ``clusters`` and ``split`` is given must match the checkpoint,
    otherwise :class:`CheckpointMismatchError` says what differs (``clusters`` and ``split`` are ignored
    for the baselines, as in :func:`build_model`).
    """
    directory = Path(directory)
    saved = read_model_config(directory)
    if saved.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointMismatchError(f"{directory}: checkpoint format {saved.get('format')!r}, "
                                      f"this version reads {CHECKPOINT_FORMAT}")
    if method is not None and method != saved["method"]:
        raise CheckpointMismatchError(f"{directory} holds a {saved['method']!r} model, asked for {method!r}")
    if saved["method"] != "hmnet" and (clusters is not None or split is not None):
        log.info("load_model: clusters/split apply to HMNet only and are ignored for %r", saved["method"])
        clusters = split = None  # as build_model does
    wanted: dict[str, Any] = {}
    if tasks is not None:
        wanted["tasks"] = list(_task_tuple(tasks, "load_model"))
    if clusters is not None:
        wanted["clusters"] = {c: [get_task(t).name for t in ([m] if isinstance(m, str) else m)]
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
    model = model_from_spec(saved["method"], encoder, saved["config"])
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

