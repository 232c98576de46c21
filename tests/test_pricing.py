"""The registered projection checked against what the runs cost: the library prices a run the way the
registered v2 plan did (it reproduces the plan's numbers from the v1 store), and the protocols page sets each
stored run's measured time beside that price."""

from __future__ import annotations

import copy
import importlib.util
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from hmnet.book.protocols import cost_check
from hmnet.campaign.pricing import (CHUNK8_OVER_CHUNK100, FP32_OVER_BF16, measured_against_priced, priced_seconds,
                                    seconds_per_epoch)
from hmnet.experiments import RunConfig
from hmnet.protocol import protocols
from hmnet.results import Result
from hmnet.store import read_manifest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "reference"


def _record(seed: int, wall: float, machine: str, **overrides) -> Result:
    config = RunConfig(**{"method": "single", "tasks": ("RTE",), "seed": seed, **overrides})
    return Result(config=config, key=config.key(), metrics={}, scores={}, average=0.0, params={}, wall_time=wall,
                  examples_per_second=1.0, env={"machine": f"cpu: {machine}"})


def test_a_run_is_priced_from_the_mean_epoch_of_its_shape_and_unknown_shapes_are_not():
    basis = seconds_per_epoch([_record(0, 300.0, "a", epochs=3), _record(1, 600.0, "a", epochs=3)])
    assert list(basis.values()) == [150.0], "mean over seeds of wall time per epoch"
    run = _record(2, 0.0, "a", epochs=2).config
    assert priced_seconds(run, 2, basis) == pytest.approx(300.0 * FP32_OVER_BF16 * CHUNK8_OVER_CHUNK100)
    assert priced_seconds(_record(0, 0.0, "a", tasks=("CB",)).config, 3, basis) is None


def test_measured_beside_priced_per_section_and_machine_the_ratio_over_priced_runs_only():
    basis = seconds_per_epoch([_record(0, 3600.0, "a", epochs=3)])
    price = 3600.0 * FP32_OVER_BF16 * CHUNK8_OVER_CHUNK100 / 3600
    runs = [("table1", _record(1, 3600.0, "a")), ("table1", _record(2, 1800.0, "b")),
            ("table1", _record(3, 9999.0, "b", tasks=("CB",))),  # a shape the basis lacks
            ("table1", _record(4, 9999.0, "b", min_steps=300))]  # trains more epochs than it says
    frame = measured_against_priced(runs, basis).set_index("section")
    assert frame.loc["table1", "runs"] == 4 and frame.loc["table1", "unpriced runs"] == 2
    assert frame.loc["table1", "priced run-hours"] == pytest.approx(2 * price)
    assert frame.loc["table1", "measured / priced"] == pytest.approx(1.5 / (2 * price))
    machines = measured_against_priced(runs, basis, "machine").set_index("machine")
    assert machines.loc["a", "measured / priced"] == pytest.approx(1 / price)
    assert machines.loc["b", "measured / priced"] == pytest.approx(0.5 / price)
    assert machines.loc["b", "unpriced runs"] == 2
    assert measured_against_priced([], basis).empty


def _raw(path: Path) -> dict:
    return json.loads(path.read_text())


def shape(config: dict) -> str:
    return json.dumps([config[k] for k in ("method", "tasks", "split", "clusters", "max_examples")], sort_keys=True)


def test_the_protocols_page_cost_check_matches_the_raw_records_of_the_committed_stores():
    """Recomputed here from the JSON files alone: the sum of the stored v2 runs' wall times, and their price
    from v1's runs of the same shape (wall time per epoch, mean over seeds)."""
    v2 = protocols("local")["v2"]
    manifest = read_manifest(REFERENCE / v2.store)
    if not manifest or not any(r.get("complete") for s in manifest["sections"].values() for r in s["runs"]):
        pytest.skip("the v2 store holds no run yet")
    v1 = defaultdict(list)
    for path in (REFERENCE / "local" / "results").glob("*.json"):
        c = _raw(path)["config"]
        v1[shape(c)].append(_raw(path)["wall_time"] / c["epochs"])
    measured, priced, count = defaultdict(float), defaultdict(float), defaultdict(int)
    for name, section in manifest["sections"].items():
        for run in (r for r in section["runs"] if r.get("complete")):
            record = _raw(REFERENCE / v2.store / "results" / run["name"])
            c = record["config"]
            count[name] += 1
            measured[name] += record["wall_time"] / 3600
            priced[name] += np.mean(v1[shape(c)]) * c["epochs"] * FP32_OVER_BF16 * CHUNK8_OVER_CHUNK100 / 3600
    text = "\n".join(cost_check(v2, manifest))
    for name in count:
        assert (f"| {name} | {count[name]} | {measured[name]:.2f} | {priced[name]:.2f} | "
                f"{measured[name] / priced[name]:.2f} | 0 |") in text
    ratio = sum(measured.values()) / sum(priced.values())
    assert f"The stored runs took {ratio:.2f} times their price" in text
    # What is left: each pending section's unpriced rest at its own ratio; once all is stored, the total.
    projection = v2.document["projection"]
    for left_out in (1, 0):
        counts = copy.deepcopy(manifest)
        for name, section in counts["sections"].items():
            section["complete"] = section["planned"] - (left_out if name == "shared_layers" else 0)
        text = "\n".join(cost_check(v2, counts))
        if left_out:
            rest = max(projection["run_hours"]["shared_layers"] - priced["shared_layers"], 0.0)
            own = measured["shared_layers"] / priced["shared_layers"] if priced["shared_layers"] else ratio
            assert f"leaves {rest:.1f} run-hours for the 1 planned run not" in text
            assert f"that is {rest * own:.1f} run-hours" in text
        else:
            assert (f"Every planned run is stored: {sum(measured.values()):.1f} measured run-hours against the "
                    f"registered projection of {projection['total_run_hours']:.1f}") in text


def test_the_library_prices_the_v2_plan_as_registered(shared_data_dir, monkeypatch):
    """scripts/plan_protocol.py, through hmnet.campaign.pricing, gives the registered projection again."""
    monkeypatch.setenv("HMNET_DATA_DIR", str(shared_data_dir))
    spec = importlib.util.spec_from_file_location("plan_protocol", ROOT / "scripts" / "plan_protocol.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    registered = protocols("local")["v2"].document["projection"]
    got = script.projection("v2")
    assert got["run_hours"] == registered["run_hours"] and got["total_run_hours"] == registered["total_run_hours"]
    assert got["unmatched"] == [] and got["basis"] == registered["basis"]
