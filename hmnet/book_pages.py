"""The generated parts of the book's narrative pages (``book/generated/*.md``), written at build time.

- ``banner.md``: which profile, data, backbone and seeds produced the book's numbers;
- ``findings_tables.md``: what does not reproduce or is inconsistent inside the paper, each row computed
  here from the paper's own tables (``hmnet.paper``) or from this build's runs (``<out>/findings``);
- ``performance_tables.md``: every benchmark of ``benchmarks/results/*.json`` with the command that
  reproduces it, and "not yet measured" for those without a result file.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hmnet import report
from hmnet.reproduce import REPO, SECTIONS, _marker

log = logging.getLogger(__name__)

# Benchmarks the performance page lists, with the command that produces each result file.
BENCHMARKS: dict[str, tuple[str, str]] = {
    "padding": ("Padding efficiency of the collator (real tokens / processed tokens)",
                "python benchmarks/padding.py"),
    "step_time": ("Training step time: HMNet against the plain (fully shared) model, and the projected "
                  "full-paper cost", "python benchmarks/step_time.py"),
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
    for section in SECTIONS:
        marker = _marker(out, section)
        if marker.exists():
            params = json.loads(marker.read_text()).get("parameters", {})
            return report.check_parameters(**{**params, "out_dir": str(out)})
    return report.check_parameters(profile=profile, out_dir=str(out))


def banner_page(params: report.RunParameters) -> str:
    note = ("<p><i>Each result chapter repeats this banner with the seeds and tasks its own runs used "
            "(sections 03 and 04 run several seeds on the smoke profile).</i></p>")
    return report.banner_html(params) + "\n" + note + "\n"


# ---------------------------------------------------------------------------------------------------------
# findings


def published_average_findings() -> pd.DataFrame:
    """Table 1's averages recomputed from its own cells (hmnet.metrics.check_published_averages)."""
    from hmnet import paper
    from hmnet.metrics import check_published_averages

    scores = {m: paper.paper_scores(m) for m in paper.TABLE1_METHODS}
    published = {m: float(v) for m, v in paper.table1_averages().items()}
    return pd.DataFrame(check_published_averages(scores, published))


def label_count_findings() -> pd.DataFrame:
    """Table 4's #Label against the label sets of the official files (hmnet.tasks)."""
    from hmnet import paper
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


def implied_gain_findings() -> pd.DataFrame:
    """Eq. (4) gains of Table 3 against Table 1: the score a target would need for its largest gain."""
    from hmnet import paper

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
    try:
        from hmnet.params import parameter_table
    except ImportError:
        return None, "hmnet.params is not available in this build; the parameter counts are not recomputed."
    try:
        return parameter_table("random:bert-base"), ""
    except Exception as err:  # a missing backbone config, for instance; say so rather than drop the row
        return None, f"parameter_table('random:bert-base') failed: {type(err).__name__}: {err}"


def findings_page(profile: str, out: Path) -> str:
    parts = ["## Table 1: the published averages against their own cells\n",
             "Each method's average recomputed from the printed cells (MNLI m and mm as two entries), and "
             "whether the published average is reachable at all when every printed cell is allowed its "
             "rounding (`hmnet.metrics.check_published_averages`).\n",
             _md_table(published_average_findings())]
    unreachable = published_average_findings().query("not reachable_with_rounding")["method"].tolist()
    parts.append(f"\nMethods whose published average cannot come from their own cells: "
                 f"**{', '.join(unreachable) if unreachable else 'none'}**.\n")
    parts += ["\n## Table 4: label counts\n", _md_table(label_count_findings())]
    parts += ["\n## Table 3 against Table 1: the size of the gains\n",
              "Eq. (4) is a relative gain over the single-task score. For the two smallest tasks, the score "
              "that the largest gain in Table 3 implies, next to the best score any method reaches in Table 1:\n",
              _md_table(implied_gain_findings())]
    table, note = parameter_findings()
    parts.append("\n## Parameter counts (Table 1's last two rows)\n")
    parts.append(_md_table(table, index=not isinstance(table.index, pd.RangeIndex)) if table is not None
                 else f"*{note}*\n")
    measured = measured_findings(out)
    parts.append(f"\n## Measured in this build (profile {profile})\n")
    parts.append(_md_table(measured) if len(measured) else
                 "*No findings were recorded by this build's notebooks.*\n")
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------------------
# performance


