"""The campaign's projection: seconds per training example measured per method on stored runs, affinity runs
projected apart (their lookahead measurements cost more than their training), and the per-section table."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from hmnet.campaign import projection as cp
from hmnet.sections.base import PlannedRun
from hmnet.profiles import get_profile
from hmnet.train import train
from hmnet.train.checkpoint import done_fraction, latest_checkpoint, run_checkpoint_dir

PROFILE = get_profile("smoke")
TASKS = ("RTE", "SST-2", "MRPC")


def stored(config, seconds_per_example):
    """A stored run's record as the projection reads it: its config and wall time."""
    return SimpleNamespace(config=config, wall_time=seconds_per_example * cp.train_rows(config) * config.epochs)


def test_train_rows_count_the_capped_train_split_of_every_task():
    config = PROFILE.run_config("multi", tasks=TASKS, seed=0)
    assert cp.train_rows(config) == 3 * PROFILE.max_examples
    assert cp.train_rows(PROFILE.run_config("single", tasks=["RTE"], seed=0)) == PROFILE.max_examples


def test_measured_rates_are_medians_per_method_with_affinity_runs_apart():
    multi = PROFILE.run_config("multi", tasks=TASKS, seed=0)
    results = [stored(PROFILE.run_config("single", tasks=[t], seed=0), s) for t, s in zip(TASKS, (0.1, 0.3, 0.2))]
    results += [stored(multi, 0.05), stored(PROFILE.run_config("multi", tasks=TASKS, seed=0, affinity=True), 0.5)]
    rates = cp.measured_rates(results, None)
    assert rates["single"] == pytest.approx(0.2)
    assert rates["multi"] == pytest.approx(0.05)  # the affinity run's 0.5 is not a multi-task rate
    assert rates["multi+affinity"] == pytest.approx(0.5)
    assert rates["skillnet"] == cp.PRIOR_SECONDS_PER_EXAMPLE["skillnet"]  # no run yet: the prior
    # a stored run's own rate gives back its wall time
    assert cp.projected_seconds(multi, rates) == pytest.approx(results[3].wall_time)


def test_an_unmeasured_affinity_run_costs_its_measurements_on_top_of_training():
    rates = dict(cp.PRIOR_SECONDS_PER_EXAMPLE)
    plain = PROFILE.run_config("multi", tasks=TASKS, seed=0)
    every = {n: PROFILE.run_config("multi", tasks=TASKS, seed=0, affinity=True, affinity_every=n) for n in (10, 50)}
    base = cp.projected_seconds(plain, rates)
    for n, config in every.items():
        factor = 1 + cp.MEASUREMENT_STEPS * (len(TASKS) / cp.MEASUREMENT_TASKS) ** 2 / n
        assert cp.projected_seconds(config, rates) == pytest.approx(base * factor)
    assert cp.projected_seconds(every[10], rates) > cp.projected_seconds(every[50], rates) > base
    # once one is measured, its rate is used as measured
    rates["multi+affinity"] = 1.0
    assert cp.projected_seconds(every[50], rates) == pytest.approx(cp.train_rows(plain) * plain.epochs)


def test_projection_table_sums_each_section_and_divides_by_the_workers_without_splitting_a_run():
    rates = {**cp.PRIOR_SECONDS_PER_EXAMPLE, "single": 0.1, "multi": 0.2}
    runs = [PlannedRun("table1", PROFILE.run_config("single", tasks=[t], seed=0)) for t in TASKS]
    runs.append(PlannedRun("pairwise", PROFILE.run_config("multi", tasks=TASKS[:2], seed=0)))
    table = cp.projection_table(runs, rates, workers=2).set_index("section")
    rows = PROFILE.max_examples * PROFILE.epochs
    assert table.loc["table1", "pending runs"] == 3 and table.loc["pairwise", "pending runs"] == 1
    assert table.loc["table1", "run-hours"] == pytest.approx(3 * 0.1 * rows / 3600)
    assert table.loc["pairwise", "run-hours"] == pytest.approx(0.2 * 2 * rows / 3600)
    # three runs on two workers take half their hours; one run takes all of its own (a worker is left idle)
    assert table.loc["table1", "wall hours"] == pytest.approx(table.loc["table1", "run-hours"] / 2)
    assert table.loc["pairwise", "wall hours"] == pytest.approx(table.loc["pairwise", "run-hours"])
    assert table["cumulative wall hours"].iloc[-1] == pytest.approx(table["wall hours"].sum())


