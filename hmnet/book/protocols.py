"""The reference book across protocols: which protocol's store each page is rendered from, the line its banner
adds about the other protocols, and the generated page that lays out every registered protocol (its settings,
what it runs and leaves out, its analysis, the pilot evidence, the power plan, the projected cost and how far its
campaign has come).

A page shows the newest protocol whose store holds every run of the page's sections; until then it shows the
store the book was asked for (v1's), and its banner says how far the newer protocol is. No page mixes two.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from hmnet.book.banners import coverage
from hmnet.book.markdown import md_table
from hmnet.book.reproduce import PAGES, executed_path
from hmnet.campaign.plan import STORE_ROOT
from hmnet.campaign.pricing import measured_against_priced, seconds_per_epoch
from hmnet.profiles import PROFILES
from hmnet.protocol import PROTOCOL_DIR, Protocol, protocols
from hmnet.results import load_results, read_result_file
from hmnet.sections import registry
from hmnet.store import read_manifest
from hmnet.store.manifest import stored_of_planned


def progress(manifest: Mapping | None, notebook: str) -> tuple[int, int]:
    """(complete, planned) runs of a page's sections in a store's manifest."""
    entries = coverage(manifest, notebook)
    return sum(c for _, c, _ in entries), sum(p for _, _, p in entries)


def complete_in(store: Path, notebook: str) -> bool:
    """Whether a store's executed notebook exists and every planned run of its sections is stored."""
    done, planned = progress(read_manifest(store), notebook)
    return executed_path(store, notebook).exists() and planned > 0 and done == planned


def page_stores(profile: str, out: Path, root: Path = STORE_ROOT, directory: Path = PROTOCOL_DIR
                ) -> dict[str, tuple[Path, str | None]]:
    """For each notebook, the store its page is rendered from and that store's protocol: the newest protocol
    of `profile` whose store completes the page's sections, else `out` (with its own protocol, if any)."""
    known = list(protocols(profile, directory).values())
    own = next((p.name for p in known if (root / p.store).resolve() == Path(out).resolve()), None)
    if own is None:
        return {s: (Path(out), None) for s in PAGES}
    out_map = {}
    for s in PAGES:
        chosen = (Path(out), own)
        for p in reversed(known):
            if p.name != own and p.version > _version(own) and complete_in(root / p.store, s):
                chosen = (root / p.store, p.name)
                break
        out_map[s] = chosen
    return out_map


def _version(name: str) -> int:
    return int(name.lstrip("v"))


def protocol_line(profile: str, notebook: str, shown: str | None, root: Path = STORE_ROOT,
                  directory: Path = PROTOCOL_DIR) -> str:
    """The banner's line on protocols: which one the page shows, and how far every newer one is."""
    if shown is None:
        return ""
    known = protocols(profile, directory)
    parts = [f"Protocol **{shown}** (`hmnet/protocols/{profile}-{shown}.json`; see the protocols page)."]
    for p in known.values():
        if p.version <= _version(shown):
            continue
        sections = [s.name for s in registry().on_page(notebook) if s.name in p.sections]
        if not sections:
            parts.append(f"Protocol {p.name} does not run this page's sections (see the protocols page).")
            continue
        done, planned = progress(read_manifest(root / p.store), notebook)
        parts.append(f"Protocol {p.name} (registered {p.registered}) runs them too: {done} of {planned or '?'} of "
                     "its runs stored; the page switches to it when all are.")
    return " ".join(x for x in parts if x)


# ---------------------------------------------------------------------------------------------------------
# the protocols page


def _settings_table(p: Protocol, base: Mapping) -> str:
    rows = ["| setting | value | v1 |", "|---|---|---|"]
    for k, v in p.settings.items():
        rows.append(f"| `{k}` | `{json.dumps(v)}` | `{json.dumps(base.get(k))}` |")
    return "\n".join(rows) if p.settings else "The profile's settings, unchanged."


def _families_table(families: list[dict]) -> str:
    rows = ["| claim | comparison | paper | v1 mean ± sd (3 seeds) | seeds planned | to decide at v1's mean | "
            "for any effect | MDE at plan | expected |", "|---|---|---|---|---|---|---|---|---|"]
    for f in families:
        for m in f["members"]:
            at_mean, anyway = m["seeds_to_decide_at_v1_mean"] or ">1000", m["seeds_to_resolve_any_effect"] or ">1000"
            rows.append(f"| {f['claim']} | {m['comparison']} | {m['paper']:+.2f} | {m['v1_mean']:+.2f} ± "
                        f"{m['v1_sd']:.2f} | {m['planned_seeds']} | {at_mean} | "
                        f"{anyway} | {m['mde_at_planned']:.2f} | {m['expected']} |")
    return "\n".join(rows)


