"""Run configs, the cache key, profiles, plans, summaries and the `hmnet train` / `hmnet plan` commands."""

from __future__ import annotations

import dataclasses
import json
import shlex

import numpy as np
import pandas as pd
import pytest

from hmnet.cli import main as cli_main
from hmnet.experiments import TRAINING_SEMANTICS, ConfigError, RunConfig, default_split
from hmnet.profiles import base_config, get_profile
from hmnet.sections.groupings import named_groupings
from hmnet.sections.layer_grid import plan_runs as layer_grid_plan
from hmnet.sections.pairwise import plan_runs as pairwise_plan
from hmnet.sections.shared_layers import plan_runs as shared_layers_plan
from hmnet.sections.table1 import plan_runs as table1_plan
from hmnet.tasks import TASK_NAMES
from hmnet.train import Result, summarize

# ------------------------------------------------------------------------------------------- RunConfig


def test_run_config_normalises_and_round_trips():
    c = RunConfig("hmnet", ["rte", "SST2", "MRPC"], clusters={"x": ["SST-2", "rte"], "y": ["MRPC"]})
    assert c.tasks == ("RTE", "SST-2", "MRPC")
    assert c.clusters == {"x": ("RTE", "SST-2"), "y": ("MRPC",)}
    assert c.split == (2, 1, 1)  # the paper's {8, 2, 2} scaled to the tiny backbone's 4 layers
    assert RunConfig.from_dict(c.to_dict()) == c
    assert RunConfig.from_json(c.to_json()) == c
    assert json.loads(c.to_json())["clusters"] == {"x": ["RTE", "SST-2"], "y": ["MRPC"]}
    assert dataclasses.replace(c, seed=3).seed == 3
    assert hash(c) == hash(RunConfig.from_json(c.to_json()))
    assert RunConfig("hmnet", ("RTE", "MRPC")).clusters == {  # default: the manual design
        "Natural language inference": ("RTE",), "Similarity and paraphrase": ("MRPC",)}


def test_the_key_covers_what_changes_a_run_and_nothing_else():
    c = RunConfig("multi", ("RTE", "MRPC"))
    assert c.key() == RunConfig("multi", ("RTE", "MRPC")).key() and len(c.key()) == 20
    changed = [dataclasses.replace(c, seed=1), dataclasses.replace(c, lr=3e-5), dataclasses.replace(c, max_examples=10),
               dataclasses.replace(c, tasks=("RTE",)), dataclasses.replace(c, method="skillnet"),
               dataclasses.replace(c, scale=0.5), dataclasses.replace(c, mixed_precision="bf16")]
    assert len({c.key(), *(x.key() for x in changed)}) == len(changed) + 1
    assert dataclasses.replace(c, name="label").key() == c.key()
    payload = c.key_payload()
    assert payload["semantics"] == TRAINING_SEMANTICS and payload["data"] == {"source": "synthetic"}
    assert c.result_name() == f"multi-{c.key()}.json"


def test_the_key_holds_the_training_semantics_version_not_the_source_text(monkeypatch):
    import hmnet.experiments as ex

    c = RunConfig("multi", ("RTE", "MRPC"))
    before = c.key()
    monkeypatch.setattr(ex, "TRAINING_SEMANTICS", ex.TRAINING_SEMANTICS + 1)
    assert c.key() != before  # a bump invalidates every stored result, by design


def test_directory_source_fingerprint_names_files_and_sizes(tmp_path):
    (tmp_path / "RTE").mkdir()
    (tmp_path / "RTE" / "train.tsv").write_text("index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n")
    (tmp_path / "RTE" / "dev.tsv").write_text("index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n")
    c = RunConfig("multi", ("RTE",), source="directory", data_dir=str(tmp_path))
    files = c.key_payload()["data"]["files"]
    assert files["RTE/train"] == ["RTE/train.tsv", (tmp_path / "RTE" / "train.tsv").stat().st_size]
    before = c.key()
    import shutil

    moved = shutil.copytree(tmp_path / "RTE", tmp_path / "elsewhere" / "RTE").parent
    assert RunConfig("multi", ("RTE",), source="directory", data_dir=str(moved)).key() == before  # location only
    (tmp_path / "RTE" / "dev.tsv").write_text("index\tsentence1\tsentence2\tlabel\n0\ta\tbb\tentailment\n")
    assert c.key() != before


