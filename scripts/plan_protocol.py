"""The power plan and the cost projection behind a registered protocol (hmnet/protocols/local-v2.json), computed
from the pilot: the v1 store (3 seeds of every section) and the fp32 pilot probes (reference/local/pilot).

    HMNET_DATA_DIR=DIR python scripts/plan_protocol.py --tasks MNLI QNLI RTE CB SNLI IMDB SST-2 STS-B MRPC \
        --table1-seeds 6 --skillnet-seeds 3 --shared-seeds 4 --grid-seeds 3 > plan.json

For every comparison of a claim family: the paper's effect on the same entries as ours, the v1 mean and spread of
the per-seed paired differences, the seeds a resolving interval would need (Holm's family size as Bonferroni's
level, the conservative end of Holm), and the minimum detectable effect at the planned seeds. The projection
prices every planned run with :mod:`hmnet.campaign.pricing`: v1's wall time of the run of the same shape, per
epoch, times the epochs it trains and the pilot's fp32/bf16 and padding factors.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hmnet import paper  # noqa: E402
from hmnet.analysis.verdicts import minimum_detectable_effect, seeds_needed  # noqa: E402
from hmnet.sections.table1 import seed_averages  # noqa: E402
from hmnet.results import load_results  # noqa: E402
from hmnet.store import section_records  # noqa: E402

V1 = REPO / "reference" / "local"
PILOT = V1 / "pilot"
PAPER_ENTRY = {"MNLI": ("MNLI", "accuracy_m"), "STS-B": ("STS-B", "pearson"), "MultiRC": ("MultiRC", "f1a")}


def paper_effect(a: str, b: str, tasks) -> float:
    """The paper's a - b on the average over the same Table 1 entries as ours (our 12 tasks, MNLI matched)."""
    t1 = paper.table1()
    rows = [PAPER_ENTRY.get(t, (t, "accuracy")) for t in tasks]
    return float(t1.loc[rows, a].mean() - t1.loc[rows, b].mean())


def comparison(name, diffs, paper_value, m, planned) -> dict:
    d = np.asarray(diffs, dtype=float)
    sd = float(d.std(ddof=1))
    mean = float(d.mean())
    # Seeds for an interval around v1's mean that excludes zero or the paper's effect (a decision if the
    # effect is what v1 measured), and for one narrower than half the paper's effect (a decision whatever it is).
    at_mean = seeds_needed(sd, max(abs(mean), abs(mean - paper_value)), m)
    return {"comparison": name, "paper": round(paper_value, 2), "v1_mean": round(mean, 2),
            "v1_sd": round(sd, 2), "v1_seeds": len(d), "family_size": m,
            "seeds_to_decide_at_v1_mean": at_mean,
            "seeds_to_resolve_any_effect": seeds_needed(sd, abs(paper_value) / 2, m),
            "planned_seeds": planned, "mde_at_planned": round(minimum_detectable_effect(sd, planned, m), 2),
            "expected": "decided" if at_mean is not None and at_mean <= planned else "not resolved"}


def table1_families(tasks, planned: int, skillnet_planned: int) -> list[dict]:
    runs = section_records(V1, "table1")
    every = {t for r in runs for t in r.config.tasks}
    without = sorted(every - set(tasks))
    avg = seed_averages([r for r in runs], without)
    out = []
    spec = [("Multi-task beats single-task", [("Multi-task", "Single-task")]),
            ("HMNet beats multi-task with every grouping", [("HMNet_d", "Multi-task"), ("HMNet_md", "Multi-task"),
                                                          ("HMNet_m", "Multi-task")]),
            ("HMNet_m beats SkillNet", [("HMNet_m", "SkillNet")]),
            ("The model-based grouping is the best of the three", [("HMNet_m", "HMNet_md"), ("HMNet_m", "HMNet_d")])]
    for claim, pairs in spec:
        members = []
        for a, b in pairs:
            n = skillnet_planned if "SkillNet" in (a, b) else planned
            members.append(comparison(f"{a} - {b}", (avg[a] - avg[b]).dropna(), paper_effect(a, b, tasks),
                                      len(pairs), n))
        out.append({"claim": claim, "section": "table1", "members": members})
    return out


