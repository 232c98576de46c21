"""Padding efficiency of the collator on the real task mix: real tokens / processed tokens.

Every task file under the data directory is encoded with the MiniLM tokenizer (bert-base-uncased
vocabulary) at max length 512, then batched by Algorithm 1 (``hmnet.data.MultiTaskBatches``, batch 32,
one task per batch) and collated by ``hmnet.data.collate``. Three ways of padding are compared:

- ``pad_to_max``: every batch padded to 512 (what the paper's max length implies);
- ``dynamic``: each batch padded to its longest row (random packing);
- ``length_grouped``: dynamic padding after ``MultiTaskBatches(group_by_length=True)``.

The efficiency is measured from the collated batches themselves (attention-mask ones / mask size), over
one epoch of the rows found (the train file where it exists, otherwise the task's eval files). The
``paper_mix`` figures re-weight the measured per-task ratios by the full training-set sizes (Table 4) and
the measured mean lengths, since the shared bundle lacks most big train files and QQP entirely.

    python benchmarks/padding.py [--data-dir DIR] [--batch-size 32] [--max-length 512] [--out FILE]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path


from _common import DEFAULT_DATA, PAPER_TRAIN_SIZES, RESULTS, load_real_mix, run_metadata, write_json

log = logging.getLogger("padding")
MODES = ("pad_to_max", "dynamic", "length_grouped")
GOAL = 0.95


def measure(mix, batch_size: int, max_length: int, seed: int = 0, epoch: int = 0) -> dict:
    """Per mode and task: real and processed token counts of one epoch of collated batches."""
    from hmnet.data import MultiTaskBatches, collate

    sizes = {t: len(m.lengths) for t, m in mix.items()}
    lengths = {t: m.lengths for t, m in mix.items()}
    out = {}
    for mode in MODES:
        batches = MultiTaskBatches(sizes, batch_size, seed=seed, lengths=lengths,
                                   group_by_length=mode == "length_grouped").epoch(epoch)
        real = dict.fromkeys(mix, 0)
        processed = dict.fromkeys(mix, 0)
        for task, idx in batches:
            b = collate(mix[task].encoded, idx, pad_to=max_length if mode == "pad_to_max" else None)
            mask = b["attention_mask"]
            real[task] += int(mask.sum())
            processed[task] += mask.numel()
            if mode == "pad_to_max":  # collate must not have cut anything
                assert int(mask.sum()) == int(lengths[task][idx].sum())
        out[mode] = {"real": real, "processed": processed, "batches": len(batches)}
    return out


def summarise(counts: dict, mix) -> dict:
    per_task = {t: {m: counts[m]["real"][t] / counts[m]["processed"][t] for m in MODES} for t in mix}
    overall = {m: sum(counts[m]["real"].values()) / sum(counts[m]["processed"].values()) for m in MODES}
    # Re-weight by the full train sizes: tokens of task t = N_t x mean length_t, processed = real / eff_t.
    present = [t for t in PAPER_TRAIN_SIZES if t in mix]
    real_full = {t: PAPER_TRAIN_SIZES[t] * float(mix[t].lengths.mean()) for t in present}
    paper_mix = {m: sum(real_full.values()) / sum(real_full[t] / per_task[t][m] for t in present)
                 for m in MODES}
    return {"per_task": per_task, "overall": overall, "paper_mix": paper_mix,
            "paper_mix_tasks": present, "paper_mix_missing": [t for t in PAPER_TRAIN_SIZES if t not in mix]}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, default=512)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=RESULTS / "padding.json")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    t0 = time.perf_counter()
    mix = load_real_mix(args.data_dir, args.max_length, keep_encoded=True)
    t_encode = time.perf_counter() - t0
    counts = measure(mix, args.batch_size, args.max_length, args.seed)
    summary = summarise(counts, mix)

    rows = [f"{'task':8s} {'rows':>7s} {'mean len':>8s}  " + "  ".join(f"{m:>14s}" for m in MODES)]
    for t, m in mix.items():
        rows.append(f"{t:8s} {len(m.lengths):7d} {m.lengths.mean():8.1f}  "
                    + "  ".join(f"{summary['per_task'][t][k]:14.3f}" for k in MODES))
    rows.append(f"{'ALL rows':26s}  " + "  ".join(f"{summary['overall'][k]:14.3f}" for k in MODES))
    rows.append(f"{'paper mix':26s}  " + "  ".join(f"{summary['paper_mix'][k]:14.3f}" for k in MODES))
    print("\n".join(rows))
    grouped = summary["overall"]["length_grouped"]
    verdict = "meets" if grouped >= GOAL else "MISSES"
    print(f"length-grouped efficiency {grouped:.3f} {verdict} the goal {GOAL}")

    payload = {
        "what": "padding efficiency = real tokens / processed tokens of collated batches (one epoch)",
        "tokenizer": "minilm (bert-base-uncased vocabulary)", "max_length": args.max_length,
        "batch_size": args.batch_size, "seed": args.seed, "data_dir": str(args.data_dir),
        "splits_used": {t: m.splits for t, m in mix.items()},
        "rows": {t: len(m.lengths) for t, m in mix.items()},
        "mean_length": {t: round(float(m.lengths.mean()), 2) for t, m in mix.items()},
        "batches": {mode: counts[mode]["batches"] for mode in MODES},
        "efficiency": summary["overall"], "efficiency_paper_mix": summary["paper_mix"],
        "paper_mix_missing_tasks": summary["paper_mix_missing"],
        "per_task": summary["per_task"],
        "real_tokens": {mode: counts[mode]["real"] for mode in MODES},
        "processed_tokens": {mode: counts[mode]["processed"] for mode in MODES},
        "goal_length_grouped": GOAL, "meets_goal": grouped >= GOAL,
        "encode_seconds": round(t_encode, 1), "meta": run_metadata(argv, "benchmarks/padding.py"),
    }
    write_json(args.out, payload)
    print(f"wrote {args.out}")
    return payload


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
