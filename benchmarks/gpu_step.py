"""Training-step throughput of HMNet and the baselines at bert-base size, and what a full paper run costs.

One self-contained script for a GPU machine with no network and no data: the encoder is a random
``BertConfig()`` (bert-base size; throughput needs no pretrained weights) and the batches are synthetic,
with token lengths drawn from ``benchmarks/length_histogram.json`` (the real task mix, measured with the
bert-base-uncased vocabulary) and task shares from the paper's full training-set sizes. Batches are formed
by Algorithm 1 exactly as training forms them (``hmnet.data.MultiTaskBatches``, batch 32, one task per
batch, length-grouped unless ``--no-length-bucketed``).

What it measures, per model (HMNet {8,2,2} with 3 clusters over the 13 tasks, the multi-task model and
the SkillNet-style model, all from ``hmnet.models.build_model``):

- examples/s and tokens/s (real tokens, and processed = padded tokens) of full training steps
  (forward, loss, backward, gradient clipping over the task's path, AdamW step) on a stratified sample
  of one epoch's batches: every task gets timed steps in proportion to its number of batches (at least
  one), in shuffled order;
- model FLOPs utilisation (MFU) against the device's dense peak (table below, or ``--peak-tflops``);
- peak memory (allocated and reserved);
- projected wall time of one full paper training (3 epochs over the full task mix) and of the whole
  Table 1 + task-relevance plan: per task, its number of batches in an epoch times its mean measured
  step time. Evaluation time is not included.

FLOPs (documented in benchmarks/README.md). Per training step of a batch with rows of real length l_i,
padded to width W:

    model FLOPs    = 6 * N_task * sum_i l_i  +  12 * L * d * sum_i l_i^2
    padded FLOPs   = 6 * N_task * B * W      +  12 * L * d * B * W^2

N_task counts the weights of the matrix multiplications on the task's path (every nn.Linear in the
path's transformer layers: 4d^2 + 2 d f per BERT layer, more for SkillNet's active skills); embeddings
(lookups) and the head (one row per example) are left out. 6 = 2 FLOPs per multiply-add x (forward +
backward = 3 passes). The attention term is Q K^T and A V (2 x 2 T^2 d per layer forward, x3 for
training). MFU = model FLOPs / time / peak; padded FLOPs give the hardware utilisation including padding.

Speed options, all on by default on a GPU: bf16 autocast (fp16 with a grad scaler where bf16 is not
supported), SDPA attention, fused AdamW, length-bucketed batches, pinned memory with non-blocking copies.
``--compile`` adds torch.compile (dynamic shapes; first steps of each task are warm-up).

GPU figures are measured on the machine that runs this; nothing is projected from CPU. ``--tiny`` runs a
tiny config for a few steps on any device (it checks the script, its numbers mean nothing):

    python benchmarks/gpu_step.py                 # on a GPU machine, < 5 minutes
    python benchmarks/gpu_step.py --tiny          # anywhere, seconds
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import math
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch

from _common import HERE, RESULTS, run_metadata, write_json

log = logging.getLogger("gpu_step")
HISTOGRAM = HERE / "length_histogram.json"
EPOCHS = 3

# Dense (no sparsity) peak TFLOP/s at bf16 (fp16 for T4) from NVIDIA's data sheets; first match wins.
PEAK_TFLOPS: tuple[tuple[str, float], ...] = (
    ("H200", 989.0), ("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.0), ("GH200", 989.0),
    ("A100", 312.0), ("L40S", 362.0), ("L4", 121.0), ("A10G", 70.0), ("T4", 65.0),
)


def peak_tflops(device_name: str) -> float | None:
    for key, value in PEAK_TFLOPS:
        if key.lower() in device_name.lower():
            return value
    return None


# ---------------------------------------------------------------------------------------------------------
# the synthetic task mix


def load_histogram(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing; build it with benchmarks/make_length_histogram.py") from None
    tasks = data.get("tasks")
    if not tasks:
        raise ValueError(f"{path}: no 'tasks' in the histogram")
    for t, e in tasks.items():
        if len(e["lengths"]) != len(e["counts"]) or not e["counts"] or e["train_size"] <= 0:
            raise ValueError(f"{path}: task {t} has a malformed histogram")
    return data


def sample_lengths(hist: dict, sizes: dict[str, int], max_length: int, seed: int) -> dict[str, np.ndarray]:
    """Row lengths per task drawn from the measured histogram; rows longer than max_length are truncated."""
    rng = np.random.default_rng(seed)
    out = {}
    for task, n in sizes.items():
        e = hist["tasks"][task]
        p = np.asarray(e["counts"], dtype=np.float64)
        draw = rng.choice(np.asarray(e["lengths"], dtype=np.int64), size=n, p=p / p.sum())
        out[task] = np.minimum(draw, max_length)
    return out


def plan_epoch(lengths: dict[str, np.ndarray], batch_size: int, grouped: bool, seed: int):
    from hmnet.data import MultiTaskBatches

    sizes = {t: len(v) for t, v in lengths.items()}
    return MultiTaskBatches(sizes, batch_size, seed=seed, lengths=lengths, group_by_length=grouped).epoch(0)


def stratified_sample(batches, n_steps: int, seed: int) -> list[tuple[str, np.ndarray]]:
    """About n_steps batches, each task in proportion to its batch count (at least one), shuffled; the
    first len(tasks) steps hold one batch of every task so that a cut-short run still sees all tasks."""
    rng = np.random.default_rng(seed + 1)
    by_task: dict[str, list[np.ndarray]] = {}
    for task, idx in batches:
        by_task.setdefault(task, []).append(idx)
    total = len(batches)
    firsts, rest = [], []
    for task, items in by_task.items():
        m = min(len(items), max(1, round(n_steps * len(items) / total)))
        chosen = [items[i] for i in rng.choice(len(items), size=m, replace=False)]
        firsts.append((task, chosen[0]))
        rest += [(task, c) for c in chosen[1:]]
    order = rng.permutation(len(rest))
    return firsts + [rest[i] for i in order]


def make_batch(task: str, rows: np.ndarray, vocab: int, pad_to: int | None, regression: bool, num_labels: int,
               gen: torch.Generator, pin: bool) -> dict:
    """Random token ids with the given row lengths, padded to the longest row (or to pad_to)."""
    n, width = len(rows), int(pad_to or rows.max())
    ids = torch.randint(5, vocab, (n, width), generator=gen)
    pos = torch.arange(width)[None, :]
    mask = (pos < torch.as_tensor(rows)[:, None]).long()
    ids = ids * mask
    types = torch.zeros_like(ids)
    if regression:
        labels = torch.rand(n, generator=gen) * 5
    else:
        labels = torch.randint(0, num_labels, (n,), generator=gen)
    batch = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types, "labels": labels}
    if pin:
        batch = {k: v.pin_memory() for k, v in batch.items()}
    return {"task": task, "lengths": rows, "width": width, "tensors": batch}


# ---------------------------------------------------------------------------------------------------------
# FLOPs


def path_matmul_params(model, task: str) -> int:
    """Weights of the matrix multiplications on a task's path: nn.Linear weights between the embeddings
    and the head (path_modules(task) = [embeddings, *layers, head])."""
    modules = model.path_modules(task)[1:-1]
    seen, n = set(), 0
    for m in modules:
        for sub in m.modules():
            if isinstance(sub, torch.nn.Linear) and id(sub.weight) not in seen:
                seen.add(id(sub.weight))
                n += sub.weight.numel()
    return n


def step_flops(n_params: int, layers: int, hidden: int, lengths: np.ndarray, width: int) -> tuple[float, float]:
    """(model FLOPs on real tokens, FLOPs on the padded batch) of one training step."""
    lengths = lengths.astype(np.float64)
    model = 6.0 * n_params * lengths.sum() + 12.0 * layers * hidden * float((lengths ** 2).sum())
    padded = 6.0 * n_params * len(lengths) * width + 12.0 * layers * hidden * len(lengths) * width ** 2
    return model, padded


def three_clusters(prefer_paper: bool = True) -> tuple[dict[str, list[str]], str]:
    """HMNet's clusters: the paper's data-property grouping (Appendix A, k = 3) when hmnet.paper is there,
    else the synthetic suite's three planted groups (--tiny uses those: importing hmnet.paper is slow)."""
    if prefer_paper:
        try:
            from hmnet.paper import PAPER_GROUPINGS

            groups = PAPER_GROUPINGS["data"]
            return {f"c{i}": list(g) for i, g in enumerate(groups)}, "paper Appendix A, data-property grouping"
        except (ImportError, KeyError) as err:
            log.warning("paper groupings unavailable (%s); using the synthetic planted groups", err)
    from hmnet.synthetic import PLANTED_GROUPS

    return {k: list(v) for k, v in PLANTED_GROUPS.items()}, "synthetic planted groups"


