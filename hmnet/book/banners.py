"""What a page built from a results store says about the store: the banner with what produced its numbers, and
the placeholder page of a section whose runs are not stored yet. Both read the store's manifest only."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from hmnet.store.manifest import read_manifest
from hmnet.tasks import TASK_NAMES


def coverage(manifest: Mapping | None, notebook: str) -> list[tuple[str, int, int]]:
    """(section, complete, planned) for the campaign sections a notebook shows."""
    if not manifest:
        return []
    return [(s, v["complete"], v["planned"]) for s, v in manifest.get("sections", {}).items()
            if v.get("notebook") == notebook]


def store_banner(manifest: Mapping | None, notebook: str, protocol_note: str = "") -> str:
    """Markdown for the top of a page built from a store: what produced its numbers (`protocol_note`: which
    registered protocol the page shows, and how far the newer ones are)."""
    if not manifest:
        return ""
    st = manifest["settings"]
    files = manifest["data"].get("files", {})
    data = ", ".join(sorted({v[0] for v in files.values() if v})) if files else manifest["data"].get("source", "")
    runs = "; ".join(f"{s}: waits for another section's runs" if manifest["sections"][s].get("waiting") else
                     f"{s}: **{c} of {p}** planned runs complete" for s, c, p in coverage(manifest, notebook))
    carved = ", ".join(manifest.get("carved_tasks", [])) or "none"
    page = manifest.get("notebook_parameters", {}).get(notebook) or {}
    lines = [
        KINDS.get(manifest["profile"], ""),
        f"**Reference build, profile `{manifest['profile']}`**: backbone `{st['backbone']}`, "
        f"{st['source']} data, at most {st['max_examples']} training and {st['max_eval_examples']} evaluation rows "
        f"per task, max length {st['max_length']}, {st['epochs']} epochs, lr {st['lr']:g}, batch {st['batch_size']}, "
        f"precision {st['mixed_precision']}, seeds {', '.join(map(str, manifest['seeds']))}.",
        ("This page's notebook parameters (over the settings above): "
         + ", ".join(f"`{k}={json.dumps(v)}`" for k, v in page.items()) + ".") if page else "",
        f"Tasks: {', '.join(manifest['tasks'])}. Training rows carved from the labelled split "
        f"(`carve_train={st['carve_train']}`) for: {carved}.",
        gaps_line(manifest),
        f"Data files: {data}." if data else "",
        disclosure_line(manifest),
        (runs + "." if runs else "This page runs no training of its own."),
        f"Store updated {manifest['updated']} at commit `{(manifest.get('commit') or 'unknown')[:12]}` "
        f"(training semantics v{manifest['training_semantics']}).",
        protocol_note,
    ]
    body = "\n".join(f"- {x}" for x in lines if x)
    classes = f"note store-banner hmnet-banner hmnet-profile-{manifest['profile']}"
    return f"```{{admonition}} Where these numbers come from\n:class: {classes}\n{body}\n```\n"


# What a profile's numbers are, in one phrase (the banner's first line).
KINDS = {"smoke": "**Smoke numbers**: a tiny random model on synthetic data; they show that the pipeline runs and are "
                  "not comparable with the paper.",
         "local": "**Indicative numbers**: real data, a small backbone and capped rows; the paper's bert-base on "
                  "full data scores higher, so compare the pattern, not the level.",
         "paper": "**The full reproduction setting**: bert-base-uncased on the full data."}


def gaps_line(manifest: Mapping) -> str:
    """The data the build lacks, from its manifest: tasks with no file (left out of every table) and evaluation
    splits with no file (a task scored on the others, MNLI on matched only)."""
    absent = [t for t in TASK_NAMES if t not in manifest["tasks"]]
    files = manifest.get("data", {}).get("files", {})
    splits = sorted(k for k, v in files.items() if v is None and not k.endswith("/train")
                    and k.split("/")[0] in manifest["tasks"])
    parts = [f"no file for {', '.join(absent)} (left out of every table)"] if absent else []
    parts += [f"no {k.split('/')[1]} file for {k.split('/')[0]} (scored on its other splits)" for k in splits]
    return ("**Known data gaps**: " + "; ".join(parts) + ".") if parts else ""


def disclosure_line(manifest: Mapping) -> str:
    """One banner line from the manifest's disclosure (:mod:`hmnet.analysis.disclosure`): the backbone's training
    overlap, the pooling, the precision, the batch grouping and the carve; the method page has the whole of it."""
    d = manifest.get("disclosure")
    if not d:
        return ""
    r, bb = d["recipe"], d["backbone"]
    overlap = ", ".join(o["task"] for o in bb["overlaps"])
    carved = sum(c["eval_rows_sharing_a_text"] for c in d["carve"].values())
    return (f"{bb['source']}, trained with {bb['trained_pooling'] or 'unstated'} pooling"
            + (f" on sets that overlap {overlap}" if overlap else "") + f"; heads read `{r['pooling']}` pooling; "
            f"precision `{r['mixed_precision']}`; length grouping in chunks of {r.get('length_chunk', 100)} batches; "
            f"carve by `{r.get('carve_by', 'row')}` ({carved} carved eval rows share a text with a training row). "
            "What each build ran, task by task: {doc}`the method page </book/method>`.")


def stub_notebook(title: str, notebook: str, manifest: Mapping | None, profile: str) -> dict:
    """An executed-notebook placeholder for a section whose runs are not in the store yet."""
    import nbformat

    cov = coverage(manifest, notebook)
    status = "; ".join(f"{s}: waiting" if manifest["sections"][s].get("waiting") else f"{s}: {c} of {p} runs stored"
                       for s, c, p in cov) or "no stored runs"
    waiting = [s["waiting"] for s in (manifest or {}).get("sections", {}).values()
               if s.get("notebook") == notebook and s.get("waiting")]
    why = " ".join(waiting) + (" " if waiting else "")
    if notebook == "06":
        why += ("Appendix C compares the attention maps of trained models: the campaign trains its runs keeping "
                "the models (which stay out of git) and the page keeps the similarities computed from them. ")
    text = (f"# {title}\n\n{store_banner(manifest, notebook)}\n"
            f"**Not run yet on the `{profile}` profile** ({status}). {why} The campaign takes the sections in a fixed "
            f"priority order (`hmnet campaign status --profile {profile}` prints what is pending and its projected "
            "cost); this page fills in when its runs are stored. The smoke build (`make book PROFILE=smoke`) "
            "shows the same page computed end to end on the synthetic suite.\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(text, metadata={"tags": ["store-banner"]})]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def add_store_banner(nb, manifest: Mapping | None, notebook: str, protocol_note: str = ""):
    """Insert the store banner after the notebook's title cell (the first markdown cell)."""
    import nbformat

    banner = store_banner(manifest, notebook, protocol_note)
    if not banner:
        return nb
    idx = next((i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"), -1) + 1
    nb.cells.insert(idx, nbformat.v4.new_markdown_cell(banner, metadata={"tags": ["store-banner"]}))
    return nb


def nothing_stored(store: Path, notebook: str) -> bool:
    """True when a notebook would show stored runs only and none is stored: it becomes a placeholder page.

    Notebooks 01 (its Eq. 2 part reads only the files) and 02 always run.
    """
    if notebook in ("01", "02"):
        return False
    cov = coverage(read_manifest(store), notebook)
    return not cov or all(c == 0 for _, c, _ in cov)


__all__ = ["coverage", "store_banner", "disclosure_line", "stub_notebook", "add_store_banner", "nothing_stored"]
