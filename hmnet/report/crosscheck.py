"""Notebook 03's cross-check of the single-task column against the Hugging Face Trainer (``hmnet.train.hf_check``).

The HF runs are made by the campaign (``hmnet campaign run --sections hf_check``), never by the notebook: the
page shows what the store holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from hmnet.analysis.floors import constant_baselines
from hmnet.metrics import mean_ci
from hmnet.report.figures import record_finding
from hmnet.report.page import show_text
from hmnet.report.tables import show_table
from hmnet.protocol import get_protocol
from hmnet.results import entry_task, load_results
from hmnet.sections.parameters import RunParameters


def hf_crosscheck(params: RunParameters, results: Sequence) -> tuple[pd.DataFrame | None, str]:
    """(per task: our single-task score, the HF Trainer's, the paired difference with its 95% CI and whether
    they agree within noise; or None) and a sentence saying what was compared."""
    from hmnet.train.hf_check import HF_TASKS, comparison, read_record, record_path

    singles = [r for r in results if r.config.method == "single" and r.config.tasks[0] in HF_TASKS]
    records = [rec for r in singles if (rec := read_record(record_path(params.out_dir, r.config), r.config))]
    if not records:
        protocol = params.run_profile.protocol
        registered = get_protocol(params.profile, protocol) if protocol else None
        if registered is not None and "hf_check" in registered.not_run:
            return None, (f"Protocol {protocol} does not run the Hugging Face Trainer cross-check, as registered: "
                          f"{registered.not_run['hf_check']}")
        return None, (f"No Hugging Face Trainer runs are stored for {', '.join(HF_TASKS)} in this build "
                      "(`hmnet campaign run --sections hf_check` makes them).")
    _, summary = comparison(singles, records)
    agree = summary[summary["agree within noise"]]["task"].tolist()
    parts = [f"{row['task']} {row['ours']:.1f} vs {row['HF Trainer']:.1f} (difference {row['mean difference']:+.1f}, "
             f"95% CI [{row['ci_low']:+.1f}, {row['ci_high']:+.1f}])" for row in summary.to_dict("records")]
    text = (f"The HF Trainer, trained on the same model, rows and settings, against our single-task runs over "
            f"{len(records)} paired seeds: {'; '.join(parts)}. Within noise: {', '.join(agree) if agree else 'none'}.")
    return summary, text


def majority_verdict(scores: Sequence[float], base: float, exempt: bool = False, best: float | None = None) -> dict:
    """Mean, 95% CI and n of `scores` over seeds, and whether the interval lies above the majority class `base`
    and above the best constant prediction `best` (default `base`): "above", "not above", "one seed: no
    interval", or "exempt"."""
    ci = mean_ci(scores)
    best = base if best is None else max(base, best)

    def verdict(floor: float) -> str:
        if exempt:
            return "exempt"
        if ci["n"] < 2:
            return "one seed: no interval"
        return "above" if ci["ci_low"] > floor else "not above"

    return {"n": ci["n"], "mean": ci["mean"], "ci_low": ci["ci_low"], "ci_high": ci["ci_high"],
            "majority class": base, "above the majority class": verdict(base),
            "best constant": best, "above every constant": verdict(best)}


VERDICT_COLUMNS = ["n", "mean", "ci_low", "ci_high", "majority class", "above the majority class", "best constant",
                   "above every constant"]


def single_vs_majority(results: Sequence, baseline: dict[str, float], exempt: Sequence[str] = ("WNLI",),
                       best: dict[str, float] | None = None):
    """Table 1's single-task column against two floors: per task, our mean with its 95% CI over seeds, the
    majority-class score on the same rows and the best constant prediction's (``constant_baselines``; default the
    majority class), and whether the interval lies above each. STS-B (regression) is compared with a
    correlation of zero. `exempt` tasks (WNLI: adversarial, below majority for most models) are marked, not
    judged."""
    by_task: dict[str, list[float]] = {}
    for r in results:
        if r.config.method == "single":
            task = r.config.tasks[0]
            by_task.setdefault(task, []).append(r.score(task))
    rows = [{"task": task, **majority_verdict(scores, baseline.get(task, 0.0), task in exempt,
                                              (best or {}).get(task))}
            for task, scores in by_task.items()]
    return pd.DataFrame(rows, columns=["task", *VERDICT_COLUMNS])