# ---------------------------------------------------------------------------------------------------------
# one model


def build(method: str, backbone: str, attn: str, tasks, clusters, split, device: torch.device):
    from hmnet.backbone import load_backbone
    from hmnet.models import build_model

    encoder = load_backbone(backbone, attn_implementation=attn, with_tokenizer=False, seed=0).encoder
    encoder.to(device)  # the models deep-copy the encoder's layers, on its device
    model = build_model(method, encoder, tasks, clusters=clusters if method == "hmnet" else None,
                        split=split if method == "hmnet" else None)
    del encoder
    return model.to(device).train()


def measure_model(method: str, args, device: torch.device, tasks, clusters, split, timed, warm, epoch_counts,
                  peak: float | None) -> dict:
    t_build = time.perf_counter()
    model = build(method, args.backbone, args.attn, tasks, clusters, split, device)
    build_s = time.perf_counter() - t_build
    cfg = model.encoder_config
    n_total = sum(p.numel() for p in model.parameters())
    n_path = {t: sum(p.numel() for p in model.path_parameters(t)) for t in tasks}
    n_mm = {t: path_matmul_params(model, t) for t in tasks}
    cuda = device.type == "cuda"
    fused = bool(args.fused_adamw and cuda)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-5, weight_decay=0.01, fused=fused or None)
    amp_dtype = None
    if args.amp and cuda:
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    if args.compile:  # the task name is a guard: one graph per task, so allow more than the default 8
        import torch._dynamo as dynamo

        for name in ("recompile_limit", "cache_size_limit"):
            if hasattr(dynamo.config, name):
                setattr(dynamo.config, name, max(64, getattr(dynamo.config, name)))
    step_model = torch.compile(model, dynamic=True) if args.compile else model
    clip_params = {t: [p for p in model.path_parameters(t) if p.requires_grad] for t in tasks}

    def step(b):
        t = {k: v.to(device, non_blocking=args.pin_memory) for k, v in b["tensors"].items()}
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            out = step_model(b["task"], t["input_ids"], t["attention_mask"], t["token_type_ids"], t["labels"])
        if scaler is not None:
            scaler.scale(out.loss).backward()
            if args.clip:
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(clip_params[b["task"]], 1.0)
            scaler.step(opt)
            scaler.update()
        else:
            out.loss.backward()
            if args.clip:  # as the trainer does (grad_clip 1.0), over the task's path
                torch.nn.utils.clip_grad_norm_(clip_params[b["task"]], 1.0)
            opt.step()
        opt.zero_grad(set_to_none=True)
        return out.loss

    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    t_warm = time.perf_counter()
    for b in warm:
        loss = step(b)
    if not math.isfinite(float(loss.detach())):
        raise FloatingPointError(f"{method}: the warm-up loss is {float(loss.detach())}")
    if cuda:
        torch.cuda.synchronize(device)
    warm_s = time.perf_counter() - t_warm

    budget = args.budget_s / len(args.models)
    times: list[float] = []
    done: list[dict] = []
    start = time.perf_counter()
    if cuda:
        events = [torch.cuda.Event(enable_timing=True)]
        events[0].record()
    for b in timed:
        if done and time.perf_counter() - start > budget:
            log.warning("%s: time budget of %.0f s reached after %d of %d steps", method, budget, len(done),
                        len(timed))
            break
        t0 = time.perf_counter()
        loss = step(b)
        if cuda:
            events.append(torch.cuda.Event(enable_timing=True))
            events[-1].record()
        else:
            times.append(time.perf_counter() - t0)
        done.append(b)
    if cuda:
        torch.cuda.synchronize(device)
        times = [events[i].elapsed_time(events[i + 1]) / 1000.0 for i in range(len(done))]
    wall = time.perf_counter() - start
    last_loss = float(loss.detach())

    total = float(sum(times))
    examples = sum(len(b["lengths"]) for b in done)
    real = sum(int(b["lengths"].sum()) for b in done)
    processed = sum(len(b["lengths"]) * b["width"] for b in done)
    mflops = pflops = 0.0
    per_task: dict[str, list[float]] = {}
    for b, s in zip(done, times):
        m, p = step_flops(n_mm[b["task"]], cfg.num_hidden_layers, cfg.hidden_size, b["lengths"], b["width"])
        mflops += m
        pflops += p
        per_task.setdefault(b["task"], []).append(s)
    mean_step = {t: float(np.mean(v)) for t, v in per_task.items()}
    missing = [t for t in epoch_counts if t not in mean_step]
    epoch_s = None if missing else float(sum(epoch_counts[t] * mean_step[t] for t in epoch_counts))
    result = {
        "method": method,
        "parameters_total": n_total,
        "parameters_path_mean": float(np.mean(list(n_path.values()))),
        "matmul_parameters_path": n_mm,
        "build_seconds": round(build_s, 2), "warmup_steps": len(warm), "warmup_seconds": round(warm_s, 2),
        "timed_steps": len(done), "timed_seconds": round(total, 4), "host_wall_seconds": round(wall, 4),
        "examples_per_second": examples / total, "real_tokens_per_second": real / total,
        "processed_tokens_per_second": processed / total,
        "padding_efficiency_timed": real / processed,
        "model_tflops_per_second": mflops / total / 1e12, "padded_tflops_per_second": pflops / total / 1e12,
        "mfu": (mflops / total / 1e12 / peak) if peak else None,
        "padded_flops_utilisation": (pflops / total / 1e12 / peak) if peak else None,
        "mean_step_seconds_by_task": mean_step,
        "timed_steps_by_task": {t: len(v) for t, v in per_task.items()},
        "projected_epoch_seconds": epoch_s, "tasks_without_timed_steps": missing,
        "last_loss": last_loss,
        "amp_dtype": str(amp_dtype).replace("torch.", "") if amp_dtype else None,
        "fused_adamw": fused, "compiled": bool(args.compile),
    }
    if cuda:
        result["peak_memory_allocated_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
        result["peak_memory_reserved_gib"] = torch.cuda.max_memory_reserved(device) / 2**30
    return result


# ---------------------------------------------------------------------------------------------------------
# the plan


def project_plan(results: dict, epoch_counts: dict, tokens_per_epoch: dict, examples_per_epoch: dict,
                 n_tasks: int) -> dict:
    """Wall time of one full paper training and of Table 1 + the relevance plan, from measured step times.

    A single-task run of task t costs what task t's batches cost in the multi-task model (same network,
    same batches); a pair run (i, j) costs E_i + E_j, so the 78 pairs cost 12 multi-task runs.
    """
    def epoch_of(method, task=None):
        r = results.get(method)
        if not r or "mean_step_seconds_by_task" not in r or r.get("tasks_without_timed_steps"):
            return None
        steps = r["mean_step_seconds_by_task"]
        tasks = [task] if task else list(epoch_counts)
        return sum(epoch_counts[t] * steps[t] for t in tasks)

    multi, hmnet, skill = epoch_of("multi"), epoch_of("hmnet"), epoch_of("skillnet")
    tokens = sum(tokens_per_epoch.values())
    pairs = n_tasks * (n_tasks - 1) // 2
    rows = []

    def add(name, runs, epoch_seconds, token_multiple, method):
        rows.append({"runs": name, "count": runs, "method": method,
                     "real_tokens": EPOCHS * tokens * token_multiple,
                     "hours": None if epoch_seconds is None else EPOCHS * epoch_seconds * token_multiple / 3600})

    add("Table 1: single-task (one run per task)", n_tasks, multi, 1, "multi")
    add("Table 1: multi-task", 1, multi, 1, "multi")
    add("Table 1: SkillNet-style", 1, skill, 1, "skillnet")
    add("Table 1: HMNet, three groupings", 3, hmnet, 3, "hmnet")
    add("relevance: single-task (the Table 1 single-task runs when the configs match)", n_tasks, multi, 1,
        "multi")
    add(f"relevance: pairs ({pairs})", pairs, multi, n_tasks - 1, "multi")
    known = [r["hours"] for r in rows]
    total = None if any(h is None for h in known) else sum(known)
    reuse = None if total is None else total - rows[4]["hours"]
    return {
        "epochs": EPOCHS,
        "one_full_training": {"examples": EPOCHS * sum(examples_per_epoch.values()), "real_tokens": EPOCHS * tokens,
                              "hours": {m: (None if e is None else EPOCHS * e / 3600)
                                        for m, e in (("multi", multi), ("hmnet", hmnet), ("skillnet", skill))}},
        "runs": rows, "total_hours": total, "total_hours_reusing_single_task_runs": reuse,
        "note": "training steps only (no evaluation, checkpointing or data loading); per task: batches per "
                "epoch x mean measured step time",
    }


# ---------------------------------------------------------------------------------------------------------


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tiny", action="store_true", help="tiny config, short lengths, few steps (a smoke check)")
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    p.add_argument("--models", default="hmnet,multi,skillnet", help="comma-separated: hmnet, multi, skillnet")
    p.add_argument("--batch-size", type=int, default=None, help="default 32 (8 with --tiny)")
    p.add_argument("--max-length", type=int, default=None, help="default 512 (32 with --tiny)")
    p.add_argument("--steps", type=int, default=None, help="timed steps per model (default 300; 13 with --tiny)")
    p.add_argument("--budget-s", type=float, default=None,
                   help="timed seconds for all models together (default 180; 15 with --tiny)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's; 1 with "
                   "--tiny, which keeps a shared CPU from thrashing)")
    p.add_argument("--no-amp", dest="amp", action="store_false", help="no bf16/fp16 autocast")
    p.add_argument("--attn", default="sdpa", choices=("sdpa", "eager"), help="attention implementation")
    p.add_argument("--no-fused-adamw", dest="fused_adamw", action="store_false")
    p.add_argument("--no-length-bucketed", dest="grouped", action="store_false",
                   help="random packing instead of length-grouped batches")
    p.add_argument("--pad-to-max", action="store_true", help="pad every batch to max length (the paper's 512)")
    p.add_argument("--no-pin-memory", dest="pin_memory", action="store_false")
    p.add_argument("--no-clip", dest="clip", action="store_false", help="skip gradient clipping (norm 1.0)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (dynamic shapes)")
    p.add_argument("--peak-tflops", type=float, default=None, help="override the device's dense bf16 peak")
    p.add_argument("--histogram", type=Path, default=HISTOGRAM)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="JSON path (default benchmarks/results/gpu_step_<dev>.json)")
    args = p.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    bad = [m for m in args.models if m not in ("hmnet", "multi", "skillnet")]
    if bad or not args.models:
        p.error(f"--models: unknown {bad}; choose from hmnet, multi, skillnet")
    args.backbone = "tiny" if args.tiny else "random:bert-base"
    args.batch_size = args.batch_size or (8 if args.tiny else 32)
    args.max_length = args.max_length or (32 if args.tiny else 512)
    args.steps = args.steps or (13 if args.tiny else 300)
    args.budget_s = args.budget_s or (15.0 if args.tiny else 180.0)
    args.threads = args.threads or (1 if args.tiny else None)
    if args.batch_size < 1 or args.steps < 1 or args.max_length < 8:
        p.error("--batch-size and --steps must be positive and --max-length at least 8")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from hmnet.backbone import encoder_config
    from hmnet.models import default_split
    from hmnet.tasks import TASK_NAMES, get_task

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        name = torch.cuda.get_device_name(device)
    else:
        name = f"cpu ({torch.get_num_threads()} threads)"
    args.pin_memory = bool(args.pin_memory and cuda)
    peak = args.peak_tflops or (peak_tflops(name) if cuda else None)
    cfg = encoder_config(args.backbone)
    if args.max_length > cfg.max_position_embeddings:
        raise SystemExit(f"--max-length {args.max_length} exceeds the {args.backbone} backbone's "
                         f"{cfg.max_position_embeddings} positions")

    hist = load_histogram(args.histogram)
    tasks = tuple(t for t in TASK_NAMES if t in hist["tasks"])
    full_sizes = {t: int(hist["tasks"][t]["train_size"]) for t in tasks}
    # --tiny plans a 1/100 epoch (the numbers mean nothing there anyway); otherwise the full mix.
    sizes = {t: max(1, n // 100) for t, n in full_sizes.items()} if args.tiny else full_sizes
    t0 = time.perf_counter()
    lengths = sample_lengths(hist, sizes, args.max_length, args.seed)
    batches = plan_epoch(lengths, args.batch_size, args.grouped, args.seed)
    epoch_counts = {t: 0 for t in tasks}
    real = processed = 0
    for t, idx in batches:
        epoch_counts[t] += 1
        ls = lengths[t][idx]
        real += int(ls.sum())
        processed += len(idx) * (args.max_length if args.pad_to_max else int(ls.max()))
    tokens_per_epoch = {t: int(lengths[t].sum()) for t in tasks}
    chosen = stratified_sample(batches, args.steps, args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    vocab = cfg.vocab_size

    def materialise(items):
        return [make_batch(t, lengths[t][idx], vocab, args.max_length if args.pad_to_max else None,
                           get_task(t).regression, get_task(t).num_labels, gen, args.pin_memory)
                for t, idx in items]

    timed = materialise(chosen)
    # Warm-up: the widest timed batch, then one batch of every task (allocator growth, kernels, compile).
    widest = max(range(len(chosen)), key=lambda i: timed[i]["width"])
    warm_items = [chosen[widest]] + ([] if not args.compile else chosen[:len(tasks)])
    warm = materialise(warm_items + chosen[:min(len(tasks), 3 if args.tiny else len(tasks))])
    prep_s = time.perf_counter() - t0
    log.info("device %s; %d tasks; epoch of %d batches planned; %d timed steps per model (prep %.1f s)",
             name, len(tasks), len(batches), len(timed), prep_s)

    clusters, grouping = three_clusters(prefer_paper=not args.tiny)
    clusters = {c: [t for t in ts if t in tasks] for c, ts in clusters.items()}
    clusters = {c: ts for c, ts in clusters.items() if ts}
    split = default_split(cfg.num_hidden_layers)

    results = {}
    for method in args.models:
        log.info("measuring %s ...", method)
        try:
            results[method] = measure_model(method, args, device, tasks, clusters, split, timed, warm,
                                            epoch_counts, peak)
        except (RuntimeError, FloatingPointError) as err:  # OOM and friends: record, go on with the others
            log.error("%s failed: %s", method, err)
            results[method] = {"method": method, "error": f"{type(err).__name__}: {err}"}
        gc.collect()  # the model and its optimizer state go before the next one is built
        if cuda:
            torch.cuda.empty_cache()
        r = results[method]
        if "error" not in r:
            log.info("  %s: %.1f examples/s, %.0f real tokens/s, MFU %s, %d steps in %.1f s", method,
                     r["examples_per_second"], r["real_tokens_per_second"],
                     "n/a" if r["mfu"] is None else f"{r['mfu']:.1%}", r["timed_steps"], r["timed_seconds"])

    examples_per_epoch = {t: len(v) for t, v in lengths.items()}
    plan = None if args.tiny else project_plan(results, epoch_counts, tokens_per_epoch, examples_per_epoch,
                                                len(tasks))
    payload = {
        "what": "training-step throughput on synthetic batches with the real task mix's lengths",
        "device": name, "device_type": device.type, "peak_tflops_dense": peak,
        "cuda": torch.version.cuda if cuda else None,
        "tiny": args.tiny, "backbone": args.backbone,
        "encoder": {"layers": cfg.num_hidden_layers, "hidden": cfg.hidden_size, "heads": cfg.num_attention_heads,
                    "intermediate": cfg.intermediate_size, "vocab": cfg.vocab_size},
        "hmnet": {"split": list(split), "clusters": clusters, "grouping": grouping},
        "options": {"batch_size": args.batch_size, "max_length": args.max_length, "amp": args.amp and cuda,
                    "attn": args.attn, "fused_adamw": args.fused_adamw and cuda, "length_bucketed": args.grouped,
                    "pad_to_max": args.pad_to_max, "pin_memory": args.pin_memory, "compile": args.compile,
                    "grad_clip": 1.0 if args.clip else None,
                    "steps": args.steps, "budget_s": args.budget_s, "seed": args.seed},
        "mix": {"source": str(args.histogram), "epoch_examples": sum(examples_per_epoch.values()),
                "epoch_real_tokens": sum(tokens_per_epoch.values()), "epoch_batches": len(batches),
                "epoch_padding_efficiency": real / processed, "batches_per_task": epoch_counts,
                "scaled_down_for_tiny": args.tiny},
        "results": results,
        "plan_projection": plan,
        "flops_formula": "model = 6*N_path*sum(l_i) + 12*L*d*sum(l_i^2); padded = 6*N_path*B*W + 12*L*d*B*W^2; "
                         "N_path = nn.Linear weights of the task's transformer layers",
        "meta": run_metadata(argv, "benchmarks/gpu_step.py"),
    }
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    out = args.out or RESULTS / (f"gpu_step_tiny_{device.type}.json" if args.tiny else f"gpu_step_{slug}.json")
    write_json(out, payload)
    print_summary(payload)
    print(f"wrote {out}")
    return payload


def print_summary(payload: dict) -> None:
    print(f"device: {payload['device']}  (peak {payload['peak_tflops_dense']} TFLOP/s dense)")
    print(f"{'model':9s} {'ex/s':>9s} {'real tok/s':>11s} {'MFU':>7s} {'peak GiB':>9s} {'epoch h':>8s}")
    for m, r in payload["results"].items():
        if "error" in r:
            print(f"{m:9s} ERROR {r['error']}")
            continue
        mfu = "n/a" if r["mfu"] is None else f"{r['mfu']:.1%}"
        mem = r.get("peak_memory_allocated_gib")
        ep = r["projected_epoch_seconds"]
        print(f"{m:9s} {r['examples_per_second']:9.1f} {r['real_tokens_per_second']:11.0f} {mfu:>7s} "
              f"{'-' if mem is None else f'{mem:.1f}':>9s} {'-' if ep is None else f'{ep / 3600:.2f}':>8s}")
    plan = payload.get("plan_projection")
    if plan:
        for row in plan["runs"]:
            h = row["hours"]
            print(f"  {row['runs']:70s} {'?' if h is None else f'{h:8.1f} h'}")
        def hours(h):
            return "?" if h is None else f"{h:.1f} h"

        print(f"  total {hours(plan['total_hours'])}; reusing the single-task runs "
              f"{hours(plan['total_hours_reusing_single_task_runs'])}")

if __name__ == "__main__":
    sys.exit(0 if main() else 1)
