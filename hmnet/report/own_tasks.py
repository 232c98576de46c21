"""Section 07, HMNet on your own tasks: a task file (the toy example of :mod:`hmnet.toytasks` unless the notebook
names one) taken through the whole method: its tasks, vocabulary and model-based relevance, the k-means groups
turned into HMNet clusters, the four methods trained on them, and the HMNet model exported in the Hugging Face
format and asked to predict."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from hmnet.analysis.relevance import (VocabConfig, VocabularyCache, manual_grouping, model_relevance_from_results,
                                      vocab_relevance)
from hmnet.data import load_run_task
from hmnet.data.taskfile import check_rows
from hmnet.metrics import compute_metrics, table1_score, task_score
from hmnet.profiles import runs_dir
from hmnet.report.export import export_run
from hmnet.report.figures import heatmap, save_figure
from hmnet.report.groupings import cluster_relevance, groupings_table
from hmnet.report.tables import show_table
from hmnet.results import summarize
from hmnet.sections.pairwise import plan_runs
from hmnet.sections.parameters import ParameterError, RunParameters
from hmnet.sections.table1 import configs
from hmnet.toytasks import write_toy_tasks

# Under the output folder: the toy example and this page's runs. The runs stay out of <out>/results, which the
# claims ledger and the store read as the paper's sections (Table 1, Eq. 4, ...).
OWN_FOLDER = "own_tasks"


def own_results_dir(params: RunParameters) -> Path:
    """Where this page's runs are cached: ``<out>/own_tasks/results``."""
    return Path(params.out_dir) / OWN_FOLDER / "results"


def _run(configs: Sequence, params: RunParameters) -> list:
    from hmnet.train import run_plan

    if not configs:
        raise ParameterError("the plan holds no runs")
    return run_plan(list(configs), own_results_dir(params), progress=False)


def own_task_file(task_file=None, profile: str = "smoke", out_dir=None) -> str:
    """`task_file` if given, else the toy example written under the output folder the page will use
    (``out_dir``, ``$HMNET_OUT_DIR`` or ``_build/runs/<profile>``)."""
    if task_file is not None:
        return task_file

    out = Path(out_dir or os.environ.get("HMNET_OUT_DIR") or runs_dir(str(profile))).expanduser()
    return str(write_toy_tasks(out / OWN_FOLDER))


def _own(params: RunParameters) -> tuple[str, ...]:
    own = tuple(t for t in params.tasks if not params.registry.get(t).builtin)
    if not params.task_file or not own:
        raise ParameterError("this page needs tasks from a task file: pass task_file (None: the toy example)")
    return params.tasks


def show_task_file(params: RunParameters) -> pd.DataFrame:
    """The task file as written, and one row per task: its format, labels, metric, files and rows."""
    from IPython.display import Markdown, display

    tasks = _own(params)
    text = Path(params.task_file).read_text(encoding="utf-8")
    display(Markdown(f"`{Path(params.task_file).name}`:\n\n```yaml\n{text.rstrip()}\n```"))
    counts = check_rows(params.registry, [t for t in tasks if not params.registry.get(t).builtin])
    rows = []
    for t in tasks:
        s = params.registry.get(t)
        files = "; ".join(f"{split}: {', '.join(Path(f).name for f in fs)}" for split, fs in s.files.splits.items()) \
            if s.files else ("the built-in data" if s.builtin else f"hub {s.hub.path}")
        rows.append({"task": t, "category": s.category, "format": s.input_format,
                     "labels": "regression" if s.regression else ", ".join(s.labels),
                     "reported metric": s.table1_metrics[0], "files": files,
                     "rows": ", ".join(f"{n} {split}" for split, n in counts.get(t, {}).items())})
    frame = pd.DataFrame(rows)
    show_table(frame, params.out_dir, "own_tasks")
    return frame


def _matrix_figure(matrix: pd.DataFrame, title: str, params: RunParameters, name: str, center=None):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(0.9 * len(matrix) + 3, 0.7 * len(matrix) + 1.8))
    heatmap(matrix, title, ax=ax, center=center)
    tidy = matrix.stack().rename("value").reset_index()
    save_figure(fig, tidy, params.out_dir, name)
    return fig


def own_vocabulary_relevance(params: RunParameters):
    """Eq. 2 over the tasks' training texts, words as the backbone's tokenizer splits them; (matrix, figure)."""
    tasks = _own(params)
    cache = VocabularyCache(params.data_source, params.data_dir, registry=params.registry)
    matrix = vocab_relevance(tasks, config=VocabConfig("wordpiece", "train", params.backbone), cache=cache)
    return matrix, _matrix_figure(matrix, "Vocabulary co-occurrence (%), Eq. 2", params, "own_vocabulary")


