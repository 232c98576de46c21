"""Protocol v2's data and key guarantees: a carve that keeps every shared text on one side, the precision a
run computes in named by its key, length grouping that draws new batches, settings added after v1 that
leave every v1 key as it was."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hmnet import precision
from hmnet.data import Example, load_task
from hmnet.data.sampling import MultiTaskBatches
from hmnet.data.sources import carve, shared_text_units
from hmnet.experiments import RunConfig

# The text each carved task shares between rows: MNLI and SNLI repeat a premise for several hypotheses,
# QNLI a context sentence for several questions, BoolQ a passage for several questions.
SHARED_SOURCE = {"MNLI": "text_a", "SNLI": "text_a", "QNLI": "text_b", "BoolQ": "text_b"}


@pytest.mark.parametrize("task", sorted(SHARED_SOURCE))
def test_text_carve_puts_no_shared_source_text_on_both_sides(shared_data_dir, task):
    data = load_task(task, "directory", shared_data_dir, carve_train=0.8, carve_by="text")
    evals = [rows for split, rows in data.splits.items() if split != "train"][0]
    field = SHARED_SOURCE[task]
    train_texts = {getattr(ex, f).strip() for ex in data["train"] for f in ("text_a", "text_b", "text_c")
                   if getattr(ex, f)}
    crossing = [ex for ex in evals if getattr(ex, field).strip() in train_texts]
    assert not crossing, f"{task}: {len(crossing)} eval rows share their {field} with a training row"
    assert 0.75 < len(data["train"]) / (len(data["train"]) + len(evals)) < 0.85, "about 80% of the rows train"


def test_row_carve_of_v1_does_leak_and_stays_as_it_was(shared_data_dir):
    """The v1 carve is kept (its records' keys hold it): on MNLI most carved eval rows share their premise."""
    data = load_task("MNLI", "directory", shared_data_dir, carve_train=0.8)
    premises = {ex.text_a for ex in data["train"]}
    evals = data["dev_matched"]
    assert sum(ex.text_a in premises for ex in evals) / len(evals) > 0.9


def test_shared_text_units_link_rows_through_any_text_and_group():
    rows = [Example("p1", "h1"), Example("p2", "h2"), Example("p1", "h3"), Example("p3", "h3"),
            Example("p4", "h4", group="q"), Example("p5", "h5", group="q"), Example(" p2 ", "h6")]
    units = shared_text_units(rows)
    assert units[0] == units[2] == units[3], "p1 links rows 0 and 2, h3 links 2 and 3"
    assert units[4] == units[5], "a MultiRC question stays whole"
    assert units[1] == units[6], "texts are compared without surrounding whitespace"
    assert len(set(units)) == 3


def test_text_carve_is_seeded_and_keeps_units_whole():
    rows = [Example(f"premise {i // 3}", f"hypothesis {i}", label=i % 2) for i in range(300)]
    a = carve("MNLI", rows, 0.8, seed=0, by="text")
    assert a == carve("MNLI", rows, 0.8, seed=0, by="text")
    assert a != carve("MNLI", rows, 0.8, seed=1, by="text")
    train = {ex.text_a for ex in a["train"]}
    assert not any(ex.text_a in train for ex in a["dev_matched"])
    assert len(a["train"]) == 240
    with pytest.raises(ValueError, match="carve_by 'pair' is unknown"):
        carve("MNLI", rows, 0.8, seed=0, by="pair")


def _key_with(monkeypatch, native_bf16: bool, mixed: str) -> str:
    monkeypatch.setattr(precision.torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native_bf16)
    return RunConfig(method="single", tasks=("RTE",), mixed_precision=mixed).key()


def test_auto_cannot_put_two_precisions_under_one_key(monkeypatch):
    with_bf16 = _key_with(monkeypatch, True, "auto")
    without = _key_with(monkeypatch, False, "auto")
    assert with_bf16 != without, "auto means bf16 on one CPU and fp32 on the other: two keys"
    assert _key_with(monkeypatch, True, "no") == _key_with(monkeypatch, False, "no"), "explicit fp32: one key"
    assert _key_with(monkeypatch, True, "bf16") == _key_with(monkeypatch, False, "bf16")
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    payload = RunConfig(method="single", tasks=("RTE",), mixed_precision="auto").key_payload()
    assert payload["config"]["mixed_precision"] == "auto->no"


def test_auto_on_a_bf16_cpu_keeps_the_v1_spelling(monkeypatch):
    """Every v1 record ran 'auto' as bf16; its key hashed 'auto', and still does where 'auto' means bf16."""
    monkeypatch.setattr(precision.torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    payload = RunConfig(method="single", tasks=("RTE",), mixed_precision="auto").key_payload()
    assert payload["config"]["mixed_precision"] == "auto"


def test_a_forced_cpu_run_refuses_an_auto_key_made_for_another_device(monkeypatch):
    from hmnet.train.runtime import TrainingError, make_accelerator

    monkeypatch.setattr(precision.torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(precision.torch.cuda, "is_bf16_supported", lambda: True)
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    with pytest.raises(TrainingError, match="pass the precision explicitly"):
        make_accelerator("auto", cpu=True)


def test_settings_added_after_v1_stay_out_of_the_key_at_their_v1_value():
    base = RunConfig(method="single", tasks=("RTE",))
    payload = base.key_payload()["config"]
    for name in ("pooling", "carve_by", "length_chunk"):
        assert name not in payload
    for change in ({"pooling": "mean"}, {"carve_by": "text"}, {"length_chunk": 8}):
        other = RunConfig(method="single", tasks=("RTE",), **change)
        assert other.key() != base.key()
        assert set(change) <= set(other.key_payload()["config"])


def test_small_length_chunks_draw_new_batches_every_epoch_large_ones_do_not():
    lengths = {"RTE": np.random.default_rng(0).integers(5, 128, size=1000)}

    def recurrence(chunk):
        """How much of an epoch-0 batch recurs in its closest epoch-1 batch, on average (1: the same batches)."""
        b = MultiTaskBatches({"RTE": 1000}, 32, seed=0, lengths=lengths, group_by_length=True, length_chunk=chunk)
        first, second = ([set(rows) for _, rows in b.epoch(e)] for e in (0, 1))
        return np.mean([max(len(a & c) for c in second) / len(a) for a in first])

    assert recurrence(100) > 0.85, "v1: one chunk holds every row, so nearly the same blocks recur"
    assert recurrence(8) < 0.35
    with pytest.raises(ValueError, match="length_chunk"):
        MultiTaskBatches({"RTE": 10}, 4, length_chunk=0)


def test_mean_pooling_ignores_padding():
    import torch

    from hmnet.models.layers import pool

    hidden = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    out = pool(hidden, mask, "mean")
    assert torch.equal(out[0], hidden[0, :2].mean(0)) and torch.equal(out[1], hidden[1].mean(0))
    assert torch.equal(pool(hidden, mask, "cls"), hidden[:, 0])
    json.dumps(RunConfig(method="single", tasks=("RTE",), pooling="mean").to_dict())


def test_a_declared_carve_carves_only_the_declared_tasks(shared_data_dir):
    from hmnet.errors import DataError

    data = load_task("MNLI", "directory", shared_data_dir, carve_train=0.8, carve_tasks=("MNLI",))
    assert len(data["train"]) > 7000 and "carved" in data.source
    with pytest.raises(DataError, match=r"QNLI: no training file .* not among the tasks this run carves"):
        load_task("QNLI", "directory", shared_data_dir, carve_train=0.8, carve_tasks=("MNLI",))
    rte = load_task("RTE", "directory", shared_data_dir, carve_train=0.8, carve_tasks=("MNLI",))
    assert len(rte["train"]) == 2490 and "carved" not in rte.source, "a task with its file is not carved"


def test_carve_tasks_are_checked_and_sorted():
    from hmnet.config_checks import ConfigError

    config = RunConfig(method="single", tasks=("RTE",), carve_tasks=["snli", "BoolQ"])
    assert config.carve_tasks == ("BoolQ", "SNLI")
    assert RunConfig(method="single", tasks=("RTE",), carve_tasks=[]).carve_tasks == ()
    with pytest.raises(ConfigError, match="QQQ"):
        RunConfig(method="single", tasks=("RTE",), carve_tasks=["QQQ"])


def test_min_steps_adds_whole_epochs_to_a_short_run():
    short = RunConfig(method="single", tasks=("RTE",), epochs=3, min_steps=300)
    assert short.epochs_for(32) == 10 and short.epochs_for(8) == 38, "1,000 rows and 250 rows at batch 32"
    assert short.epochs_for(200) == 3, "a run with more steps keeps its epochs"
    assert RunConfig(method="single", tasks=("RTE",)).epochs_for(32) == 3


def test_min_steps_reaches_the_trainer_and_its_record(tmp_path):
    from hmnet.train import train

    config = RunConfig(method="single", tasks=("RTE",), max_examples=32, max_eval_examples=16, batch_size=16,
                       epochs=1, min_steps=5, max_length=32)
    result = train(config, tmp_path, progress=False)
    assert len(result.history) == 3, "2 steps an epoch: 3 epochs reach 5 steps"
