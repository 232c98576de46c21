"""Table 1's extra rows: HMNet with our grouping of every task (notebook 02's output), planned by the
campaign once that grouping is in the store, and never from a matrix that holds no measurement."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hmnet import report
from hmnet.campaign import runner as campaign
from hmnet.campaign.plan import campaign_plan
from hmnet.analysis.relevance import save_matrix

TASKS = ["RTE", "SST-2", "MRPC", "CB"]


def test_only_groupings_that_place_every_task_become_rows(tmp_path):
    P = report.check_parameters(profile="smoke", tasks=TASKS, out_dir=str(tmp_path))
    assert report.extra_groupings(P, None) == ({}, "")
    extra, note = report.extra_groupings(P, ["lookahead"])
    assert extra == {} and "'lookahead' (not grouped by notebook 02 yet)" in note
    report.save_groupings({"lookahead": [["RTE", "CB"], ["SST-2", "MRPC"]], "model": [["RTE", "SST-2"]]}, P)
    extra, note = report.extra_groupings(P, ["lookahead", "model"])
    assert extra == {"lookahead": [["RTE", "CB"], ["SST-2", "MRPC"]]}
    assert "our 'lookahead' grouping" in note and "'model' (it leaves out ['CB', 'MRPC'])" in note
    groupings, ours, note = report.table1_groupings(P, "paper", ["lookahead"])  # notebook 03's HMNet rows
    assert list(groupings) == ["data", "model", "manual"] and list(ours) == ["lookahead"]
    assert list(report.groupings_table(groupings, ours)["grouping"]) == ["data", "model", "manual", "ours: lookahead"]
    assert note.startswith("Groupings: the paper's") and "Extra rows: HMNet with our 'lookahead'" in note
    with pytest.raises(report.ParameterError, match="extra_groupings"):
        report.extra_groupings(P, "lookahead")


def test_only_a_fully_measured_matrix_is_clustered(tmp_path, monkeypatch):
    """A matrix without measurements (a section not run) or with some pairs not measured yet (a store being
    filled: k-means would group by whichever pairs are stored) is not clustered, and the page says why."""
    shown = []
    monkeypatch.setattr("hmnet.report.groupings.show_text", shown.append)
    P = report.check_parameters(profile="smoke", tasks=TASKS, out_dir=str(tmp_path))
    empty = pd.DataFrame(np.nan, index=TASKS, columns=TASKS)
    save_matrix(empty, P.tables_dir / "relevance_lookahead.json")
    assert "lookahead" not in report.load_relevance_matrices(P)
    partial = empty.copy()
    partial.loc["RTE", "CB"] = 1.5
    save_matrix(partial, P.tables_dir / "relevance_lookahead.json")
    assert "lookahead" not in report.load_relevance_matrices(P)
    assert shown[-1] == "not grouped, as not every pair is measured yet: the lookahead matrix (1 of 12 pairs)"
    full = pd.DataFrame(np.arange(16.0).reshape(4, 4), index=TASKS, columns=TASKS)
    full.iloc[0, 0] = np.nan  # the diagonal does not count
    save_matrix(full, P.tables_dir / "relevance_lookahead.json")
    assert "lookahead" in report.load_relevance_matrices(P)


def test_the_campaign_plans_the_extra_rows_once_the_store_holds_the_grouping(tmp_path):
    over = {"tasks": TASKS, "seeds": [0, 1], "extra_groupings": ["lookahead"]}
    waiting = campaign_plan("smoke", None, tmp_path, ["table1_ours"], over)
    assert not waiting.runs and "not grouped by notebook 02 yet" in waiting.waiting["table1_ours"]
    (tmp_path / "tables").mkdir(exist_ok=True)
    # Not one of the paper's groupings on these tasks (a grouping equal to one would share its runs' keys).
    (tmp_path / "tables" / "groupings_ours.json").write_text(json.dumps({"lookahead": [["RTE", "SST-2"],
                                                                                        ["MRPC", "CB"]]}))
    plan = campaign_plan("smoke", None, tmp_path, ["table1", "table1_ours"], over)
    ours = [p.config for p in plan if p.section == "table1_ours"]
    assert sorted(c.seed for c in ours) == [0, 1] and {c.variant for c in ours} == {"HMNet, our lookahead grouping"}
    assert {(c.tag("grouping"), c.tag("origin")) for c in ours} == {("lookahead", "ours")}
    assert ours[0].clusters == {"g1": ("RTE", "SST-2"), "g2": ("MRPC", "CB")}
    assert not plan.waiting
    assert not {c.key() for c in ours} & {p.config.key() for p in plan if p.section == "table1"}


def test_extra_rows_join_table1_in_the_terminal_view_and_the_ledger(tmp_path, capsys):
    from hmnet.cli import main
    from hmnet.store import ledger_for

    store = tmp_path / "store"
    over = {"tasks": ["RTE", "MRPC", "SST-2"], "seeds": [0], "extra_groupings": ["lookahead"]}
    (store / "tables").mkdir(parents=True)
    (store / "tables" / "groupings_ours.json").write_text(json.dumps({"lookahead": [["RTE", "SST-2"], ["MRPC"]]}))
    rep = campaign.run_campaign("smoke", None, store, ["table1", "table1_ours"], over, workers=1, threads=1,
                                progress=False, echo=lambda m: None)
    assert rep.stopped_by == "done" and not rep.failed
    assert main(["results", "table1", "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert "extra rows (table1_ours): 1 of 1" in out and "HMNet, our lookahead grouping" in out
    ledger = ledger_for(store)
    ours = ledger[ledger["claim"].str.contains("HMNet, our lookahead grouping", regex=False)]
    assert len(ours) == 1 and ours.iloc[0]["verdict"] == "not resolved"  # one seed: no interval
