"""CPU training-step time and memory: HMNet {8,2,2} (3 clusters, 13 tasks) against a plain BERT classifier.

Both models have the same small random 12-layer BERT (hidden 128, 2 heads) and see the same batches (same
token ids, so the same token counts); HMNet's batches cycle through the 13 tasks as Algorithm 1 would.
A step is forward, backward and AdamW (weight decay 0.01), with zero_grad(set_to_none=True). Timings are
interleaved pairwise, in alternating order (plain-HMNet, HMNet-plain, ...), to cancel drift and noise
from other processes; we report medians and the ratio of medians (goal: HMNet within 1.03x plain).

Memory is measured in a fresh subprocess per model, as peak resident set size (Linux
/proc/self/status VmHWM, reset through /proc/self/clear_refs before the measured steps): the peak over
the measured steps minus the RSS before them (what a step adds beyond memory the allocator already holds),
and the RSS of the process with model and optimizer state built (everything the process holds, torch and
transformers included). Exact figures beside them: bytes of parameters and AdamW state, and the bytes of
activations saved for backward in a step (torch.autograd.graph.saved_tensors_hooks, each buffer once,
parameters excluded), median over one step per task.

    python benchmarks/step_time.py [--steps 60] [--out benchmarks/results/step_time_cpu.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from transformers import BertConfig, BertForSequenceClassification, BertModel

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hmnet.models import HMNet, HMNetConfig  # noqa: E402
from hmnet.analysis.parameters import APPENDIX_A_GROUPS  # noqa: E402
from hmnet.tasks import TASK_NAMES, get_task  # noqa: E402

# A small vocabulary keeps the embedding update (a cost both models share) from hiding HMNet's overhead.
CONFIG = dict(vocab_size=8192, hidden_size=128, num_hidden_layers=12, num_attention_heads=2, intermediate_size=512,
              max_position_embeddings=512)
SPLIT = (8, 2, 2)
CLUSTERS = APPENDIX_A_GROUPS["data"]  # 3 clusters


def build(kind: str, seed: int = 0):
    torch.manual_seed(seed)
    config = BertConfig(**CONFIG)
    if kind == "plain":
        model = BertForSequenceClassification(BertConfig(**CONFIG, num_labels=2))
    else:
        encoder = BertModel(config, add_pooling_layer=False)
        model = HMNet(encoder, HMNetConfig(tasks=TASK_NAMES, clusters=CLUSTERS, split=SPLIT), seed=seed)
        del encoder
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-5, weight_decay=0.01)
    return model, opt


def make_batches(n: int, batch_size: int, min_len: int, max_len: int, seed: int) -> list[dict]:
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        task = TASK_NAMES[i % len(TASK_NAMES)]
        lengths = torch.randint(min_len, max_len + 1, (batch_size,), generator=gen)
        width = int(lengths.max())
        ids = torch.randint(1000, CONFIG["vocab_size"], (batch_size, width), generator=gen)
        mask = (torch.arange(width)[None, :] < lengths[:, None]).long()
        ids = ids * mask
        ids[:, 0] = 101
        types = torch.zeros_like(ids)
        spec = get_task(task)
        labels = (torch.rand(batch_size, generator=gen) * 5 if spec.regression
                  else torch.randint(0, spec.num_labels, (batch_size,), generator=gen))
        out.append({"task": task, "input_ids": ids, "attention_mask": mask, "token_type_ids": types,
                    "labels": labels, "plain_labels": torch.randint(0, 2, (batch_size,), generator=gen),
                    "tokens": int(lengths.sum())})
    return out


def loss_of(kind: str, model, b: dict) -> torch.Tensor:
    if kind == "plain":
        return model(input_ids=b["input_ids"], attention_mask=b["attention_mask"],
                     token_type_ids=b["token_type_ids"], labels=b["plain_labels"]).loss
    return model(b["task"], b["input_ids"], b["attention_mask"], b["token_type_ids"], labels=b["labels"]).loss


def step(kind: str, model, opt, b: dict, pack=None) -> None:
    opt.zero_grad(set_to_none=True)
    if pack is None:
        loss = loss_of(kind, model, b)
    else:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = loss_of(kind, model, b)
    loss.backward()
    opt.step()


def timed(kind: str, model, opt, b: dict) -> float:
    t0 = time.perf_counter()
    step(kind, model, opt, b)
    return time.perf_counter() - t0


# ---------------------------------------------------------------------------------------------------------
# memory probe (runs in a child process)


def _status(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def state_bytes(model, opt) -> dict[str, int]:
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    adam = sum(t.numel() * t.element_size() for s in opt.state.values() for t in s.values()
               if isinstance(t, torch.Tensor))
    return {"parameters": params, "adamw_state": adam}


def memory_probe(kind: str, args) -> dict:
    torch.set_num_threads(args.threads)
    batches = make_batches(len(TASK_NAMES) * 2, args.batch_size, args.min_len, args.max_len, args.seed)
    model, opt = build(kind, args.seed)
    for b in batches[:len(TASK_NAMES)]:  # every task once: all optimizer state exists
        step(kind, model, opt, b)
    rss_before = _status("VmRSS")
    if rss_before is None or not _reset_peak():
        return {"error": "needs Linux /proc/self/status and /proc/self/clear_refs"}
    param_ptrs = {p.data_ptr() for p in model.parameters()}
    saved: list[int] = []
    for b in batches[len(TASK_NAMES):]:
        seen: dict[tuple[int, int], int] = {}

        def pack(t: torch.Tensor, seen=seen) -> torch.Tensor:
            if t.data_ptr() not in param_ptrs:  # activations only, each buffer once
                seen[(t.data_ptr(), t.numel())] = t.numel() * t.element_size()
            return t

        step(kind, model, opt, b, pack)
        saved.append(sum(seen.values()))
    peak = _status("VmHWM")
    return {"rss_before_steps": rss_before, "peak_rss_during_steps": peak, "step_peak_delta": peak - rss_before,
            "saved_activation_bytes_median": int(statistics.median(saved)), **state_bytes(model, opt)}


def run_probe(kind: str, args) -> dict:
    cmd = [sys.executable, __file__, "--probe", kind, "--threads", str(args.threads), "--batch-size",
           str(args.batch_size), "--min-len", str(args.min_len), "--max-len", str(args.max_len),
           "--seed", str(args.seed)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=REPO)
    return json.loads(res.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------------------


def summary(times: list[float]) -> dict:
    q = statistics.quantiles(times, n=4)
    return {"median_s": statistics.median(times), "p25_s": q[0], "p75_s": q[2], "min_s": min(times),
            "steps": len(times)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=60, help="measured steps per model")
    parser.add_argument("--warmup", type=int, default=13, help="unmeasured steps per model (13: every task once)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--min-len", type=int, default=8)
    parser.add_argument("--max-len", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "step_time_cpu.json"))
    parser.add_argument("--no-memory", action="store_true", help="skip the memory subprocesses")
    parser.add_argument("--probe", choices=["plain", "hmnet"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        print(json.dumps(memory_probe(args.probe, args)))
        return 0

    torch.set_num_threads(args.threads)
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    kinds = ("plain", "hmnet")
    models = {k: build(k, args.seed) for k in kinds}
    batches = make_batches(args.warmup + args.steps, args.batch_size, args.min_len, args.max_len, args.seed)
    for b in batches[:args.warmup]:
        for k in kinds:
            step(k, *models[k], b)
    times: dict[str, list[float]] = {k: [] for k in kinds}
    t_start = time.perf_counter()
    for i, b in enumerate(batches[args.warmup:]):
        order = kinds if i % 2 == 0 else kinds[::-1]
        for k in order:
            times[k].append(timed(k, *models[k], b))
    wall = time.perf_counter() - t_start
    stats = {k: summary(v) for k, v in times.items()}
    ratio = stats["hmnet"]["median_s"] / stats["plain"]["median_s"]
    paired = statistics.median(h / p for h, p in zip(times["hmnet"], times["plain"]))
    hm = models["hmnet"][0]
    params = {"plain": sum(p.numel() for p in models["plain"][0].parameters()),
              "hmnet_overall": sum(p.numel() for p in hm.parameters()),
              "hmnet_activated_mnli": sum(p.numel() for p in hm.path_parameters("MNLI"))}
    del models
    memory = None
    if not args.no_memory:
        memory = {"how": "peak RSS (VmHWM, reset via /proc/self/clear_refs) in a fresh subprocess per model; "
                         "step_peak_delta = peak over the measured steps - RSS before them; "
                         "saved_activation_bytes_median from autograd saved_tensors_hooks",
                  **{k: run_probe(k, args) for k in kinds}}
    tokens = [b["tokens"] for b in batches[args.warmup:]]
    result = {
        "benchmark": "training step time on CPU (forward + backward + AdamW)",
        "torch": torch.__version__, "python": platform.python_version(), "machine": platform.machine(),
        "cpu_count": os.cpu_count(), "threads": args.threads,
        "load_average_1_5_15min": {"before": load_before,
                                   "after": os.getloadavg() if hasattr(os, "getloadavg") else None},
        "config": {**CONFIG, "split": list(SPLIT),
                   "clusters": {c: list(t) for c, t in CLUSTERS.items()}, "tasks": list(TASK_NAMES)},
        "batches": {"batch_size": args.batch_size, "lengths": [args.min_len, args.max_len], "warmup": args.warmup,
                    "steps": args.steps, "median_tokens": statistics.median(tokens), "order": "alternating pairs"},
        "parameters": params,
        "plain": stats["plain"], "hmnet": stats["hmnet"],
        "ratio_of_medians": ratio, "median_of_paired_ratios": paired, "goal_ratio": 1.03,
        "within_goal": ratio <= 1.03, "measured_wall_s": wall, "memory": memory,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(result, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, out)

    mib = 2 ** 20
    print(f"{'model':<7}{'median ms':>10}{'p25 ms':>8}{'p75 ms':>8}{'params':>11}{'activ. MiB':>11}"
          f"{'step +RSS MiB':>14}{'RSS MiB':>9}{'peak MiB':>9}")
    for k in kinds:
        mem = (memory or {}).get(k, {})

        def mb(key: str, mem=mem) -> str:
            return f"{mem[key] / mib:.1f}" if key in mem else "-"
        n = params["plain"] if k == "plain" else params["hmnet_overall"]
        print(f"{k:<7}{stats[k]['median_s'] * 1e3:>10.1f}{stats[k]['p25_s'] * 1e3:>8.1f}"
              f"{stats[k]['p75_s'] * 1e3:>8.1f}{n:>11,}{mb('saved_activation_bytes_median'):>11}"
              f"{mb('step_peak_delta'):>14}{mb('rss_before_steps'):>9}{mb('peak_rss_during_steps'):>9}")
    print(f"HMNet / plain: ratio of medians {ratio:.3f}, median of paired ratios {paired:.3f} "
          f"(goal <= 1.03: {'met' if ratio <= 1.03 else 'NOT met'}); results -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
