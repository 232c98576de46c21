"""Appendix C in the campaign: its pairs wait for Eq. 4's runs with the anchor (the same campaign plans them
once those are in), its runs keep their models (a run stored without one is trained again, its stored record
untouched), and the page renders from the similarities kept in the store once the weights are gone."""

from __future__ import annotations

import json
import shutil

import pytest

from hmnet import report
from hmnet.campaign import runner as campaign
from hmnet.campaign.plan import campaign_plan, is_stored
from hmnet.sections import pairwise
from hmnet.sections.base import SectionsPlan
from hmnet.store import write_manifest

TASKS = ["RTE", "SST-2", "MRPC"]
OVERRIDES = {"tasks": TASKS, "seeds": [0], "relevance_tasks": TASKS}


def run(store, *sections):
    said = []
    rep = campaign.run_campaign("smoke", None, store, list(sections), OVERRIDES, workers=1, threads=1,
                                progress=False, echo=said.append)
    assert rep.stopped_by == "done" and not rep.failed, rep.failed
    return rep, said


def test_appendix_c_waits_for_eq4_keeps_its_models_and_renders_from_the_store(tmp_path, monkeypatch):
    store = tmp_path / "store"
    waiting = campaign_plan("smoke", None, store, ["attention"], OVERRIDES)
    assert not waiting.runs and "0 of the 5 runs" in waiting.waiting["attention"]
    manifest = write_manifest("smoke", None, store, SectionsPlan(waiting=waiting.waiting), OVERRIDES)
    assert "waits for them" in manifest["sections"]["attention"]["waiting"]

    # One campaign: Eq. 4's 3 single-task runs and 3 pairs, then Appendix C's 5 runs, planned once they are in.
    rep, said = run(store, "pairwise", "attention")
    assert len(rep.completed) == 6 + 5 and any("5 more runs planned" in m and "attention" in m for m in said)
    plan = campaign_plan("smoke", None, store, ["attention"], OVERRIDES)
    assert not plan.waiting
    assert sorted(p.config.tasks for p in plan) == [("MRPC",), ("RTE",), ("RTE", "MRPC"), ("RTE", "SST-2"),
                                                    ("SST-2",)]
    assert all(is_stored(p, store) for p in plan)
    manifest = json.loads((store / "manifest.json").read_text())
    assert manifest["sections"]["attention"]["complete"] == 5
    records = {p.name: p.read_bytes() for p in (store / "results").glob("*.json")}
    # Eq. 4's records were written without a model and stay so: the retraining wrote beside its model.
    assert all(json.loads(b)["model_dir"] is None for b in records.values())
    for p in plan:
        model = store / "results" / "models" / p.config.result_name()[:-5]
        assert (model / "model.safetensors").is_file()
        retrained = json.loads((model / p.config.result_name()).read_text())
        stored = json.loads(records[p.config.result_name()])
        assert retrained["key"] == stored["key"]
        assert retrained["scores"] == pytest.approx(stored["scores"], abs=1e-6)  # CPU, one thread: same run

    # the reference build: nothing trains
    P = report.check_parameters(profile="smoke", tasks=TASKS, seeds=[0], out_dir=str(store), store_only=True)
    pairs, note = report.choose_attention_pairs(P, "RTE", TASKS)
    assert set(pairs) == {"positive", "negative"} and "largest mutual gain" in note
    runs = report.attention_configs(P, pairs, [0], TASKS)
    tidy = report.attention_tables(P, runs, probe_examples=16)
    assert set(tidy["kind"]) == {"positive", "negative"} and tidy["similarity"].between(-1, 1.0001).all()
    assert set(tidy["seed"]) == {0}
    assert len(list((store / "results" / "attention").glob("*--probe16.csv"))) == 4  # 2 pairs x 2 tasks
    models = report.models_table(P, runs)
    assert len(models) == 5 and set(models["model"]) == {"a retraining"}
    assert (models["model's average"] - models["stored average"]).abs().max() < 1e-3  # the same runs

    shutil.rmtree(store / "results" / "models")  # a fresh clone: no weights, the similarities kept as text
    assert report.attention_tables(P, runs, probe_examples=16).equals(tidy)
    assert report.models_table(P, runs).equals(models)
    assert all(is_stored(p, store) for p in campaign_plan("smoke", None, store, ["attention"], OVERRIDES))
    with pytest.raises(report.ParameterError, match="no kept similarity or model"):
        report.attention_tables(P, runs, probe_examples=8)  # another probe size: neither kept


def test_pairs_wait_in_the_store_and_the_anchor_must_be_a_relevance_task(tmp_path):
    P = report.check_parameters(profile="smoke", out_dir=str(tmp_path))
    pairs, note = report.choose_attention_pairs(P, "RTE", TASKS, stored_runs=True)
    assert pairs is None and "waits" in note
    with pytest.raises(report.ParameterError, match="anchor 'CB' is not among the relevance tasks"):
        report.choose_attention_pairs(P, "CB", TASKS, stored_runs=True)


def test_every_seed_compares_its_own_runs_and_shares_eq4s_keys(tmp_path):
    P = report.check_parameters(profile="smoke", tasks=TASKS, seeds=[0, 1], out_dir=str(tmp_path))
    pairs = {"positive": ("SST-2", "RTE"), "negative": ("MRPC", "RTE")}
    runs = report.attention_configs(P, pairs, [0, 1, 0], TASKS)  # a repeated seed is one set
    assert [{c.seed for c in [*r["single"].values(), *r["pair"].values()]} for r in runs] == [{0}, {1}]
    eq4 = {c.key() for c in pairwise.configs(P, TASKS)}
    flat = report.attention_runs(runs)
    assert len(flat) == 10 and {c.key() for c in flat} <= eq4  # 3 tasks alone and 2 pairs, per seed
    outside = report.attention_configs(P, {"positive": ("CB", "RTE"), "negative": ("MRPC", "RTE")}, [1], TASKS)
    assert outside[0]["pair"]["positive"].key() not in eq4 and outside[0]["pair"]["positive"].seed == 1
