"""A profile's results store as readers see it: portable executed notebooks, placeholder pages for sections
not run yet, the store banner of each page, and the terminal view of a section (``hmnet results``).

The store (``reference/<profile>``, see :mod:`hmnet.campaign`) is committed for the reference build, so
nothing in it may name a path of the machine that produced it: :func:`scrub_paths` replaces the output,
data, repository, temporary and home directories with placeholders, and :func:`machine_paths` finds any
that remain (the tests run it over the whole store).
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from hmnet.errors import UsageError
from hmnet.campaign_manifest import MANIFEST, read_manifest
from hmnet.campaign_plan import SECTION_NOTEBOOK
from hmnet.provenance import REPO
from hmnet.results import atomic_write_bytes, entry_task, read_result_file, summarize
from hmnet.tasks import TASK_NAMES

# Notebook id -> the campaign sections whose runs it shows (02 only reads 01's tables; 06 shows the attention
# similarities computed from the models of its section's runs, kept as text in the store).
NOTEBOOK_SECTIONS: dict[str, tuple[str, ...]] = {}
for _section, _nb in SECTION_NOTEBOOK.items():
    NOTEBOOK_SECTIONS.setdefault(_nb, ())
    NOTEBOOK_SECTIONS[_nb] += (_section,)

# Absolute paths of this kind of machine that must not appear in a committed or rendered file.
_PATH_PATTERN = re.compile(r"(?<![\w.~<$])/(?:work|tmp|root|home|Users|private/var|var/folders|content)/[^\s\"'<>)]*")


def path_replacements(out_dir: str | Path | None = None, data_dir: str | Path | None = None,
                      root: str | Path = REPO) -> dict[str, str]:
    """Absolute paths of this machine and what is written instead, longest first: the output folder relative
    to the repository when it lies inside it (else ``<out_dir>``), the data as ``$HMNET_DATA_DIR``, the
    repository as ``.``, the temporary directory as ``<tmp>`` and the home directory as ``~``."""
    root = Path(root).resolve()
    pairs: dict[str, str] = {}
    if data_dir:
        pairs[str(data_dir)] = pairs[str(Path(data_dir).resolve())] = "$HMNET_DATA_DIR"
    if out_dir:
        out = Path(out_dir).resolve()
        pairs[str(out)] = out.relative_to(root).as_posix() if out.is_relative_to(root) else "<out_dir>"
    pairs.setdefault(str(root), ".")
    pairs.setdefault(str(Path(tempfile.gettempdir()).resolve()), "<tmp>")
    pairs.setdefault(str(Path.home()), "~")
    return dict(sorted(((k, v) for k, v in pairs.items() if k not in ("", "/", ".")), key=lambda kv: -len(kv[0])))


def scrub_paths(text: str, replacements: Mapping[str, str]) -> str:
    """Replace each absolute path by its stand-in, only where a path component ends (``/a/b`` is not the
    start of ``/a/bc``)."""
    for path, shown in replacements.items():
        text = re.sub(re.escape(path) + r"(?![\w.-])", lambda _m, s=shown: s, text)
    return text


def machine_paths(text: str) -> list[str]:
    """Absolute paths of a machine's working, temporary or home directories found in `text`."""
    return sorted(set(_PATH_PATTERN.findall(text)))


def scrub_file(path: Path, replacements: Mapping[str, str]) -> None:
    text = path.read_text(encoding="utf-8")
    clean = scrub_paths(text, replacements)
    if clean != text:
        atomic_write_bytes(path, clean.encode("utf-8"))


# ---------------------------------------------------------------------------------------------------------
# what a page says about the store


def coverage(manifest: Mapping | None, notebook: str) -> list[tuple[str, int, int]]:
    """(section, complete, planned) for the campaign sections a notebook shows."""
    if not manifest:
        return []
    return [(s, manifest["sections"][s]["complete"], manifest["sections"][s]["planned"])
            for s in NOTEBOOK_SECTIONS.get(notebook, ()) if s in manifest.get("sections", {})]


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
    absent = [t for t in TASK_NAMES if t not in manifest["tasks"]]
    page = manifest.get("notebook_parameters", {}).get(notebook) or {}
    lines = [
        f"**Reference build, profile `{manifest['profile']}`**: backbone `{st['backbone']}`, "
        f"{st['source']} data, at most {st['max_examples']} training and {st['max_eval_examples']} evaluation rows "
        f"per task, max length {st['max_length']}, {st['epochs']} epochs, lr {st['lr']:g}, batch {st['batch_size']}, "
        f"precision {st['mixed_precision']}, seeds {', '.join(map(str, manifest['seeds']))}.",
        ("This page's notebook parameters (over the settings above): "
         + ", ".join(f"`{k}={json.dumps(v)}`" for k, v in page.items()) + ".") if page else "",
        f"Tasks: {', '.join(manifest['tasks'])}"
        + (f" (no file in the data for {', '.join(absent)}: left out of every table)" if absent else "")
        + f". Training rows carved from the labelled split (`carve_train={st['carve_train']}`) for: {carved}.",
        f"Data files: {data}." if data else "",
        disclosure_line(manifest),
        (runs + "." if runs else "This page runs no training of its own."),
        f"Store updated {manifest['updated']} at commit `{(manifest.get('commit') or 'unknown')[:12]}` "
        f"(training semantics v{manifest['training_semantics']}).",
        protocol_note,
    ]
    body = "\n".join(f"- {x}" for x in lines if x)
    return f"```{{admonition}} Where these numbers come from\n:class: note store-banner\n{body}\n```\n"