def protocol_section(p: Protocol, root: Path = STORE_ROOT) -> str:
    """Markdown for one protocol: status, settings, sections, analysis, decisions with evidence, power, cost."""
    doc = p.document
    manifest = read_manifest(root / p.store)
    parts = [f"## Protocol {p.name} (`hmnet/protocols/{p.profile}-{p.name}.json`)", "",
             f"Registered {p.registered}. {doc.get('status', '')}", "",
             "**Settings over the profile's:**", "", _settings_table(p, PROFILES[p.profile]()), ""]
    seeds = {nb: v.get("seeds") for nb, v in p.notebook_parameters.items() if v.get("seeds")}
    parts += ["**Sections, in priority order:** " + ", ".join(p.sections) + "."
              + (" Seeds per notebook: " + "; ".join(f"{nb}: {s}" for nb, s in seeds.items()) + "." if seeds else ""),
              ""]
    if p.not_run:
        parts += ["**Left out, and why:**", ""] + [f"- `{s}`: {why}" for s, why in p.not_run.items()] + [""]
    analysis = doc.get("analysis") or {}
    if analysis:
        parts += ["**Analysis:**", ""] + [f"- `{k}`: {json.dumps(v) if not isinstance(v, str) else v}"
                                           for k, v in analysis.items()] + [""]
    for d in doc.get("decisions", []):
        parts += [f"- **{d['choice']}** {d['why']}"]
    if doc.get("decisions"):
        parts.append("")
    if doc.get("power"):
        parts += ["**Power plan** (from v1's per-seed paired differences; the spreads come from 3 seeds, so the "
                  "counts could be several times too small):", "", _families_table(doc["power"]["families"]), ""]
    if doc.get("projection"):
        parts += [f"**Projected cost:** {doc['projection'].get('summary', '')}", ""]
    if manifest:
        done, planned = stored_of_planned(manifest)
        parts += [f"**Campaign:** {done} of {planned} planned runs stored (store `reference/{p.store}`, updated "
                  f"{manifest.get('updated', '?')}).", ""]
        parts += cost_check(p, manifest, root)
    for line in doc.get("deviations", []):
        parts.append(f"- {line}")
    return "\n".join(parts) + "\n"


def cost_check(p: Protocol, manifest: Mapping, root: Path = STORE_ROOT) -> list[str]:
    """Markdown lines: the stored runs' measured run-hours beside the price the registered projection gave the
    same runs (:mod:`hmnet.campaign.pricing`, from the previous protocol's store), per section and per machine,
    and what the registered projection leaves (:func:`_rest_of_cost`). Empty for a protocol without a
    registered projection or a previous store."""
    projection = p.document.get("projection") or {}
    earlier = [q for q in protocols(p.profile).values() if q.version < p.version]
    if not projection.get("run_hours") or not earlier:
        return []
    per_epoch = seconds_per_epoch(load_results(root / earlier[-1].store / "results"))
    runs = [(name, read_result_file(root / p.store / "results" / r["name"]))
            for name, section in manifest["sections"].items() for r in section["runs"] if r.get("complete")]
    runs = [(name, r) for name, r in runs if r is not None]
    if not runs:
        return []
    by_section = measured_against_priced(runs, per_epoch)
    by_machine = measured_against_priced(runs, per_epoch, "machine")
    priced = by_section["priced run-hours"]
    if not priced.sum():
        return []
    ratio = (by_section["measured / priced"] * priced).sum() / priced.sum()
    return [f"**Cost so far, against the registered projection** (each stored run's measured wall time on one "
            f"thread, beside the price the projection gave that run: {projection.get('basis', '')}):", "",
            md_table(by_section, floatfmt=".2f"), "", md_table(by_machine, floatfmt=".2f"),
            "", f"The stored runs took {ratio:.2f} times their price. " + _rest_of_cost(
                projection, manifest, by_section.set_index("section"), ratio), ""]