@pytest.mark.parametrize("kwargs, message", [
    (dict(method="fancy", tasks=("RTE",)), "method 'fancy' is unknown; known: single, multi, skillnet, hmnet"),
    (dict(method="multi", tasks=("RTE", "QQQ")), "task 'QQQ' is unknown"),
    (dict(method="hmnet", tasks=("RTE", "MRPC"), split=(2, 2, 2)), "has 6 layers but backbone 'tiny' has 4"),
    (dict(method="hmnet", tasks=("RTE", "MRPC"), split=(2, -1, 3)), "split[1] must be >= 0"),
    (dict(method="hmnet", tasks=("RTE", "MRPC"), clusters={"a": ("RTE",)}), "['MRPC'] are in no cluster"),
    (dict(method="hmnet", tasks=("RTE", "MRPC"), clusters={"a": ("RTE", "MRPC"), "b": ("MRPC",)}),
     "MRPC is in two clusters"),
    (dict(method="hmnet", tasks=("RTE",), clusters={"a": ("RTE", "CB")}), "CB, which is not one of the run's tasks"),
    (dict(method="multi", tasks=("RTE",), clusters={"a": ("RTE",)}), "clusters apply to method 'hmnet' only"),
    (dict(method="multi", tasks=("RTE",), lr=0), "lr must be > 0"),
    (dict(method="multi", tasks=("RTE",), batch_size=4, grad_accum=8), "grad_accum 8 exceeds batch_size 4"),
    (dict(method="multi", tasks=("RTE",), mixed_precision="fp8"), "mixed_precision 'fp8' is unknown"),
    (dict(method="multi", tasks=("RTE",), source="directory"), "source 'directory' needs data_dir"),
    (dict(method="multi", tasks=("RTE",), affinity=True), "affinity needs at least two tasks"),
    (dict(method="multi", tasks=("RTE",), epochs=1.5), "epochs must be an integer"),
])
def test_bad_configs_fail_with_a_message_naming_the_culprit(kwargs, message):
    with pytest.raises(ConfigError) as err:
        RunConfig(**kwargs)
    assert message in str(err.value)


def test_from_dict_rejects_unknown_fields():
    with pytest.raises(ConfigError, match="unknown run config field.*'learning_rate'"):
        RunConfig.from_dict({"method": "multi", "tasks": ["RTE"], "learning_rate": 1e-3})


# --------------------------------------------------------------------------------------------- profiles


def test_profiles_and_overrides():
    smoke = get_profile("smoke")
    assert smoke.backbone == "tiny" and smoke.source == "synthetic" and smoke.tasks == TASK_NAMES
    paper = get_profile("paper")
    assert (paper.backbone, paper.lr, paper.batch_size, paper.max_length, paper.epochs) == \
        ("bert-base-uncased", 2e-5, 32, 512, 3)
    assert paper.warmup_ratio == 0.0 and paper.max_examples is None and paper.hmnet_split() == (8, 2, 2)
    assert paper.mixed_precision == "auto" and paper.attn_implementation == "sdpa" and paper.group_by_length
    over = get_profile("smoke", tasks="RTE,MRPC", seeds=(1, 2), max_train_examples=10)
    assert over.tasks == ("RTE", "MRPC") and over.seeds == (1, 2) and over.max_examples == 10
    c = over.run_config("hmnet", seed=2)
    assert (c.seed, c.max_examples, c.backbone, c.split) == (2, 10, "tiny", (2, 1, 1))
    assert base_config("smoke").method == "multi"


def test_unknown_profile_or_field_lists_the_known_ones():
    with pytest.raises(ConfigError, match="profile 'huge' is unknown; known: smoke, local, paper"):
        get_profile("huge")
    with pytest.raises(ConfigError, match="profile field 'learning_rate' is unknown; known: .*lr"):
        get_profile("smoke", learning_rate=1)
    with pytest.raises(ConfigError, match="profile 'smoke': .*task 'QQQ' is unknown"):
        get_profile("smoke", tasks=("QQQ",))
    with pytest.raises(ConfigError, match="profile 'smoke': .*split"):
        get_profile("smoke", split=(1, 1, 1))


def test_local_profile_needs_a_data_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("HMNET_DATA_DIR", raising=False)
    with pytest.raises(ConfigError, match="pass data_dir=... or set HMNET_DATA_DIR"):
        get_profile("local")
    with pytest.raises(ConfigError, match="is not a directory"):
        get_profile("local", data_dir=str(tmp_path / "missing"))


def test_local_profile_on_the_shared_data(shared_data_dir, minilm_available):
    from hmnet.data import available_tasks

    prof = get_profile("local", data_dir=str(shared_data_dir))
    assert prof.tasks == tuple(t for t in TASK_NAMES if t in available_tasks(shared_data_dir))
    assert prof.backbone == "minilm" and prof.carve_train == 0.8 and prof.max_length == 128
    assert prof.hmnet_split() == (4, 1, 1)
    with pytest.raises(ConfigError, match="have no training file"):
        get_profile("local", data_dir=str(shared_data_dir), carve_train=None)


