"""The terminal view of a results store (``hmnet results SECTION``): a section's stored results as text, each
cell 'mean ± 95% CI half-width (n seeds)', tasks as rows and the runs' labels as columns, with each task's
constant floors beside them; read through the store's manifest, so it needs no data and no training."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from hmnet.analysis.verdicts import Comparison, verdict_counts
from hmnet.errors import UsageError
from hmnet.protocol import Protocol
from hmnet.results import entry_task, summarize
from hmnet.sections import Registry, registry
from hmnet.store.manifest import MANIFEST, manifest_protocol, read_manifest, stored_of_planned
from hmnet.store.records import ledger_for, section_records


def _cell(row) -> str:
    if row["n"] > 1 and row["ci_high"] == row["ci_high"]:
        return f"{row['mean']:.1f} ± {row['ci_high'] - row['mean']:.1f} (n={row['n']})"
    return f"{row['mean']:.1f} (n={row['n']})"


def marked_partial(summary: pd.DataFrame) -> pd.Series:
    """The average rows over fewer tasks than the other labels' (a section still being filled)."""
    entries = summary[summary["task"] != "Average"].groupby("variant")["task"].nunique()
    return summary["task"].eq("Average") & summary["variant"].map(entries).lt(entries.max())


def cells_frame(summary: pd.DataFrame, majority: Mapping[str, float] | None = None, columns: Sequence[str] = (),
                marked: pd.Series | None = None, best: Mapping[str, float] | None = None) -> pd.DataFrame:
    """A summary (``hmnet.results.summarize``) as text cells 'mean ± 95% CI half-width (n=seeds)': tasks as rows
    in the summary's order and the average last, variants as columns (`columns` first), the rows where
    `marked` holds marked "partial", and each task's majority-class score and best constant prediction's
    (``hmnet.report.constant_baselines``) as last columns when given (the manifest keeps them, computed on the
    evaluation rows the store's runs use)."""
    summary = summary.assign(cell=summary.apply(_cell, axis=1))
    if marked is not None:
        summary.loc[marked, "cell"] += " partial"
    frame = summary.pivot(index="task", columns="variant", values="cell").rename_axis(columns="method")
    tasks = [t for t in dict.fromkeys(summary["task"]) if t != "Average"] + ["Average"]
    first = [c for c in columns if c in frame.columns]
    frame = frame.reindex(index=tasks, columns=first + [c for c in frame.columns if c not in first]).fillna("–")
    for name, floor in (("majority class", majority), ("best constant", best)):
        if floor:
            scores = [floor.get(entry_task(t)) for t in frame.index]
            frame[name] = ["–" if v is None else f"{v:.1f}" for v in scores]
    return frame


def status_table(store: Path) -> str:
    """Each section of a store's plan: how many of its planned runs are stored, or what it waits for."""
    manifest = read_manifest(store)
    if manifest is None:
        raise UsageError(f"no {MANIFEST} in {store}: nothing has been stored there yet")
    lines = [f"  {s:14s} " + (f"waits: {v['waiting']}" if v.get("waiting")
                                else f"{v['complete']:3d} of {v['planned']:3d} runs")
             for s, v in manifest["sections"].items()]
    return "\n".join([_head(store, manifest), *lines])


def why_not_run(row, protocol: Protocol | None, manifest: Mapping | None = None) -> str | None:
    """Why a ledger row's claim has no runs: the store's protocol registered leaving its section out, or (with
    the store's manifest) its section is planned and its runs are still pending or it waits on another
    section. None when the claim has runs or the store says nothing about its section."""
    if any(m["n"] for m in row.members):
        return None
    reason = protocol.left_out(row.source) if protocol is not None else None
    section = (manifest or {}).get("sections", {}).get(row.source)
    if reason or not section:
        return reason
    if section.get("waiting"):
        return f"pending: {row.source} waits: {section['waiting']}"
    if section["complete"] < section["planned"]:
        return f"pending: {section['complete']} of {section['planned']} planned runs of {row.source} stored"
    return None


def claims_text(store: Path, known: Registry | None = None) -> str:
    """The store's claims ledger as text (what the book's claims page shows, without its plot): each claim
    with its verdict and, indented, each comparison in numbers (ours with its raw interval and seeds, the
    paper's effect, the raw and Holm-adjusted p-values; for an unresolved one its minimum detectable effect)."""
    manifest = read_manifest(store)
    if manifest is None:
        raise UsageError(f"no {MANIFEST} in {store}: nothing has been stored there yet")
    frame = ledger_for(store, known)
    done, planned = stored_of_planned(manifest)
    lines = [_head(store, manifest),
             f"claims ledger from {done} of {planned} planned runs"
             + (" (interim: the verdicts change as the store fills)" if done < planned else "") + ": "
             + ", ".join(f"{n} {v}" for v, n in verdict_counts(frame).items())]
    protocol = manifest_protocol(manifest)
    for i, row in enumerate(frame.itertuples(index=False), 1):
        lines.append(f"{i:2d}. {row.claim} [{row.verdict}]")
        reason = why_not_run(row, protocol, manifest)
        lines += [f"      {reason}"] if reason else [f"      {_member_text(m, protocol)}" for m in row.members]
    return "\n".join(lines)


def _member_text(member: Mapping, protocol: Protocol | None) -> str:
    """One comparison in numbers and, where the store's protocol registered a power plan for it, what that
    plan expected at its seeds."""
    c = Comparison(**member)
    expected = protocol.expectation(c.name) if protocol is not None and c.n else None
    return c.short() + (f"; {expected}" if expected else "")


def _head(store: Path, manifest: Mapping) -> str:
    return (f"store {Path(store).name} (profile {manifest['profile']}, backbone {manifest['settings']['backbone']}, "
            f"updated {manifest['updated']}, commit {(manifest.get('commit') or 'unknown')[:12]})")


def section_results_table(store: Path, section: str, known: Registry | None = None) -> str:
    """A section's stored results as text (with the runs of the sections that join it as extra rows), with the
    store's coverage and provenance."""
    known = known or registry()
    if section == "status":
        return status_table(store)
    if section == "claims":
        return claims_text(store, known)
    shown = known.get(section)
    manifest = read_manifest(store)
    if manifest is None:
        raise UsageError(f"no {MANIFEST} in {store}: nothing has been stored there yet")
    results = section_records(store, section, manifest)
    cov = manifest["sections"][section]
    head = f"{_head(store, manifest)}\n{section}: {cov['complete']} of {cov['planned']} planned runs stored"
    for extra in (s for s in known if s.joins == section and s.name in manifest["sections"]):
        more = manifest["sections"][extra.name]
        results += section_records(store, extra.name, manifest)
        head += (f"; extra rows ({extra.name}): {more['complete']} of {more['planned']}" if more["planned"]
                 else f"; extra rows wait: {more.get('waiting', '')}")
    if not results:
        return head + "\nno results stored yet"
    summary = summarize(results)
    body = cells_frame(summary, manifest.get("majority_class"), shown.columns, marked_partial(summary),
                       manifest.get("best_constant")).to_string()
    return f"{head}\n(mean ± 95% CI half-width over seeds, n = seeds)\n{body}"


__all__ = ["cells_frame", "claims_text", "why_not_run", "marked_partial", "status_table", "section_results_table"]
