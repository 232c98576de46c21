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

from hmnet.report.claims import NOT_RUN, Verdict, all_of, most_of, verdict_from_differences


def _row(claim: str, paper: str, verdict: str, evidence: str, section: str) -> dict:
    return {"claim": claim, "paper": paper, "verdict": verdict, "evidence": evidence, "section": section}


def _tally(verdicts: dict[str, Verdict]) -> str:
    """How many comparisons went which way, then each one's mean."""
    counts = pd.Series([v.verdict for v in verdicts.values()]).value_counts()
    head = ", ".join(f"{n} {kind}" for kind, n in counts.items())
    return f"{head} (of {len(verdicts)}): " + "; ".join(v.evidence for v in verdicts.values())


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


def influence_claims(singles: Iterable, pairs: Iterable, task: str = "BoolQ") -> list[dict]:
    """Figure 2: the gain of `task` from each other task (most positive, says the paper) and the gain of each
    other task from `task` (most negative). A source counts where its interval over seeds clears zero."""
    pairs = list(pairs)
    gains = pair_gains(singles, pairs)
    on = {s: verdict_from_differences(g["gain"].tolist(), f"{s} on {task}", unit="%")
          for s, g in gains[gains["target"] == task].groupby("source")}
    of = {t: verdict_from_differences((-g["gain"]).tolist(), f"{task} on {t} (sign flipped)", unit="%")
          for t, g in gains[gains["source"] == task].groupby("target")}
    paired = any(r.config.method == "multi" and task in r.config.tasks and len(r.config.tasks) == 2 for r in pairs)
    missing = (f"pairwise runs with {task} are stored, but not the single-task runs of the same seeds their "
               "gains are measured against (Table 1's)") if paired else f"no pairwise runs with {task} are stored"
    return [_row(f"Most other tasks help {task} (Figure 2, left)", "gains of 0-6% on BoolQ from most tasks",
                 most_of(list(on.values())), _tally(on) if on else missing, "01"),
            _row(f"{task} hurts most other tasks (Figure 2, right)", "BoolQ's influence -2.7..1.2%, mostly negative",
                 most_of(list(of.values())), _tally(of) if of else missing, "01")]


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


def layer_grid_claims(runs: Iterable, depth: int | None, grouping: str = "model") -> list[dict]:
    """Figure 4 for one grouping (the paper's claims are about the model-based one): its split at the paper's
    proportions beats every other split, and it beats multi-task at every split (paired by seed)."""
    from hmnet.choices import default_split

    frame = grid_frame(runs)
    by_split = frame[frame["grouping"] == grouping].pivot_table(index="seed", columns="split", values="average")
    multi = frame[frame["grouping"] == "multi"].set_index("seed")["average"]
    paper_split = "-".join(map(str, default_split(depth))) if depth and depth >= 3 else None
    name = {"model": "HMNet_m", "manual": "HMNet_md", "data": "HMNet_d"}.get(grouping, grouping)
    missing = f"no {grouping}-grouping runs of the layer grid are stored"
    best = {s: verdict_from_differences((by_split[paper_split] - by_split[s]).dropna().tolist(),
                                        f"{paper_split} - {s}")
            for s in by_split.columns if s != paper_split} if paper_split in by_split.columns else {}
    above = {s: verdict_from_differences((by_split[s] - multi).dropna().tolist(), f"{s} - multi-task")
             for s in by_split.columns} if len(multi) else {}
    split_text = "{" + (paper_split or "?").replace("-", ", ") + "}"
    no_multi = missing if by_split.empty else "the multi-task baseline of the layer grid is not stored yet"
    return [_row(f"The paper's split {split_text} is the best of the grid for {name} (Figure 4)",
                 "eight shared layers of 12 best", all_of(list(best.values())) if best else NOT_RUN,
                 _tally(best) if best else missing, "05"),
            _row(f"{name} beats multi-task at every split of the grid (Figure 4)",
                 "HMNet_m above multi-task at any combination", all_of(list(above.values())) if above else NOT_RUN,
                 _tally(above) if above else no_multi, "05")]


# ---------------------------------------------------------------------------------------------------------
# Appendix C


def attention_claim(tidy: pd.DataFrame | None) -> dict:
    """Appendix C: on the task both pairs share, the related (positive) pair's attention maps stay closer to
    the single-task model's than the unrelated (negative) pair's in the middle layers. One difference per seed
    (the middle layers' mean over heads, from :func:`hmnet.report.attention_tables`' tidy table): heads of one
    model are not independent, so a single seed gives no interval."""
    base = ("A related pair's attention maps are more similar than an unrelated pair's (Appendix C)",
            "Figures 5-6: the positive pair more similar in the middle layers")
    if tidy is None or tidy.empty or not {"positive", "negative"} <= set(tidy["kind"]):
        return _row(*base, NOT_RUN, "notebook 06's per-head similarities are not stored for this build", "06")
    shared = set(tidy.loc[tidy["kind"] == "positive", "task"]) & set(tidy.loc[tidy["kind"] == "negative", "task"])
    if not shared:
        return _row(*base, NOT_RUN, "the two pairs share no task to compare on", "06")
    anchor = sorted(shared)[0]
    on = tidy[tidy["task"] == anchor]
    layers = sorted(on["layer"].unique())
    middle = layers[len(layers) // 4: max(len(layers) // 4 + 1, 3 * len(layers) // 4)]
    per_seed = on[on["layer"].isin(middle)].pivot_table(index="seed", columns="kind", values="similarity",
                                                        aggfunc="mean")
    diffs = (per_seed["positive"] - per_seed["negative"]).dropna()
    v = verdict_from_differences(diffs.tolist(), f"positive - negative similarity on {anchor}, middle layers",
                                 unit="")
    each = ", ".join(f"seed {s} {d:+.3f}" for s, d in diffs.items())
    return _row(*base, v.verdict, f"{v.evidence} (per seed, the mean over the middle layers' heads: {each})", "06")


def figure_claims(singles: Iterable, pairs: Iterable, grid_runs: Iterable, depth: int | None,
                  attention: pd.DataFrame | None) -> list[dict]:
    """The ledger rows of Figures 2 and 4 and Appendix C."""
    singles, pairs = list(singles), list(pairs)
    return [*influence_claims(singles, pairs), *layer_grid_claims(grid_runs, depth), attention_claim(attention)]


__all__: Sequence[str] = ("attention_claim", "figure_claims", "grid_frame", "influence_claims",
                          "layer_grid_claims", "pair_gains")
