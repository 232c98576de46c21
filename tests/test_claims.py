"""The claims ledger: verdicts from per-seed paired differences, on constructed results of known values. The
results carry the tags their sections' plans give them (role, grouping, origin), as stored runs do."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from hmnet.analysis import verdicts as claims
from hmnet.book.ledger import build_status, claims_page
from hmnet.protocol import get_protocol
from hmnet.sections import Evidence, pairwise, table1
from hmnet.sections import attention as attention_section
from hmnet.sections import layer_grid as grid_section
from hmnet.sections import shared_layers as shared_section
from hmnet.sections.ledger import ledger as section_ledger
from hmnet.store import ledger_for
from hmnet.store.view import claims_text, why_not_run

TASKS = ("RTE", "MRPC")
# How the tests below name Table 1's runs, and the tags a plan gives each.
TAGS = {"single": {"role": "single"}, "multi": {"role": "multi"}, "skillnet": {"role": "skillnet"},
        "hmnet:data": {"role": "hmnet", "grouping": "data", "origin": "paper"},
        "hmnet:manual": {"role": "hmnet", "grouping": "manual", "origin": "paper"},
        "hmnet:model": {"role": "hmnet", "grouping": "model", "origin": "paper"},
        "hmnet:ours-lookahead": {"role": "hmnet", "grouping": "lookahead", "origin": "ours"}}


class Config(SimpleNamespace):
    """A stand-in for a tagged RunConfig: what the claims read of one."""

    def tag(self, name, default=None):
        return self.tags.get(name, default)


def run(variant: str, seed: int, average: float, tasks=TASKS):
    tags = {"section": "table1", **TAGS[variant]}
    config = Config(variant=variant, method=variant.split(":")[0], seed=seed, tags=tags, tasks=tasks, split=None)
    scores = {t: average for t in tasks}
    return SimpleNamespace(config=config, scores=scores, score=scores.get, average=average,
                           key=f"{variant}{seed}{tasks}")


def ledger(results, analysis_tasks=None) -> pd.DataFrame:
    analysis = {"table1_tasks": analysis_tasks} if analysis_tasks is not None else {}
    return section_ledger(Evidence({"table1": results}, depth=None, analysis=analysis))


def table1_runs(values: dict[str, list[float]]) -> list:
    out = []
    for variant, per_seed in values.items():
        for seed, v in enumerate(per_seed):
            if variant == "single":
                out += [run("single", seed, v, (t,)) for t in TASKS]
            else:
                out.append(run(variant, seed, v))
    return out


def verdicts(frame: pd.DataFrame) -> dict[str, str]:
    return dict(zip(frame["claim"], frame["verdict"]))


def test_table1_claims_pair_seeds_and_hold_our_effect_against_the_papers():
    results = table1_runs({"single": [70, 71, 72], "multi": [75, 76, 77], "skillnet": [74, 80, 74],
                      "hmnet:data": [74, 75, 76], "hmnet:manual": [76, 77, 78], "hmnet:model": [77, 78, 79]})
    frame = ledger(results)
    v = verdicts(frame)
    assert v["Multi-task learning beats single-task fine-tuning"] == claims.SUPPORTED  # +5 on every seed
    assert v["HMNet beats multi-task learning with every grouping"] == claims.CONTRADICTED  # HMNet_d -1 every seed
    assert v["HMNet_m beats the SkillNet-style sparse model"] == claims.UNRESOLVED  # +3, -2, +5
    assert v["BoolQ peaks at about 2/3 of the layers shared (Figure 3)"] == claims.NOT_RUN
    assert set(frame["verdict"]) <= set(claims.VERDICTS)
    grouping = frame.set_index("claim").loc["HMNet beats multi-task learning with every grouping"]
    names = [m["name"] for m in grouping["members"]]
    assert names == ["HMNet_d - Multi-task", "HMNet_md - Multi-task", "HMNet_m - Multi-task"]
    assert all(m["family_size"] == 3 for m in grouping["members"]), "Holm over the three groupings"
    # the paper's effect on the same entries (RTE, MRPC) beside ours, and the printed averages' difference
    assert "on our entries" in grouping["paper"] and "printed averages +0.7" in grouping["paper"]
    counted = [n for m in frame["members"] for n in (x["name"] for x in m)]
    assert len(counted) == len(set(counted)), "no comparison is counted twice"


def test_table1_claims_on_a_registered_analysis_set_give_every_task_beside():
    results = table1_runs({"single": [70, 71, 72], "multi": [75, 76, 77]})
    for r in results:  # MRPC never learns alone: 10 points in single-task runs
        if r.config.method == "single" and "MRPC" in r.scores:
            r.scores["MRPC"] = 10.0
    frame = ledger(results, analysis_tasks=["RTE"]).set_index("claim")
    row = frame.loc["Multi-task learning beats single-task fine-tuning"]
    assert row["members"][0]["mean"] == pytest.approx(5.0), "on RTE alone"
    assert "MRPC left out" in row["evidence"] and "on every task: Multi-task - Single-task +" in row["evidence"]


def test_an_incomplete_single_task_seed_has_no_average():
    results = table1_runs({"single": [70, 71], "multi": [75, 76]})
    results = [r for r in results if not (r.config.method == "single" and r.config.seed == 1
                                          and "MRPC" in r.scores)]
    avg = table1.seed_averages(results)
    assert avg.loc[0, "Single-task"] == pytest.approx(70) and pd.isna(avg.loc[1, "Single-task"])
    v = verdicts(ledger(results))
    assert v["Multi-task learning beats single-task fine-tuning"] == claims.UNRESOLVED  # one paired seed
    assert v["HMNet_m beats the SkillNet-style sparse model"] == claims.NOT_RUN


def test_shared_layers_claim_needs_the_peak_above_both_ends():
    rows = [{"task": "BoolQ", "seed": s, "shared layers": x, "score": 60 + (3 if x == 4 else 0) + s * 0.1}
            for s in range(3) for x in range(7)]
    assert shared_section.shared_layers_claim(pd.DataFrame(rows), 6).verdict == claims.SUPPORTED
    flat = [{**r, "score": 60 + r["seed"] * (1 if r["shared layers"] == 4 else -1)} for r in rows]
    assert shared_section.shared_layers_claim(pd.DataFrame(flat), 6).verdict == claims.UNRESOLVED
    low = [{**r, "score": 60 - (3 if r["shared layers"] == 4 else 0) + r["seed"] * 0.1} for r in rows]
    assert shared_section.shared_layers_claim(pd.DataFrame(low), 6).verdict == claims.CONTRADICTED
    many = pd.DataFrame([{"task": "BoolQ", "seed": s, "shared layers": x,
                          "score": 60 + (0.05 * (-1) ** s if x == 4 else 0)} for s in range(9) for x in range(7)])
    assert shared_section.shared_layers_claim(many, 6, reference=1.0).verdict == claims.SMALLER, "far below 1 point"
    assert shared_section.shared_layers_claim(many, 6).verdict == claims.UNRESOLVED, "no reference: no 'smaller'"


def test_hf_crosscheck_pairs_seeds_and_says_when_nothing_is_stored(tmp_path):
    import json

    from hmnet.train.hf_check import record_path
    from hmnet.report.crosscheck import hf_crosscheck

    params = SimpleNamespace(out_dir=str(tmp_path), profile="smoke", run_profile=SimpleNamespace(protocol=None))

    class Cfg(SimpleNamespace):
        def key(self):
            return f"k{self.seed}{self.tasks[0]}"

        def result_name(self):
            return f"single-{self.key()}.json"

    ours = [SimpleNamespace(config=Cfg(method="single", tasks=("RTE",), seed=s), score=lambda t, s=s: 60.0 + s)
            for s in range(3)]
    table, text = hf_crosscheck(params, ours)
    assert table is None and "No Hugging Face Trainer runs" in text
    for s, r in enumerate(ours):
        path = record_path(tmp_path, r.config)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"key": r.config.key(), "complete": True, "task": "RTE", "seed": s,
                                    "score": 60.0 + s + (0.5 if s == 1 else -0.5)}))
    table, text = hf_crosscheck(params, ours)
    row = table.iloc[0]
    assert row["n"] == 3 and row["agree within noise"] and abs(row["mean difference"] - 1 / 6) < 1e-9
    assert "Within noise: RTE" in text


def test_single_task_column_against_the_majority_class():
    from hmnet.report.crosscheck import single_vs_majority

    def single(task, seed, score):
        return SimpleNamespace(config=SimpleNamespace(method="single", tasks=(task,), seed=seed),
                               score=lambda t, v=score: v)

    results = ([single("RTE", s, 60 + s) for s in range(3)] + [single("BoolQ", s, 61 + s) for s in range(3)]
               + [single("WNLI", s, 40) for s in range(3)] + [single("CB", 0, 70)])
    frame = single_vs_majority(results, {"RTE": 52.7, "BoolQ": 62.2, "WNLI": 56.3, "CB": 50.0}).set_index("task")
    assert frame.loc["RTE", "above the majority class"] == "above"
    assert frame.loc["BoolQ", "above the majority class"] == "not above"  # CI [58.5, 65.5] includes 62.2
    assert frame.loc["WNLI", "above the majority class"] == "exempt"
    assert frame.loc["CB", "above the majority class"] == "one seed: no interval"


def test_mnli_without_its_mismatched_split_is_the_matched_entry():
    from hmnet.results import summarize

    def run(seed, mnli):
        return SimpleNamespace(config=SimpleNamespace(variant="multi", method="multi", seed=seed),
                               scores={"MNLI": mnli, "RTE": 60.0})

    summary = summarize([run(0, 50.0), run(1, 52.0)])
    assert set(summary["task"]) == {"MNLI-m", "RTE", "Average"}  # the bundle has no dev_mismatched
    both = summarize([run(0, (50.0, 51.0))])
    assert {"MNLI-m", "MNLI-mm"} <= set(both["task"])


# ------------------------------------------------------------------------------- Figures 2 and 4, Appendix C



def scored(method: str, tasks: tuple, seed: int, scores: dict, tags: dict | None = None, split=None):
    config = Config(method=method, tasks=tasks, seed=seed, variant=method, tags=tags or {}, split=split)
    return SimpleNamespace(config=config, scores=scores, score=lambda t, s=scores: s[t],
                           average=sum(scores.values()) / len(scores))


def test_figure2_claims_from_pairwise_runs():
    """BoolQ gains about 5% from MNLI and SST-2 and loses from RTE; it costs each of them about 2%."""
    singles, pairs = [], []
    for seed in range(3):
        base = {"BoolQ": 60.0, "MNLI": 50.0, "SST-2": 80.0, "RTE": 55.0}
        singles += [scored("single", (t,), seed, {t: v}) for t, v in base.items()]
        for other, on_boolq in (("MNLI", 63.0 + seed * 0.1), ("SST-2", 62.5 - seed * 0.1), ("RTE", 57.0 + 0.2 * seed)):
            pairs.append(scored("multi", ("BoolQ", other), seed,
                                {"BoolQ": on_boolq, other: base[other] * (0.98 - 0.001 * seed)}, {"role": "pair"}))
    gains = pairwise.pair_gains(singles, pairs)
    assert len(gains) == 18 and gains.query("source == 'MNLI' and target == 'BoolQ'")["gain"].iloc[0] == 5.0
    helps, hurts = pairwise.influence_claims(singles, pairs)
    assert [m.verdict for m in helps.members] == [claims.SUPPORTED, claims.CONTRADICTED, claims.SUPPORTED]
    assert helps.verdict == claims.SUPPORTED and [m.name for m in helps.members][0] == "MNLI on BoolQ"
    assert helps.members[0].paper == pytest.approx(5.93), "the paper's Table 3 gain of BoolQ from MNLI"
    assert hurts.verdict == claims.SUPPORTED and all(m.verdict == claims.SUPPORTED for m in hurts.members)
    assert pairwise.influence_claims(singles, [])[0].verdict == claims.NOT_RUN
    no_singles = pairwise.influence_claims([], pairs)[0]  # the pairs alone give no gain
    assert no_singles.verdict == claims.NOT_RUN and "but not the single-task runs" in no_singles.evidence


GRID = {"role": "hmnet", "grouping": "model"}


def test_figure4_claims_from_the_grid():
    runs = []
    for seed in range(3):
        runs.append(scored("multi", ("RTE", "MRPC"), seed, {"RTE": 60.0 + seed}, {"role": "multi"}))
        for split, value in (((4, 1, 1), 64.0), ((2, 2, 2), 61.0), ((5, 1, 0), 62.0)):
            runs.append(scored("hmnet", ("RTE", "MRPC"), seed, {"RTE": value + seed + 0.1 * (seed % 2)},
                               GRID, split))
    best, above = grid_section.layer_grid_claims(runs, 6)
    assert best.claim.startswith("The paper's split {4, 1, 1} is the best") and best.verdict == claims.SUPPORTED
    assert above.verdict == claims.SUPPORTED and len(above.members) == 3
    assert all(m.family_size == 3 for m in above.members)
    worse = [*runs, *(scored("hmnet", ("RTE",), s, {"RTE": 50.0 + s}, GRID, (3, 2, 1)) for s in range(3))]
    assert grid_section.layer_grid_claims(worse, 6)[1].verdict == claims.CONTRADICTED
    one_seed = [r for r in runs if r.config.seed == 0]
    assert {c.verdict for c in grid_section.layer_grid_claims(one_seed, 6)} == {claims.UNRESOLVED}
    assert grid_section.layer_grid_claims([], 6)[0].verdict == claims.NOT_RUN
    no_multi = grid_section.layer_grid_claims([r for r in runs if r.config.method == "hmnet"], 6)[1]
    assert no_multi.verdict == claims.NOT_RUN
    assert "the multi-task baseline of the layer grid is not stored yet" in no_multi.evidence


def _attention_rows(seeds, gap):
    """Per-head similarities of a positive (QQP & RTE) and a negative (MRPC & RTE) pair, on both tasks of each;
    the positive pair is `gap(seed)` more similar, the heads spread by 0.01."""
    return pd.DataFrame([{"kind": kind, "pair": f"{other} & RTE", "task": task, "seed": seed, "layer": layer,
                          "head": head, "similarity": 0.8 + (gap(seed) if kind == "positive" else 0) + 0.01 * head}
                         for seed in seeds for kind, other in (("positive", "QQP"), ("negative", "MRPC"))
                         for task in (other, "RTE") for layer in range(4) for head in range(4)])


def test_attention_claim_rests_on_seeds_not_heads():
    row = attention_section.attention_claim(_attention_rows([0, 1, 2], lambda s: 0.1 + 0.01 * s))
    assert row.verdict == claims.SUPPORTED and "on RTE, middle layers: +0.11 [" in row.evidence
    assert "n=3" in row.evidence and "seed 0 +0.100, seed 1 +0.110, seed 2 +0.120" in row.evidence
    down = attention_section.attention_claim(_attention_rows([0, 1, 2], lambda s: -0.1 - 0.01 * s))
    assert down.verdict == claims.CONTRADICTED
    # One model per pair (the paper's design): 16 heads, but no interval.
    one = attention_section.attention_claim(_attention_rows([0], lambda s: 0.1))
    assert one.verdict == claims.UNRESOLVED and "+0.10 (1 seed" in one.evidence
    assert attention_section.attention_claim(None).verdict == claims.NOT_RUN
    other = _attention_rows([0, 1], lambda s: 0.1).replace({"task": {"RTE": "CB"}})
    assert "negative on CB, middle layers" in attention_section.attention_claim(other).evidence  # the shared task


def test_our_grouping_is_an_extra_table1_column_with_its_own_claim_and_no_published_number():
    """HMNet with our grouping (tagged origin "ours") joins Table 1 as a column of its own: a claim against
    multi-task of its own, left out of the paper's six-method ranking."""
    from hmnet.report.results import table1_comparison

    results = table1_runs({"single": [70, 71, 72], "multi": [75, 76, 77], "skillnet": [74, 75, 76],
                           "hmnet:data": [74, 75, 76], "hmnet:manual": [76, 77, 78], "hmnet:model": [77, 78, 79],
                           "hmnet:ours-lookahead": [90, 91, 92]})
    frame = ledger(results)
    col = table1.ours_column("lookahead")
    ours = frame[frame["claim"].str.contains(col, regex=False)].iloc[0]
    assert ours["verdict"] == claims.SUPPORTED and "+15.00" in ours["evidence"] and "not in the paper" in ours["paper"]
    others = [m["name"] for c, ms in zip(frame["claim"], frame["members"]) if "our" not in c for m in ms]
    assert not any("our" in n for n in others)  # the paper's claims stay among the paper's six
    summary = pd.DataFrame([{"variant": v, "column": c, "task": t, "mean": m, "ci_low": m - 1, "ci_high": m + 1,
                             "n": 3} for v, c, m in [("multi", "Multi-task", 76.0), ("ours", col, 91.0),
                                                     ("probe", None, 50.0)] for t in ("RTE", "Average")])
    t1 = table1_comparison(summary)
    assert (col, "ours") in t1.columns and t1[(col, "ours")]["RTE"] == 91.0
    assert t1[(col, "paper")].isna().all() and ("Multi-task", "paper") in t1.columns
    assert not any("probe" in str(c[0]) for c in t1.columns)  # runs of other sections stay out


