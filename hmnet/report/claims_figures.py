"""The ledger's claims beyond Table 1 and Figure 3 (see :mod:`hmnet.report.claims` for the verdicts):

- Figure 2 (Eq. 4 with BoolQ): most tasks help BoolQ, and BoolQ hurts most tasks;
- Figure 4: the paper's split is the best of the grid, and HMNet_m beats multi-task at every split;
- Appendix C: a related pair's attention maps are more similar than an unrelated pair's.

Each takes stored runs (or, for Appendix C, the per-head similarities notebook 06 saves) and gives one row of
the ledger, "not run" when the runs are not stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

from hmnet.analysis.verdicts import compare, most_of
from hmnet.report.claims import NO_REFERENCE, ClaimResult, decide, held_against

# ---------------------------------------------------------------------------------------------------------
# Figure 2


def pair_gains(singles: Iterable, pairs: Iterable) -> pd.DataFrame:
    """Eq. (4) per seed: one row per (source, target, seed) with the target's relative gain in percent when
    trained with the source, over its single-task run of the same seed (Table 1's single-task runs)."""
    alone = {(r.config.tasks[0], r.config.seed): r.score(r.config.tasks[0]) for r in singles
             if r.config.method == "single"}
    rows = []
    for r in pairs:
        if r.config.method != "multi" or len(r.config.tasks) != 2:
            continue
        a, b = r.config.tasks
        for source, target in ((a, b), (b, a)):
            base = alone.get((target, r.config.seed))
            if base:
                rows.append({"source": source, "target": target, "seed": r.config.seed,
                             "gain": 100.0 * (r.score(target) - base) / base})
    frame = pd.DataFrame(rows, columns=["source", "target", "seed", "gain"])
    # Two runs of one pair and seed (the tasks in the other order, say): their mean.
    return frame.groupby(["source", "target", "seed"], as_index=False, sort=False)["gain"].mean()


def influence_claims(singles: Iterable, pairs: Iterable, task: str = "BoolQ") -> list[ClaimResult]:
    """Figure 2: the gain of `task` from each other task (most positive, says the paper) and the gain of each
    other task from `task` (most negative), each held against the paper's own gain (Table 3)."""
    from hmnet.analysis import paper

    pairs = list(pairs)
    gains = pair_gains(singles, pairs)
    table3 = paper.table3()
    on = [compare(f"{s} on {task}", g["gain"].tolist(), float(table3.loc[s, task]))
          for s, g in gains[gains["target"] == task].groupby("source")]
    of = [compare(f"{task} on {t} (sign flipped)", (-g["gain"]).tolist(), -float(table3.loc[task, t]))
          for t, g in gains[gains["source"] == task].groupby("target")]
    paired = any(r.config.method == "multi" and task in r.config.tasks and len(r.config.tasks) == 2 for r in pairs)
    missing = (f"pairwise runs with {task} are stored, but not the single-task runs of the same seeds their "
               "gains are measured against (Table 1's)") if paired else ""
    return [decide(f"Most other tasks help {task} (Figure 2, left)", "gains of 0-6% on BoolQ from most tasks "
                   "(Table 3)", "01", on, most_of, note=missing if not on else "relative gains in %"),
            decide(f"{task} hurts most other tasks (Figure 2, right)", "BoolQ's influence -2.7..1.2%, mostly "
                   "negative (Table 3)", "01", of, most_of, note=missing if not of else "relative gains in %")]


# ---------------------------------------------------------------------------------------------------------
# Figure 4


def grid_frame(runs: Iterable) -> pd.DataFrame:
    """One row per run of the layer grid: grouping (``multi`` for the baseline), split, seed and average."""
    rows = []
    for r in runs:
        parts = r.config.variant.split(":")
        if r.config.method == "hmnet" and len(parts) == 3:
            rows.append({"grouping": parts[1], "split": parts[2], "seed": r.config.seed, "average": r.average})
        elif r.config.method == "multi":
            rows.append({"grouping": "multi", "split": "", "seed": r.config.seed, "average": r.average})
    return pd.DataFrame(rows, columns=["grouping", "split", "seed", "average"])


def layer_grid_claims(runs: Iterable, depth: int | None, grouping: str = "model",
                      reference: float = NO_REFERENCE) -> list[ClaimResult]:
    """Figure 4 for one grouping (the paper's claims are about the model-based one): its split at the paper's
    proportions beats every other split, and it beats multi-task at every split (paired by seed). The paper
    prints no number: each comparison is held against a registered `reference` in points, if any."""
    from hmnet.choices import default_split

    frame = grid_frame(runs)
    by_split = frame[frame["grouping"] == grouping].pivot_table(index="seed", columns="split", values="average")
    multi = frame[frame["grouping"] == "multi"].set_index("seed")["average"]
    paper_split = "-".join(map(str, default_split(depth))) if depth and depth >= 3 else None
    name = {"model": "HMNet_m", "manual": "HMNet_md", "data": "HMNet_d"}.get(grouping, grouping)
    best = [compare(f"{paper_split} - {s}", (by_split[paper_split] - by_split[s]).dropna().tolist(), reference)
            for s in by_split.columns if s != paper_split] if paper_split in by_split.columns else []
    above = [compare(f"{s} - multi-task", (by_split[s] - multi).dropna().tolist(), reference)
             for s in by_split.columns] if len(multi) else []
    split_text = "{" + (paper_split or "?").replace("-", ", ") + "}"
    held = f"({held_against(reference)})"
    note = "" if len(multi) or by_split.empty else "the multi-task baseline of the layer grid is not stored yet"
    return [decide(f"The paper's split {split_text} is the best of the grid for {name} (Figure 4)",
                   f"eight shared layers of 12 best {held}", "05", best),
            decide(f"{name} beats multi-task at every split of the grid (Figure 4)",
                   f"HMNet_m above multi-task at any combination {held}", "05", above, note=note)]


# ---------------------------------------------------------------------------------------------------------
# Appendix C


def attention_claim(tidy: pd.DataFrame | None, reference: float = NO_REFERENCE) -> ClaimResult:
    """Appendix C: on the task both pairs share, the related (positive) pair's attention maps stay closer to
    the single-task model's than the unrelated (negative) pair's in the middle layers. One difference per seed
    (the middle layers' mean over heads, from :func:`hmnet.report.attention_tables`' tidy table): heads of one
    model are not independent, so a single seed gives no interval."""
    claim = "A related pair's attention maps are more similar than an unrelated pair's (Appendix C)"
    paper = f"Figures 5-6: the positive pair more similar in the middle layers ({held_against(reference)})"
    if tidy is None or tidy.empty or not {"positive", "negative"} <= set(tidy["kind"]):
        return decide(claim, paper, "06", [], note="notebook 06's per-head similarities are not stored")
    shared = set(tidy.loc[tidy["kind"] == "positive", "task"]) & set(tidy.loc[tidy["kind"] == "negative", "task"])
    if not shared:
        return decide(claim, paper, "06", [], note="the two pairs share no task to compare on")
    anchor = sorted(shared)[0]
    on = tidy[tidy["task"] == anchor]
    layers = sorted(on["layer"].unique())
    middle = layers[len(layers) // 4: max(len(layers) // 4 + 1, 3 * len(layers) // 4)]
    per_seed = on[on["layer"].isin(middle)].pivot_table(index="seed", columns="kind", values="similarity",
                                                        aggfunc="mean")
    diffs = (per_seed["positive"] - per_seed["negative"]).dropna()
    each = ", ".join(f"seed {s} {d:+.3f}" for s, d in diffs.items())
    member = compare(f"positive - negative on {anchor}, middle layers", diffs.tolist(), reference)
    return decide(claim, paper, "06", [member], note=f"per seed: {each}")


def figure_claims(singles: Iterable, pairs: Iterable, grid_runs: Iterable, depth: int | None,
                  attention: pd.DataFrame | None, references: dict | None = None) -> list[ClaimResult]:
    """The ledger rows of Figures 2 and 4 and Appendix C."""
    ref = dict(references or {})
    singles, pairs = list(singles), list(pairs)
    return [*influence_claims(singles, pairs),
            *layer_grid_claims(grid_runs, depth, reference=ref.get("layer_grid", NO_REFERENCE)),
            attention_claim(attention, ref.get("attention", NO_REFERENCE))]


__all__: Sequence[str] = ("attention_claim", "figure_claims", "grid_frame", "influence_claims",
                          "layer_grid_claims", "pair_gains")
