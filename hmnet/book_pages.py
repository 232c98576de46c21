"""The generated parts of the book's narrative pages (``book/generated/*.md``), written at build time.

- ``banner.md``: which profile, data, backbone and seeds produced the book's numbers;
- ``findings_tables.md``: what does not reproduce or is inconsistent inside the paper, each row computed
  here from the paper's own tables (``hmnet.analysis.paper``) or from this build's runs (``<out>/findings``);
- ``performance_tables.md``: every benchmark of ``benchmarks/results/*.json`` with the command that
  reproduces it, and "not yet measured" for those without a result file.

It also prepares what :func:`hmnet.book.stage` copies into the staged book: the executed notebooks with
their cell tags (:func:`stage_notebook`: plumbing cells folded away, no absolute paths) and the CSV files
that the notebooks' tables link to (:func:`stage_tables`).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hmnet import report
from hmnet.store import path_replacements, scrub_paths
from hmnet.reproduce import REPO, SECTIONS, marker_path

log = logging.getLogger(__name__)

# Benchmarks the performance page lists, with the command that produces each result file.
BENCHMARKS: dict[str, tuple[str, str]] = {
    "padding": ("Padding efficiency of the collator (real tokens / processed tokens)",
                "python benchmarks/padding.py"),
    "step_time": ("Training step time: HMNet against the plain (fully shared) model",
                  "python benchmarks/step_time.py"),
    "hf_trainer": ("Our trainer against the Hugging Face Trainer on the same model and data",
                   "python benchmarks/hf_trainer_compare.py --threads 1 --repeats 2"),
    "gpu_step": ("GPU step time and memory (bert-base, batch 32)", "python benchmarks/gpu_step.py"),
}


def _md_table(df: pd.DataFrame, index: bool = False, floatfmt: str = ".3g") -> str:
    """A Markdown pipe table (no optional dependency on `tabulate`)."""
    frame = df.reset_index() if index else df
    cols = [str(c) for c in frame.columns]

    def cell(v) -> str:
        if isinstance(v, (float, np.floating)):
            return "–" if np.isnan(v) else format(float(v), floatfmt)
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def run_parameters(profile: str, out: Path) -> report.RunParameters:
    """The parameters this build's notebooks ran with (from the first section's done-marker)."""
    params = _marker_parameters(out)
    if params:
        return report.check_parameters(**{**params, "out_dir": str(out)})
    return report.check_parameters(profile=profile, out_dir=str(out))


def banner_page(params: report.RunParameters) -> str:
    note = ("<p><i>Each result chapter repeats this banner with the seeds and tasks its own runs used "
            "(sections 03 and 04 run several seeds on the smoke profile).</i></p>")
    return report.banner_html(params) + "\n" + note + "\n"


# ---------------------------------------------------------------------------------------------------------
# staging: executed notebooks, their tables, the book's stylesheet

# Jupyter Book cell tags that decide what a reader sees of a code cell.
VISIBILITY_TAGS = ("hide-cell", "hide-input", "hide-output", "remove-cell", "remove-input", "remove-output")


def tag_cells(nb, source=None):
    """Cell tags for the book: each cell takes the visibility tags of the stored notebook's cell with the same
    id (or, failing that, the same source), so a change of tags shows without re-running the notebooks; the
    cell papermill injects (tag ``injected-parameters``) is folded away whole, like the parameters cell."""
    by_id, by_source = {}, {}
    for cell in (source.cells if source is not None else []):
        tags = [t for t in cell.get("metadata", {}).get("tags", []) if t in VISIBILITY_TAGS]
        if cell.get("id"):
            by_id[cell["id"]] = tags
        by_source.setdefault(cell.get("source", ""), tags)
    for cell in nb.cells:
        tags = list(cell.get("metadata", {}).get("tags", []))
        if "injected-parameters" in tags:
            wanted = ["hide-cell"]
        elif cell.get("id") in by_id:
            wanted = by_id[cell["id"]]
        elif cell.get("source", "") in by_source:
            wanted = by_source[cell["source"]]
        else:
            continue
        cell.setdefault("metadata", {})["tags"] = [t for t in tags if t not in VISIBILITY_TAGS] + wanted
    return nb


def title_first(nb):
    """Put the page's title (the first Markdown cell that starts with "# ") above the folded plumbing cells
    that precede it in the notebook (the parameters cell comes first there, for papermill)."""
    for i, cell in enumerate(nb.cells):
        if cell.get("cell_type") == "markdown" and cell.get("source", "").lstrip().startswith("# "):
            before = nb.cells[:i]
            folded = all(set(c.get("metadata", {}).get("tags", [])) & {"hide-cell", "remove-cell"} for c in before)
            if i and folded:
                nb.cells.insert(0, nb.cells.pop(i))
            break
    return nb


def _scrub_cell(cell, replacements: dict[str, str]) -> None:
    cell["source"] = scrub_paths(cell.get("source", ""), replacements)
    for output in cell.get("outputs", []):
        if "text" in output:
            output["text"] = scrub_paths(output["text"], replacements)
        for mime, value in output.get("data", {}).items():
            if mime.startswith("text/") and isinstance(value, str):
                output["data"][mime] = scrub_paths(value, replacements)


def stage_notebook(executed: Path, dest: Path, source: Path | None, out: Path, root: Path = REPO) -> Path:
    """Copy an executed notebook into the staged book: cell tags from the stored notebook (:func:`tag_cells`),
    the title first (:func:`title_first`), Markdown outputs read as MyST, and no absolute path of this machine
    in sources or text outputs (:func:`hmnet.store.path_replacements`)."""
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    stored = nbformat.read(source, as_version=4) if source is not None and Path(source).exists() else None
    tag_cells(nb, stored)
    title_first(nb)
    # Markdown outputs as MyST (MyST-NB renders them as plain CommonMark by default), so that the link under
    # each table to its CSV becomes a download that Sphinx copies into the HTML build.
    nb.metadata.setdefault("mystnb", {})["render_markdown_format"] = "myst"
    replacements = path_replacements(out, _marker_parameters(out).get("data_dir"), root)
    for cell in nb.cells:
        _scrub_cell(cell, replacements)
    nbformat.write(nb, dest)
    return dest


def _marker_parameters(out: Path) -> dict:
    """The parameters this build's notebooks ran with, from the first section's done-marker ({} if none)."""
    for section in SECTIONS:
        marker = marker_path(out, section)
        if marker.exists():
            try:
                return json.loads(marker.read_text()).get("parameters", {})
            except (OSError, json.JSONDecodeError) as err:
                log.warning("cannot read %s: %s", marker, err)
                return {}
    return {}


def stage_tables(out: Path, stage_dir: Path, root: Path = REPO) -> None:
    """The CSVs of ``<out>/tables`` beside the staged notebooks (``<stage>/tables``, which the notebooks' links
    point at: ``../tables/<name>.csv``), and the book's stylesheet and script (``book/_static``) where
    Jupyter Book picks them up (``<stage>/_static``)."""
    tables = stage_dir / "tables"
    tables.mkdir(parents=True, exist_ok=True)
    for csv in sorted((Path(out) / "tables").glob("*.csv")):
        shutil.copy2(csv, tables / csv.name)
    static = root / "book" / "_static"
    if static.is_dir():
        shutil.copytree(static, stage_dir / "_static", dirs_exist_ok=True)
        shutil.rmtree(stage_dir / "book" / "_static", ignore_errors=True)


# ---------------------------------------------------------------------------------------------------------
# findings


def label_count_findings() -> pd.DataFrame:
    """Table 4's #Label against the label sets of the official files (hmnet.tasks)."""
    from hmnet.analysis import paper
    from hmnet.tasks import TASKS

    t4 = paper.table4(numeric=True)
    col = next(c for c in t4.columns if "label" in str(c).lower())
    rows = []
    for task, spec in TASKS.items():
        if task not in t4.index:
            continue
        ours = 1 if spec.regression else spec.num_labels
        rows.append({"task": task, "Table 4 #Label": int(t4.loc[task, col]), "official label set": ours,
                     "labels": ", ".join(spec.labels) or "score", "consistent": int(t4.loc[task, col]) == ours})
    return pd.DataFrame(rows)


