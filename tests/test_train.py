"""The trainer: result cache, checkpoints and exact resume, data parallel, OOM advice, GPU options on CPU."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest
import torch

import hmnet.train as train_api
import hmnet.train.loop as htrain
from hmnet.backbone import load_backbone
from hmnet.data import TextEncoder, MultiTaskBatches, load_task
from hmnet.profiles import get_profile
from hmnet.sections.table1 import plan_runs as table1_plan
from hmnet.models import build_model
from hmnet.train import (BatchOutOfMemoryError, Result, latest_checkpoint, load_result, predict,
                         resolve_precision, run_plan, summarize, train)

REPO = Path(__file__).resolve().parents[1]
WORKER = REPO / "tests" / "_train_worker.py"


def small(**kw):
    """A tiny, fast profile: three synthetic tasks, a random 4-layer BERT, a few steps per epoch."""
    base = dict(tasks=("RTE", "MRPC", "CB"), scale=0.5, batch_size=16, max_examples=48, epochs=2)
    base.update(kw)
    return get_profile("smoke", **base)


@contextlib.contextmanager
def threads(n: int):
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: the runs are tiny, and the machine's cores are shared."""
    with threads(1):
        yield


def _no_training(*a, **k):
    raise AssertionError("trained although a valid result was stored")


# ------------------------------------------------------------------------------------------------ cache


def test_result_file_and_cache_hit(tmp_path, monkeypatch):
    config = small().run_config("hmnet", clusters={"a": ("RTE", "CB"), "b": ("MRPC",)}, eval_every_epoch=True)
    result = train(config, tmp_path, progress=False)
    path = tmp_path / config.result_name()
    assert result.path == path and path.exists()
    stored = json.loads(path.read_text())
    assert stored["complete"] is True and len(stored["checksum"]) == 64 and stored["key"] == config.key()
    assert set(result.metrics) == {"RTE", "MRPC", "CB"}
    assert set(result.metrics["MRPC"]["dev"]) == {"accuracy", "f1"}
    assert result.scores["MRPC"] == result.metrics["MRPC"]["dev"]["accuracy"]
    assert result.average == pytest.approx(np.mean([result.scores[t] for t in ("RTE", "MRPC", "CB")]))
    assert result.params["overall"] > result.params["activated"]["RTE"] > 0
    assert result.examples_per_second > 0 and result.wall_time > 0
    assert {"device", "torch", "transformers", "mixed_precision"} <= set(result.env)
    assert [h["epoch"] for h in result.history] == [0, 1] and "metrics" in result.history[0]
    sizes = {t: min(48, len(load_task(t, scale=0.5)["train"])) for t in ("RTE", "MRPC", "CB")}
    assert len(result.train_loss) == 2 * MultiTaskBatches(sizes, 16).num_batches(0)
    assert not (tmp_path / "checkpoints" / config.result_name()[:-5]).exists()  # removed after the result

    monkeypatch.setattr(htrain, "_train", _no_training)
    again = train(config, tmp_path, progress=False)
    assert again.metrics == result.metrics and again.scores == result.scores
    assert again.score("MRPC") == result.score("MRPC")
    # A label (name) is not part of the key: same file.
    assert load_result(dataclasses.replace(config, name="other"), tmp_path) is not None