def own_model_relevance(params: RunParameters):
    """Eq. 4 from one single-task run per task and one multi-task run per pair (the first seed);
    (matrix, figure, results)."""
    tasks = _own(params)
    plan = plan_runs(params.experiment_profile(), tasks, params.seeds[:1])
    results = _run(plan, params)
    matrix = model_relevance_from_results(results)
    return matrix, _matrix_figure(matrix, "Gain from joint training (%), Eq. 4", params, "own_model_based", 0), results


def own_groupings(params: RunParameters, matrices: Mapping[str, pd.DataFrame], k: int = 2) -> dict:
    """The manual design (the tasks' categories) and the k-means groups of each relevance matrix (Section 3.3),
    each a grouping HMNet can be trained with; shown as a table."""
    tasks = _own(params)
    groupings = {"manual": manual_grouping(tasks, params.registry), **cluster_relevance(matrices, k)}
    show_table(groupings_table(groupings), params.out_dir, "own_groupings")
    return groupings


def own_results(params: RunParameters, groupings: Mapping[str, Sequence[Sequence[str]]]):
    """The four methods on the tasks (HMNet once per grouping), every seed; (results, table, figure). The table
    holds each task's mean over seeds with the 95% interval's half-width, and the average."""
    import matplotlib.pyplot as plt

    _own(params)
    results = _run(configs(params, groupings, params.seeds), params)
    summary = summarize(results)
    summary["cell"] = [f"{m:.1f}" + (f" ± {(h - lo) / 2:.1f}" if np.isfinite(lo) else "")
                       for m, lo, h in zip(summary["mean"], summary["ci_low"], summary["ci_high"])]
    order = [*dict.fromkeys(summary["task"])]
    table = summary.pivot(index="task", columns="variant", values="cell").loc[order]
    show_table(table, params.out_dir, "own_results")
    avg = summary[summary["task"] == "Average"]
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.barh(avg["variant"], avg["mean"], xerr=(avg["ci_high"] - avg["ci_low"]).fillna(0) / 2, color="#4c72b0")
    ax.set_xlabel(f"average over the tasks (mean of {len(params.seeds)} seed(s), 95% interval)")
    save_figure(fig, summary.drop(columns="cell"), params.out_dir, "own_results")
    return results, table, fig


def export_own_model(params: RunParameters, results: Sequence, grouping: str | None = None) -> Path:
    """The first seed's HMNet run with `grouping` (default: the model-based one, else the first) trained again
    with its model kept (if it was not), then exported as a Hugging Face folder
    (``<out>/own_tasks/exported/hmnet-<grouping>``); returns the folder."""
    from hmnet.train import train

    groupings = [r.config.tag("grouping") for r in results if r.config.tag("role") == "hmnet"]
    grouping = grouping or ("model" if "model" in groupings else (groupings or ["manual"])[0])
    runs = [r for r in results if r.config.tag("role") == "hmnet" and r.config.tag("grouping") == grouping]
    if not runs:
        raise ParameterError(f"no HMNet run with the {grouping!r} grouping to export; the HMNet runs have "
                             f"{sorted(set(groupings))}")
    config = min(runs, key=lambda r: r.config.seed).config
    train(config, own_results_dir(params), keep_model=True, progress=False)
    folder = Path(params.out_dir) / OWN_FOLDER / "exported" / f"hmnet-{grouping}"
    export_run(config.key(), folder, own_results_dir(params))
    return folder


def own_predictions(params: RunParameters, folder: Path, shown: int = 2) -> pd.DataFrame:
    """`predict` from the exported folder: on each task's evaluation rows (the run's own), its score beside the
    one the run stored, and a few rows with their label and prediction."""
    from hmnet.models import HMNetForTasks

    model = HMNetForTasks.from_pretrained(str(folder))
    stored, rows = model.run.get("scores", {}), []
    for task in model.tasks:
        spec = model.registry.get(task)
        split = spec.eval_splits[0]
        data = load_run_task(params.experiment_profile().run_config("multi"), task, splits=[split])[split]
        texts = [[t for t in (ex.text_a, ex.text_b, ex.text_c) if t is not None] for ex in data]
        pred = model.predict(task, texts)
        ids = pred if spec.regression else [spec.labels.index(p) for p in pred]
        groups = [ex.group for ex in data] if data[0].group is not None else None
        score = task_score(table1_score(task, {split: compute_metrics(task, ids, [ex.label for ex in data], groups,
                                                                      registry=model.registry)}, model.registry))
        for ex, p in list(zip(data, pred))[:shown]:
            rows.append({"task": task, "texts": " | ".join(x for x in (ex.text_a, ex.text_b, ex.text_c) if x)[:80],
                         "label": ex.label if spec.regression else spec.labels[int(ex.label)], "predicted": p,
                         f"predict's {split} score": round(score, 2),
                         "stored score": round(task_score(stored[task]), 2) if task in stored else None})
    frame = pd.DataFrame(rows)
    show_table(frame, params.out_dir, "own_predictions")
    return frame


__all__ = ["own_task_file", "show_task_file", "own_vocabulary_relevance", "own_model_relevance", "own_groupings",
           "own_results", "export_own_model", "own_predictions"]