def test_an_interrupted_run_is_projected_from_where_its_checkpoints_stand(tmp_path):
    """A run that stopped with checkpoints resumes from them, so its projection is what is left: a budgeted
    campaign then starts it when the rest fits, instead of passing it over for its full length."""
    profile = get_profile("smoke", tasks=("RTE", "MRPC"), scale=0.5, batch_size=16, max_examples=48, epochs=2)
    config = profile.run_config("multi")
    result = train(config, tmp_path, checkpoint_every=3, keep_checkpoints=True, progress=False)
    result.path.unlink()  # as if stopped after its last checkpoint: the record is not written yet
    ckpt_dir = run_checkpoint_dir(tmp_path, config.result_name())
    state = latest_checkpoint(ckpt_dir, config.key())[1]
    share = state["global_step"] / state["total_steps"]
    assert 0 < share <= 1 and done_fraction(ckpt_dir, config.key()) == pytest.approx(share)
    run = PlannedRun("table1", config)
    fresh = PlannedRun("table1", profile.run_config("multi", seed=1))
    done = cp.resumed_fractions([run, fresh], tmp_path)
    assert done == {config.key(): pytest.approx(share)}, "a run without checkpoints is not listed"
    rates = dict(cp.PRIOR_SECONDS_PER_EXAMPLE)
    full = cp.projected_seconds(config, rates)
    assert cp.projected_seconds(config, rates, done[config.key()]) == pytest.approx(full * (1 - share))
    table = cp.projection_table([run, fresh], rates, workers=1, done=done).set_index("section")
    assert table.loc["table1", "run-hours"] == pytest.approx((full * (1 - share) + full) / 3600)
    assert done_fraction(tmp_path / "nothing here", config.key()) == 0.0
    assert done_fraction(ckpt_dir, "another key") == 0.0, "a checkpoint of another run does not count"


def test_a_machine_with_runs_of_a_kind_is_projected_from_its_own_runs_alone():
    single = [PROFILE.run_config("single", tasks=[t], seed=0) for t in TASKS]
    fast, slow = "cpu: fast (native bf16)", "cpu: slow (no native bf16)"
    results = [SimpleNamespace(**vars(stored(c, s)), env={"machine": m})
               for c, s, m in zip(single, (0.1, 0.2, 0.9), (fast, fast, slow))]
    multi = stored(PROFILE.run_config("multi", tasks=TASKS, seed=0), 0.05)  # a record without a machine
    results.append(multi)
    assert cp.measured_rates(results, None)["single"] == pytest.approx(0.2)  # every machine's median
    assert cp.measured_rates(results, None, slow)["single"] == pytest.approx(0.9)
    assert cp.measured_rates(results, None, fast)["single"] == pytest.approx(0.15)
    # a kind the machine has not run comes from every machine's runs
    assert cp.measured_rates(results, None, slow)["multi"] == pytest.approx(0.05)
    assert cp.measured_rates(results, None, "cpu: new")["single"] == pytest.approx(0.2)
    assert cp.measured_on(results, slow) == ["single"] and cp.measured_on(results, "?") == ["multi"]


def test_a_run_on_tasks_already_measured_is_projected_at_their_rate_not_its_methods():
    """Long-text tasks take more seconds per example: once a run of the same method on the same tasks is
    stored, the pending ones are projected from it; a machine that has run the method but not those tasks
    scales the tasks' rate from elsewhere by its own rate for the method."""
    short = [PROFILE.run_config("multi", tasks=TASKS, seed=s) for s in (0, 1)]
    long_ = [PROFILE.run_config("multi", tasks=("BoolQ", "MNLI"), seed=s) for s in (0, 1)]
    here, there = "cpu: here", "cpu: there"
    results = [SimpleNamespace(**vars(stored(c, r)), env={"machine": m})
               for c, r, m in ((short[0], 0.1, here), (short[1], 0.2, there), (long_[0], 0.6, there))]
    rates = cp.measured_rates(results, None)
    assert rates["multi"] == pytest.approx(0.2)  # the method's median over every task mix
    assert cp.projected_seconds(long_[1], rates) == pytest.approx(0.6 * cp.train_rows(long_[1]) * long_[1].epochs)
    other = PROFILE.run_config("multi", tasks=("RTE", "CB"), seed=0)  # no run on these tasks: the method's rate
    assert cp.projected_seconds(other, rates) == pytest.approx(0.2 * cp.train_rows(other) * other.epochs)
    # here ran the method at half its rate everywhere (0.1 against 0.2): the long tasks' rate halves too
    local = cp.measured_rates(results, None, here)
    assert local["multi"] == pytest.approx(0.1)
    assert local[cp.shape_key(long_[1])] == pytest.approx(0.6 * 0.1 / 0.2)
    assert cp.measured_rates(results, None, there)[cp.shape_key(long_[1])] == pytest.approx(0.6)
