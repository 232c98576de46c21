"""The claims page's generated part: for each build (this book's, and every committed results store), the ledger
(:func:`hmnet.store.ledger_for`) as a forest plot (:mod:`hmnet.report.forest`), then every claim with its verdict,
its comparisons in numbers and a link to the page that shows it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from hmnet.analysis.verdicts import UNRESOLVED, Comparison, verdict_counts
from hmnet.book.reproduce import PAGES
from hmnet.campaign.plan import STORE_ROOT
from hmnet.protocol import Protocol
from hmnet.store import ledger_for, read_manifest
from hmnet.store.manifest import manifest_protocol, stored_of_planned
from hmnet.store.view import why_not_run


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


def member_cell(m: dict, protocol: Protocol | None = None) -> str:
    """One comparison in numbers: ours with its interval and seeds, the paper's, the adjusted p-value, for
    an unresolved one the minimum detectable effect and the seeds that would resolve it, and what the store's
    registered power plan expected of it (where `protocol` has one)."""
    c = Comparison(**m)
    if c.n == 0:
        return f"{c.name}: not run"
    expected = protocol.expectation(c.name) if protocol is not None else None
    return _numbers(c) + (f" · {expected}" if expected else "")


def _numbers(c: Comparison) -> str:
    paper = f"paper {c.paper:+.2g}" if c.paper == c.paper else "no paper number"
    if c.n == 1:
        return f"{c.name}: {c.mean:+.2f} (1 seed) · {paper}"
    text = f"{c.name}: {c.mean:+.2f} [{c.ci_low:+.2f}, {c.ci_high:+.2f}] n={c.n} · {paper} · p {c.p_zero_holm:.3f}"
    if c.verdict == UNRESOLVED:
        need = c.seeds_to_resolve
        text += f" · MDE {c.mde:.2f}" + (f" · ≈{need} seeds" if need else "")
    return text


def build_status(out: Path) -> tuple[str, Protocol | None]:
    """A line for a build whose store is still being filled (empty when every planned run is stored), and the
    registered protocol the store follows (None: none)."""
    manifest = read_manifest(Path(out)) or {"sections": {}}
    protocol = manifest_protocol(manifest)
    done, planned = stored_of_planned(manifest)
    if not planned or done >= planned:
        return "", protocol
    plan = f" (`hmnet/protocols/{protocol.profile}-{protocol.name}.json`)" if protocol else ""
    return (f"**Interim:** {done} of {planned} planned runs are stored. These verdicts come from those alone and "
            "change as the campaign fills the store; the seeds are fixed by the registered plan" + plan
            + ", and none is added after looking.\n\n"), protocol


def _slug(label: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in label).strip("_").lower()[:60]


def claims_parts(builds: Mapping[str, Path]) -> tuple[str, dict[str, bytes]]:
    """Markdown and files: for each build (a label and its folder), its forest plot, then every claim with its
    verdict, its comparisons in numbers and the page that shows it; the notes numbered under the table."""
    from hmnet.report.forest import forest_figure

    parts, files = [], {}
    for label, out in builds.items():
        frame = ledger_for(out)
        status, protocol = build_status(out)
        manifest = read_manifest(out)
        counts = ", ".join(f"{n} {v}" for v, n in verdict_counts(frame).items())
        name = f"claims/forest_{_slug(label)}.png"
        files[name] = _png(forest_figure(frame))
        parts.append(f"## {label}\n\n{status}{counts}.\n\n"
                     f"![The claims of {label}, as a forest plot](/book/generated/{name})\n")
        lines = ["| claim | the paper | verdict | our comparisons (95% interval, seeds, Holm p) | page |",
                 "|---|---|---|---|---|"]
        notes = []
        for row in frame.itertuples(index=False):
            if row.note:
                notes.append(row.note)
            mark = f" [{len(notes)}]" if row.note else ""
            ours = (why_not_run(row, protocol, manifest)
                    or "<br>".join(member_cell(m, protocol) for m in row.members) or "not run")
            cells = [row.claim + mark, row.paper, f"**{row.verdict}**", ours, page_link(row.section)]
            lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
        parts.append("\n".join(lines) + "\n")
        if notes:
            parts.append("\n".join(f"{i}. {n}" for i, n in enumerate(notes, 1)) + "\n")
    return "\n".join(parts), files


def claims_page(builds: Mapping[str, Path]) -> str:
    """The claims page's Markdown alone (:func:`claims_parts` without its files)."""
    return claims_parts(builds)[0]


def _png(fig) -> bytes:
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


__all__ = ["build_status", "ledger_builds", "claims_parts", "claims_page", "member_cell", "page_link"]