def test_multi_against_single_on_the_tasks_that_learn():
    """A single-task baseline that never learned a task (MRPC here: 10-12 against multi-task's 60) makes
    multi-task win on every task; on the analysis set without it, multi-task loses a point on every seed."""
    results = []
    for seed in range(3):
        results += [SimpleNamespace(config=run("single", seed, v, (t,)).config, scores={t: v}, score={t: v}.get,
                                    average=v, key=f"s{t}{seed}") for t, v in (("RTE", 70 + seed), ("MRPC", 10 + seed))]
        multi = {"RTE": 69 + seed, "MRPC": 60 + seed}
        results.append(SimpleNamespace(config=run("multi", seed, 0).config, scores=multi,
                                       average=sum(multi.values()) / 2, key=f"m{seed}"))
    assert table1.seed_averages(results, without=["MRPC"])["Multi-task"].tolist() == [69, 70, 71]
    plain = verdicts(ledger(results))
    assert plain["Multi-task learning beats single-task fine-tuning"] == claims.SUPPORTED  # +24.5 every seed
    learned = verdicts(ledger(results, analysis_tasks=["RTE"]))
    assert learned["Multi-task learning beats single-task fine-tuning"] == claims.CONTRADICTED


def test_the_ledger_of_a_store_being_filled_says_it_is_interim_and_why_a_section_is_left_out(tmp_path):
    """The committed v2 store: its ledger opens with how many of its planned runs are stored, and a claim
    whose section the protocol leaves out gives the registered reason instead of a bare "not run"; a store
    whose runs are all stored gets no such line."""
    store = Path(__file__).resolve().parents[1] / "reference" / "local-v2"
    manifest = json.loads((store / "manifest.json").read_text())
    done = sum(s["complete"] for s in manifest["sections"].values())
    planned = sum(s["planned"] for s in manifest["sections"].values())
    status, protocol = build_status(store)
    if done < planned:
        assert status.startswith(f"**Interim:** {done} of {planned} planned runs are stored.")
    assert protocol is not None and protocol.name == "v2"
    text = claims_page({"v2": store})
    figure4 = next(line for line in text.splitlines() if line.startswith("| HMNet_m beats multi-task at every split"))
    assert f"left out by protocol v2: {protocol.not_run['layer_grid']}" in figure4
    table1 = next(line for line in text.splitlines() if line.startswith("| Multi-task learning beats single-task"))
    assert "left out" not in table1
    full = tmp_path / "full"
    full.mkdir()
    (full / "manifest.json").write_text(json.dumps({**manifest, "sections": {
        name: {**s, "complete": s["planned"]} for name, s in manifest["sections"].items()}}))
    assert build_status(full)[0] == ""


