"""Attention-map similarity (Appendix C) on tiny hmnet models: identity, one perturbed head, padding."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch

from hmnet.analysis.attention import (attention_maps, attention_similarity, probe_batches, similarity_heatmap,
                             use_eager_attention)
from hmnet.backbone import load_backbone
from hmnet.data import TextEncoder, collate, load_task
from hmnet.models import build_model

TASKS = ("RTE", "SST-2", "MRPC")
CLUSTERS = {"nli": ["RTE"], "rest": ["SST-2", "MRPC"]}


@pytest.fixture(scope="module")
def backbone():
    return load_backbone("tiny", attn_implementation="eager")


@pytest.fixture(scope="module")
def model(backbone):
    return build_model("hmnet", backbone, TASKS, clusters=CLUSTERS, split=(2, 1, 1)).eval()


@pytest.fixture(scope="module")
def probe(backbone):
    data = load_task("RTE", "synthetic", splits=["dev"], max_eval_examples=40)
    split = TextEncoder(backbone.tokenizer, 64).encode(data)["dev"]
    assert len(set(split.lengths.tolist())) > 1, "the probe rows should differ in length (padding matters)"
    return split


def perturbed_last_head(model, task: str, head: int, seed: int = 1):
    """A copy of `model` whose last layer on `task`'s path has random query weights for one head."""
    other = copy.deepcopy(model)
    attn = other.path_layers(task)[-1].attention.self
    size = attn.attention_head_size
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        rows = slice(head * size, (head + 1) * size)
        attn.query.weight[rows] = torch.randn(attn.query.weight[rows].shape, generator=gen)
        attn.query.bias[rows] = torch.randn(attn.query.bias[rows].shape, generator=gen)
    return other


def test_maps_have_one_tensor_per_layer_and_rows_sum_to_one(model, probe):
    batch = collate(probe, range(8))
    maps = attention_maps(model, "RTE", batch)
    cfg = model.encoder_config
    assert len(maps) == cfg.num_hidden_layers
    assert maps[0].shape == (8, cfg.num_attention_heads, batch["input_ids"].shape[1], batch["input_ids"].shape[1])
    real = batch["attention_mask"].bool()
    sums = maps[0].sum(-1)[real[:, None, :].expand_as(maps[0].sum(-1))]
    assert torch.allclose(sums, torch.ones_like(sums), atol=1e-5)
    # no attention mass on padding keys
    assert float(maps[-1].masked_select(~real[:, None, None, :].expand_as(maps[-1])).abs().max()) < 1e-6


def test_identical_models_are_similar_everywhere(model, probe):
    df = attention_similarity(model, copy.deepcopy(model), "RTE", probe_batches(probe, batch_size=16))
    assert isinstance(df, pd.DataFrame)
    assert df.shape == (model.encoder_config.num_hidden_layers, model.encoder_config.num_attention_heads)
    assert df.index.name == "layer" and df.columns.name == "head"
    assert df.attrs["probe_examples"] == len(probe)
    np.testing.assert_allclose(df.to_numpy(), 1.0, atol=1e-6)


def test_one_randomised_head_differs_in_that_cell_only(model, probe):
    head = 2
    other = perturbed_last_head(model, "RTE", head)
    df = attention_similarity(model, other, "RTE", probe_batches(probe, batch_size=16))
    last = df.index[-1]
    assert df.loc[last, head] < 0.99, df
    rest = df.to_numpy().copy()
    rest[-1, head] = 1.0
    np.testing.assert_allclose(rest, 1.0, atol=1e-5)
    # the perturbed layer belongs to RTE's own path: another task's path is untouched
    np.testing.assert_allclose(attention_similarity(model, other, "SST-2", probe_batches(probe, 16)).to_numpy(),
                               1.0, atol=1e-6)


def test_padding_does_not_change_the_similarity(model, probe):
    other = perturbed_last_head(model, "RTE", 0)
    first = copy.deepcopy(model)  # every head of the first layer perturbed: all later layers change too
    with torch.no_grad():
        q = first.path_layers("RTE")[0].attention.self.query
        q.weight.copy_(torch.randn(q.weight.shape, generator=torch.Generator().manual_seed(5)))
    n = len(probe)
    tight = [collate(probe, range(i, min(i + 10, n))) for i in range(0, n, 10)]
    wide = [collate(probe, range(i, min(i + 10, n)), pad_to=int(probe.lengths.max()) + 9) for i in range(0, n, 10)]
    for b in (other, first):
        a = attention_similarity(model, b, "RTE", tight)
        w = attention_similarity(model, b, "RTE", wide)
        assert a.to_numpy().min() < 0.99  # a real difference to be invariant about
        np.testing.assert_allclose(a.to_numpy(), w.to_numpy(), atol=1e-5)
    # the check can fail: comparing whole padded maps (padding query rows included) does depend on width
    def naive(batches):
        ma = [attention_maps(model, "RTE", x)[0].flatten(2) for x in batches]
        mb = [attention_maps(first, "RTE", x)[0].flatten(2) for x in batches]
        return torch.cat([torch.nn.functional.cosine_similarity(x, y, dim=-1) for x, y in zip(ma, mb)]).mean(0)
    assert float((naive(tight) - naive(wide)).abs().max()) > 1e-3


def test_sdpa_model_is_refused_with_a_clear_message(backbone, probe):
    sdpa = build_model("multi", load_backbone("tiny", attn_implementation="sdpa"), TASKS)
    with pytest.raises((RuntimeError, ValueError), match="eager"):
        attention_maps(sdpa, "RTE", collate(probe, range(4)))
    use_eager_attention(sdpa)
    assert len(attention_maps(sdpa, "RTE", collate(probe, range(4)))) == sdpa.encoder_config.num_hidden_layers


def test_plain_encoder_and_bad_input(backbone, probe):
    enc = copy.deepcopy(backbone.encoder)
    maps = attention_maps(enc, None, collate(probe, range(4)))
    assert len(maps) == enc.config.num_hidden_layers
    with pytest.raises(ValueError, match="empty"):
        attention_similarity(enc, enc, None, [])
    with pytest.raises(ValueError, match="input_ids"):
        attention_maps(enc, None, {"attention_mask": torch.ones(1, 3)})


def test_heatmap_draws(model, probe):
    import matplotlib

    matplotlib.use("Agg")
    df = attention_similarity(model, perturbed_last_head(model, "RTE", 1), "RTE", probe_batches(probe, 32, 16))
    ax = similarity_heatmap(df, title="RTE: original vs perturbed")
    assert ax.get_title() == "RTE: original vs perturbed"
    assert ax.get_xlabel() == "head" and ax.get_ylabel() == "layer"
    import matplotlib.pyplot as plt

    plt.close(ax.figure)
