"""The claims ledger of one build: every section's claims (:meth:`hmnet.sections.Section.claims`), in the
registry's order, as one frame. Each claim is a family of comparisons with its verdict
(:mod:`hmnet.analysis.verdicts`); its rendering (the table and the forest plot) is the book's."""

from __future__ import annotations

import pandas as pd

from hmnet.analysis.verdicts import claim_row
from hmnet.sections import Registry, registry
from hmnet.sections.base import Evidence

# `section` is the page (notebook) that shows a claim; `source` names the section that tests it.
COLUMNS = ("claim", "paper", "verdict", "evidence", "section", "unit", "note", "members", "source")


def ledger(evidence: Evidence, sections: Registry | None = None) -> pd.DataFrame:
    """Every claim the sections test on `evidence`, with its verdict, evidence and comparisons."""
    rows = [{**claim_row(c), "source": s.name} for s in (sections or registry()) for c in s.claims(evidence)]
    return pd.DataFrame(rows, columns=list(COLUMNS))


__all__ = ["ledger", "COLUMNS"]
