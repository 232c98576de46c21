"""The performance page's generated part (``book/generated/performance_tables.md``): every benchmark of
``benchmarks/results/*.json`` with the command that reproduces it, one figure and a short table each, the raw
JSON linked, and "not yet measured" for those without a result file; and the profile's own costs."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hmnet.book.markdown import csv_line, md_table
from hmnet.book.reproduce import PAGES, marker_path
from hmnet.provenance import REPO
from hmnet.store import read_manifest

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
    "local_throughput": ("The local profile's training throughput on the whole real task mix, and the HF Trainer",
                         "python benchmarks/local_throughput.py"),
}


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


def _local_throughput(data: dict) -> tuple[Any, pd.DataFrame, str]:
    variants = {k: v for k, v in (data.get("variants") or {}).items() if isinstance(v, dict)}
    fig = None
    if variants:
        fig, (ax,) = _figure(6, 2.4)
        ax.barh(range(len(variants)), [v["machine_examples_per_second"] for v in variants.values()], color="#1f77b4")
        ax.set_yticks(range(len(variants)), list(variants))
        ax.set_xlabel("training examples / s, the whole machine")
        ax.set_title("Local profile, 12-task mix: length grouping x processes x threads", fontsize=9)
    rows = [{"setting": k, "examples / s": _num(v.get("machine_examples_per_second")),
             "end to end": _num(v.get("end_to_end_examples_per_second")), "precision": v.get("precision")}
            for k, v in variants.items()]
    tc = data.get("trainer_comparison") or {}
    text = (f"Fastest: **{data.get('fastest', '?')}**, the local profile's default (`group_by_length`, 2 workers "
            "x 1 thread).")
    if tc.get("ours") and tc.get("hf"):
        text += (f" On {tc.get('task', 'RTE')} ({tc.get('rows', '?')} rows, bf16, length grouping, 2 threads): ours "
                 f"{_num(tc['ours'].get('examples_per_second'))}, the HF Trainer "
                 f"{_num(tc['hf'].get('examples_per_second'))} examples/s ({_num(tc.get('speed_ratio'))}x).")
    return fig, pd.DataFrame(rows), text


SUMMARIES = {"padding": _padding, "step_time": _step_time, "hf_trainer": _hf_trainer, "gpu_step": _gpu_step,
             "local_throughput": _local_throughput}


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
        out += md_table(table) + csv_line(f"{PERF_DIR}/{path.stem}_summary.csv") + "\n"
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
    for page in PAGES:
        try:
            seconds.append(float(json.loads(marker_path(out, page).read_text())["seconds"]))
        except (OSError, KeyError, ValueError, TypeError):
            pass
    if seconds:
        measured[profile] = (f"{_hours(sum(seconds))}: this book's {len(seconds)} notebooks, executed by "
                             "`hmnet reproduce` (their done-markers); building the HTML comes on top")
        if (Path(out) / "manifest.json").is_file():  # a results store: its runs are the cost, not the rendering
            hours = _stored_hours(Path(out))
            measured[profile] = (f"{hours:.1f} run-hours for the runs of its results store (about {hours / 2:.1f} "
                                 "wall hours at 2 workers; the table below), then " + measured[profile])
    gpu = []
    for path in sorted((root / "benchmarks" / "results").glob("gpu_step*.json")):
        data = json.loads(path.read_text())
        plan = data.get("plan_projection")
        if _on_gpu(path) and isinstance(plan, dict) and plan.get("total_hours") is not None:
            gpu.append(f"{_num(plan['total_hours'])} h of training on {data.get('device', '?')} "
                       f"(`benchmarks/results/{path.name}`)")
    proj = (json.loads((Path(out) / "manifest.json").read_text()).get("projection")
            if (Path(out) / "manifest.json").is_file() else None)
    projected = {profile: (f"{proj['run_hours']:.1f} run-hours, {proj['wall_hours']:.1f} wall hours at "
                           f"{proj['workers']} workers from an empty store (the campaign runner's projection; the "
                           "table below)")} if proj else {}
    rows = [
        {"profile": "smoke (any CPU)", "projected": projected.get("smoke", "– (no benchmark projects it)"),
         "measured": measured.get("smoke", "not in this build")},
        {"profile": "local (CPU, MiniLM, capped rows)", "projected": projected.get("local", "– (no benchmark "
                                                                                            "projects it)"),
         "measured": measured.get("local", "not in this build")},
        {"profile": "paper (GPU, bert-base, full data)",
         "projected": "; ".join(gpu) or "not yet measured: run `python benchmarks/gpu_step.py` on a GPU",
         "measured": measured.get("paper", "not in this build")},
    ]
    if files is not None:
        files[f"{PERF_DIR}/profile_costs.csv"] = pd.DataFrame(rows).to_csv(index=False).encode()
    return ("## What each profile costs\n\nProjected from the benchmark results where one projects it, "
            f"measured where this book's build ran the profile (this build: **{profile}**).\n\n"
            + md_table(pd.DataFrame(rows)) + (csv_line(f"{PERF_DIR}/profile_costs.csv") if files is not None
                                                else "") + "\n")


def _ran_on(env: dict) -> str:
    """A record's machine and precision, as far as its environment says."""
    machine = env.get("machine") or env.get("device") or "unrecorded"
    precision = {"no": "fp32"}.get(env.get("mixed_precision"), env.get("mixed_precision"))
    return f"{machine}, {precision}" if precision else str(machine)


