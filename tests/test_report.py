"""Report helpers behind the analysis notebooks: the majority-class reference and the peak contrast."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from hmnet import report
from hmnet.data import load_task
from hmnet.experiments import RunConfig


def test_majority_baseline_scores_the_most_frequent_training_label_on_the_eval_rows():
    config = RunConfig("multi", ("RTE", "CB", "STS-B", "MultiRC"), scale=0.5, max_examples=80, max_eval_examples=60)
    base = report.majority_baseline(config)
    assert set(base) == {"RTE", "CB", "MultiRC"}  # STS-B is a regression task: no majority class
    for task in ("RTE", "CB"):
        data = load_task(task, scale=0.5, max_examples=80, max_eval_examples=60)
        majority = Counter(ex.label for ex in data["train"]).most_common(1)[0][0]
        dev = np.array([ex.label for ex in data["dev"]])
        assert base[task] == pytest.approx(100 * np.mean(dev == majority))
    assert 0 <= base["MultiRC"] <= 100


def test_majority_baseline_on_the_real_boolq_carve(shared_data_dir):
    config = RunConfig("multi", ("BoolQ",), source="directory", data_dir=str(shared_data_dir), carve_train=0.8,
                       max_examples=512, max_eval_examples=500)
    base = report.majority_baseline(config)["BoolQ"]
    assert 55 < base < 70  # BoolQ is about 62% "True"


def test_peak_contrast_is_paired_by_seed():
    rows = []
    for seed, offset in enumerate([0.0, 10.0, -5.0]):  # seed offsets cancel in the paired difference
        for x, score in zip(range(4), [50, 53, 56, 52]):
            rows.append({"task": "BoolQ", "seed": seed, "shared layers": x, "score": score + offset + 0.5 * seed * x})
    frame = pd.DataFrame(rows)
    out = report.peak_contrast(frame, "BoolQ", 2).set_index("comparison")
    low, high = out.loc["shared layers 2 - 0"], out.loc["shared layers 2 - 3"]
    assert low["mean"] == pytest.approx(6 + 0.5 * 2 * 1) and high["mean"] == pytest.approx(4 - 0.5 * 1)
    assert low["n"] == 3 and low["ci_low"] < low["mean"] < low["ci_high"]
    with pytest.raises(report.ParameterError, match="shared layers = 7 was not run for BoolQ"):
        report.peak_contrast(frame, "BoolQ", 7)
