"""Task metrics (0-100 scale) and the paper's "Average Score".

The average rule was found by recomputing Table 1's last row from its own cells:
MNLI-m and MNLI-mm count as two entries and every other task as one (14 numbers),
and each two-number task (STS-B, MultiRC, ...) enters with the number Table 1 prints.
That reproduces four of the six published averages exactly; see
:func:`check_published_averages` for the two that cannot be reproduced even
allowing for the rounding of every cell.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats

from hmnet.tasks import TASK_NAMES, TaskRegistry, TaskSpec, TaskSpecError, get_task


# Every metric this module computes, and the kind of task it applies to. A task names its metrics from here
# (a task file's unknown metric is an error naming the known ones); "accuracy_m"/"accuracy_mm" are the two
# numbers Table 1 prints for MNLI's two dev sets.
METRICS: dict[str, str] = {"accuracy": "classification", "f1": "binary", "f1_macro": "classification",
                           "f1a": "grouped", "em": "grouped", "pearson": "regression", "spearman": "regression"}
REPORTED_ONLY = ("accuracy_m", "accuracy_mm")


def check_task_metrics(spec: TaskSpec, grouped: bool | None = None) -> None:
    """A TaskSpecError unless every metric of `spec` is one of :data:`METRICS` and fits the task: regression
    metrics for a regression task only, F1 on two labels, F1a/EM where rows have a group (a question id;
    `grouped` says whether they do, None: not known here)."""
    for m in (*spec.metrics, *(t for t in spec.table1_metrics if t not in REPORTED_ONLY)):
        kind = METRICS.get(m)
        if kind is None:
            raise TaskSpecError(f"task {spec.name!r}: metric {m!r} is unknown; known: {', '.join(METRICS)}")
        if (kind == "regression") != spec.regression:
            need = "regression" if kind == "regression" else "classification"
            raise TaskSpecError(f"task {spec.name!r}: metric {m!r} is for {need} tasks; this one is "
                                f"{'regression' if spec.regression else 'classification'}")
        if kind == "binary" and spec.num_labels != 2:
            raise TaskSpecError(f"task {spec.name!r}: metric {m!r} needs two labels, the task has {spec.num_labels}")
        if kind == "grouped" and (grouped is False or spec.num_labels != 2):
            raise TaskSpecError(f"task {spec.name!r}: metric {m!r} needs two labels and a group column (the "
                                "question id its answers share)")
    missing = [t for t in spec.table1_metrics if t not in spec.metrics and t not in REPORTED_ONLY
               and not (spec.regression and METRICS.get(t) == "regression")]
    if missing:
        raise TaskSpecError(f"task {spec.name!r}: reported metric(s) {missing} are not among its metrics "
                            f"{list(spec.metrics)}")


def accuracy(pred: np.ndarray, gold: np.ndarray) -> float:
    return float(np.mean(pred == gold) * 100) if len(gold) else float("nan")


def f1_binary(pred: np.ndarray, gold: np.ndarray, positive: int = 1) -> float:
    tp = np.sum((pred == positive) & (gold == positive))
    fp = np.sum((pred == positive) & (gold != positive))
    fn = np.sum((pred != positive) & (gold == positive))
    return float(200 * tp / (2 * tp + fp + fn)) if tp + fp + fn else 0.0


def f1_macro(pred: np.ndarray, gold: np.ndarray, n_classes: int) -> float:
    return float(np.mean([f1_binary(pred, gold, c) for c in range(n_classes)]))


def multirc_scores(pred: np.ndarray, gold: np.ndarray, groups: Sequence[str]) -> dict[str, float]:
    """F1a: binary F1 over all answer options; EM: share of questions with every option right."""
    by_q: dict[str, list[bool]] = defaultdict(list)
    for p, g, q in zip(pred, gold, groups):
        by_q[q].append(bool(p == g))
    em = float(np.mean([all(v) for v in by_q.values()]) * 100) if by_q else float("nan")
    return {"f1a": f1_binary(pred, gold), "em": em}


def compute_metrics(task: str, predictions, labels, groups: Sequence[str] | None = None,
                    registry: TaskRegistry | None = None) -> dict[str, float]:
    """The task's metrics from predictions (class ids, logits, or scores for STS-B) and gold labels."""
    spec = get_task(task, registry)
    pred = np.asarray(predictions)
    gold = np.asarray(labels)
    if len(pred) != len(gold):
        raise ValueError(f"{spec.name}: {len(pred)} predictions for {len(gold)} labels")
    if spec.regression:
        pred = pred.reshape(len(pred), -1)[:, 0] if pred.ndim > 1 else pred
        if len(gold) < 2 or np.std(pred) == 0 or np.std(gold) == 0:
            return {"pearson": 0.0, "spearman": 0.0}
        return {"pearson": float(stats.pearsonr(pred, gold)[0] * 100),
                "spearman": float(stats.spearmanr(pred, gold)[0] * 100)}
    if pred.ndim == 2:
        pred = pred.argmax(-1)
    out: dict[str, float] = {}
    for m in spec.metrics:
        if m == "accuracy":
            out[m] = accuracy(pred, gold)
        elif m == "f1":
            out[m] = f1_binary(pred, gold)
        elif m == "f1_macro":
            out[m] = f1_macro(pred, gold, spec.num_labels)
        elif m in ("f1a", "em"):
            if groups is None:
                raise ValueError(f"{spec.name}: EM and F1a need the question id of every row")
            out.update(multirc_scores(pred, gold, groups))
        else:
            raise ValueError(f"{spec.name}: metric {m!r} is unknown; known: {', '.join(METRICS)}")
    return out