def printed_range(text: str) -> tuple[float, float]:
    """The counts a Table-4 entry can stand for: "5.7k" -> [5650, 5750], "276" -> [276, 276]."""
    from hmnet.analysis import paper

    value = paper.parse_count(text)
    m = re.fullmatch(r"\s*[0-9]*\.?([0-9]*)\s*([kK]?)\s*", str(text))
    if not m or not m.group(2):
        return value, value
    half = 0.5 * 1000 / 10 ** len(m.group(1))
    return value - half, value + half


# Table 4's columns and the splits of our file layout that each one counts.
TABLE4_SPLITS = {"train": ("train",), "dev": ("dev", "dev_matched", "dev_mismatched"), "test": ("test",)}


def table4_file_check(data_dir: str | Path) -> pd.DataFrame:
    """Every number of Table 4 against the files under data_dir (read by hmnet.data), one row per task and
    column: the printed entry, the count in the files, which files, and a verdict. MultiRC is counted in
    questions (the unit of Table 4's 5.1k/953; the files hold one row per answer). A task without a split
    (IMDB has no dev set) counts 0; a split the bundle lacks (test splits, whose labels are not public, and
    several train splits) is said to be missing, not guessed."""
    from hmnet.analysis import paper
    from hmnet.data import find_file, read_split
    from hmnet.tasks import TASKS

    t4 = paper.table4()
    rows = []
    for task in t4.index:
        spec = TASKS[task]
        labels: set = set()
        for column, splits in TABLE4_SPLITS.items():
            ours_splits = [s for s in splits if s in spec.layout.files]
            found = {s: find_file(task, s, data_dir) for s in ours_splits}
            present = {s: f for s, f in found.items() if f is not None}
            count, unit = 0, "rows"
            for split in present:
                examples = read_split(task, split, data_dir)
                if task == "MultiRC":
                    count += len({ex.group for ex in examples})
                    unit = "questions"
                else:
                    count += len(examples)
                labels |= {ex.label for ex in examples}
            printed = str(t4.loc[task, column])
            lo, hi = printed_range(printed)
            missing = [s for s in ours_splits if s not in present]
            if not ours_splits and column == "test":
                verdict = "not in the bundle (test labels are not public)"
                count = None
            elif not ours_splits:  # the task has no such split (IMDB has no dev set): Table 4 should say 0
                verdict = "matches (no such split)" if lo <= 0 <= hi else "differs (no such split)"
                count = 0
            elif not present:
                verdict = "not in the bundle"
                count = None
            elif missing:
                verdict = f"partly in the bundle (no {', '.join(missing)})"
            else:
                verdict = "matches" if lo <= count <= hi else "differs"
            files = ", ".join(f"{spec.layout.directory}/{p.name}" for p in present.values())
            rows.append({"task": task, "column": f"#{column.capitalize()}", "Table 4": printed,
                         "files": count, "unit": unit if present else "", "read from": files,
                         "verdict": verdict})
        n_labels = 1 if spec.regression else len(labels)
        printed = str(t4.loc[task, "labels"])
        rows.append({"task": task, "column": "#Label", "Table 4": printed,
                     "files": n_labels if labels else None, "unit": "labels" if labels else "",
                     "read from": "the splits above",
                     "verdict": ("not in the bundle" if not labels else
                                 "matches" if int(printed) == n_labels else "differs")})
    return pd.DataFrame(rows)