def single_task_checks(params: RunParameters, results: Sequence):
    """Both checks of Table 1's single-task column for notebook 03: (the floors table, HF Trainer table or
    None, a sentence on the HF comparison). The floors are computed on the rows the runs use."""
    singles = [r for r in results if r.config.method == "single"]
    majority, best = constant_baselines(singles[0].config, params.tasks) if singles else ({}, {})
    hf_table, note = hf_crosscheck(params, results)
    return single_vs_majority(singles, majority, best=best), hf_table, note


def not_learned(floors: pd.DataFrame) -> list[str]:
    """The tasks of :func:`single_vs_majority`'s table whose single-task interval does not clear every constant
    prediction (the majority class included): they did not learn in this build."""
    return floors.loc[floors["above every constant"] == "not above", "task"].tolist()


def floor_note(summary: pd.DataFrame, floors: pd.DataFrame) -> str:
    """Which Table 1 cells (any method) have a 95% interval that does not clear the task's best constant
    prediction, from :func:`single_vs_majority`'s table: a cell there measures no learning, whatever its
    rank. Cells with one seed are not judged."""
    best = dict(zip(floors["task"], floors["best constant"]))
    below: dict[str, list[str]] = {}
    for row in summary[summary["task"] != "Average"].to_dict("records"):
        floor = best.get(entry_task(row["task"]))
        if floor is not None and row["n"] > 1 and not row["ci_low"] > floor:
            below.setdefault(row["task"], []).append(row["variant"])
    if not below:
        return "Every Table 1 cell with two or more seeds clears its task's best constant prediction."
    parts = []
    for task, v in below.items():
        total = summary.loc[summary["task"] == task, "variant"].nunique()
        which = f"all {total} columns" if len(v) == total > 1 else f"{len(v)} of {total}: {', '.join(v)}"
        parts.append(f"{task} ({which}; best constant {best[entry_task(task)]:.1f})")
    return ("Cells whose 95% interval does not clear the best constant prediction (one label for every row), so "
            f"that they measure no learning: {'; '.join(parts)}.")


def scale_probes(params: RunParameters, results: Sequence, majority: pd.DataFrame) -> tuple[pd.DataFrame | None, str]:
    """Runs made to choose the build's scale (``<out_dir>/probes``, e.g. ``hmnet train ... --max-length 256
    --results reference/local/probes``): per probe, the task, what it changed from Table 1's single-task run of
    the same task and seed, its score, Table 1's score, the majority class and the best constant prediction
    (from :func:`single_vs_majority`'s table). (None, "") when there are none."""
    probes = [r for r in load_results(Path(params.out_dir) / "probes") if r.config.method == "single"]
    if not probes:
        return None, ""
    ours = {(r.config.tasks[0], r.config.seed): r for r in results if r.config.method == "single"}
    base = dict(zip(majority["task"], majority["majority class"]))
    best = dict(zip(majority["task"], majority["best constant"]))
    prof = params.experiment_profile()
    rows = []
    for probe in probes:
        task, seed = probe.config.tasks[0], probe.config.seed
        reference = prof.run_config("single", tasks=(task,), seed=seed).to_dict()
        changed = {k: v for k, v in probe.config.to_dict().items()
                   if k not in ("data_dir", "name") and reference[k] != v}
        table1 = ours.get((task, seed))
        rows.append({"task": task, "seed": seed, "changed": ", ".join(f"{k} {reference[k]} → {v}" for k, v in
                                                                        changed.items()) or "nothing",
                     "score": probe.score(task), "Table 1 run": None if table1 is None else table1.score(task),
                     "majority class": base.get(task), "best constant": best.get(task)})
    text = (f"{len(rows)} single-task probe run(s), made to choose the scale or to see why a task did not learn, "
            "change settings of Table 1's recipe (listed per run, then summarised per task and change against the "
            "majority class and the best constant prediction); they are not part of Table 1.")
    frame = pd.DataFrame(rows).sort_values(["task", "changed", "seed"], kind="stable", ignore_index=True)
    return frame, text


