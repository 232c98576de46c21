"""Parameter accounting: Table 1's columns at bert-base size (meta device), counted from modules."""

from __future__ import annotations

import argparse

import pytest
import torch
from transformers import BertConfig, BertModel

from hmnet.models import build_model
from hmnet.models.counting import activated_parameters, count_parameters, overall_parameters, traced_path_parameters
from hmnet.analysis.parameters import (APPENDIX_A_GROUPS, PAPER_PARAMS, TABLE1_METHODS, components, grouping_clusters,
                                       parameter_table)
from hmnet.tasks import TASK_NAMES, get_task

# bert-base-uncased sizes from its configuration (not from modules): an independent check of the counts.
H, FF, V, P, TYPES = 768, 3072, 30522, 512, 2
EMBEDDINGS = V * H + P * H + TYPES * H + 2 * H
LAYER = 4 * (H * H + H) + 2 * H + (H * FF + FF) + (FF * H + H) + 2 * H
ENCODER = EMBEDDINGS + 12 * LAYER  # BertModel without the pooler
OUTPUTS = sum(get_task(t).num_labels for t in TASK_NAMES)  # 28 outputs over the 13 heads
HEADS = H * OUTPUTS + OUTPUTS



@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models: one intra-op thread is faster, and far faster on a busy machine (no OpenMP spinning)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

@pytest.fixture(scope="module")
def table():
    return parameter_table("random:bert-base", (8, 2, 2))


def test_table_has_the_paper_columns_and_rows(table):
    assert tuple(table.index) == TABLE1_METHODS == ("Single-task", "Multi-task", "SkillNet", "HMNet_d",
                                                    "HMNet_md", "HMNet_m")
    for col in ("activated (paper)", "activated (ours)", "overall (paper)", "overall (ours)", "activated min",
                "activated max", "overall", "note"):
        assert col in table.columns
    assert list(table["activated (paper)"]) == ["110M", "110M", ">166M", "110M", "110M", "110M"]
    assert list(table["overall (paper)"]) == ["110M", "110M", "450M", "231M", "240M", "231M"]
    assert table["note"].str.len().min() > 50


def test_measured_numbers_at_bert_base(table):
    assert ENCODER == 108_891_648 and HEADS == 21_532
    # Activated: the encoder and the task's head (1, 2 or 3 outputs) for every method except SkillNet.
    for method in ("Single-task", "Multi-task", "HMNet_d", "HMNet_md", "HMNet_m"):
        assert table.loc[method, "activated min"] == ENCODER + H + 1 == 108_892_417  # STS-B
        assert table.loc[method, "activated max"] == ENCODER + 3 * H + 3 == 108_893_955  # MNLI, CB, SNLI
    assert table.loc["Multi-task", "overall"] == ENCODER + HEADS == 108_913_180
    assert table.loc["Single-task", "overall"] == 13 * ENCODER + HEADS == 1_415_612_956
    # SkillNet: 7 skill FFNs per layer, 3 active per task.
    ffn = (H * FF + FF) + (FF * H + H)
    assert table.loc["SkillNet", "overall"] == ENCODER + 12 * 6 * ffn + HEADS == 448_928_284
    assert table.loc["SkillNet", "activated min"] == ENCODER + 12 * 2 * ffn + H + 1 == 222_230_785
    # HMNet {8,2,2}: 8 shared + 2 per cluster + 2 per task layers.
    assert table.loc["HMNet_d", "overall"] == EMBEDDINGS + (8 + 3 * 2 + 13 * 2) * LAYER + HEADS == 307_373_596
    assert table.loc["HMNet_m", "overall"] == 307_373_596
    assert table.loc["HMNet_md", "overall"] == EMBEDDINGS + (8 + 4 * 2 + 13 * 2) * LAYER + HEADS == 321_549_340
    assert list(table["overall (ours)"]) == ["1415.6M", "108.9M", "448.9M", "307.4M", "321.5M", "307.4M"]


def test_notes_show_the_arithmetic(table):
    assert "13 x 108.89M" in table.loc["Single-task", "note"] and "1415.61M" in table.loc["Single-task", "note"]
    assert "166.15M" in table.loc["SkillNet", "note"]  # the 2-skill lower bound with the pooler
    assert "40 layers" in table.loc["HMNet_d", "note"] and "42 layers" in table.loc["HMNet_md", "note"]


def test_components_are_bert_base():
    c = components("random:bert-base")
    assert (c.embeddings, c.layer, c.pooler, c.depth, c.skills) == (EMBEDDINGS, LAYER, H * H + H, 12, 7)
    assert c.attention + c.skill + 2 * H == c.layer


def test_groupings():
    assert grouping_clusters("data")["d1"] == ("WNLI", "CB")
    assert len(grouping_clusters("manual")) == 4
    for name in ("data", "model", "manual"):
        members = [t for ts in grouping_clusters(name).values() for t in ts]
        assert sorted(members) == sorted(TASK_NAMES)
    with pytest.raises(ValueError, match="grouping 'kmeans' is unknown"):
        grouping_clusters("kmeans")


def test_constants_agree_with_hmnet_paper():
    paper = pytest.importorskip("hmnet.paper", reason="hmnet.paper is not part of this checkout")
    ours = {k: sorted(sorted(g) for g in v.values()) for k, v in APPENDIX_A_GROUPS.items()}
    assert ours == {k: sorted(sorted(g) for g in paper.PAPER_GROUPINGS[k]) for k in ("data", "model")}
    summary = paper.table1_summary()
    assert tuple(summary.columns) == TABLE1_METHODS
    for method, (activated, overall) in PAPER_PARAMS.items():
        assert summary.loc["# Params Activated", method] == activated
        assert summary.loc["# Overall Params", method] == overall


@pytest.mark.parametrize("method", ["single", "multi", "skillnet", "hmnet"])
def test_path_parameters_are_what_a_real_pass_uses(method):
    """The module enumeration behind the counts equals the parameters a forward/backward pass touches."""
    torch.manual_seed(0)
    enc = BertModel(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
                               intermediate_size=32, max_position_embeddings=32), add_pooling_layer=False)
    tasks = ("MNLI", "STS-B", "SST-2")
    model = build_model(method, enc, tasks, clusters={"a": ("MNLI", "STS-B"), "b": ("SST-2",)} if method == "hmnet"
                        else None, split=(1, 1, 1) if method == "hmnet" else None)
    ids = torch.randint(5, 50, (2, 6))
    types = torch.zeros_like(ids)
    types[:, 3:] = 1
    for task in tasks:
        labels = torch.tensor([0.5, 2.0]) if task == "STS-B" else torch.tensor([0, 1])
        batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": types, "labels": labels}
        traced = traced_path_parameters(model, task, batch)
        assert {id(p) for p in traced} == {id(p) for p in model.path_parameters(task)}
        assert activated_parameters(model, task) == count_parameters(traced)
    assert overall_parameters(model) == sum(p.numel() for p in model.parameters())


def test_cli_prints_the_table(capsys):
    from hmnet.cli import params as cli_params

    parser = argparse.ArgumentParser()
    cli_params.add_parsers(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["params", "--split", "8,2,2", "--notes"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    for method in TABLE1_METHODS:
        assert method in out
    assert "307.4M" in out and "1415.6M" in out and "13 independent fine-tuned encoders" in out
    with pytest.raises(SystemExit):
        parser.parse_args(["params", "--split", "8,2"])
