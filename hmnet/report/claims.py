"""The ledger of the paper's claims that a number can test, each with a verdict computed from stored runs.

A claim is a family of comparisons (:mod:`hmnet.analysis.verdicts`): per-seed paired differences (same seed:
same data order and head initialisation) in the direction the paper claims, each set beside the paper's own
effect on the same entries, Holm-adjusted within the claim, and classed as supported, contradicted, smaller
than the paper's, not resolved or not run. A claim of several comparisons is decided by :func:`all_of` or
:func:`most_of`. No comparison belongs to two claims.

Table 1's comparisons are made on an analysis set of tasks (a protocol registers it: v2 leaves out the tasks
whose single-task runs cannot clear their constant floors, since a difference there measures a shift of bias,
not learning); the same comparison on every task is given beside it. Where the paper prints no number (Figures
3 and 4, Appendix C), a reference effect registered by the protocol stands in for "the paper's effect".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from hmnet.analysis.verdicts import (CONTRADICTED, NOT_RUN, SMALLER, SUPPORTED, UNRESOLVED, VERDICTS, Comparison,
                                     all_of, compare, family, most_of)
from hmnet.metrics import paper_average

# Table 1's columns by run variant (as hmnet.plans.table1_plan names them).
TABLE1_VARIANTS = {"single": "Single-task", "multi": "Multi-task", "skillnet": "SkillNet", "hmnet:data": "HMNet_d",
                   "hmnet:manual": "HMNet_md", "hmnet:model": "HMNet_m"}
OURS = "hmnet:ours-"  # HMNet with one of our groupings: extra Table 1 rows (report.extra_groupings)
# Where the paper prints no number, a protocol may register the effect a comparison is held against
# ("reference_effects" in its analysis); without one (protocol v1, which registered none) those comparisons
# have no paper's effect and cannot be "smaller than the paper's".
NO_REFERENCE = float("nan")
# The Table 1 entry of each task in the paper (its first Table 1 metric; MNLI's matched accuracy: our bundle
# has no mismatched file).
_PAPER_METRIC = {"MNLI": "accuracy_m", "STS-B": "pearson", "MultiRC": "f1a"}
__all__ = ["ClaimResult", "ledger", "table1_claims", "shared_layers_claim", "seed_averages", "paired",
           "table1_column", "verdict_counts", "claim_row", "decide", "TABLE1_VARIANTS", "NO_REFERENCE",
           "SUPPORTED", "CONTRADICTED", "SMALLER", "UNRESOLVED", "NOT_RUN", "VERDICTS_ALL", "all_of", "most_of"]
VERDICTS_ALL = VERDICTS


def table1_column(variant: str) -> str | None:
    """Table 1's column for a run variant: the paper's six, ``HMNet_ours-<name>`` for HMNet with our grouping
    <name>, None for runs of other sections."""
    if variant.startswith(OURS):
        return f"HMNet_ours-{variant[len(OURS):]}"
    return TABLE1_VARIANTS.get(variant)


@dataclass(frozen=True)
class ClaimResult:
    """One row of the ledger: the claim, what the paper says, its comparisons (Holm-adjusted together), the
    verdict, and a short note beside the numbers."""

    claim: str
    paper: str
    section: str
    members: tuple[Comparison, ...]
    verdict: str
    note: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def evidence(self) -> str:
        parts = [m.short() for m in self.members] or ["no seed holds the runs"]
        return "; ".join(parts) + (f" | {self.note}" if self.note else "")


def decide(claim: str, paper: str, section: str, members: Sequence[Comparison], how=all_of,
           note: str = "") -> ClaimResult:
    adjusted = tuple(family(members))
    return ClaimResult(claim, paper, section, adjusted, how(adjusted) if adjusted else NOT_RUN, note)


def claim_row(c: ClaimResult) -> dict:
    return {"claim": c.claim, "paper": c.paper, "verdict": c.verdict, "evidence": c.evidence, "section": c.section,
            "members": [m.__dict__ for m in c.members]}


# ---------------------------------------------------------------------------------------------------------
# Table 1


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


def paper_table1_effect(a: str, b: str, tasks: Sequence[str]) -> float:
    """The paper's a - b averaged over the same Table 1 entries as ours (`tasks`, MNLI matched only)."""
    from hmnet.analysis import paper

    t1 = paper.table1()
    entries = [e for e in ((t, _PAPER_METRIC.get(t, "accuracy")) for t in tasks) if e in t1.index]
    return float(t1.loc[entries, a].mean() - t1.loc[entries, b].mean())


# The paper's Table 1 claims, each a family of (a, b) comparisons on the averages.
TABLE1_FAMILIES: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("Multi-task learning beats single-task fine-tuning", (("Multi-task", "Single-task"),)),
    ("HMNet beats multi-task learning with every grouping",
     (("HMNet_d", "Multi-task"), ("HMNet_md", "Multi-task"), ("HMNet_m", "Multi-task"))),
    ("HMNet_m beats the SkillNet-style sparse model", (("HMNet_m", "SkillNet"),)),
    ("The model-based grouping is the best of the three", (("HMNet_m", "HMNet_md"), ("HMNet_m", "HMNet_d"))),
)


