"""The benchmark scripts: gpu_step.py end to end with --tiny on CPU, and the arithmetic behind the numbers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import _common  # noqa: E402
import gpu_step  # noqa: E402
import padding  # noqa: E402


@pytest.fixture
def restore_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def test_gpu_step_tiny_runs_on_cpu(tmp_path, restore_threads):
    out = tmp_path / "tiny.json"
    gpu_step.main(["--tiny", "--device", "cpu", "--out", str(out)])
    data = json.loads(out.read_text())
    assert data["device_type"] == "cpu" and data["tiny"] and data["peak_tflops_dense"] is None
    assert "--tiny" in data["meta"]["command"] and data["meta"]["date"]
    assert data["plan_projection"] is None  # CPU tiny figures never project a paper run
    assert set(data["results"]) == {"hmnet", "multi", "skillnet"}
    for method, r in data["results"].items():
        assert "error" not in r, r
        assert r["timed_steps"] >= 13 and not r["tasks_without_timed_steps"], method
        assert set(r["timed_steps_by_task"]) == set(gpu_step.load_histogram(gpu_step.HISTOGRAM)["tasks"])
        assert r["examples_per_second"] > 0 and r["real_tokens_per_second"] > 0
        assert 0 < r["padding_efficiency_timed"] <= 1
        assert r["real_tokens_per_second"] <= r["processed_tokens_per_second"] + 1e-9
        assert np.isfinite(r["last_loss"])
        assert r["projected_epoch_seconds"] > 0
    hm, mt, sk = (data["results"][m] for m in ("hmnet", "multi", "skillnet"))
    # HMNet {2,1,1} holds more layers than the multi-task model, but a path is equally deep
    assert hm["parameters_total"] > mt["parameters_total"]
    assert hm["matmul_parameters_path"]["RTE"] == mt["matmul_parameters_path"]["RTE"]
    assert sk["matmul_parameters_path"]["RTE"] > mt["matmul_parameters_path"]["RTE"]  # several skill FFNs
    assert data["hmnet"]["split"] == [2, 1, 1] and len(data["hmnet"]["clusters"]) == 3


def test_peak_table():
    assert gpu_step.peak_tflops("NVIDIA H100 80GB HBM3") == 989.0
    assert gpu_step.peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert gpu_step.peak_tflops("NVIDIA H200") == 989.0
    assert gpu_step.peak_tflops("NVIDIA A100-SXM4-80GB") == 312.0
    assert gpu_step.peak_tflops("NVIDIA L4") == 121.0
    assert gpu_step.peak_tflops("Tesla T4") == 65.0
    assert gpu_step.peak_tflops("Some Future GPU") is None


def test_flops_formula_by_hand():
    # bert-base: 12 x (4 d^2 + 2 d f) matmul weights
    from hmnet.backbone import encoder_config

    cfg = encoder_config("random:bert-base")
    n = cfg.num_hidden_layers * (4 * cfg.hidden_size ** 2 + 2 * cfg.hidden_size * cfg.intermediate_size)
    assert n == 84_934_656
    lengths = np.array([10, 20])
    model, padded = gpu_step.step_flops(n, 12, 768, lengths, 20)
    assert model == 6 * n * 30 + 12 * 12 * 768 * (100 + 400)
    assert padded == 6 * n * 40 + 12 * 12 * 768 * 2 * 400


def test_matmul_params_of_a_path():
    from hmnet.backbone import TINY_CONFIG
    from hmnet.models import build_model

    model = build_model("multi", "tiny", ("RTE", "SST-2"))
    d, f, layers = TINY_CONFIG["hidden_size"], TINY_CONFIG["intermediate_size"], TINY_CONFIG["num_hidden_layers"]
    assert gpu_step.path_matmul_params(model, "RTE") == layers * (4 * d * d + 2 * d * f)


def test_sampled_lengths_follow_the_histogram():
    hist = gpu_step.load_histogram(gpu_step.HISTOGRAM)
    lengths = gpu_step.sample_lengths(hist, {"SST-2": 20000, "IMDB": 20000}, 512, seed=0)
    assert abs(lengths["SST-2"].mean() - hist["tasks"]["SST-2"]["mean"]) < 0.5
    assert abs(lengths["IMDB"].mean() - hist["tasks"]["IMDB"]["mean"]) < 3
    short = gpu_step.sample_lengths(hist, {"IMDB": 1000}, 64, seed=0)["IMDB"]
    assert short.max() == 64  # truncated like the encoder truncates


def test_stratified_sample_covers_every_task_in_proportion():
    batches = [("A", np.arange(i, i + 2)) for i in range(900)] + [("B", np.arange(2)) for _ in range(99)] + [
        ("C", np.arange(2))]
    chosen = gpu_step.stratified_sample(batches, 100, seed=0)
    tasks = [t for t, _ in chosen]
    assert sorted(set(tasks[:3])) == ["A", "B", "C"]  # one of each first
    assert tasks.count("A") == 90 and tasks.count("B") == 10 and tasks.count("C") == 1


def test_plan_projection_counts_runs():
    counts = {"A": 10, "B": 30, "C": 60}
    step = {"A": 1.0, "B": 2.0, "C": 0.5}  # epoch = 10 + 60 + 30 = 100 s
    res = {m: {"mean_step_seconds_by_task": {t: s * k for t, s in step.items()}, "tasks_without_timed_steps": []}
           for m, k in (("multi", 1), ("hmnet", 1.1), ("skillnet", 2))}
    plan = gpu_step.project_plan(res, counts, {"A": 100, "B": 200, "C": 300}, {"A": 1, "B": 2, "C": 3}, 3)
    assert plan["one_full_training"]["hours"]["multi"] == pytest.approx(3 * 100 / 3600)
    rows = plan["runs"]
    assert rows[0]["hours"] == pytest.approx(300 / 3600)  # all single-task runs = one multi-task run
    assert rows[2]["hours"] == pytest.approx(600 / 3600)  # SkillNet twice as slow per step
    assert rows[3]["hours"] == pytest.approx(3 * 330 / 3600)  # three HMNet groupings
    assert rows[5]["count"] == 3 and rows[5]["hours"] == pytest.approx(2 * 300 / 3600)  # pairs: (n-1) x
    assert rows[5]["real_tokens"] == 3 * 600 * 2
    assert plan["total_hours"] == pytest.approx(sum(r["hours"] for r in rows))
    assert plan["total_hours_reusing_single_task_runs"] == pytest.approx(plan["total_hours"] - 300 / 3600)
    res["skillnet"]["tasks_without_timed_steps"] = ["A"]
    assert gpu_step.project_plan(res, counts, {"A": 1, "B": 1, "C": 1}, counts, 3)["total_hours"] is None


def test_length_histogram_file_is_consistent():
    hist = gpu_step.load_histogram(gpu_step.HISTOGRAM)
    from hmnet.tasks import TASK_NAMES

    assert list(hist["tasks"]) == list(TASK_NAMES)
    for task, e in hist["tasks"].items():
        assert e["train_size"] == _common.PAPER_TRAIN_SIZES[task]
        assert sum(e["counts"]) == e["rows_measured"]
        assert e["max"] <= hist["max_length"] and e["lengths"] == sorted(e["lengths"])
        mean = np.dot(e["lengths"], e["counts"]) / e["rows_measured"]
        assert mean == pytest.approx(e["mean"], abs=1e-3)
        assert e["measured"] == (task != "QQP")  # QQP has no file in the bundle: a stated proxy
    assert hist["paper_mix"]["train_examples_per_epoch"] == sum(_common.PAPER_TRAIN_SIZES.values())


def test_padding_measure_on_a_small_mix():
    from hmnet.data import EncodedSplit

    rng = np.random.default_rng(0)

    def split(lengths):
        ids = [[1] * int(n) for n in lengths]
        return EncodedSplit(ids, [[0] * int(n) for n in lengths], np.zeros(len(lengths), dtype=int))

    mix = {t: _common.TaskLengths(t, ["train"], np.array(ls), split(ls))
           for t, ls in (("SST-2", rng.integers(5, 60, 3000)), ("IMDB", rng.integers(100, 129, 1000)))}
    counts = padding.measure(mix, batch_size=32, max_length=128)
    summary = padding.summarise(counts, mix)
    per = summary["per_task"]
    assert per["SST-2"]["pad_to_max"] == pytest.approx(mix["SST-2"].lengths.mean() / 128)
    for t in mix:
        assert per[t]["pad_to_max"] < per[t]["dynamic"] < per[t]["length_grouped"] <= 1
    real = {m: sum(counts[m]["real"].values()) for m in padding.MODES}
    assert len(set(real.values())) == 1  # every mode visits every row once
    assert summary["paper_mix_missing"] == [t for t in _common.PAPER_TRAIN_SIZES if t not in mix]


def test_write_json_is_atomic(tmp_path):
    path = _common.write_json(tmp_path / "a" / "x.json", {"a": 1})
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in path.parent.iterdir()] == ["x.json"]


def test_hf_trainer_harness_on_the_tiny_backbone(tmp_path):
    """Both sides of hf_trainer_compare.py run and score on a tiny synthetic config (the real comparison
    uses MiniLM on real RTE)."""
    import hf_trainer_compare as cmp

    from hmnet.backbone import load_tokenizer
    from hmnet.experiments import RunConfig
    from hmnet.train import load_encoded

    config = RunConfig(method="single", tasks=("RTE",), backbone="tiny", source="synthetic", max_examples=64,
                       max_eval_examples=40, max_length=32, batch_size=16, lr=1e-3, epochs=1,
                       group_by_length=True)
    encoded = load_encoded(config, load_tokenizer("tiny"))["RTE"]
    ours, hf = cmp.run_ours(config), cmp.run_hf(config, encoded, bf16=False)
    hf_bf16 = cmp.run_hf(config, encoded, bf16=True)
    for side in (ours, hf, hf_bf16):
        assert side["examples_per_second"] > 0 and side["end_to_end_seconds"] > 0
        assert 0 <= side["dev_accuracy"] <= 100
    assert hf["optimizer"] and (ours["precision"], hf["precision"], hf_bf16["precision"]) == ("no", "no", "bf16")
    # the adapter hands the HF Trainer what it expects
    from hmnet.train.hf_check import HFAdapter
    from hmnet.models import build_model

    adapter = HFAdapter(build_model("single", "tiny", ("RTE",)), "RTE")
    ids = torch.randint(5, 50, (3, 7))
    out = adapter(input_ids=ids, attention_mask=torch.ones_like(ids), labels=torch.tensor([0, 1, 0]))
    assert out["logits"].shape == (3, 2) and out["loss"].ndim == 0
    assert "loss" not in adapter(input_ids=ids)
