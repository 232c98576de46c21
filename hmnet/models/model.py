"""Models: HMNet and the three baselines of Section 4.2, all with one calling convention.

Every model is called as ``model(task, input_ids, attention_mask, token_type_ids=None, labels=None,
output_attentions=False)`` and runs the batch along exactly one path, the one of ``task``. Every model
names the modules on that path (``path_modules(task)``) and their parameters (``path_parameters(task)``);
:mod:`hmnet.models.counting` counts from those, and the tests check that a training step moves nothing else.

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
  "223M vs. 110M" activated), and seven skills per layer its 450M overall (see :mod:`hmnet.models.counting`).

Heads: dropout (the encoder's ``hidden_dropout_prob`` unless the config says otherwise) and a linear layer
on the [CLS] hidden state (the paper), or on the mean of the real tokens' states (``pooling="mean"``);
cross-entropy for classification, MSE on a single output for regression
(STS-B). A head's initial weights depend only on (seed, task), so every method starts a task from the
same head.

Saving and loading a trained model is :mod:`hmnet.models.io`'s (``model.safetensors`` and
``model_config.json``; a checkpoint whose tasks, clusters or split differ from the ones asked for is refused),
and the Hugging Face format :mod:`hmnet.models.pretrained`'s.
"""


from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedModel

from hmnet.backbone import load_backbone
from hmnet.choices import METHODS, default_split
from hmnet.models.config import HMNetConfig, SkillNetConfig, check_dropout, check_pooling, num_labels_for, task_tuple
from hmnet.models.layers import LayerCopier, SkillLayer, TaskModel, TaskOutput, check_encoder, run_layer
from hmnet.tasks import TaskRegistry, manual_groups, resolve_tasks

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------------------
# HMNet (and the multi-task model, which is HMNet {depth, 0, 0} with one cluster)


class HMNet(TaskModel):
    """Shared embeddings and bottom layers, one layer stack per cluster, one layer stack and head per task."""

    config_class = HMNetConfig

    def __init__(self, encoder: PreTrainedModel, config: HMNetConfig, seed: int = 0):
        super().__init__()
        check_encoder(encoder)
        layers = encoder.encoder.layer
        config.check_depth(len(layers))
        self.config = config
        self.task_registry = config.registry
        copier = LayerCopier(encoder)
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
                   seed: int = 0, pooling: str = "cls", registry: TaskRegistry | None = None) -> HMNet:
        """The MT-DNN-style baseline: every layer shared by all tasks, one head per task."""
        tasks = tuple(tasks) if not isinstance(tasks, str) else (tasks,)
        depth = encoder.config.num_hidden_layers
        config = HMNetConfig(tasks=tasks, clusters={"all": tasks}, split=(depth, 0, 0), num_labels=num_labels,
                             dropout=dropout, pooling=pooling, registry=registry)
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
            hidden = run_layer(layer, hidden, mask, attentions)
        return self._finish(self.heads[task], hidden, labels, attentions, self.config.pooling, attention_mask)


# ---------------------------------------------------------------------------------------------------------
# Single-task: one independent model per task


class SingleTaskModel(TaskModel):
    """One independently fine-tuned encoder per task (13 models for 13 tasks), behind one forward."""

    method = "single"  # type: ignore[assignment]

    def __init__(self, encoder: PreTrainedModel, tasks: Iterable[str], *, num_labels=None, dropout=None,
                 seed: int = 0, pooling: str = "cls", registry: TaskRegistry | None = None):
        super().__init__()
        self.task_registry = registry
        tasks = task_tuple(tasks, "SingleTaskModel", registry)
        labels = num_labels_for(tasks, num_labels, "SingleTaskModel", registry)
        self._dropout = check_dropout(dropout, "SingleTaskModel")
        self._pooling = check_pooling(pooling, "SingleTaskModel")
        self.models = nn.ModuleDict({t: HMNet.multi_task(encoder, (t,), num_labels={t: labels[t]},
                                                         dropout=self._dropout, seed=seed, pooling=pooling,
                                                         registry=registry)
                                     for t in tasks})
        self.encoder_config = self.models[tasks[0]].encoder_config
        self._tasks = tasks
        self._task_set = frozenset(tasks)
        self.train()

    @property
    def tasks(self) -> tuple[str, ...]:
        return self._tasks

    def spec(self) -> dict[str, Any]:
        return {"tasks": list(self._tasks), "num_labels": {t: m.config.num_labels[t] for t, m in self.models.items()},
                "dropout": self._dropout, "pooling": self._pooling}

    @classmethod
    def from_spec(cls, encoder: PreTrainedModel, spec: Mapping[str, Any], seed: int = 0,
                  registry: TaskRegistry | None = None) -> SingleTaskModel:
        return cls(encoder, spec["tasks"], num_labels=spec.get("num_labels"), dropout=spec.get("dropout"),
                   seed=seed, pooling=spec.get("pooling", "cls"), registry=registry)

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