def table1_claims(results: Iterable, analysis_tasks: Sequence[str] | None = None) -> list[ClaimResult]:
    """Table 1's claims (:data:`TABLE1_FAMILIES`) on `analysis_tasks` (None: every task), with the same
    comparisons on every task given beside each; HMNet with our groupings gets a claim of its own (it has no
    published number)."""
    results = list(results)
    every = sorted({t for r in results for t in r.scores})
    tasks = [t for t in every if analysis_tasks is None or t in analysis_tasks]
    avg = seed_averages(results, [t for t in every if t not in tasks])
    full = seed_averages(results) if len(tasks) < len(every) else None
    left = ", ".join(t for t in every if t not in tasks)
    scope = "every task" if full is None else f"{len(tasks)} tasks ({left} left out)"
    out = []
    for claim, pairs in TABLE1_FAMILIES:
        members = [compare(f"{a} - {b}", paired(avg, a, b), paper_table1_effect(a, b, tasks)) for a, b in pairs]
        note = f"on {scope}; the paper's effect on the same entries"
        if full is not None:
            note += "; on every task: " + ", ".join(_mean_ci(f"{a} - {b}", paired(full, a, b)) for a, b in pairs)
        out.append(decide(claim, _printed(pairs, tasks), "03", members, note=note))
    for col in [c for c in avg.columns if c not in TABLE1_VARIANTS.values()]:
        members = [compare(f"{col} - Multi-task", paired(avg, col, "Multi-task"),
                           paper_table1_effect("HMNet_m", "Multi-task", tasks))]
        out.append(decide(f"HMNet beats multi-task learning with our grouping too ({col})",
                          "not in the paper: held against the paper's HMNet_m - Multi-task", "03", members))
    return out


def _printed(pairs, tasks) -> str:
    from hmnet.analysis import paper

    printed = paper.table1_averages()
    return "; ".join(f"{a} - {b}: {paper_table1_effect(a, b, tasks):+.2f} on our entries "
                     f"(printed averages {printed[a] - printed[b]:+.1f})" for a, b in pairs)


def _mean_ci(name: str, diffs: Sequence[float]) -> str:
    c = compare(name, diffs, 0.0)
    if c.n < 2:
        return f"{name} {c.mean:+.2f}" if c.n else f"{name} not run"
    return f"{name} {c.mean:+.2f} [{c.ci_low:+.2f}, {c.ci_high:+.2f}]"


# ---------------------------------------------------------------------------------------------------------
# Figure 3


def shared_layers_claim(per_seed: pd.DataFrame | None, depth: int | None, task: str = "BoolQ",
                        reference: float = NO_REFERENCE) -> ClaimResult:
    """Figure 3: the task's score peaks at about two-thirds of the layers shared (8 of 12 in the paper), above
    both ends (no sharing, all shared); `reference`, the registered effect each contrast is held against."""
    text = f"{task} peaks at about 2/3 of the layers shared (Figure 3)"
    paper = f"BoolQ best at 8 of 12 shared layers ({held_against(reference)})"
    if per_seed is None or depth is None or per_seed.empty or task not in set(per_seed["task"]):
        return decide(text, paper, "04", [])
    peak = round(2 * depth / 3)
    g = per_seed[per_seed["task"] == task].pivot_table(index="seed", columns="shared layers", values="score")
    members = [compare(f"{peak} - {end} shared", (g[peak] - g[end]).dropna().tolist()
                       if {peak, end} <= set(g.columns) else [], reference) for end in (0, depth)]
    return decide(text, paper, "04", members)


# ---------------------------------------------------------------------------------------------------------
# the ledger


def held_against(reference: float) -> str:
    if reference != reference:  # NaN
        return "no number printed, and this protocol registered no reference effect"
    return f"no number printed: held against the registered {reference:g}"


def ledger(table1_results: Iterable, shared_per_seed: pd.DataFrame | None, depth: int | None,
           more: Sequence[ClaimResult] = (), analysis_tasks: Sequence[str] | None = None,
           references: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Every testable claim with its verdict, evidence and comparisons: Table 1's (on `analysis_tasks`),
    Figure 3's (held against ``references["shared_layers"]``), then `more` (Figures 2 and 4 and Appendix C,
    :mod:`hmnet.report.claims_figures`)."""
    ref = dict(references or {})
    rows = [*table1_claims(table1_results, analysis_tasks),
            shared_layers_claim(shared_per_seed, depth, reference=ref.get("shared_layers", NO_REFERENCE)), *more]
    return pd.DataFrame([claim_row(c) for c in rows],
                        columns=["claim", "paper", "verdict", "evidence", "section", "members"])


def verdict_counts(frame: pd.DataFrame) -> Mapping[str, int]:
    return {v: int((frame["verdict"] == v).sum()) for v in VERDICTS}