def test_a_claim_without_runs_says_whether_its_section_is_left_out_pending_or_waiting():
    """A claim with no runs gets the protocol's registered reason where the protocol leaves its section out,
    how many of its section's planned runs are stored while they are pending, what its section waits for,
    and nothing (a bare "not run") where its section is complete or unknown to the store."""
    protocol = get_protocol("local", "v2")
    manifest = {"sections": {"shared_layers": {"complete": 3, "planned": 12},
                             "attention": {"complete": 0, "planned": 0, "waiting": "pairwise's gains"},
                             "table1": {"complete": 30, "planned": 30}}}
    empty = [{"n": 0}]

    def why(source, members=empty):
        return why_not_run(SimpleNamespace(source=source, members=members), protocol, manifest)

    assert why("shared_layers") == "pending: 3 of 12 planned runs of shared_layers stored"
    assert why("shared_layers", [{"n": 3}]) is None
    assert why("attention").startswith("left out by protocol v2:")  # the registered reason comes first
    assert why("layer_grid") == f"left out by protocol v2: {protocol.not_run['layer_grid']}"
    assert why("table1") is None and why("a_section_no_store_plans") is None
    waiting = {"sections": {"attention": manifest["sections"]["attention"]}}
    assert why_not_run(SimpleNamespace(source="attention", members=[]), None, waiting) == \
        "pending: attention waits: pairwise's gains"