class SkillNetModel(TaskModel):
    """The SkillNet-style baseline (Section 4.2); the task-to-skill map is in the module docstring."""

    method = "skillnet"  # type: ignore[assignment]
    config_class = SkillNetConfig

    def __init__(self, encoder: PreTrainedModel, config: SkillNetConfig, seed: int = 0):
        super().__init__()
        check_encoder(encoder)
        self.config = config
        self.task_registry = config.registry
        copier = LayerCopier(encoder)
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
        return self._finish(self.heads[task], hidden, labels, attentions, self.config.pooling, attention_mask)


# ---------------------------------------------------------------------------------------------------------
# Factory


def _encoder_of(encoder_or_backbone: Any, seed: int) -> PreTrainedModel:
    if isinstance(encoder_or_backbone, PreTrainedModel):
        return encoder_or_backbone
    if hasattr(encoder_or_backbone, "encoder") and isinstance(encoder_or_backbone.encoder, PreTrainedModel):
        return encoder_or_backbone.encoder  # a hmnet.backbone.Backbone
    if isinstance(encoder_or_backbone, (str, os.PathLike)):

        return load_backbone(str(encoder_or_backbone), seed=seed, with_tokenizer=False).encoder
    raise TypeError(f"expected an encoder, a Backbone or a backbone name, got {type(encoder_or_backbone).__name__}")


def build_model(method: str, encoder_or_backbone_name: Any, tasks: Iterable[str] | None = None,
                clusters: Mapping[str, Iterable[str]] | None = None, split: Sequence[int] | None = None,
                seed: int = 0, *, num_labels: Mapping[str, int] | None = None, dropout: float | None = None,
                task_skills: Mapping[str, Sequence[str]] | None = None, pooling: str = "cls",
                registry: TaskRegistry | None = None) -> TaskModel:
    """Build one of the four models of Table 1 from an encoder (deep-copied, never modified) or a name.

    ``tasks`` defaults to the clusters' tasks, or all 13. For ``"hmnet"`` the clusters default to the
    manual groups of Section 4.1 and the split to :func:`default_split` ({8, 2, 2} for 12 layers).
    ``clusters`` and ``split`` do not apply to the baselines and are ignored there. ``seed`` seeds a
    random backbone loaded by name and the heads. ``pooling`` is what every head reads: ``"cls"`` (the
    paper) or ``"mean"`` (see :func:`hmnet.models.layers.pool`). ``registry`` holds the tasks the names refer to
    (None: the 13 built-ins; a run passes its config's, with the tasks of its task file).
    """
    if method not in METHODS:
        raise ValueError(f"method {method!r} is unknown; known: {', '.join(METHODS)}")
    if tasks is None:
        tasks = [t for members in clusters.values() for t in members] if clusters else resolve_tasks(None)
    tasks = task_tuple(tasks, "build_model", registry)
    if method != "hmnet" and (clusters is not None or split is not None):
        log.info("build_model(%r): clusters/split apply to HMNet only and are ignored", method)
    encoder = _encoder_of(encoder_or_backbone_name, seed)
    common = dict(num_labels=num_labels, dropout=dropout, pooling=pooling, registry=registry)
    if method == "single":
        return SingleTaskModel(encoder, tasks, seed=seed, **common)
    if method == "multi":
        return HMNet.multi_task(encoder, tasks, seed=seed, **common)
    if method == "skillnet":
        config = SkillNetConfig(tasks, task_skills=None if task_skills is None else dict(task_skills), **common)
        return SkillNetModel(encoder, config, seed=seed)
    if clusters is None:
        clusters = manual_groups(tasks, registry)
    if split is None:
        split = default_split(encoder.config.num_hidden_layers)
    config = HMNetConfig(tasks=tasks, clusters=dict(clusters), split=tuple(split), **common)
    return HMNet(encoder, config, seed=seed)


_CLASSES: dict[str, type[TaskModel]] = {"hmnet": HMNet, "multi": HMNet, "single": SingleTaskModel,
                                        "skillnet": SkillNetModel}


def model_from_spec(method: str, encoder: PreTrainedModel, spec: Mapping[str, Any], seed: int = 0,
                    registry: TaskRegistry | None = None) -> TaskModel:
    if method not in _CLASSES:
        raise ValueError(f"method {method!r} is unknown; known: {', '.join(METHODS)}")
    return _CLASSES[method].from_spec(encoder, spec, seed=seed, registry=registry)  # type: ignore[attr-defined]