def table1_score(task: str, metrics_by_split: Mapping[str, Mapping[str, float]],
                 registry: TaskRegistry | None = None) -> float | tuple[float, float]:
    """The number(s) Table 1 prints for a task: (m, mm) accuracy for MNLI, one number otherwise.

    `metrics_by_split` maps eval split -> metrics. MNLI with only its matched split (the shared data has
    no mismatched file) returns the matched accuracy alone.
    """
    spec = get_task(task, registry)
    if spec.name == "MNLI":
        m = metrics_by_split.get("dev_matched", {}).get("accuracy")
        mm = metrics_by_split.get("dev_mismatched", {}).get("accuracy")
        if m is not None and mm is not None:
            return (m, mm)
        if m is None and mm is None:
            raise KeyError("MNLI has no matched or mismatched accuracy")
        return m if m is not None else mm
    split = spec.eval_splits[0]
    if split not in metrics_by_split:
        raise KeyError(f"{spec.name}: no metrics for eval split {split!r}")
    return metrics_by_split[split][spec.table1_metrics[0]]


def task_score(score: float | tuple[float, ...]) -> float:
    """One number per task (MNLI: the mean of m and mm), e.g. for relevance Eq. 3-4."""
    return float(np.mean(score)) if isinstance(score, (tuple, list)) else float(score)


def _entries(scores: Mapping[str, float | Sequence[float]], registry: TaskRegistry | None = None) -> list[float]:
    out: list[float] = []
    for task, s in scores.items():
        get_task(task, registry)
        out.extend(s if isinstance(s, (tuple, list)) else [s])
    return [float(x) for x in out]


def paper_average(scores: Mapping[str, float | Sequence[float]], registry: TaskRegistry | None = None) -> float:
    """Table 1's "Average Score": mean over the printed numbers, MNLI-m and MNLI-mm as two entries."""
    entries = _entries(scores, registry)
    if not entries:
        raise ValueError("no scores to average")
    return float(np.mean(entries))


def average_bounds(scores: Mapping[str, float | Sequence[float]], decimals: int = 1) -> tuple[float, float]:
    """The range the average can take if every cell was rounded to `decimals` places."""
    entries = np.array(_entries(scores))
    half = 0.5 * 10 ** -decimals
    return float(np.mean(entries - half)), float(np.mean(entries + half))


def check_published_averages(table1: Mapping[str, Mapping[str, float | Sequence[float]]],
                             published: Mapping[str, float], decimals: int = 1) -> list[dict]:
    """For each method: our average of the printed cells, the published one, and whether the published
    one is reachable at all once every cell's rounding is allowed for."""
    rows = []
    for method, scores in table1.items():
        ours = paper_average(scores)
        lo, hi = average_bounds(scores, decimals)
        pub = published[method]
        half = 0.5 * 10 ** -decimals
        reachable = lo < pub + half and hi >= pub - half
        rows.append({"method": method, "recomputed": round(ours, 3), "published": pub,
                     "rounds_to_published": round(ours, decimals) == pub,
                     "reachable_with_rounding": bool(reachable), "min": round(lo, 3), "max": round(hi, 3)})
    return rows


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> dict[str, float]:
    """Mean, sample standard deviation and a Student-t confidence interval over seeds."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n == 0:
        raise ValueError("no values")
    mean = float(x.mean())
    if n == 1:
        return {"mean": mean, "std": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "n": 1}
    sd = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * sd / np.sqrt(n))
    return {"mean": mean, "std": sd, "ci_low": mean - half, "ci_high": mean + half, "n": n}


__all__ = ["METRICS", "check_task_metrics", "compute_metrics", "table1_score", "task_score", "paper_average",
           "average_bounds", "check_published_averages", "mean_ci", "TASK_NAMES"]
