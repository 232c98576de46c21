"""Build benchmarks/length_histogram.json: the token-length distribution of the real task mix.

Each task's rows under the data directory are encoded exactly as training encodes them (MiniLM tokenizer,
bert-base-uncased vocabulary, ``[CLS] a [SEP] b [SEP]`` / ``[CLS] q [SEP] p [SEP] a [SEP]``, max length
512), from the train file where the bundle has one and from the eval files otherwise. The JSON holds, per
task, the exact count of rows at each length, summary statistics and the full training-set size of the
paper's Table 4, so that ``gpu_step.py`` can draw synthetic batches whose mix matches a full paper run
without the data (a GPU machine has no network and no data bundle).

QQP has no file in the shared bundle. Its lengths are a stated proxy, not a measurement: pairs of
consecutive QNLI dev questions (``[CLS] q1 [SEP] q2 [SEP]``), since QQP rows are pairs of questions.

    python benchmarks/make_length_histogram.py [--data-dir DIR] [--out benchmarks/length_histogram.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from _common import DEFAULT_DATA, HERE, PAPER_TRAIN_SIZES, load_real_mix, run_metadata

QQP_PROXY = "pairs of consecutive QNLI dev questions ([CLS] q1 [SEP] q2 [SEP]); QQP has no file in the bundle"


def qqp_proxy_lengths(data_dir: Path, max_length: int) -> np.ndarray:
    from hmnet.backbone import load_tokenizer
    from hmnet.data import TextEncoder, Example, load_task

    questions = [ex.text_a for ex in load_task("QNLI", "directory", data_dir, splits=["dev"])["dev"]]
    pairs = [Example(text_a=a, text_b=b) for a, b in zip(questions[0::2], questions[1::2])]
    return TextEncoder(load_tokenizer("minilm"), max_length).encode_examples(pairs).lengths


def task_entry(lengths: np.ndarray, splits: list[str] | None, max_length: int, proxy: str | None,
               train_size: int) -> dict:
    values, counts = np.unique(lengths, return_counts=True)
    mean = float(lengths.mean())
    return {
        "measured": proxy is None, "proxy": proxy, "splits_used": splits,
        "rows_measured": int(len(lengths)), "train_size": train_size,
        "mean": round(mean, 3), "p50": int(np.percentile(lengths, 50)), "p90": int(np.percentile(lengths, 90)),
        "p99": int(np.percentile(lengths, 99)), "max": int(lengths.max()),
        "truncated_share": round(float((lengths >= max_length).mean()), 4),
        "train_tokens_per_epoch": int(round(mean * train_size)),
        "lengths": values.tolist(), "counts": counts.tolist(),
    }


def build(data_dir: Path, max_length: int = 512, argv: list[str] | None = None) -> dict:
    mix = load_real_mix(data_dir, max_length)
    tasks = {}
    for task, size in PAPER_TRAIN_SIZES.items():
        if task in mix:
            tasks[task] = task_entry(mix[task].lengths, mix[task].splits, max_length, None, size)
        elif task == "QQP" and "QNLI" in mix:
            tasks[task] = task_entry(qqp_proxy_lengths(data_dir, max_length), None, max_length, QQP_PROXY, size)
        else:
            raise FileNotFoundError(f"{task}: no file under {data_dir} and no proxy for it")
    examples = sum(PAPER_TRAIN_SIZES.values())
    tokens = sum(t["train_tokens_per_epoch"] for t in tasks.values())
    return {
        "what": "token lengths per task (MiniLM tokenizer = bert-base-uncased vocabulary) with full train sizes",
        "tokenizer": "minilm", "max_length": max_length, "data_dir": str(data_dir),
        "train_sizes_source": "paper Table 4 (SNLI 550152 minus 785 no-gold; MultiRC answer rows)",
        "paper_mix": {"train_examples_per_epoch": examples, "real_tokens_per_epoch": tokens,
                      "mean_length": round(tokens / examples, 3)},
        "meta": run_metadata(argv, "benchmarks/make_length_histogram.py"),
        "tasks": tasks,
    }


def dump(payload: dict, path: Path) -> None:
    """Readable and small: one line per task, atomically."""
    head = {k: v for k, v in payload.items() if k != "tasks"}
    text = json.dumps(head, indent=1)[:-2] + ',\n "tasks": {\n'
    text += ",\n".join(f"  {json.dumps(t)}: {json.dumps(e)}" for t, e in payload["tasks"].items())
    text += "\n }\n}\n"
    json.loads(text)  # well-formed
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    p.add_argument("--max-length", type=int, default=512)
    p.add_argument("--out", type=Path, default=HERE / "length_histogram.json")
    args = p.parse_args(argv)
    payload = build(args.data_dir, args.max_length, argv)
    dump(payload, args.out)
    for t, e in payload["tasks"].items():
        print(f"{t:8s} rows {e['rows_measured']:6d} mean {e['mean']:7.1f} p90 {e['p90']:4d} max {e['max']:4d} "
              f"train {e['train_size']:7d}{'  (proxy)' if not e['measured'] else ''}")
    pm = payload["paper_mix"]
    print(f"paper mix: {pm['train_examples_per_epoch']} examples, {pm['real_tokens_per_epoch']} real tokens "
          f"per epoch, mean length {pm['mean_length']}")
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
