"""The findings page's generated part (``book/generated/findings_tables.md``): what does not reproduce or is
inconsistent inside the paper, each row computed here from the paper's own tables (``hmnet.paper``)
or from this build's runs (``<out>/findings``), and Table 4 against the data files."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pandas as pd

from hmnet import paper, report
from hmnet.book.markdown import csv_line, md_table
from hmnet.data import find_file, read_split
from hmnet.tasks import TASKS

log = logging.getLogger(__name__)


def label_count_findings() -> pd.DataFrame:
    """Table 4's #Label against the label sets of the official files (hmnet.tasks)."""
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
                   "(`hmnet.tasks`) records them, which needs no data:\n\n" + md_table(registry)
                   + csv_line("findings/table4_labels_registry.csv"))
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
            "of Table 4.\n\n" + table4_html(check) + "\n" + csv_line("findings/table4_check.csv"))
    if len(differ):
        items = "\n".join(f"- **{r.task} {r.column}**: Table 4 prints {r['Table 4']}, the files hold "
                          f"{int(r.files)} {r.unit} ({r['read from']})." for _, r in differ.iterrows())
        text += f"\nWhere Table 4 and the files disagree:\n\n{items}\n"
    if len(absent):
        text += ("\nNot checked, for want of the files: "
                 + "; ".join(f"{t}: {', '.join(g['column'])}" for t, g in absent.groupby("task", sort=False))
                 + ".\n")
    return text + labels_part


def implied_gain_findings() -> pd.DataFrame:
    """Eq. (4) gains of Table 3 against Table 1: the score a target would need for its largest gain."""
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
    from hmnet.analysis.parameters import parameter_table

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
        return md_table(df, floatfmt=floatfmt) + csv_line(f"findings/{name}.csv")

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
        parts.append(md_table(shown) + csv_line("findings/parameter_counts.csv")
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
