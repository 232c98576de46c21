"""The floors a task's score is read against: the score of a model that learned nothing, on exactly the rows a
run trains and evaluates on. Two per classification task: the majority class (every evaluation row gets the
most frequent *training* label) and the best constant prediction (the best score any one label given to
every row reaches). Regression tasks (STS-B) have neither."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hmnet.tasks import get_task


def majority_baseline(config, tasks: Sequence[str] | None = None) -> dict[str, float]:
    """Each classification task's Table-1 score when every eval row gets the most frequent training label:
    the level of a model that learned nothing, on exactly the rows `config`'s runs train and evaluate on
    (same source, caps, carving and data seed). Regression tasks (STS-B) are left out."""
    return constant_baselines(config, tasks)[0]


def constant_baselines(config, tasks: Sequence[str] | None = None) -> tuple[dict[str, float], dict[str, float]]:
    """Two floors per classification task, on the rows `config`'s runs use: (the majority class: every eval row
    gets the most frequent *training* label; the best constant: the best score any one label given to every
    eval row reaches). They differ where the training majority is not the eval majority (RTE) or where the
    metric rewards the minority label (MultiRC's F1a is 0 for "false" everywhere, about 61 for "true"): a
    task has learned only once it beats every constant. Regression tasks (STS-B) are left out."""
    from collections import Counter

    from hmnet.data import load_run_task
    from hmnet.metrics import compute_metrics, table1_score, task_score

    majority_out, best_out = {}, {}
    registry = getattr(config, "registry", None)
    for task in tasks if tasks is not None else config.tasks:
        spec = get_task(task, registry)
        if spec.regression:
            continue
        data = load_run_task(config, task)
        majority = Counter(ex.label for ex in data["train"]).most_common(1)[0][0]
        evals = {s: rows for s, rows in data.splits.items() if s != "train" and rows}
        by_label = {}
        for label in range(spec.num_labels):
            metrics = {s: compute_metrics(task, np.full(len(rows), label), np.array([ex.label for ex in rows]),
                                          [ex.group for ex in rows] if rows[0].group is not None else None,
                                          registry=registry)
                       for s, rows in evals.items()}
            by_label[label] = task_score(table1_score(task, metrics, registry))
        majority_out[spec.name], best_out[spec.name] = by_label[majority], max(by_label.values())
    return majority_out, best_out



__all__ = ["majority_baseline", "constant_baselines"]
