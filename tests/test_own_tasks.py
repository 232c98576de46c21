"""A task file end to end on the smoke profile, from the command line: three toy tasks in three formats (CSV files,
JSON lines, a folder of Parquet files), vocabulary and model-based relevance, k-means groups written as HMNet
clusters, the four methods trained on them, and the campaign planning the same runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from hmnet.cli import main
from hmnet.results import load_results
from hmnet.toytasks import write_toy_tasks

TOY = ("Polarity", "Stance", "Paraphrase")


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("own")
    return write_toy_tasks(root / "tasks"), root


def test_vocabulary_relevance_and_clustering_find_the_planted_groups(work, capsys):
    task_file, root = work
    assert main(["relevance", "--measure", "vocab", "--task-file", str(task_file), "--word", "whitespace",
                 "--k", "0", "--out", str(root / "vocab.json")]) == 0
    assert main(["cluster", "--matrix", str(root / "vocab.json"), "--task-file", str(task_file), "--k", "2",
                 "--clusters-out", str(root / "vocab_clusters.json")]) == 0
    out = capsys.readouterr().out
    assert "{Paraphrase} {Polarity, Stance}" in out and "hmnet train --method hmnet" in out
    assert sorted(map(sorted, json.loads((root / "vocab_clusters.json").read_text()).values())) == \
        [["Paraphrase"], ["Polarity", "Stance"]]
    assert main(["relevance", "--measure", "manual", "--task-file", str(task_file)]) == 0
    assert "{Paraphrase} {Polarity} {Stance}" in capsys.readouterr().out  # three categories


def test_the_four_methods_train_on_a_task_file_after_model_based_relevance(work, capsys):
    task_file, root = work
    results = root / "store" / "results"
    assert main(["relevance", "--measure", "model", "--task-file", str(task_file), "--profile", "smoke",
                 "--seeds", "0", "--results-dir", str(results), "--k", "0", "--out", str(root / "model.json")]) == 0
    assert main(["cluster", "--matrix", str(root / "model.json"), "--task-file", str(task_file), "--k", "2",
                 "--clusters-out", str(root / "model_clusters.json")]) == 0
    clusters = json.loads((root / "model_clusters.json").read_text())
    groupings = root / "groupings.json"
    groupings.write_text(json.dumps({"model": clusters}))
    assert main(["plan", "run", "table1", "--task-file", str(task_file), "--seeds", "0", "--results", str(results),
                 "--groupings-json", f"@{groupings}", "--no-progress"]) == 0
    stored = load_results(results)
    methods = {r.config.method for r in stored}
    assert methods == {"single", "multi", "skillnet", "hmnet"}
    assert {t for r in stored if r.config.method == "single" for t in r.config.tasks} == set(TOY)
    for r in stored:
        assert all(math.isfinite(r.score(t)) for t in r.config.tasks), r.config.variant
    hmnet = next(r for r in stored if r.config.method == "hmnet")
    assert {k: set(v) for k, v in hmnet.config.clusters.items()} == {k: set(v) for k, v in clusters.items()}
    capsys.readouterr()
    # The campaign plans the notebooks' runs with the same keys: all but HMNet's manual grouping are stored.
    assert main(["campaign", "status", "--profile", "smoke", "--store", str(root / "store"), "--sections", "table1",
                 "-p", "task_file", str(task_file), "-p", "seeds", "[0]"]) == 0
    assert "5 of   6 runs stored" in capsys.readouterr().out
