"""Training throughput of the reference (`local`) profile on CPU: the settings behind its defaults.

One run measures, on the whole real task mix (every bundled task, the local profile's multi-task model,
MiniLM-L6, "auto" precision), training examples per second of the machine as a whole for

- length grouping off and on (``group_by_length``), and
- one process with 2 torch threads against two 1-thread processes side by side (``1x2`` / ``2x1``: what the
  campaign runner does with ``--workers 2 --threads 1``),

and, beside them, our trainer and the Hugging Face ``Trainer`` on real RTE, each at its best settings on
this CPU (bf16, length grouping, 2 threads), with the same model and rows (``hf_trainer_compare.run_hf``).
Machine throughput of ``2x1`` is the examples both processes trained over the wall time from the first
start to the last end. The variants run one after another; run it on an otherwise idle machine.

    python benchmarks/local_throughput.py [--data-dir DIR] [--rows 128] [--rte-rows 512]
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

import torch

from _common import DEFAULT_DATA, RESULTS, run_metadata, write_json

log = logging.getLogger("local_throughput")


def mix_config(data_dir: Path, rows: int, grouping: bool, seed: int = 0):
    from hmnet.profiles import get_profile

    prof = get_profile("local", data_dir=str(data_dir), max_examples=rows, max_eval_examples=32, epochs=1,
                       group_by_length=grouping)
    return prof.run_config("multi", seed=seed)


def _train(config_json: str, threads: int) -> dict:
    torch.set_num_threads(threads)
    from hmnet.experiments import RunConfig
    from hmnet.train import train

    config = RunConfig.from_json(config_json)
    with tempfile.TemporaryDirectory(prefix="hmnet-tp-") as tmp:
        start = time.time()
        r = train(config, tmp, progress=False, cpu=True, checkpoint_minutes=None)
        end = time.time()
    return {"examples_per_second": r.examples_per_second, "start": start, "end": end,
            "precision": r.env["mixed_precision"], "wall_time": r.wall_time}


def measure(config, processes: int, threads: int, rows_per_epoch: int) -> dict:
    """Machine throughput of `processes` copies of the run (seeds 0..), each with `threads` threads."""
    import dataclasses

    configs = [dataclasses.replace(config, seed=s).to_json() for s in range(processes)]
    ctx = mp.get_context("spawn")
    with ctx.Pool(processes) as pool:
        runs = pool.starmap(_train, [(c, threads) for c in configs])
    per_process = [r["examples_per_second"] for r in runs]
    span = max(r["end"] for r in runs) - min(r["start"] for r in runs)
    return {"processes": processes, "threads": threads, "group_by_length": config.group_by_length,
            "per_process_examples_per_second": per_process,
            "machine_examples_per_second": sum(per_process),  # training loops overlap for their whole length
            "end_to_end_examples_per_second": processes * rows_per_epoch / span,
            "precision": runs[0]["precision"]}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    p.add_argument("--rows", type=int, default=128, help="training rows per task of the mix (one epoch)")
    p.add_argument("--rte-rows", type=int, default=512, help="RTE rows of the trainer comparison (one epoch)")
    p.add_argument("--out", type=Path, default=RESULTS / "local_throughput_cpu.json")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    from hmnet.campaign.projection import train_rows

    variants = {}
    for grouping in (False, True):
        config = mix_config(args.data_dir, args.rows, grouping)
        n = train_rows(config)
        for processes, threads in ((1, 2), (2, 1)):
            name = f"{'grouped' if grouping else 'ungrouped'} {processes}x{threads}"
            log.info("%s: %d tasks, %d rows ...", name, len(config.tasks), n)
            variants[name] = measure(config, processes, threads, n)
            log.info("  %.1f examples/s (machine)", variants[name]["machine_examples_per_second"])
    best = max(variants, key=lambda k: variants[k]["machine_examples_per_second"])

    # The peer on RTE, each at its best settings here: bf16, length grouping, 2 threads; same model and rows.
    import dataclasses

    from hmnet.train.hf_check import train_with_hf

    torch.set_num_threads(2)
    rte = dataclasses.replace(mix_config(args.data_dir, args.rte_rows, True), method="single", tasks=("RTE",),
                              mixed_precision="bf16", max_eval_examples=None)
    ours = _train(rte.to_json(), 2)
    hf = train_with_hf(rte, bf16=True)
    log.info("RTE: ours %.1f, HF Trainer %.1f examples/s", ours["examples_per_second"], hf["examples_per_second"])
    payload = {
        "what": ("training examples/s of the local profile's multi-task run on the whole real task mix, length "
                 "grouping off/on x one 2-thread process / two 1-thread processes; and our trainer against the HF "
                 "Trainer on RTE at their best CPU settings (bf16, length grouping, 2 threads), measured in one run"),
        "tasks": list(mix_config(args.data_dir, args.rows, True).tasks), "rows_per_task": args.rows,
        "variants": variants, "fastest": best,
        "trainer_comparison": {"task": "RTE", "rows": args.rte_rows, "ours": ours, "hf": hf,
                               "speed_ratio": ours["examples_per_second"] / hf["examples_per_second"]},
        "meta": run_metadata(argv, "benchmarks/local_throughput.py"),
    }
    write_json(args.out, payload)
    for name, v in variants.items():
        print(f"{name:16s} {v['machine_examples_per_second']:6.1f} examples/s "
              f"(end to end {v['end_to_end_examples_per_second']:.1f})")
    print(f"fastest: {best}; RTE ours/HF: {payload['trainer_comparison']['speed_ratio']:.2f}x; wrote {args.out}")
    return payload


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