def test_every_comparison_that_v2_runs_finds_its_registered_power_plan():
    """Each comparison of the claims v2 runs (Table 1's from the committed store, Figure 3's at MiniLM's six
    layers) is named as in the registered power plan, so the ledger sets what the plan expected beside it;
    the terminal ledger prints it."""
    protocol = get_protocol("local", "v2")
    store = Path(__file__).resolve().parents[1] / "reference" / "local-v2"
    frame = ledger_for(store)
    table1_names = [m["name"] for ms in frame.loc[frame["source"] == "table1", "members"] for m in ms]
    rows = [{"task": "BoolQ", "seed": s, "shared layers": x, "score": 60.0 + s} for s in range(2) for x in (0, 4, 6)]
    figure3 = shared_section.shared_layers_claim(pd.DataFrame(rows), 6)
    names = table1_names + [m.name for m in figure3.members]
    assert len(names) == 9 and all(protocol.registered_power(n) for n in names), names
    assert protocol.expectation("HMNet_m - SkillNet") == \
        "registered plan: not expected to resolve at 3 seeds (planned MDE 2.90)"
    assert protocol.expectation("Multi-task - Single-task").startswith("registered plan: a decision expected at 6")
    assert protocol.registered_power("no such comparison") is None
    text = claims_text(store)
    assert "HMNet_m - SkillNet: " in text and protocol.expectation("HMNet_m - SkillNet") in text
