"""Per-layer, per-head similarity of attention maps between two models (paper Appendix C).

Given two models of the same shape (say, one fine-tuned on RTE alone and one co-trained on RTE and MNLI)
and a fixed probe set from one task, :func:`attention_similarity` returns, for every layer and head, the
mean over probe examples of the cosine similarity between the two models' attention maps, each map
flattened over its real tokens only: padding rows (queries) and columns (keys) are masked out, so the
result does not depend on how wide a probe batch is padded.

Attention maps come from the models' own outputs (``output_attentions=True``). That needs the eager
attention path: SDPA and flash attention never materialise the map (transformers then returns an empty
tuple). Load the backbone with ``attn_implementation="eager"`` (``load_backbone(name,
attn_implementation="eager")``), or switch a built model with :func:`use_eager_attention`. For HMNet
models the task's path (shared, cluster and task stacks) yields one attention tensor per layer.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable, Mapping

import pandas as pd
import torch

from hmnet.data import collate

log = logging.getLogger(__name__)
BATCH_KEYS = ("input_ids", "attention_mask", "token_type_ids")


def use_eager_attention(model: torch.nn.Module) -> torch.nn.Module:
    """Switch every transformers config inside `model` to the eager attention path (in place).

    Stacks built from deep copies of encoder layers keep one config per copy, so every module's config is
    updated, not just the top one.
    """
    if hasattr(model, "set_attn_implementation"):  # hmnet models and transformers models
        model.set_attn_implementation("eager")
    seen: set[int] = set()
    for module in model.modules():
        config = getattr(module, "config", None)
        if config is not None and hasattr(config, "_attn_implementation") and id(config) not in seen:
            seen.add(id(config))
            config._attn_implementation = "eager"
    if not seen and not hasattr(model, "set_attn_implementation"):
        raise ValueError(f"{type(model).__name__} holds no transformers config to switch to eager attention")
    return model


def _takes_task(model: torch.nn.Module) -> bool:
    return "task" in inspect.signature(model.forward).parameters


def _device(model: torch.nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


@torch.no_grad()
def attention_maps(model: torch.nn.Module, task: str | None, batch: Mapping[str, torch.Tensor]) -> list[torch.Tensor]:
    """The model's attention maps on one batch: a list with one ``[B, H, T, T]`` tensor per layer.

    `model` is an hmnet model (``forward(task, input_ids, attention_mask, ...)``; `task` picks the path) or
    a plain transformers encoder (then `task` is ignored). The model is put in eval mode (no dropout).
    """
    if "input_ids" not in batch or "attention_mask" not in batch:
        raise ValueError(f"a probe batch needs input_ids and attention_mask; it has {sorted(batch)}")
    model.eval()
    device = _device(model)
    inputs = {k: batch[k].to(device) for k in BATCH_KEYS if k in batch and batch[k] is not None}
    if _takes_task(model):
        if task is None:
            raise ValueError(f"{type(model).__name__} needs a task to choose its path")
        out = model(task, **inputs, output_attentions=True)
    else:
        out = model(**inputs, output_attentions=True)
    maps = getattr(out, "attentions", None)
    if not maps:
        raise RuntimeError(
            f"{type(model).__name__} returned no attention maps; they need the eager attention path "
            "(load the backbone with attn_implementation='eager' or call hmnet.analysis.attention.use_eager_attention)")
    maps = [m.float() for m in maps]
    b, t = inputs["input_ids"].shape
    for i, m in enumerate(maps):
        if m.dim() != 4 or m.shape[0] != b or m.shape[2:] != (t, t):
            raise RuntimeError(f"layer {i}: attention map of shape {tuple(m.shape)}; expected [{b}, H, {t}, {t}]")
    return maps


def _cosine_real_tokens(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Cosine similarity ``[B, H]`` of two ``[B, H, T, T]`` maps over the real-token block of each row."""
    m = mask.to(a.dtype)
    pair = (m[:, :, None] * m[:, None, :])[:, None]  # [B, 1, T, T]: real query AND real key
    a = (a * pair).flatten(2).double()
    b = (b * pair).flatten(2).double()
    dot = (a * b).sum(-1)
    norm = a.norm(dim=-1) * b.norm(dim=-1)
    return dot / norm.clamp_min(1e-30)


def attention_similarity(model_a: torch.nn.Module, model_b: torch.nn.Module, task: str | None,
                         probe_batches: Iterable[Mapping[str, torch.Tensor]]) -> pd.DataFrame:
    """Mean cosine similarity of the two models' real-token attention maps, per layer (rows) and head.

    For each probe example and each (layer, head), both maps are restricted to the example's real tokens
    (padding rows and columns masked out), flattened and compared by cosine similarity; the table holds
    the mean over all probe examples. Both models run the path of `task`.
    """
    total: torch.Tensor | None = None
    count = 0
    for batch in probe_batches:
        maps_a = attention_maps(model_a, task, batch)
        maps_b = attention_maps(model_b, task, batch)
        if len(maps_a) != len(maps_b) or maps_a[0].shape != maps_b[0].shape:
            raise ValueError(f"the models differ in shape: {len(maps_a)} layers x {tuple(maps_a[0].shape)} "
                             f"vs {len(maps_b)} layers x {tuple(maps_b[0].shape)}")
        mask = batch["attention_mask"].to(maps_a[0].device)
        cos = torch.stack([_cosine_real_tokens(a, b, mask) for a, b in zip(maps_a, maps_b)])  # [L, B, H]
        summed = cos.sum(1).cpu()
        total = summed if total is None else total + summed
        count += cos.shape[1]
    if total is None or count == 0:
        raise ValueError("the probe set is empty")
    mean = (total / count).numpy()
    frame = pd.DataFrame(mean, index=pd.RangeIndex(mean.shape[0], name="layer"),
                         columns=pd.RangeIndex(mean.shape[1], name="head"))
    frame.attrs.update(task=task, probe_examples=count)
    return frame


def probe_batches(encoded_split, batch_size: int = 32, max_examples: int | None = 256,
                  pad_token_id: int = 0) -> list[dict[str, torch.Tensor]]:
    """A fixed probe set: the first `max_examples` rows of an encoded split, in order, dynamically padded."""
    n = len(encoded_split) if max_examples is None else min(max_examples, len(encoded_split))
    if n == 0:
        raise ValueError("the probe split is empty")
    return [collate(encoded_split, range(i, min(i + batch_size, n)), pad_token_id)
            for i in range(0, n, batch_size)]


def similarity_heatmap(df: pd.DataFrame, ax=None, title: str = "Attention-map similarity", vmin: float | None = None,
                       vmax: float = 1.0, cmap: str = "viridis"):
    """A seaborn heatmap of :func:`attention_similarity`'s table: layers down, heads across."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    if ax is None:
        _, ax = plt.subplots(figsize=(0.5 * df.shape[1] + 2, 0.4 * df.shape[0] + 1.5))
    sns.heatmap(df, ax=ax, vmin=vmin, vmax=vmax, cmap=cmap, annot=df.shape[1] <= 12, fmt=".2f",
                cbar_kws={"label": "cosine similarity"})
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    ax.set_title(title)
    return ax