def probe_summary(probes: pd.DataFrame) -> pd.DataFrame:
    """:func:`scale_probes`' runs summarised per task and change: the probes' mean and 95% CI over their seeds
    against the majority class and the best constant prediction, and Table 1's mean on the same seeds (where
    stored), so that a change that makes a task learn is read off with its interval, not from one seed."""
    rows = []
    for (task, changed), g in probes.groupby(["task", "changed"], sort=False):
        base, best = g["majority class"].iloc[0], g["best constant"].iloc[0]
        verdict = majority_verdict(g["score"].tolist(), 0.0 if pd.isna(base) else float(base),
                                   best=None if pd.isna(best) else float(best))
        table1 = g["Table 1 run"].dropna()
        rows.append({"task": task, "changed": changed, **verdict,
                     "Table 1, same seeds": table1.mean() if len(table1) == len(g) else None})
    return pd.DataFrame(rows, columns=["task", "changed", *VERDICT_COLUMNS, "Table 1, same seeds"])


def probe_findings(params: RunParameters, probes: pd.DataFrame, section: str = "03") -> pd.DataFrame:
    """:func:`probe_summary` shown as a table and as one finding per task and change (its mean, interval and
    verdict against the majority class and, where it is higher, the best constant prediction, and Table 1's mean
    on the same seeds). Returns the summary."""
    summary = probe_summary(probes)
    show_table(summary, params.out_dir, "table1_scale_probes_summary")
    lines = []
    for row in summary.to_dict("records"):
        several = row["n"] > 1
        ci = f"95% CI [{row['ci_low']:.1f}, {row['ci_high']:.1f}], {row['n']} seeds" if several else "one seed, no CI"
        verdict = f": {row['above the majority class']}" if several else ""
        if row["best constant"] > row["majority class"]:
            verdict += (f"; against the best constant prediction {row['best constant']:.1f}"
                        + (f": {row['above every constant']}" if several else ""))
        table1 = "" if pd.isna(row["Table 1, same seeds"]) else \
            f"; Table 1's recipe on the same seed{'s' if several else ''}: {row['Table 1, same seeds']:.1f}"
        line = (f"{row['task']}, single-task with {row['changed']}: {row['mean']:.1f} ({ci}) against the majority "
                f"class {row['majority class']:.1f}{verdict}{table1}.")
        record_finding(params.out_dir, section, f"Probe: {row['task']} with {row['changed']}", line)
        lines.append(f"- {line}")
    show_text("\n".join(lines))
    return summary


def learned_note(majority: pd.DataFrame) -> str:
    """One sentence from :func:`single_vs_majority`'s table: which tasks did not get above the majority class in
    this build (they stay in Table 1 with their scores), which cleared it but not the best constant prediction,
    and which cannot be judged yet."""
    verdicts = dict(zip(majority["task"], majority["above the majority class"]))
    constant = dict(zip(majority["task"], majority["above every constant"]))
    below = [t for t, v in verdicts.items() if v == "not above"]
    open_ = [t for t, v in verdicts.items() if v == "one seed: no interval"]
    above = [t for t, v in verdicts.items() if v == "above"]
    short = [t for t in above if constant[t] == "not above"]
    parts = [f"Above the majority class with the interval clear of it: {', '.join(above) or 'none'}."]
    if short:
        parts.append(f"Of these, not clear of the best constant prediction: {', '.join(short)}.")
    if below:
        parts.append(f"Not above it within this build's budget: {', '.join(below)}; they stay in Table 1 with "
                     "their scores, and the claims that rest on them read accordingly.")
    if open_:
        parts.append(f"One seed only, no interval yet: {', '.join(open_)}.")
    return " ".join(parts)
