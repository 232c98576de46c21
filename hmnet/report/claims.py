"""The ledger of the paper's claims that a number can test, each with a verdict computed from stored runs.

A verdict rests on per-seed paired differences (same seed: same data order and head initialisation) in the
direction the paper claims, with a Student-t 95% confidence interval over seeds:

- **supported**: the interval lies above zero;
- **contradicted**: the interval lies below zero;
- **not resolved at this scale**: the interval includes zero, or a single seed gives no interval;
- **not run**: the runs the claim needs are not stored (yet).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hmnet.metrics import mean_ci, paper_average

SUPPORTED, CONTRADICTED, UNRESOLVED, NOT_RUN = ("supported", "contradicted", "not resolved at this scale",
                                                "not run")
# Table 1's columns by run variant (as hmnet.plans.table1_plan names them).
TABLE1_VARIANTS = {"single": "Single-task", "multi": "Multi-task", "skillnet": "SkillNet", "hmnet:data": "HMNet_d",
                   "hmnet:manual": "HMNet_md", "hmnet:model": "HMNet_m"}
OURS = "hmnet:ours-"  # HMNet with one of our groupings: extra Table 1 rows (report.extra_groupings)


def table1_column(variant: str) -> str | None:
    """Table 1's column for a run variant: the paper's six, ``HMNet_ours-<name>`` for HMNet with our grouping
    <name>, None for runs of other sections."""
    if variant.startswith(OURS):
        return f"HMNet_ours-{variant[len(OURS):]}"
    return TABLE1_VARIANTS.get(variant)


@dataclass(frozen=True)
class Verdict:
    verdict: str
    evidence: str


def verdict_from_differences(diffs: Sequence[float], what: str, unit: str = "points") -> Verdict:
    """The verdict on paired differences in the claimed direction (positive: as the paper says), one per seed."""
    d = np.asarray([x for x in diffs if np.isfinite(x)], dtype=float)
    if len(d) == 0:
        return Verdict(NOT_RUN, f"no seed has the runs for {what}")
    ci = mean_ci(d)
    unit = f" {unit}" if unit else ""
    if len(d) == 1:
        return Verdict(UNRESOLVED, f"{what}: {ci['mean']:+.2f}{unit} on one seed (no interval)")
    text = (f"{what}: {ci['mean']:+.2f}{unit}, 95% CI [{ci['ci_low']:+.2f}, {ci['ci_high']:+.2f}], "
            f"n={len(d)} seeds")
    if ci["ci_low"] > 0:
        return Verdict(SUPPORTED, text)
    if ci["ci_high"] < 0:
        return Verdict(CONTRADICTED, text)
    return Verdict(UNRESOLVED, text)


def seed_averages(results: Iterable, without: Sequence[str] = ()) -> pd.DataFrame:
    """Table 1's average per seed (rows) and method column (columns), from Table 1 runs, over every task but
    those in `without`.

    Single-task runs of one seed combine into one average, and only when that seed holds every task the
    other single-task seeds hold; a method's average is its run's (recomputed from its scores, so that
    `without` applies to it too). Cells without complete runs are NaN.
    """
    singles: dict[int, dict] = {}
    rows: dict[int, dict[str, float]] = {}
    for r in results:
        column = table1_column(r.config.variant)
        if column is None:
            continue
        if r.config.method == "single":
            singles.setdefault(r.config.seed, {}).update(r.scores)
        else:
            rows.setdefault(r.config.seed, {})[column] = paper_average({t: v for t, v in r.scores.items()
                                                                         if t not in without})
    all_tasks = set().union(*[set(s) for s in singles.values()]) if singles else set()
    for seed, scores in singles.items():
        if set(scores) == all_tasks:
            kept = {t: v for t, v in scores.items() if t not in without}
            rows.setdefault(seed, {})["Single-task"] = paper_average(kept)
    frame = pd.DataFrame.from_dict(rows, orient="index").sort_index()
    ours = sorted(c for c in frame.columns if c not in TABLE1_VARIANTS.values())
    return frame.reindex(columns=[*TABLE1_VARIANTS.values(), *ours])


def paired(frame: pd.DataFrame, a: str, b: str) -> list[float]:
    """Per-seed a - b over the seeds that hold both."""
    if a not in frame or b not in frame:
        return []
    return (frame[a] - frame[b]).dropna().tolist()


def table1_claims(results: Iterable, not_learned: Sequence[str] = ()) -> list[dict]:
    """Table 1's claims: the ranking of the averages the paper reports. With `not_learned` (tasks whose
    single-task runs did not clear every constant prediction, the majority class included), multi- against
    single-task is also tested without them: a gain that rests on a baseline that never learned is not the
    paper's claim."""
    from hmnet.analysis import paper

    results = list(results)
    avg = seed_averages(results)
    published = paper.table1_averages()
    out = []

    def claim(text: str, a: str, b: str) -> None:
        v = verdict_from_differences(paired(avg, a, b), f"{a} - {b}")
        out.append({"claim": text, "paper": f"{a} {published[a]:.1f} vs {b} {published[b]:.1f}",
                    "verdict": v.verdict, "evidence": v.evidence, "section": "03"})

    six = list(TABLE1_VARIANTS.values())
    others = [c for c in six if c != "HMNet_m" and avg[c].notna().any()]
    if avg.get("HMNet_m") is not None and avg["HMNet_m"].notna().any() and others:
        best = max(others, key=lambda c: avg[c].mean())
        claim(f"HMNet_m has the best average of the six methods (closest rival here: {best})", "HMNet_m", best)
    else:
        out.append({"claim": "HMNet_m has the best average of the six methods", "paper": "HMNet_m 84.0, best",
                    "verdict": NOT_RUN, "evidence": "HMNet_m or its rivals have no complete seed", "section": "03"})
    for hm in ("HMNet_m", "HMNet_md", "HMNet_d"):
        claim(f"{hm} beats multi-task learning", hm, "Multi-task")
    claim("Multi-task learning beats single-task fine-tuning", "Multi-task", "Single-task")
    if not_learned:
        names = ", ".join(not_learned)
        v = verdict_from_differences(paired(seed_averages(results, not_learned), "Multi-task", "Single-task"),
                                     f"Multi-task - Single-task without {names}")
        out.append({"claim": f"... and without the tasks whose single-task runs did not learn here ({names})",
                    "paper": "not in the paper (the row above, on the tasks whose single-task runs learned)",
                    "verdict": v.verdict, "evidence": v.evidence, "section": "03"})
    claim("The model-based grouping beats the manual design", "HMNet_m", "HMNet_md")
    claim("The model-based grouping beats the data-property grouping", "HMNet_m", "HMNet_d")
    claim("HMNet_m beats the SkillNet-style sparse model", "HMNet_m", "SkillNet")
    for col in [c for c in avg.columns if c not in six]:  # our groupings: the paper's claim, tested on them
        v = verdict_from_differences(paired(avg, col, "Multi-task"), f"{col} - Multi-task")
        out.append({"claim": f"HMNet beats multi-task learning with our grouping too ({col})",
                    "paper": "not in the paper (our grouping; the paper's claim is for its own)",
                    "verdict": v.verdict, "evidence": v.evidence, "section": "03"})
    return out