def table4_html(check: pd.DataFrame) -> str:
    """Table 4's shape (tasks x #Train/#Dev/#Test/#Label): the count in the files over the printed entry."""
    colours = {"matches": "#e6f4ea", "differs": "#fde2e1", "partly": "#fff3cd", "not in": "#f1f1f1"}
    cols = list(dict.fromkeys(check["column"]))
    th = "padding:2px 6px;border-bottom:1px solid #999;text-align:right"
    out = ['<table class="hmnet-table4" style="border-collapse:collapse;font-size:0.85em">',
           f'<thead><tr><th style="{th};text-align:left">task</th>'
           + "".join(f'<th style="{th}">{c}</th>' for c in cols) + "</tr></thead><tbody>"]
    for task, g in check.groupby("task", sort=False):
        cells = []
        for c in cols:
            row = g[g["column"] == c].iloc[0]
            colour = next((v for k, v in colours.items() if str(row["verdict"]).startswith(k)), "transparent")
            files = "–" if pd.isna(row["files"]) else f"{int(row['files']):,}".replace(",", " ")
            cells.append(f'<td style="padding:2px 6px;text-align:right;background:{colour};'
                         f'border-bottom:1px solid #ddd" title="{row["verdict"]}">{files}<br>'
                         f'<span style="color:#555;font-size:0.8em">T4: {row["Table 4"]}</span></td>')
        out.append(f'<tr><th style="padding:2px 6px;text-align:left;border-bottom:1px solid #ddd">{task}</th>'
                   + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def table4_section(data_dir: str | Path | None, files: dict[str, bytes]) -> str:
    """The findings page's Table 4 section: every number against the files when they are at hand."""
    head = ("\n## Table 4 against the files: split sizes and label counts\n\n"
            "Table 4 prints the size of each split and the number of labels. ")
    registry = label_count_findings()
    files["findings/table4_labels_registry.csv"] = registry.to_csv(index=False).encode()
    labels_part = ("\nThe label counts against the label sets of the official files as the task registry "
                   "(`hmnet.tasks`) records them, which needs no data:\n\n" + _md_table(registry)
                   + _csv_line("findings/table4_labels_registry.csv"))
    if not data_dir or not (Path(data_dir).is_dir()):
        return (head + "Checking the split sizes needs the data files, and this build has none: build the book "
                "with `HMNET_DATA_DIR=/path/to/nlu hmnet book ...` (or the local profile with `--data-dir`) to "
                "count every split here.\n" + labels_part)
    check = table4_file_check(data_dir)
    files["findings/table4_check.csv"] = check.to_csv(index=False).encode()
    differ = check[check["verdict"].str.startswith("differs")]
    absent = check[check["verdict"].str.startswith(("not in", "partly"))]
    text = (head + "Each cell below holds the count in the data files (read by `hmnet.data`) over the "
            "entry Table 4 prints (T4); a rounded entry such as 5.7k stands for 5 650 to 5 750. Green: "
            "consistent; red: not; yellow: only part of the split is in the bundle; grey: the split is not in "
            "the bundle (GLUE and SuperGLUE test splits carry no labels and are not bundled, and the bundle "
            "lacks several train splits, see its PROVENANCE.md). MultiRC is counted in questions, the unit "
            "of Table 4.\n\n" + table4_html(check) + "\n" + _csv_line("findings/table4_check.csv"))
    if len(differ):
        items = "\n".join(f"- **{r.task} {r.column}**: Table 4 prints {r['Table 4']}, the files hold "
                          f"{int(r.files)} {r.unit} ({r['read from']})." for _, r in differ.iterrows())
        text += f"\nWhere Table 4 and the files disagree:\n\n{items}\n"
    if len(absent):
        text += ("\nNot checked, for want of the files: "
                 + "; ".join(f"{t}: {', '.join(g['column'])}" for t, g in absent.groupby("task", sort=False))
                 + ".\n")
    return text + labels_part


def _csv_line(name: str) -> str:
    return f"\nDownload this table as CSV: [{Path(name).name}](/book/generated/{name})\n"


def implied_gain_findings() -> pd.DataFrame:
    """Eq. (4) gains of Table 3 against Table 1: the score a target would need for its largest gain."""
    from hmnet.analysis import paper

    t1 = paper.table1_scores()
    t3 = paper.table3()
    rows = []
    for target in ("WNLI", "CB"):
        single = float(t1.loc[target, "Single-task"])
        column = t3[target].drop(target)
        gain = float(column.max())
        rows.append({"target": target, "largest Table 3 gain (%)": gain, "from source": str(column.idxmax()),
                     "Table 1 single-task": single, "implied pair score": single * (1 + gain / 100),
                     "best score in Table 1": float(t1.loc[target].max())})
    return pd.DataFrame(rows)


def measured_findings(out: Path) -> pd.DataFrame:
    """Findings recorded by this build's notebooks (report.record_finding), in section order."""
    rows = []
    for path in sorted((out / "findings").glob("*.json")):
        try:
            rows.extend(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as err:
            log.warning("cannot read %s: %s", path, err)
    return pd.DataFrame(rows, columns=["section", "finding", "measured", "paper"])


def parameter_findings() -> tuple[pd.DataFrame | None, str]:
    from hmnet.params import parameter_table

    try:
        return parameter_table("random:bert-base"), ""
    except Exception as err:  # a missing backbone config, for instance; say so rather than drop the row
        return None, f"parameter_table('random:bert-base') failed: {type(err).__name__}: {err}"


def findings_data_dir(params: report.RunParameters | None) -> str | None:
    """The data files the findings page checks Table 4 against: this build's data_dir (local profile), else
    $HMNET_DATA_DIR; None when neither is set (the smoke book builds without data)."""
    import os

    return (params.data_dir if params is not None else None) or os.environ.get("HMNET_DATA_DIR") or None


def findings_parts(profile: str, out: Path, params: report.RunParameters | None = None
                   ) -> tuple[str, dict[str, bytes]]:
    """The findings page's Markdown and the CSV of each of its tables (names under ``findings/``)."""
    files: dict[str, bytes] = {}

    def table(df: pd.DataFrame, name: str, floatfmt: str = ".3g") -> str:
        files[f"findings/{name}.csv"] = df.to_csv(index=False).encode()
        return _md_table(df, floatfmt=floatfmt) + _csv_line(f"findings/{name}.csv")

    published = report.published_averages()
    parts = ["## Table 1: the published averages against their own cells\n",
             "Each method's average recomputed from the printed cells (MNLI m and mm as two entries), and "
             "whether the published average is reachable at all when every printed cell is allowed its "
             "rounding (`hmnet.metrics.check_published_averages`).\n",
             table(published.rename(columns=lambda c: c.replace("_", " ")), "table1_published_averages", ".3f")]
    unreachable = published.query("not reachable_with_rounding")["method"].tolist()
    parts.append(f"\nMethods whose published average cannot come from their own cells: "
                 f"**{', '.join(unreachable) if unreachable else 'none'}**.\n")
    parts.append(table4_section(findings_data_dir(params), files))
    parts += ["\n## Table 3 against Table 1: the size of the gains\n",
              "Eq. (4) is a relative gain over the single-task score. For the two smallest tasks, the score "
              "that the largest gain in Table 3 implies, next to the best score any method reaches in Table 1:\n",
              table(implied_gain_findings(), "table3_implied_gains")]
    params_table, note = parameter_findings()
    parts.append("\n## Parameter counts (Table 1's last two rows)\n")
    if params_table is not None:
        shown, notes = report.parameter_display(params_table)
        files["findings/parameter_counts.csv"] = params_table.to_csv().encode()
        parts.append(_md_table(shown) + _csv_line("findings/parameter_counts.csv")
                     + "\n" + notes + "\n")
    else:
        parts.append(f"*{note}*\n")
    measured = measured_findings(out)
    parts.append(f"\n## Measured in this build (profile {profile})\n")
    parts.append(table(measured, "measured_in_this_build") if len(measured) else
                 "*No findings were recorded by this build's notebooks.*\n")
    return "\n".join(parts), files


def findings_page(profile: str, out: Path, params: report.RunParameters | None = None) -> str:
    return findings_parts(profile, out, params)[0]


# ---------------------------------------------------------------------------------------------------------
# performance: one figure and a short table per benchmark, the raw JSON linked

# The staged book's folder (under book/generated) for the performance page's figures and raw result files;
# the page links them by source-root paths ("/book/generated/..."), which Sphinx resolves from any page.
PERF_DIR = "performance"


def _png(fig) -> bytes:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def _figure(width: float, height: float, ncols: int = 1):
    """A matplotlib Figure without pyplot (no global state, no GUI backend), with its axes."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, axes


def _num(v, fmt: str = ".3g") -> str:
    if isinstance(v, bool) or v is None:
        return "–" if v is None else ("yes" if v else "no")
    if isinstance(v, (int, float, np.floating, np.integer)):
        return "–" if not np.isfinite(v) else format(float(v), fmt)
    return str(v)


def _millions(v) -> str:
    return f"{v / 1e6:.2f}M" if isinstance(v, (int, float)) and not isinstance(v, bool) else _num(v)


def _machine(data: dict) -> str:
    """Where a result was measured, from its meta block (or the top-level fields of older scripts)."""
    meta = {**{k: v for k, v in data.items() if not isinstance(v, (dict, list))}, **(data.get("meta") or {})}
    parts = []
    if meta.get("host"):
        parts.append(f"host `{meta['host']}`")
    if meta.get("platform") or meta.get("machine"):
        parts.append(str(meta.get("platform") or meta.get("machine")))
    if meta.get("device"):
        parts.append(f"device {meta['device']}")
    if meta.get("cpu_count"):
        parts.append(f"{meta['cpu_count']} CPUs")
    threads = meta.get("torch_threads", meta.get("threads"))
    if threads:
        parts.append(f"{threads} torch thread{'s' if threads != 1 else ''}")
    for key in ("python", "torch", "transformers"):
        if meta.get(key):
            parts.append(f"{key} {meta[key]}")
    if meta.get("date"):
        parts.append(str(meta["date"])[:10])
    return ", ".join(parts) or "not recorded"


def _padding(data: dict) -> tuple[Any, pd.DataFrame, str]:
    settings = [s for s in ("pad_to_max", "dynamic", "length_grouped") if s in (data.get("efficiency") or {})]
    names = {"pad_to_max": "pad to max length", "dynamic": "dynamic", "length_grouped": "length-grouped"}
    per_task = data.get("per_task") or {}
    groups = {"all rows": data.get("efficiency") or {}, "paper's task mix": data.get("efficiency_paper_mix") or {}}
    groups.update({t: v for t, v in per_task.items()})
    groups = {k: v for k, v in groups.items() if v}
    fig, (ax,) = _figure(7.5, 0.28 * len(groups) * max(1, len(settings)) / 2 + 1.6)
    y = np.arange(len(groups))
    h = 0.8 / max(1, len(settings))
    for i, s in enumerate(settings):
        ax.barh(y + (i - (len(settings) - 1) / 2) * h, [g.get(s, np.nan) for g in groups.values()], h,
                label=names[s])
    ax.set_yticks(y, list(groups))
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("padding efficiency (real tokens / processed tokens)")
    if data.get("goal_length_grouped"):
        ax.axvline(data["goal_length_grouped"], color="black", linestyle="--", linewidth=0.8, label="goal")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.08 - 1.0 / len(groups)), ncol=4)
    ax.set_title("Padding efficiency by setting: the whole bundle, the paper's mix, each task", fontsize=9)
    table = pd.DataFrame({"setting": [names[s] for s in settings],
                          "all rows": [_num(groups.get("all rows", {}).get(s)) for s in settings],
                          "paper's task mix": [_num(groups.get("paper's task mix", {}).get(s)) for s in settings]})
    text = ""
    if "meets_goal" in data:
        text = (f"Goal: length-grouped efficiency at least {_num(data.get('goal_length_grouped'))}; "
                f"met: **{_num(data['meets_goal'])}**.")
    if data.get("paper_mix_missing_tasks"):
        text += f" The paper's mix lacks {', '.join(data['paper_mix_missing_tasks'])} (no file in the bundle)."
    return (fig if settings else None), table, text


def _step_time(data: dict) -> tuple[Any, pd.DataFrame, str]:
    models = [m for m in ("plain", "hmnet") if isinstance(data.get(m), dict) and "median_s" in data[m]]
    fig = None
    if models:
        fig, (ax,) = _figure(6, 2.4)
        med = [data[m]["median_s"] for m in models]
        lo = [data[m]["median_s"] - data[m].get("p25_s", data[m]["median_s"]) for m in models]
        hi = [data[m].get("p75_s", data[m]["median_s"]) - data[m]["median_s"] for m in models]
        labels = {"plain": "plain (fully shared)", "hmnet": "HMNet {8, 2, 2}"}
        ax.barh(range(len(models)), med, xerr=[lo, hi], capsize=4, color=["#999999", "#1f77b4"][: len(models)])
        ax.set_yticks(range(len(models)), [labels[m] for m in models])
        ax.set_xlabel("training step time, seconds (median, bars: 25th-75th percentile)")
        ratio = data.get("ratio_of_medians")
        ax.set_title(f"Step time: HMNet / plain = {_num(ratio)} (median of paired ratios "
                     f"{_num(data.get('median_of_paired_ratios'))})", fontsize=9)
    rows = {"ratio of medians (HMNet / plain)": data.get("ratio_of_medians"),
            "median of paired ratios": data.get("median_of_paired_ratios"),
            "goal (at most)": data.get("goal_ratio"), "within goal": data.get("within_goal")}
    params = data.get("parameters") or {}
    table = pd.DataFrame({"quantity": list(rows) + [f"parameters: {k.replace('_', ' ')}" for k in params],
                          "value": [_num(v) for v in rows.values()] + [_millions(v) for v in params.values()]})
    cfg = data.get("config") or {}
    text = (f"Model: {cfg.get('num_hidden_layers', '?')} layers of width {cfg.get('hidden_size', '?')}, "
            f"batch {(data.get('batches') or {}).get('batch_size', '?')}; {data.get('benchmark', '')}."
            if cfg else "")
    return fig, table, text


def _hf_trainer(data: dict) -> tuple[Any, pd.DataFrame, str]:
    comps = data.get("comparisons") if isinstance(data.get("comparisons"), dict) else {}
    if not comps and "speed_ratio" in data:
        comps = {"defaults": {k: data.get(k) for k in ("ours_examples_per_second", "hf_examples_per_second",
                                                       "speed_ratio", "ours_dev_accuracy", "hf_dev_accuracy")}}
    fig = None
    have = {k: v for k, v in comps.items()
            if isinstance(v.get("ours_examples_per_second"), (int, float))
            and isinstance(v.get("hf_examples_per_second"), (int, float))}
    if have:
        fig, (ax,) = _figure(6.5, 2.8)
        x = np.arange(len(have))
        ours = [v["ours_examples_per_second"] for v in have.values()]
        hf = [v["hf_examples_per_second"] for v in have.values()]
        ax.bar(x - 0.2, ours, 0.4, label="our trainer", color="#1f77b4")
        ax.bar(x + 0.2, hf, 0.4, label="Hugging Face Trainer", color="#ff7f0e")
        runs = data.get("runs") if isinstance(data.get("runs"), dict) else {}
        tops = []
        for i, v in enumerate(have.values()):  # each repeat as a dot, when the file keeps them
            top = max(ours[i], hf[i])
            for side, dx, key in (("ours", -0.2, v.get("ours_precision")), ("hf", 0.2, v.get("hf_precision"))):
                reps = runs.get(f"{side}:{'auto' if side == 'ours' and key == 'bf16' else key}") or []
                pts = [r.get("examples_per_second") for r in reps if isinstance(r, dict)]
                pts = [p for p in pts if isinstance(p, (int, float))]
                ax.scatter([i + dx] * len(pts), pts, color="black", s=10, zorder=3)
                top = max([top, *pts])
            ratio = v.get("speed_ratio")
            if isinstance(ratio, (int, float)):
                ax.text(i, top * 1.05, f"ours / HF {ratio:.2f}×", ha="center", fontsize=8)
            tops.append(top)
        ax.set_xticks(x, [k.replace("_", " ") for k in have])
        ax.set_ylabel("training examples / s")
        ax.set_ylim(0, max(tops) * 1.2)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)
        ax.set_title("Our trainer against the HF Trainer (bars: medians over the repeats, dots: each repeat)",
                     fontsize=9)
    cols = {"ours_precision": "ours: precision", "hf_precision": "HF: precision",
            "ours_examples_per_second": "ours: ex/s", "hf_examples_per_second": "HF: ex/s",
            "speed_ratio": "ours / HF", "ours_dev_accuracy": "ours: dev acc.", "hf_dev_accuracy": "HF: dev acc.",
            "accuracy_within_noise": "accuracy within noise"}
    precision = {"no": "fp32"}  # the scripts record "no" (no mixed precision) for fp32
    rows = []
    for name, v in comps.items():
        rows.append({"comparison": name.replace("_", " "),
                     **{label: precision.get(v[key], _num(v[key])) if "precision" in key else _num(v[key])
                        for key, label in cols.items() if key in v}})
    table = pd.DataFrame(rows)
    settings = data.get("settings") or {}
    text = ""
    if data.get("task"):
        text = (f"Single-task fine-tuning of {data.get('backbone', '?')} on {data['task']} "
                f"({data.get('train_rows', '?')} training rows, {settings.get('epochs', '?')} epochs, batch "
                f"{settings.get('batch_size', '?')}, max length {settings.get('max_length', '?')}).")
    if "meets_speed_goal" in data:
        text += (f" Goal: at least {_num(data.get('goal_ratio'))}× with each trainer's defaults; met: "
                 f"**{_num(data['meets_speed_goal'])}**.")
    return fig, table, text


def _gpu_step(data: dict) -> tuple[Any, pd.DataFrame, str]:
    res = {m: r for m, r in (data.get("results") or {}).items() if isinstance(r, dict)}
    fig = None
    have = {m: r for m, r in res.items() if isinstance(r.get("examples_per_second"), (int, float))}
    if have:
        fig, (ax,) = _figure(6, 2.4)
        ax.barh(range(len(have)), [r["examples_per_second"] for r in have.values()], color="#1f77b4")
        ax.set_yticks(range(len(have)), list(have))
        ax.set_xlabel("training examples / s")
        ax.set_title(f"Training throughput per model ({data.get('device', '?')}, backbone "
                     f"{data.get('backbone', '?')})", fontsize=9)
    rows = []
    for m, r in res.items():
        rows.append({"model": m, "parameters": _millions(r.get("parameters_total")),
                     "examples / s": _num(r.get("examples_per_second")),
                     "MFU": _num(r.get("mfu")), "projected epoch, s": _num(r.get("projected_epoch_seconds"))})
    text = ""
    plan = data.get("plan_projection")
    if isinstance(plan, dict) and plan.get("total_hours") is not None:
        text = (f"Projected cost of the paper profile on this device: **{_num(plan['total_hours'])} hours** of "
                f"training (Table 1 and the relevance runs, {plan.get('epochs', 3)} epochs each; "
                f"{plan.get('note', '')}).")
    elif data.get("tiny"):
        text = "A smoke check of the script (tiny model, a few steps): its throughput says nothing about a GPU."
    return fig, pd.DataFrame(rows), text


SUMMARIES = {"padding": _padding, "step_time": _step_time, "hf_trainer": _hf_trainer, "gpu_step": _gpu_step}


def _generic(data: dict) -> tuple[Any, pd.DataFrame, str]:
    scalars = {k: v for k, v in data.items() if not isinstance(v, (dict, list)) and k != "what"}
    return None, pd.DataFrame({"quantity": list(scalars), "value": [_num(v) for v in scalars.values()]}).head(15), ""


def _result_section(path: Path, name: str, files: dict[str, bytes]) -> str:
    """A result file as the page shows it: what, figure, short table, command, machine, raw-file link. The
    figure and a copy of the raw file go into `files` (names under PERF_DIR)."""
    raw = path.read_bytes()
    data = json.loads(raw)
    meta = data.get("meta") or data.get("metadata") or {}
    summarise = next((f for key, f in SUMMARIES.items() if name.startswith(key)), _generic)
    try:
        fig, table, text = summarise(data)
    except (KeyError, TypeError, ValueError) as err:  # an unexpected layout: say so, keep the raw file
        log.warning("cannot summarise %s: %s", path.name, err)
        fig, table, text = None, pd.DataFrame(), f"*This result file has an unexpected layout ({err}).*"
    out = f"**{path.name}**" + (f": {data['what']}" if data.get("what") else "") + "\n\n"
    files[f"{PERF_DIR}/{path.name}"] = raw
    if fig is not None:
        files[f"{PERF_DIR}/{path.stem}.png"] = _png(fig)
        out += f"![{path.stem}](/book/generated/{PERF_DIR}/{path.stem}.png)\n\n"
    if len(table):
        files[f"{PERF_DIR}/{path.stem}_summary.csv"] = table.to_csv(index=False).encode()
        out += _md_table(table) + _csv_line(f"{PERF_DIR}/{path.stem}_summary.csv") + "\n"
    if text:
        out += text + "\n\n"
    cmd = meta.get("command") or data.get("command")
    out += (f"Recorded command: `{cmd}`. " if cmd else "") + f"Ran on: {_machine(data)}. "
    out += f"Raw result: [{path.name}](/book/generated/{PERF_DIR}/{path.name}).\n"
    return out


def _on_gpu(path: Path) -> bool:
    data = json.loads(path.read_text())
    device = str(data.get("device", "")) + str(data.get("device_type", ""))
    return "cuda" in device.lower() or "gpu" in device.lower() and "cpu" not in device.lower()


def benchmark_section(name: str, title: str, command: str, results_dir: Path,
                      files: dict[str, bytes] | None = None) -> str:
    files = {} if files is None else files
    paths = sorted(results_dir.glob(f"{name}*.json"))
    head = f"## {title}\n\nReproduce: `{command}`.\n\n"
    if name.startswith("gpu") and not any(_on_gpu(p) for p in paths):
        head += "**not yet measured on GPU**" + (" (the results below are CPU runs of the same script).\n\n"
                                                 if paths else ".\n\n")
    elif not paths:
        return head + f"**not yet measured** (no `benchmarks/results/{name}*.json` in this checkout).\n"
    return head + "\n".join(_result_section(p, name, files) for p in paths)


def _hours(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"


def profile_costs(profile: str, out: Path, root: Path = REPO, files: dict[str, bytes] | None = None) -> str:
    """What each profile costs: projected where a benchmark projects it, measured where this build ran it."""
    measured = {}
    seconds = []
    for section in SECTIONS:
        try:
            seconds.append(float(json.loads(marker_path(out, section).read_text())["seconds"]))
        except (OSError, KeyError, ValueError, TypeError):
            pass
    if seconds:
        measured[profile] = (f"{_hours(sum(seconds))}: this book's {len(seconds)} notebooks, executed by "
                             "`hmnet reproduce` (their done-markers); building the HTML comes on top")
    gpu = []
    for path in sorted((root / "benchmarks" / "results").glob("gpu_step*.json")):
        data = json.loads(path.read_text())
        plan = data.get("plan_projection")
        if _on_gpu(path) and isinstance(plan, dict) and plan.get("total_hours") is not None:
            gpu.append(f"{_num(plan['total_hours'])} h of training on {data.get('device', '?')} "
                       f"(`benchmarks/results/{path.name}`)")
    rows = [
        {"profile": "smoke (any CPU)", "projected": "– (no benchmark projects it)",
         "measured": measured.get("smoke", "not in this build")},
        {"profile": "local (CPU, MiniLM, capped rows)", "projected": "– (no benchmark projects it)",
         "measured": measured.get("local", "not in this build")},
        {"profile": "paper (GPU, bert-base, full data)",
         "projected": "; ".join(gpu) or "not yet measured: run `python benchmarks/gpu_step.py` on a GPU",
         "measured": measured.get("paper", "not in this build")},
    ]
    if files is not None:
        files[f"{PERF_DIR}/profile_costs.csv"] = pd.DataFrame(rows).to_csv(index=False).encode()
    return ("## What each profile costs\n\nProjected from the benchmark results where one projects it, "
            f"measured where this book's build ran the profile (this build: **{profile}**).\n\n"
            + _md_table(pd.DataFrame(rows)) + (_csv_line(f"{PERF_DIR}/profile_costs.csv") if files is not None
                                                else "") + "\n")


def performance_parts(root: Path = REPO, profile: str | None = None, out: Path | None = None
                      ) -> tuple[str, dict[str, bytes]]:
    """The performance page's Markdown and the files it links (figures, raw results; names under PERF_DIR)."""
    results = root / "benchmarks" / "results"
    files: dict[str, bytes] = {}
    parts = [profile_costs(profile, Path(out), root, files)] if profile is not None and out is not None else []
    parts += [benchmark_section(n, t, c, results, files) for n, (t, c) in BENCHMARKS.items()]
    known = tuple(BENCHMARKS)
    others = sorted(p.stem for p in results.glob("*.json") if not p.stem.startswith(known))
    parts += [benchmark_section(n, n.replace("_", " "), f"python benchmarks/{n}.py", results, files)
              for n in others]
    return "\n".join(parts), files


def performance_page(root: Path = REPO) -> str:
    return performance_parts(root)[0]


def performance_banner() -> str:
    return ('<div class="hmnet-banner hmnet-benchmarks" style="border:1px solid #999;padding:0.6em;'
            'background:#eef"><b>Numbers on this page:</b> measured by the benchmark scripts named in each '
            'section, on the machine recorded with each result (not by the book\'s profile).</div>\n')


def generated_pages(profile: str, out: Path, root: Path = REPO) -> dict[str, str | bytes]:
    """Every generated file of the staged book/generated folder: name (may hold a subfolder) -> content."""
    from hmnet.store import read_manifest, store_banner

    manifest = read_manifest(out)  # a results store: its manifest says what produced the numbers
    params = None if manifest else run_parameters(profile, out)
    performance, perf_files = performance_parts(root, profile, out)
    findings, findings_files = findings_parts(profile, out, params)
    banner = store_banner(manifest, "") if manifest else banner_page(params)
    return {"banner.md": banner, "findings_tables.md": findings,
            "performance_banner.md": performance_banner(), "performance_tables.md": performance,
            **perf_files, **findings_files}


def write_generated(gen: Path, profile: str, out: Path, root: Path = REPO) -> None:
    """Write :func:`generated_pages` under `gen` (text as UTF-8, figures and raw files as bytes)."""
    for name, content in generated_pages(profile, out, root).items():
        path = gen / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