# ------------------------------------------------------------------------------------------------ plans


def test_table1_plan():
    prof = get_profile("smoke", tasks=("RTE", "MRPC", "CB"), seeds=(0, 1))
    plan = table1_plan(prof, groupings=["manual", "planted"])
    assert len(plan) == 2 * (3 + 1 + 1 + 2)
    assert [c.tag("role") for c in plan[:7]] == ["single"] * 3 + ["multi", "skillnet", "hmnet", "hmnet"]
    assert [c.tag("grouping") for c in plan[5:7]] == ["manual", "planted"] and plan[5].variant == "HMNet_md"
    assert [c.tasks for c in plan[:3]] == [("RTE",), ("MRPC",), ("CB",)]
    assert plan[6].clusters == {"alpha": ("RTE",), "beta": ("CB",), "gamma": ("MRPC",)}
    assert {c.seed for c in plan} == {0, 1} and len({c.key() for c in plan}) == len(plan)
    custom = table1_plan(prof, groupings={"mine": {"a": ("RTE", "MRPC", "CB")}}, seeds=[5])
    assert custom[-1].clusters == {"a": ("RTE", "MRPC", "CB")} and custom[-1].seed == 5


def test_shared_layers_layer_grid_and_pairwise_plans():
    prof = get_profile("smoke")
    shared = shared_layers_plan(prof, seeds=[0])
    assert [c.split for c in shared] == [(x, 4 - x, 0) for x in range(5)]
    assert all(c.clusters == {"MNLI": ("MNLI",), "BoolQ": ("BoolQ",)} for c in shared)
    grid = layer_grid_plan(get_profile("smoke", tasks=("RTE", "MRPC")), ["manual"], [(2, 1, 1), (1, 2, 1)], [0, 1])
    assert len(grid) == 4 and grid[1].split == (1, 2, 1) and grid[1].tags == {"section": "layer_grid", "role": "hmnet",
                                                                               "grouping": "manual"}
    pairs = pairwise_plan(prof, tasks=("RTE", "MRPC", "CB", "WNLI"), seeds=[0])
    assert sum(c.method == "single" for c in pairs) == 4 and sum(c.method == "multi" for c in pairs) == 6
    assert {c.tasks for c in pairs if c.method == "multi"} == {
        ("RTE", "MRPC"), ("RTE", "CB"), ("RTE", "WNLI"), ("MRPC", "CB"), ("MRPC", "WNLI"), ("CB", "WNLI")}
    with pytest.raises(ConfigError, match="at least two tasks"):
        pairwise_plan(prof, tasks=("RTE",))
    with pytest.raises(ConfigError, match="grouping 'magic' is unknown"):
        named_groupings(["magic"], ("RTE",))
    paper_groups = named_groupings(["data", "model"], ("RTE", "MRPC", "CB"))
    assert paper_groups["model"] == {"m1": ("RTE", "CB"), "m2": ("MRPC",)}


def test_default_split_matches_the_paper_at_bert_base():
    assert default_split(12) == (8, 2, 2) and default_split(6) == (4, 1, 1) and default_split(4) == (2, 1, 1)


# ------------------------------------------------------------------------------------------- summaries


def _result(variant, method, tasks, scores, seed):
    cfg = RunConfig(method, tuple(tasks), seed=seed, name=variant)
    return Result(config=cfg, key=cfg.key(), metrics={}, scores=scores, average=0.0, params={}, wall_time=1.0,
                  examples_per_second=1.0, env={})


def test_summarize_gives_mean_std_and_ci_over_seeds():
    results = []
    for seed, (m, mm, rte) in enumerate([(80.0, 81.0, 60.0), (82.0, 83.0, 64.0), (84.0, 85.0, 68.0)]):
        results.append(_result("multi", "multi", ("MNLI", "RTE"), {"MNLI": (m, mm), "RTE": rte}, seed))
        results.append(_result("single", "single", ("MNLI",), {"MNLI": (m - 1, mm - 1)}, seed))
        results.append(_result("single", "single", ("RTE",), {"RTE": rte - 2}, seed))
    table = summarize(results)
    assert isinstance(table, pd.DataFrame)
    multi = table[table.variant == "multi"].set_index("task")
    assert list(multi.index) == ["MNLI-m", "MNLI-mm", "RTE", "Average"]
    assert multi.loc["RTE", "mean"] == pytest.approx(64.0) and multi.loc["RTE", "std"] == pytest.approx(4.0)
    assert multi.loc["RTE", "n"] == 3
    half = 4.302652729911275 * 4.0 / np.sqrt(3)  # t(0.975, 2) * s / sqrt(n)
    assert multi.loc["RTE", "ci_low"] == pytest.approx(64.0 - half)
    assert multi.loc["Average", "mean"] == pytest.approx(np.mean([82.0, 83.0, 64.0]))
    single = table[table.variant == "single"].set_index("task")  # single-task runs of one task each combine
    assert single.loc["Average", "mean"] == pytest.approx(np.mean([81.0, 82.0, 62.0]))
    with pytest.raises(ValueError, match="two results for RTE with seed 0"):
        summarize([results[0], _result("multi", "multi", ("RTE",), {"RTE": 1.0}, 0)])