def _flatten(d: Any, prefix: str = "", depth: int = 0, max_depth: int = 2) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(d, dict) and depth <= max_depth:
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}." if isinstance(v, dict) else f"{prefix}{k}", depth + 1,
                                max_depth))
    elif isinstance(d, dict):
        out[prefix.rstrip(".")] = f"({len(d)} entries)"
    elif isinstance(d, list):
        out[prefix] = ", ".join(map(str, d[:8])) + (" ..." if len(d) > 8 else "")
    else:
        out[prefix] = d
    return out


def _result_section(path: Path) -> str:
    data = json.loads(path.read_text())
    meta = data.get("meta") or data.get("metadata") or {}
    out = f"Result file `benchmarks/results/{path.name}`"
    cmd = meta.get("command") or data.get("command")
    if cmd:
        out += f", recorded command `{cmd}`"
    where = ", ".join(f"{k} {meta[k] if k in meta else data[k]}" for k in
                      ("date", "host", "device", "torch", "cpu_count", "threads")
                      if k in meta or (k in data and not isinstance(data[k], (dict, list))))
    out += f" ({where}).\n\n" if where else ".\n\n"
    if data.get("what"):
        out += f"What: {data['what']}\n\n"
    from hmnet.tasks import TASK_NAMES

    # Per-task and per-repeat detail stays in the JSON file; the page shows the summary quantities, and a
    # benchmark that compares variants ("comparisons": name -> figures) gets one row per comparison.
    if isinstance(data.get("comparisons"), dict):
        comp = pd.DataFrame.from_dict(data["comparisons"], orient="index").rename_axis("comparison").reset_index()
        out += _md_table(comp) + "\n\n"
    skip = ("meta", "metadata", "what", "comparisons", "runs")
    flat = {k: v for k, v in _flatten({k: v for k, v in data.items() if k not in skip})
            .items() if not k.startswith(("per_task", "splits_used")) and k.rsplit(".", 1)[-1] not in TASK_NAMES}
    rows = pd.DataFrame({"quantity": list(flat), "value": [v for v in flat.values()]})
    return out + _md_table(rows.head(80)) + "\n"


def _on_gpu(path: Path) -> bool:
    data = json.loads(path.read_text())
    device = str(data.get("device", "")) + str(data.get("device_type", ""))
    return "cuda" in device.lower() or "gpu" in device.lower() and "cpu" not in device.lower()


def benchmark_section(name: str, title: str, command: str, results_dir: Path) -> str:
    files = sorted(results_dir.glob(f"{name}*.json"))
    head = f"## {title}\n\nReproduce: `{command}`.\n\n"
    if name.startswith("gpu") and not any(_on_gpu(p) for p in files):
        head += "**not yet measured on GPU**" + (" (the results below are CPU runs of the same script).\n\n"
                                                 if files else ".\n\n")
    elif not files:
        return head + f"**not yet measured** (no `benchmarks/results/{name}*.json` in this checkout).\n"
    return head + "\n".join(_result_section(p) for p in files)


def performance_page(root: Path = REPO) -> str:
    results = root / "benchmarks" / "results"
    parts = [benchmark_section(n, t, c, results) for n, (t, c) in BENCHMARKS.items()]
    known = tuple(BENCHMARKS)
    others = sorted(p.stem for p in results.glob("*.json") if not p.stem.startswith(known))
    parts += [benchmark_section(n, n.replace("_", " "), f"python benchmarks/{n}.py", results) for n in others]
    return "\n".join(parts)


def performance_banner() -> str:
    return ('<div class="hmnet-banner hmnet-benchmarks" style="border:1px solid #999;padding:0.6em;'
            'background:#eef"><b>Numbers on this page:</b> measured by the benchmark scripts named in each '
            'section, on the machine recorded with each result (not by the book\'s profile).</div>\n')


def generated_pages(profile: str, out: Path, root: Path = REPO) -> dict[str, str]:
    from hmnet.store import read_manifest, store_banner

    manifest = read_manifest(out)  # a results store: its manifest says what produced the numbers
    banner = store_banner(manifest, "") if manifest else banner_page(run_parameters(profile, out))
    return {"banner.md": banner, "findings_tables.md": findings_page(profile, out),
            "performance_banner.md": performance_banner(), "performance_tables.md": performance_page(root)}