def disclosure_line(manifest: Mapping) -> str:
    """One banner line from the manifest's disclosure (:mod:`hmnet.disclosure`): the backbone's training overlap,
    the pooling, the precision, the batch grouping and the carve; the method page has the whole of it."""
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


# ---------------------------------------------------------------------------------------------------------
# the terminal view: `hmnet results SECTION`


def section_records(store: Path, section: str) -> list:
    """The stored results of a section's planned runs (as listed in the store's manifest)."""
    manifest = read_manifest(store)
    if manifest is None:
        raise UsageError(f"no {MANIFEST} in {store}: run `hmnet campaign status` with the data to write it")
    if section not in manifest["sections"]:
        raise UsageError(f"section {section!r} is not in the store's plan; it has {', '.join(manifest['sections'])}")
    out = []
    for run in manifest["sections"][section]["runs"]:
        r = read_result_file(Path(store) / "results" / run["name"]) if run["complete"] else None
        if r is not None:
            out.append(r)
    return out


def _cell(row) -> str:
    if row["n"] > 1 and row["ci_high"] == row["ci_high"]:
        return f"{row['mean']:.1f} ± {row['ci_high'] - row['mean']:.1f} (n={row['n']})"
    return f"{row['mean']:.1f} (n={row['n']})"


def table1_frame(results: list, majority: Mapping[str, float] | None = None,
                 best: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Tasks as rows, Table 1's methods as columns; each cell 'mean ± 95% CI half-width (n seeds)', and the
    majority-class and best-constant scores of each task beside them when given."""
    summary = summarize(results)
    entries = summary[summary["task"] != "Average"].groupby("variant")["task"].nunique()
    partial = summary["task"].eq("Average") & summary["variant"].map(entries).lt(entries.max())
    # an average over fewer tasks than the other methods' is marked partial
    return cells_frame(summary, majority, ("single", "multi", "skillnet", "hmnet:data", "hmnet:manual", "hmnet:model"),
                       marked=partial, best=best)


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
    frame = summary.pivot(index="task", columns="variant", values="cell")
    tasks = [t for t in dict.fromkeys(summary["task"]) if t != "Average"] + ["Average"]
    first = [c for c in columns if c in frame.columns]
    frame = frame.reindex(index=tasks, columns=first + [c for c in frame.columns if c not in first]).fillna("–")
    for name, floor in (("majority class", majority), ("best constant", best)):
        if floor:
            scores = [floor.get(entry_task(t)) for t in frame.index]
            frame[name] = ["–" if v is None else f"{v:.1f}" for v in scores]
    return frame


def section_results_table(store: Path, section: str) -> str:
    """A section's stored results as text, with the store's coverage and provenance."""
    manifest = read_manifest(store)
    if manifest is None:
        raise UsageError(f"no {MANIFEST} in {store}: nothing has been stored there yet")
    head = (f"store {Path(store).name} (profile {manifest['profile']}, backbone {manifest['settings']['backbone']}, "
            f"updated {manifest['updated']}, commit {(manifest.get('commit') or 'unknown')[:12]})")
    if section == "status":
        lines = [head] + [f"  {s:14s} " + (f"waits: {v['waiting']}" if v.get("waiting") else
                                            f"{v['complete']:3d} of {v['planned']:3d} runs")
                          for s, v in manifest["sections"].items()]
        return "\n".join(lines)
    results = section_records(store, section)
    cov = manifest["sections"][section]
    head += f"\n{section}: {cov['complete']} of {cov['planned']} planned runs stored"
    if section == "table1" and "table1_ours" in manifest["sections"]:  # HMNet with our grouping: extra rows
        ours = manifest["sections"]["table1_ours"]
        results += section_records(store, "table1_ours")
        head += (f"; extra rows (table1_ours): {ours['complete']} of {ours['planned']}" if ours["planned"]
                 else f"; extra rows wait: {ours.get('waiting', '')}")
    if not results:
        return head + "\nno results stored yet"
    if section == "table1":
        body = table1_frame(results, manifest.get("majority_class"), manifest.get("best_constant")).to_string()
    else:
        body = cells_frame(summarize(results), manifest.get("majority_class"),
                           best=manifest.get("best_constant")).to_string()
    return f"{head}\n(mean ± 95% CI half-width over seeds, n = seeds)\n{body}"


def nothing_stored(store: Path, notebook: str) -> bool:
    """True when a notebook would show stored runs only and none is stored: it becomes a placeholder page.

    Notebooks 01 (its Eq. 2 part reads only the files) and 02 always run.
    """
    if notebook in ("01", "02"):
        return False
    cov = coverage(read_manifest(store), notebook)
    return not cov or all(c == 0 for _, c, _ in cov)


# ---------------------------------------------------------------------------------------------------------
# the claims ledger page


_LEDGER_SECTIONS = ("table1", "table1_ours", "pairwise", "shared_layers", "layer_grid")


def _folder_runs(results: list) -> dict[str, list]:
    """A plain output folder's runs sorted into the sections by their labels. Table 1's multi-task runs are
    those over the most tasks: a layer grid's baseline (also "multi") covers the grid's tasks only."""
    from hmnet.report.claims import table1_column

    widest = max((len(r.config.tasks) for r in results), default=0)
    grid = [r for r in results if r.config.variant.count(":") == 2]
    grid_tasks = {r.config.tasks for r in grid}
    return {"table1": [r for r in results if table1_column(r.config.variant) is not None
                       and (r.config.method == "single" or len(r.config.tasks) == widest)],
            "pairwise": [r for r in results if r.config.variant == "pair"],
            "shared_layers": [r for r in results if r.config.variant.startswith("shared=")],
            "layer_grid": grid + [r for r in results if r.config.variant == "multi" and r.config.tasks in grid_tasks
                                  and len(r.config.tasks) < widest]}


def ledger_for(out: Path):
    """The claims ledger of one build: a results store (its sections' runs, as the manifest lists them) or a
    plain output folder (every run in it), with notebook 06's per-head attention similarities where saved."""
    import pandas as pd

    from hmnet.experiments import backbone_depth
    from hmnet.report import scores_frame
    from hmnet.report.claims import ledger
    from hmnet.report.claims_figures import figure_claims
    from hmnet.results import load_results

    manifest = read_manifest(out)
    analysis = store_analysis(manifest)
    if manifest is not None:
        runs = {s: section_records(out, s) if s in manifest["sections"] else [] for s in _LEDGER_SECTIONS}
        depth = backbone_depth(manifest["settings"]["backbone"])
    else:
        results = load_results(Path(out) / "results")
        runs = _folder_runs(results)
        depth = backbone_depth(results[0].config.backbone) if results else None
    csv = Path(out) / "figures" / "attention_similarity.csv"
    attention = pd.read_csv(csv) if csv.is_file() else None
    runs["table1"] += runs.pop("table1_ours", [])  # a store's extra Table 1 rows (a folder's are among table1's)
    singles = [r for r in runs["table1"] if r.config.method == "single"]
    refs = analysis.get("reference_effects")
    more = figure_claims(singles, runs["pairwise"], runs["layer_grid"], depth, attention, refs)
    shared = runs["shared_layers"]
    return ledger(runs["table1"], scores_frame(shared) if shared else None, depth, more,
                  analysis.get("table1_tasks"), refs)


def store_analysis(manifest: dict | None) -> dict:
    """The analysis a store's protocol registers (``analysis`` in its protocol file: Table 1's analysis set,
    the reference effects), empty for a store without a protocol."""
    from hmnet.protocol import ProtocolError, get_protocol

    if not manifest or not manifest.get("protocol"):
        return {}
    try:
        registered = get_protocol(manifest["profile"], manifest["protocol"])
    except ProtocolError:
        return {}
    return dict(registered.document.get("analysis", {})) if registered else {}


def claims_page(builds: Mapping[str, Path]) -> str:
    """Markdown: for each build (a label and its folder), every claim with its verdict and evidence."""
    from hmnet.report.claims import verdict_counts

    pages = {"01": "notebooks/01_task_relevance", "03": "notebooks/03_main_results",
             "04": "notebooks/04_shared_layers", "05": "notebooks/05_layer_combinations",
             "06": "notebooks/06_attention_similarity"}
    parts = []
    for label, out in builds.items():
        frame = ledger_for(out)
        counts = ", ".join(f"{n} {v}" for v, n in verdict_counts(frame).items())
        parts.append(f"## {label}\n\n{counts}.\n")
        lines = ["| claim | the paper | verdict | evidence | section |", "|---|---|---|---|---|"]
        for row in frame.itertuples(index=False):
            cells = [row.claim, row.paper, f"**{row.verdict}**", row.evidence,
                     f"{{doc}}`{row.section} </{pages[row.section]}>`"]
            lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)