def shared_layers_claim(per_seed: pd.DataFrame | None, depth: int | None, task: str = "BoolQ") -> dict:
    """Figure 3: the task's score peaks at about two-thirds of the layers shared (8 of 12 in the paper),
    above both ends (no sharing, all shared)."""
    text = f"{task} peaks at about 2/3 of the layers shared (Figure 3)"
    base = {"claim": text, "paper": "BoolQ best at 8 of 12 shared layers", "section": "04"}
    if per_seed is None or depth is None or per_seed.empty or task not in set(per_seed["task"]):
        return {**base, "verdict": NOT_RUN, "evidence": f"no {task} runs of the shared-layer ablation"}
    peak = round(2 * depth / 3)
    g = per_seed[per_seed["task"] == task].pivot_table(index="seed", columns="shared layers", values="score")
    verdicts = [verdict_from_differences((g[peak] - g[end]).tolist() if {peak, end} <= set(g.columns) else [],
                                         f"{peak} shared - {end} shared")
                for end in (0, depth)]
    return {**base, "verdict": all_of(verdicts), "evidence": "; ".join(v.evidence for v in verdicts)}


def all_of(verdicts: Sequence[Verdict]) -> str:
    """A claim made of several comparisons, all in the claimed direction: contradicted if any one is, supported
    if every one is, not run if none ran, else not resolved."""
    kinds = {v.verdict for v in verdicts}
    if not kinds or kinds == {NOT_RUN}:
        return NOT_RUN
    if CONTRADICTED in kinds:
        return CONTRADICTED
    return SUPPORTED if kinds == {SUPPORTED} else UNRESOLVED


def most_of(verdicts: Sequence[Verdict]) -> str:
    """A claim about most of several comparisons: supported if more than half are, contradicted if more than
    half go the other way, not run if none ran, else not resolved."""
    ran = [v for v in verdicts if v.verdict != NOT_RUN]
    if not ran:
        return NOT_RUN
    if sum(v.verdict == SUPPORTED for v in ran) > len(ran) / 2:
        return SUPPORTED
    return CONTRADICTED if sum(v.verdict == CONTRADICTED for v in ran) > len(ran) / 2 else UNRESOLVED


def ledger(table1_results: Iterable, shared_per_seed: pd.DataFrame | None, depth: int | None,
           more: Sequence[dict] = (), not_learned: Sequence[str] = ()) -> pd.DataFrame:
    """Every testable claim with its verdict and evidence: Table 1's (`not_learned`: see :func:`table1_claims`),
    Figure 3's, then `more` (the claims of Figures 2 and 4 and Appendix C, :mod:`hmnet.report.claims_figures`)."""
    rows = table1_claims(table1_results, not_learned) + [shared_layers_claim(shared_per_seed, depth)] + list(more)
    return pd.DataFrame(rows, columns=["claim", "paper", "verdict", "evidence", "section"])


def verdict_counts(frame: pd.DataFrame) -> Mapping[str, int]:
    return {v: int((frame["verdict"] == v).sum()) for v in (SUPPORTED, CONTRADICTED, UNRESOLVED, NOT_RUN)}