def shared_layers_family(planned: int, reference: float) -> dict:
    runs = section_records(V1, "shared_layers")
    score = defaultdict(dict)
    for r in runs:
        score[r.config.seed][r.config.split[0]] = r.score("BoolQ")
    members = [comparison(f"4 shared - {end} shared (BoolQ)", [score[s][4] - score[s][end] for s in score],
                          reference, 2, planned) for end in (0, 6)]
    return {"claim": "BoolQ peaks at about 2/3 of the layers shared (Figure 3)", "section": "shared_layers",
            "reference_effect": f"{reference} points (the paper prints no number)", "members": members}


def layer_grid_families(planned: int, reference: float) -> list[dict]:
    runs = section_records(V1, "layer_grid")
    grid, multi = defaultdict(dict), {}
    for r in runs:
        if r.config.method == "multi":
            multi[r.config.seed] = r.average
        else:
            grid[r.config.seed]["-".join(map(str, r.config.split))] = r.average
    splits = sorted(grid[0])
    best = [comparison(f"4-1-1 - {s}", [grid[k]["4-1-1"] - grid[k][s] for k in grid], reference,
                       len(splits) - 1, planned) for s in splits if s != "4-1-1"]
    above = [comparison(f"{s} - multi-task", [grid[k][s] - multi[k] for k in grid], reference, len(splits),
                        planned) for s in splits]
    note = f"{reference} points (the paper prints no number)"
    return [{"claim": "The paper's split {4, 1, 1} is the best of the grid (Figure 4)", "section": "layer_grid",
             "reference_effect": note, "members": best},
            {"claim": "HMNet_m beats multi-task at every split (Figure 4)", "section": "layer_grid",
             "reference_effect": note, "members": above}]


def projection(protocol: str) -> dict:
    """Every planned run of `protocol` priced from v1's wall time of the same run (:mod:`hmnet.campaign.pricing`)
    for the epochs it really trains."""
    import os

    from hmnet.campaign.plan import campaign_plan, store_dir
    from hmnet.campaign.pricing import BASIS, priced_seconds, seconds_per_epoch
    from hmnet.campaign.projection import train_rows, trained_examples

    per_epoch = seconds_per_epoch(load_results(V1 / "results"))
    per_section = defaultdict(float)
    unmatched = []
    for p in campaign_plan("local", os.environ["HMNET_DATA_DIR"], store_dir("local", protocol), protocol=protocol):
        price = priced_seconds(p.config, trained_examples(p.config) / max(1, train_rows(p.config)), per_epoch)
        if price is None:
            unmatched.append(p.config.variant)
        else:
            per_section[p.section] += price / 3600
    total = sum(per_section.values())
    return {"run_hours": {k: round(v, 1) for k, v in per_section.items()}, "total_run_hours": round(total, 1),
            "wall_hours_two_workers": round(total / 2, 1), "unmatched": unmatched, "basis": BASIS}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", nargs="+", required=True, help="the registered analysis set of Table 1")
    parser.add_argument("--table1-seeds", type=int, required=True)
    parser.add_argument("--skillnet-seeds", type=int, required=True)
    parser.add_argument("--shared-seeds", type=int, required=True)
    parser.add_argument("--grid-seeds", type=int, required=True)
    parser.add_argument("--reference-effect", type=float, default=1.0)
    parser.add_argument("--protocol", default="v2", help="the protocol whose plan is priced (its file in place)")
    args = parser.parse_args()
    families = (table1_families(args.tasks, args.table1_seeds, args.skillnet_seeds)
                + [shared_layers_family(args.shared_seeds, args.reference_effect)]
                + layer_grid_families(args.grid_seeds, args.reference_effect))
    print(json.dumps({"families": families, "projection": projection(args.protocol)}, indent=1))


if __name__ == "__main__":
    main()