def _rest_of_cost(projection: Mapping, manifest: Mapping, by_section: pd.DataFrame, ratio: float) -> str:
    """The sentence on what the registered projection leaves: each section's unpriced rest scaled by that
    section's own measured ratio (the overall `ratio` where it has none stored), or the total once every planned
    run is stored."""
    registered = projection.get("total_run_hours") or sum(projection["run_hours"].values())
    pending = {s: manifest["sections"][s]["planned"] - manifest["sections"][s]["complete"]
               for s in projection["run_hours"] if s in manifest["sections"]}
    if not any(pending.values()):
        measured = by_section["measured run-hours"].sum()
        return (f"Every planned run is stored: {measured:.1f} measured run-hours against the registered "
                f"projection of {registered:.1f} ({measured / registered:.2f} of it).")
    rest = scaled = 0.0
    for s, hours in projection["run_hours"].items():
        if not pending.get(s):
            continue
        done = by_section.loc[s] if s in by_section.index else None
        left = max(hours - (0.0 if done is None else done["priced run-hours"]), 0.0)
        own = ratio if done is None or not done["priced run-hours"] else done["measured / priced"]
        rest += left
        scaled += left * own
    runs = sum(pending.values())
    return (f"The registered projection leaves {rest:.1f} run-hours for the {runs} planned run{'s' * (runs != 1)} "
            "not stored yet; at each section's measured ratio (the overall one where a section has none stored) "
            f"that is {scaled:.1f} run-hours, about {scaled / 2:.1f} wall hours with two one-thread workers. A machine "
            "of another kind runs at its own rate (the table by machine).")


# The paper's recipe (Section 4.3), beside which the disclosure sets each build's.
PAPER_RECIPE = {"pooling": "cls", "lr": 2e-5, "batch_size": 32, "epochs": 3, "max_length": 512,
                "mixed_precision": "not stated", "max_examples": None}


def disclosure_section(label: str, manifest: Mapping) -> str:
    """Markdown: what one build ran (its manifest's ``disclosure``), beside the paper's recipe."""
    d = manifest.get("disclosure")
    if not d:
        return (f"### {label}\n\nThis store's manifest holds no disclosure yet (`hmnet campaign status` with "
                "the data writes it).\n")
    bb, r = d["backbone"], d["recipe"]
    overlap = ", ".join(f"{o['task']} ({o['why']})" for o in bb["overlaps"]) or "none found in its card"
    recipe = ["| setting | this build | the paper |", "|---|---|---|"] + [
        f"| `{k}` | `{json.dumps(r.get(k))}` | `{json.dumps(v)}` |" for k, v in PAPER_RECIPE.items()]
    steps, trunc = d["steps"], d["truncation"]
    rows = ["| task | train rows | single-task steps | multi-task steps of its head | truncated at max length |",
            "|---|---|---|---|---|"] + [
        f"| {t} | {d['train_rows'].get(t, '')} | {steps['single_task'].get(t, '')} | "
        f"{steps['multi_task_per_task'].get(t, '')} | {100 * trunc.get(t, 0):.0f}% |" for t in d["train_rows"]]
    carve = "; ".join(f"{t}: {c['train']} train / {c['eval']} eval rows, {c['eval_rows_sharing_a_text']} eval rows "
                      "sharing a text with a training row" for t, c in d["carve"].items()) or "no task carved"
    chunk = r.get("length_chunk", 100)
    return "\n".join([
        f"### {label}", "",
        f"- **Backbone:** {bb['source']}; trained with {bb['trained_pooling'] or 'unstated'} pooling. Its training "
        f"sets overlap: {overlap}. The evaluation rows here are official dev/test files, outside those training "
        "sets.",
        f"- **Pooling of the heads:** {r['pooling']}.",
        f"- **Batches:** one task each (Algorithm 1); length-grouped: {r['group_by_length']}, sorting inside chunks "
        f"of {chunk} batches" + (" (on 1,000 rows one chunk holds every row, so an epoch's batches are the same "
                                 "blocks by length rank, only their order shuffled)" if chunk >= 32 else
                                 " (new batches every epoch)") + ".",
        f"- **Carve:** `carve_by={r['carve_by']}`, tasks `{json.dumps(r['carve_tasks'])}` (None: every task without "
        f"a training file). Checked on the rows the runs use: {carve}.",
        f"- **Optimizer steps:** the shared encoder of a multi-task run over every task takes "
        f"{steps['multi_task_shared']} steps.", "", *recipe, "", *rows, ""])


def disclosure_page(profile: str, root: Path = STORE_ROOT) -> str:
    """Every reference store of `profile`, newest protocol first: :func:`disclosure_section`."""
    parts = []
    for p in reversed(list(protocols(profile).values())):
        manifest = read_manifest(root / p.store)
        if manifest:
            parts.append(disclosure_section(f"Protocol {p.name} (`reference/{p.store}`)", manifest))
    return "\n".join(parts) or "No reference store of this profile holds a manifest.\n"


def protocols_page(profile: str, root: Path = STORE_ROOT) -> str:
    """Every registered protocol of `profile`, newest first."""
    known = list(protocols(profile).values())
    if not known:
        return f"Profile `{profile}` has no registered protocol.\n"
    return "\n".join(protocol_section(p, root) for p in reversed(known))


__all__ = ["complete_in", "cost_check", "disclosure_page", "disclosure_section", "page_stores", "progress",
           "protocol_line", "protocol_section", "protocols_page"]