# ---------------------------------------------------------------------------------------------------- CLI


def test_plan_export_prints_one_train_command_per_run(capsys, tmp_path):
    assert cli_main(["plan", "export", "pairwise", "--tasks", "RTE,MRPC,CB", "--results", str(tmp_path),
                     "--set", "scale=0.3", "--seeds", "0"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 + 3
    argv = shlex.split(lines[0])
    assert argv[:3] == ["hmnet", "train", "--config-json"] and argv[4:] == ["--results", str(tmp_path)]
    config = RunConfig.from_json(argv[3])
    assert config.method == "single" and config.tasks == ("RTE",) and config.scale == 0.3
    assert cli_main(["plan", "export", "table1", "--format", "json", "--set", 'tasks=["RTE","CB"]',
                     "--groupings", "manual,planted", "--seeds", "0", "1"]) == 0
    configs = [RunConfig.from_json(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert len(configs) == 2 * (2 + 1 + 1 + 2)


def test_train_command_runs_a_config_and_then_hits_the_cache(capsys, tmp_path):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny runs; the machine's cores are shared
    try:
        _train_and_list(capsys, tmp_path)
    finally:
        torch.set_num_threads(threads)


def _train_and_list(capsys, tmp_path):
    config = get_profile("smoke", tasks=("RTE", "CB"), scale=0.3, epochs=1).run_config("multi")
    args = ["train", "--config-json", config.to_json(), "--results", str(tmp_path), "--no-progress"]
    assert cli_main(args) == 0
    out = capsys.readouterr().out
    assert "multi seed 0: average" in out and "RTE" in out and config.result_name() in out
    assert (tmp_path / config.result_name()).exists()
    assert cli_main(["plan", "list", "pairwise", "--tasks", "RTE,CB", "--results", str(tmp_path),
                     "--set", "scale=0.3", "--set", "epochs=1", "--seeds", "0"]) == 0
    listing = capsys.readouterr().out
    # The pair run is the same config as the multi run above (names are labels, not part of the key): cached.
    assert "3 runs, 1 with a stored result" in listing
    assert cli_main(["train", "--profile", "smoke", "--set", "scale=0.3", "--set", "epochs=1", "--tasks", "RTE,CB",
                     "--results", str(tmp_path), "--no-progress"]) == 0
    assert config.result_name() in capsys.readouterr().out  # same config from profile options: cache hit


def test_cli_reports_bad_input_before_training(capsys, tmp_path):
    assert cli_main(["train", "--profile", "nope", "--results", str(tmp_path)]) == 2
    assert "profile 'nope' is unknown; known: smoke, local, paper" in capsys.readouterr().err
    assert cli_main(["train", "--tasks", "RTE,QQQ", "--results", str(tmp_path)]) == 2
    assert "task 'QQQ' is unknown" in capsys.readouterr().err
    assert cli_main(["train", "--method", "hmnet", "--tasks", "RTE,CB", "--split", "3,3,3",
                     "--results", str(tmp_path)]) == 2
    assert "has 9 layers but backbone 'tiny' has 4" in capsys.readouterr().err
    assert cli_main(["plan", "run", "layer_grid", "--results", str(tmp_path)]) == 2
    assert "needs --splits" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.json"))


def test_summarize_averages_only_the_seeds_that_hold_every_task():
    """A campaign stopped half-way through seed 1's single-task runs: seed 1 does not enter the average."""
    results = [_result("single", "single", ("RTE",), {"RTE": 60.0}, 0),
               _result("single", "single", ("MRPC",), {"MRPC": 80.0}, 0),
               _result("single", "single", ("RTE",), {"RTE": 50.0}, 1)]
    table = summarize(results).set_index("task")
    assert table.loc["Average", "n"] == 1 and table.loc["Average", "mean"] == pytest.approx(70.0)
    assert table.loc["RTE", "n"] == 2
    assert "Average" not in set(summarize(results[1:]).task)  # no seed holds both tasks: no average row
