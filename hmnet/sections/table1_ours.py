"""Table 1's extra rows (page 03): HMNet with our groupings of every task (notebook 02's k-means over the
one-run affinity estimate, say), at Table 1's seeds. It plans once notebook 02's groupings are in the build's
tables (until then ``Plan.waiting`` says why), and its runs join Table 1's in the table and the ledger."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hmnet.sections.base import Plan, Section, seeds_first
from hmnet.sections.groupings import extra_groupings, grouping_dict
from hmnet.sections.parameters import RunParameters
from hmnet.sections.table1 import hmnet_runs

NAME = "table1_ours"


def configs(params: RunParameters, ours, seeds) -> list:
    """HMNet with each of our groupings (`ours`: name -> clusters) at every seed."""
    clusters = {name: grouping_dict(g) for name, g in ours.items()}
    profile = params.experiment_profile()
    return [c for seed in seeds for c in hmnet_runs(profile, clusters, seed, origin="ours", section=NAME)]


class Table1Ours(Section):
    name = NAME
    page = "03"
    title = "Table 1's extra rows (our groupings)"
    joins = "table1"

    def plan(self, params: RunParameters, extra: Mapping[str, Any]) -> Plan:
        names = extra.get("extra_groupings")
        ours, note = extra_groupings(params, names)
        if names and not ours:
            return Plan(waiting=f"{note} The one-run affinity estimate's grouping comes from notebooks 01 and 02.")
        return Plan(seeds_first(configs(params, ours, params.seeds), params.seeds))


SECTION = Table1Ours()

__all__ = ["SECTION", "configs"]
