"""The claims page's generated part: for each build (this book's, and every committed results store), every
claim of the ledger (:func:`hmnet.store.ledger_for`) with its verdict and evidence, a link to the page that
shows it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from hmnet.analysis.verdicts import verdict_counts
from hmnet.book.reproduce import PAGES
from hmnet.campaign.plan import STORE_ROOT
from hmnet.store import ledger_for, read_manifest


def ledger_builds(profile: str, out: Path, root: Path = STORE_ROOT) -> dict[str, Path]:
    """The builds the claims ledger reports: this one, and every committed results store."""
    def label(folder: Path) -> str:
        protocol = (read_manifest(folder) or {}).get("protocol")
        return f"`reference/{folder.name}`" + (f", protocol {protocol}" if protocol else "")

    builds = {f"Profile `{profile}` (this book: {label(Path(out))})"
              if (Path(out) / "manifest.json").exists() else f"Profile `{profile}` (this book)": out}
    for store in sorted(Path(root).glob("*/manifest.json")):
        if store.parent.resolve() != Path(out).resolve():
            builds[f"Reference store {label(store.parent)}"] = store.parent
    return builds


def page_link(page: str) -> str:
    """A link to a result page of the book (plain text for a page the book does not hold)."""
    stem = PAGES.get(page)
    return f"{{doc}}`{page} </notebooks/{stem}>`" if stem else page


def claims_page(builds: Mapping[str, Path]) -> str:
    """Markdown: for each build (a label and its folder), every claim with its verdict and evidence."""
    parts = []
    for label, out in builds.items():
        frame = ledger_for(out)
        counts = ", ".join(f"{n} {v}" for v, n in verdict_counts(frame).items())
        parts.append(f"## {label}\n\n{counts}.\n")
        lines = ["| claim | the paper | verdict | evidence | section |", "|---|---|---|---|---|"]
        for row in frame.itertuples(index=False):
            cells = [row.claim, row.paper, f"**{row.verdict}**", row.evidence, page_link(row.section)]
            lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


__all__ = ["ledger_builds", "claims_page", "page_link"]