@pytest.mark.parametrize("damage", ["truncate", "edit", "incomplete"])
def test_corrupt_result_is_recomputed(tmp_path, monkeypatch, damage):
    config = small(epochs=1, tasks=("RTE", "CB")).run_config("multi")
    first = train(config, tmp_path, progress=False)
    path = first.path
    text = path.read_text()
    if damage == "truncate":
        path.write_text(text[: len(text) // 2])
    elif damage == "edit":
        data = json.loads(text)
        data["scores"]["RTE"] = 99.9
        path.write_text(json.dumps(data))
    else:
        data = json.loads(text)
        data["complete"] = False
        path.write_text(json.dumps(data))
    assert load_result(config, tmp_path) is None
    calls = []
    real = htrain._train
    monkeypatch.setattr(htrain, "_train", lambda *a, **k: calls.append(1) or real(*a, **k))
    second = train(config, tmp_path, progress=False)
    assert calls == [1] and second.scores == first.scores
    assert load_result(config, tmp_path) is not None


# ---------------------------------------------------------------------------------------- paths and optimiser


def test_a_step_moves_only_the_active_path(tmp_path, monkeypatch):
    """Unused branches get no gradient, no weight decay and no momentum: nothing off the path moves."""
    config = small(epochs=1, weight_decay=0.1).run_config("hmnet", clusters={"a": ("RTE", "CB"), "b": ("MRPC",)})
    checked = []
    real = htrain.make_optimizer

    def spy(model, cfg, device):
        opt = real(model, cfg, device)
        step = opt.step
        paths = {t: {id(p) for p in model.path_parameters(t)} for t in cfg.tasks}

        def checked_step(self, *a, **k):
            before = {id(p): p.detach().clone() for p in model.parameters()}
            with_grad = {id(p) for p in model.parameters() if p.grad is not None}
            out = step(*a, **k)
            moved = {id(p) for p in model.parameters() if not torch.equal(before[id(p)], p.detach())}
            assert moved <= with_grad
            assert any(with_grad == path for path in paths.values()), "gradients outside one task's path"
            checked.append(len(moved))
            return out

        opt.step = types.MethodType(checked_step, opt)
        return opt

    monkeypatch.setattr(htrain, "make_optimizer", spy)
    train(config, tmp_path, progress=False)
    assert len(checked) >= 4 and all(n > 0 for n in checked)


def test_linear_decay_without_warmup_by_default():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([p], lr=2e-5)
    sched = htrain.make_scheduler(opt, total_steps=4, warmup_steps=0)
    lrs = []
    for _ in range(4):
        lrs.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([2e-5, 1.5e-5, 1e-5, 0.5e-5])
    warm = htrain.make_scheduler(torch.optim.AdamW([p], lr=1.0), total_steps=10, warmup_steps=2)
    assert warm.get_last_lr()[0] == pytest.approx(0.5)


def test_oom_names_the_batch_and_a_grad_accum_that_fits(tmp_path, monkeypatch):
    from hmnet.models import HMNet

    def boom(self, task, input_ids, *a, **k):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(HMNet, "forward", boom)
    config = small(batch_size=32, max_examples=64, epochs=1).run_config("multi")  # every batch 32 rows
    with pytest.raises(BatchOutOfMemoryError) as err:
        train(config, tmp_path, progress=False)
    msg = str(err.value)
    assert "out of memory on a" in msg and ("RTE" in msg or "MRPC" in msg or "CB" in msg)
    assert "32 rows x" in msg and "tokens" in msg and "grad_accum=2" in msg and "max_length" in msg
    assert not list(tmp_path.glob("*.json"))


# ------------------------------------------------------------------------------------------ checkpoints


def test_corrupt_newest_checkpoint_falls_back_to_the_previous(tmp_path, caplog):
    config = small(epochs=2, tasks=("RTE", "MRPC")).run_config("multi")
    with threads(1):
        full = train(config, tmp_path, checkpoint_every=3, keep_checkpoints=True, progress=False)
    ckpt_dir = tmp_path / "checkpoints" / config.result_name()[:-5]
    ckpts = sorted(ckpt_dir.glob("ckpt-*"))
    assert len(ckpts) == 2  # the newest two are kept
    newest, previous = ckpts[-1], ckpts[0]
    weights = newest / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # a torn write
    (ckpt_dir / ".tmp-ckpt-000000999").mkdir()  # an interrupted write: never a candidate
    found = latest_checkpoint(ckpt_dir, config.key())
    assert found is not None and found[0] == previous
    # Resuming from the previous checkpoint ends with exactly the uninterrupted metrics.
    full.path.unlink()
    with threads(1), caplog.at_level("INFO", logger="hmnet.train"):
        resumed = train(config, tmp_path, progress=False)
    assert f"resuming from {previous.name}" in caplog.text
    assert resumed.metrics == full.metrics and resumed.train_loss == full.train_loss


def _kill_when(proc: subprocess.Popen, ckpt_dir: Path, min_step: int, timeout: float = 240) -> int:
    deadline = time.time() + timeout
    while time.time() < deadline:
        steps = [int(p.name.split("-")[1]) for p in ckpt_dir.glob("ckpt-*")] if ckpt_dir.exists() else []
        if steps and max(steps) >= min_step:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return max(steps)
        if proc.poll() is not None:
            raise AssertionError(f"worker ended before it could be killed:\n{proc.stderr.read()}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("no checkpoint appeared in time")


def test_sigkill_mid_epoch_then_resume_gives_identical_metrics(tmp_path, caplog):
    config = small(epochs=3, tasks=("RTE", "MRPC")).run_config("hmnet", clusters={"a": ("RTE",), "b": ("MRPC",)},
                                                               eval_every_epoch=True)
    # 3+3 batches per epoch, 18 steps; dropout on (the RNG state must be restored too).
    with threads(1):
        reference = train(config, tmp_path / "reference", progress=False)
    runs = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(WORKER), config.to_json(), str(runs), "--checkpoint-every", "2",
                             "--sleep", "0.4"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed_after = _kill_when(proc, runs / "checkpoints" / config.result_name()[:-5], min_step=8)
    assert proc.returncode == -signal.SIGKILL
    assert killed_after < 18 and not (runs / config.result_name()).exists()
    with threads(1), caplog.at_level("INFO", logger="hmnet.train"):
        resumed = train(config, runs, progress=False)
    assert "resuming from ckpt-" in caplog.text
    assert resumed.metrics == reference.metrics
    assert resumed.train_loss == reference.train_loss
    assert [h.get("metrics") for h in resumed.history] == [h.get("metrics") for h in reference.history]


# ------------------------------------------------------------------------------------------ data parallel


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_data_parallel_matches_one_process(tmp_path):
    """torchrun with 2 CPU processes (gloo) gives the losses of one process on the same global batches.

    Dropout is off (dropout=0.0) for the comparison: one process draws masks for the whole batch at once,
    two draw them for their halves. The 2-process run also splits each half into 2 micro-batches
    (grad_accum=2); with max_examples=49 some batches hold one row, so one process has no rows at all.
    """
    prof = small(max_examples=49, dropout=0.0, epochs=2)
    one = prof.run_config("hmnet", clusters={"a": ("RTE", "CB"), "b": ("MRPC",)})
    two = dataclasses.replace(one, grad_accum=2)
    reference = train(one, tmp_path / "one", progress=False, cpu=True)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
           str(_free_port()), str(WORKER), two.to_json(), str(tmp_path / "two")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    dp = load_result(two, tmp_path / "two")
    assert dp is not None and dp.env["num_processes"] == 2
    assert len(dp.train_loss) == len(reference.train_loss) > 10
    np.testing.assert_allclose(dp.train_loss, reference.train_loss, rtol=1e-4, atol=1e-6)
    for task, splits in reference.metrics.items():
        for split, m in splits.items():
            for name, value in m.items():
                assert dp.metrics[task][split][name] == pytest.approx(value, abs=1e-6), (task, name)


# ------------------------------------------------------------------------------------ GPU options on CPU


def test_precision_auto_is_bf16_only_where_the_cpu_computes_it_natively(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert not train_api.cpu_has_native_bf16()
    assert resolve_precision("auto", "cpu") == "no"
    assert resolve_precision("bf16", "cpu") == "bf16"
    assert resolve_precision("no", "cpu") == "no"
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    assert resolve_precision("auto", "cpu") == "bf16"
    assert resolve_precision("no", "cpu") == "no"


def test_bf16_autocast_run_on_cpu_learns_like_full_precision(tmp_path):
    """The precision "auto" picks on CPUs with native bf16: a real run records it and stays close to fp32."""
    runs = {p: train(small(mixed_precision=p).run_config("multi"), tmp_path / p, progress=False)
            for p in ("no", "bf16")}
    assert runs["bf16"].env["mixed_precision"] == "bf16" and runs["no"].env["mixed_precision"] == "no"
    loss = {p: np.asarray(r.train_loss) for p, r in runs.items()}
    assert np.isfinite(loss["bf16"]).all() and len(loss["bf16"]) == len(loss["no"])
    np.testing.assert_allclose(loss["bf16"], loss["no"], atol=0.05)  # same batches, bf16 rounding only
    assert not np.array_equal(loss["bf16"], loss["no"])  # autocast really changed the maths


def test_group_by_length_visits_the_same_rows_and_pads_less():
    tok = load_backbone("tiny").tokenizer
    enc = TextEncoder(tok, 64).encode(load_task("SST-2", scale=0.5))
    lengths = {"SST-2": enc["train"].lengths}
    plain = MultiTaskBatches({"SST-2": len(enc["train"])}, 16, seed=3)
    grouped = MultiTaskBatches({"SST-2": len(enc["train"])}, 16, seed=3, lengths=lengths, group_by_length=True)
    for epoch in range(2):
        a = np.sort(np.concatenate([r for _, r in plain.epoch(epoch)]))
        b = np.sort(np.concatenate([r for _, r in grouped.epoch(epoch)]))
        np.testing.assert_array_equal(a, b)
    from hmnet.data import padding_efficiency

    eff = [padding_efficiency(lengths["SST-2"], [r for _, r in x.epoch(0)]) for x in (plain, grouped)]
    assert eff[1] >= eff[0]


def test_sdpa_and_eager_attention_give_the_same_logits_and_predict_keeps_order():
    bb_sdpa = load_backbone("tiny", attn_implementation="sdpa", seed=1)
    bb_eager = load_backbone("tiny", attn_implementation="eager", seed=1)
    enc = TextEncoder(bb_sdpa.tokenizer, 64).encode(load_task("MRPC", scale=0.3))
    dev = enc["dev"]
    m1 = build_model("hmnet", bb_sdpa, ("MRPC", "RTE"), seed=1).eval()
    m2 = build_model("hmnet", bb_eager, ("MRPC", "RTE"), seed=1).eval()
    from hmnet.data import collate

    batch = collate(dev, np.arange(len(dev)), 0)
    batch.pop("labels")
    with torch.no_grad():
        a, b = m1("MRPC", **batch).logits, m2("MRPC", **batch).logits
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    preds, labels = predict(m1, dev, "MRPC", batch_size=7)
    np.testing.assert_array_equal(labels, dev.labels)
    np.testing.assert_array_equal(preds, a.argmax(-1).numpy())  # dataset order, whatever the batching


# ------------------------------------------------------------------------------------------------ plans


@pytest.mark.slow
def test_smoke_table1_plan_end_to_end_and_cache(tmp_path, monkeypatch):
    prof = get_profile("smoke", tasks=("RTE", "MRPC", "SST-2", "CB"), scale=0.3, seeds=0)
    plan = table1_plan(prof, groupings=["manual", "planted"])
    assert [c.tag("role") for c in plan].count("single") == 4 and len(plan) == 8
    t0 = time.perf_counter()
    results = run_plan(plan, tmp_path, progress=False)
    elapsed = time.perf_counter() - t0
    files = sorted(tmp_path.glob("*.json"))
    assert len(files) == 8 and all(isinstance(r, Result) for r in results)
    labels = {"Single-task", "Multi-task", "SkillNet", "HMNet_md", "HMNet (planted)"}  # the paper's names
    assert {r.config.variant for r in results} == labels
    for r in results:
        assert json.loads(r.path.read_text())["complete"] is True
        assert np.isfinite(r.average) and r.params["activated_mean"] > 0
    table = summarize(results)
    assert set(table.variant) == labels
    single = table[table.variant == "Single-task"].set_index("task")
    assert list(single.index) == ["RTE", "CB", "SST-2", "MRPC", "Average"]  # Table 1 order, average last
    assert single.loc["Average", "mean"] == pytest.approx(np.mean(single.loc[["RTE", "CB", "SST-2", "MRPC"], "mean"]))
    monkeypatch.setattr(htrain, "_train", _no_training)
    t1 = time.perf_counter()
    again = run_plan(plan, tmp_path, progress=False)
    assert [r.scores for r in again] == [r.scores for r in results]
    assert time.perf_counter() - t1 < elapsed / 2


def test_lookahead_affinity_is_measured_without_changing_the_training(tmp_path):
    prof = small(epochs=2, tasks=("RTE", "MRPC", "CB"))
    plain = prof.run_config("multi")
    measured = dataclasses.replace(plain, affinity=True, affinity_every=3)
    a = train(plain, tmp_path, progress=False)
    b = train(measured, tmp_path, progress=False)
    assert a.affinity is None and b.key != a.key
    assert list(b.affinity.index) == list(b.affinity.columns) == ["RTE", "MRPC", "CB"]
    assert np.isfinite(b.affinity.to_numpy()[~np.eye(3, dtype=bool)]).all()
    assert b.train_loss == a.train_loss and b.metrics == a.metrics  # measuring moves nothing, draws no RNG
    again = load_result(measured, tmp_path)
    assert again.affinity.equals(b.affinity)


def test_a_failed_checkpoint_write_keeps_the_previous_one_and_training_goes_on(tmp_path, monkeypatch, caplog):
    """Disk full in the middle of a checkpoint write: logged, temporary folder removed, run completes."""
    config = small(epochs=2, tasks=("RTE", "MRPC")).run_config("multi")
    real_save = torch.save
    calls = {"n": 0}

    def full_disk(obj, f, *a, **k):
        if str(f).endswith("training_state.pt"):
            calls["n"] += 1
            if calls["n"] >= 3:  # the first two checkpoints are written, later ones fail half-way
                Path(f).write_bytes(b"partial")
                raise OSError(28, "No space left on device")
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(torch, "save", full_disk)
    with caplog.at_level("ERROR", logger="hmnet.train.checkpoint"):
        result = train(config, tmp_path, checkpoint_every=2, keep_checkpoints=True, progress=False)
    assert "No space left on device" in caplog.text and result.path.exists()
    ckpt_dir = tmp_path / "checkpoints" / config.result_name()[:-5]
    assert [p.name for p in ckpt_dir.iterdir()] and not list(ckpt_dir.glob(".tmp-*"))
    kept = sorted(ckpt_dir.glob("ckpt-*"))
    assert [p.name for p in kept] == ["ckpt-000000002", "ckpt-000000004"]
    assert latest_checkpoint(ckpt_dir, config.key())[0] == kept[-1]