def _stored_hours(folder: Path) -> float:
    """The wall time of a results store's stored runs, in hours."""
    return sum(json.loads(p.read_text()).get("wall_time", 0.0) for p in (folder / "results").glob("*.json")) / 3600


def store_costs(stores: Path, files: dict[str, bytes] | None = None, workers: int = 2) -> str:
    """What regenerating each committed results store costs: its stored runs' measured wall time summed (run-hours,
    and wall hours with the runner's default `workers` side by side), the count of runs and the machines that
    ran them; beside it, the runner's projection of the whole plan from an empty store (its manifest keeps it)."""
    rows = []
    for folder in sorted(p.parent for p in Path(stores).glob("*/manifest.json")):
        manifest = read_manifest(folder)
        planned = {r["name"] for s in manifest["sections"].values() for r in s["runs"]}  # a shared run once
        records = [json.loads((folder / "results" / n).read_text()) for n in sorted(planned)
                   if (folder / "results" / n).is_file()]
        hours = sum(r["wall_time"] for r in records) / 3600
        machines = sorted({_ran_on(r.get("env") or {}) for r in records})
        proj = manifest.get("projection") or {}
        rows.append({"store": f"reference/{folder.name}", "profile, protocol":
                     f"{manifest['profile']}, {manifest.get('protocol') or '–'}",
                     "runs stored": f"{len(records)} of {len(planned)}",
                     "measured run-hours": f"{hours:.1f}", f"wall hours at {workers} workers": f"{hours / workers:.1f}",
                     "projected from an empty store": (f"{proj['runs']} planned runs, "
                                                       f"{proj['run_hours']:.1f} run-hours, "
                                                       f"{proj['wall_hours']:.1f} wall hours at {proj['workers']} "
                                                       f"workers ({proj['basis']})") if proj else "not projected yet",
                     "ran on": "; ".join(machines)})
    if not rows:
        return ""
    frame = pd.DataFrame(rows)
    if files is not None:
        files[f"{PERF_DIR}/store_costs.csv"] = frame.to_csv(index=False).encode()
    return ("## What the reference build costs to regenerate\n\nEach committed results store: the wall time its "
            "stored runs took (data, training and evaluation, one thread each), summed from their records; the wall "
            f"hours with the campaign runner's default {workers} one-thread workers side by side; and the runner's "
            "projection of the whole plan from an empty store, from the seconds per example measured in the store (the "
            "Hugging Face cross-check's few runs record no wall time and are not counted). "
            "Rendering the notebooks from a complete store and building the book take minutes on top.\n\n"
            + md_table(frame) + (csv_line(f"{PERF_DIR}/store_costs.csv") if files is not None else "") + "\n")


def performance_parts(root: Path = REPO, profile: str | None = None, out: Path | None = None
                      ) -> tuple[str, dict[str, bytes]]:
    """The performance page's Markdown and the files it links (figures, raw results; names under PERF_DIR)."""
    results = root / "benchmarks" / "results"
    files: dict[str, bytes] = {}
    parts = [profile_costs(profile, Path(out), root, files)] if profile is not None and out is not None else []
    parts.append(store_costs(root / "reference", files))
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
