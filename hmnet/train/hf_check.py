"""Table 1's single-task column cross-checked against the Hugging Face ``Trainer``.

For a single-task run config, :func:`train_with_hf` trains the same network (``hmnet.models.build_model``:
the backbone with a linear head on [CLS]) on the same encoded rows with ``transformers.Trainer`` and the
same settings (batch size, epochs, learning rate with linear decay and the same warm-up, weight decay off
biases and LayerNorm, gradient clipping, seed, precision, length grouping), then scores the dev split with
:mod:`hmnet.metrics`. Its record sits in ``<store>/hf_check/<method>-<key>.json``, named by the config it
mirrors, so the campaign treats it like any stored run.

HF's Trainer evaluates length-grouped rows out of dataset order: predictions are scored against the
``label_ids`` it returns.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

from hmnet.backbone import load_backbone
from hmnet.experiments import RunConfig
from hmnet.metrics import compute_metrics, mean_ci, table1_score
from hmnet.models import build_model
from hmnet.provenance import code_commit, package_versions
from hmnet.results import atomic_write_bytes
from hmnet.train.runtime import load_encoded, resolve_precision

HF_TASKS = ("RTE", "MRPC", "STS-B")
HF_DIR = "hf_check"


class HFAdapter(torch.nn.Module):
    """An hmnet model on one task, called the way the HF Trainer calls a model (keyword batch fields)."""

    def __init__(self, model: torch.nn.Module, task: str):
        super().__init__()
        self.model = model
        self.task = task

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
        out = self.model(self.task, input_ids, attention_mask, token_type_ids, labels)
        return {"loss": out.loss, "logits": out.logits} if out.loss is not None else {"logits": out.logits}


def hf_dataset(split):
    import datasets

    labels = split.labels.tolist()
    return datasets.Dataset.from_dict({
        "input_ids": split.input_ids, "token_type_ids": split.token_type_ids,
        "attention_mask": [[1] * len(r) for r in split.input_ids], "labels": labels})


def train_with_hf(config: RunConfig, encoded=None, bf16: bool | None = None) -> dict[str, Any]:
    """Train `config` (single-task) with ``transformers.Trainer``; metrics per eval split, Table 1's score,
    HF's training examples/s and the precision used."""
    if config.method != "single" or len(config.tasks) != 1:
        raise ValueError(f"the HF cross-check mirrors single-task runs, got {config.method} on {config.tasks}")
    task = config.tasks[0]
    backbone = load_backbone(config.backbone, seed=config.seed)
    enc = encoded or load_encoded(config, backbone.tokenizer)[task]
    if bf16 is None:
        bf16 = resolve_precision(config.mixed_precision, "cuda" if torch.cuda.is_available() else "cpu") == "bf16"
    model = HFAdapter(build_model("single", backbone, (task,), seed=config.seed, pooling=config.pooling), task)
    epochs = config.epochs_for(-(-len(enc["train"]) // config.batch_size))
    steps = -(-len(enc["train"]) // config.batch_size) * epochs
    with tempfile.TemporaryDirectory(prefix="hf-check-") as tmp:
        args = TrainingArguments(
            output_dir=tmp, per_device_train_batch_size=config.batch_size,
            per_device_eval_batch_size=2 * config.batch_size, num_train_epochs=epochs,
            learning_rate=config.lr, lr_scheduler_type="linear", warmup_steps=round(config.warmup_ratio * steps),
            weight_decay=config.weight_decay, max_grad_norm=config.grad_clip or 0.0, seed=config.seed,
            report_to="none", save_strategy="no", eval_strategy="no", logging_strategy="no", disable_tqdm=True,
            use_cpu=not torch.cuda.is_available(),
            dataloader_num_workers=0, dataloader_pin_memory=False, bf16=bf16,
            train_sampling_strategy="group_by_length" if config.group_by_length else "random")
        trainer = Trainer(model=model, args=args, train_dataset=hf_dataset(enc["train"]),
                          data_collator=DataCollatorWithPadding(backbone.tokenizer))
        train_metrics = trainer.train().metrics
        metrics = {}
        for name, split in enc.splits.items():
            if name == "train":
                continue
            pred = trainer.predict(hf_dataset(split))
            logits = np.asarray(pred.predictions, dtype=float)
            metrics[name] = compute_metrics(task, logits, np.asarray(pred.label_ids))
    return {"task": task, "seed": config.seed, "metrics": metrics, "score": table1_score(task, metrics),
            "examples_per_second": train_metrics["train_samples_per_second"], "precision": "bf16" if bf16 else "no"}


def record_path(store: str | Path, config: RunConfig) -> Path:
    return Path(store) / HF_DIR / config.result_name()


def read_record(path: Path, config: RunConfig | None = None) -> dict | None:
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(rec, dict) or not rec.get("complete") or (config is not None and rec.get("key") != config.key()):
        return None
    return rec


def run_and_store(config: RunConfig, store: str | Path) -> dict:
    """The HF run of `config`, stored (or read back when it is stored)."""
    path = record_path(store, config)
    found = read_record(path, config)
    if found is not None:
        return found
    rec = {"key": config.key(), "config": {**config.to_dict(), "data_dir": None}, **train_with_hf(config),
           "env": {"commit": code_commit(), "packages": package_versions(), "threads": torch.get_num_threads()},
           "complete": True}
    atomic_write_bytes(path, (json.dumps(rec, indent=1) + "\n").encode())
    return rec


def comparison(ours: list, hf_records: list[dict]):
    """Per task and seed: our single-task score, HF's, and the difference; then per task the mean paired
    difference with its 95% CI and whether the two agree within noise (the CI includes zero)."""
    hf = {(r["task"], r["seed"]): float(np.mean(r["score"])) for r in hf_records}
    rows = []
    for r in ours:
        task = r.config.tasks[0]
        if (task, r.config.seed) in hf:
            rows.append({"task": task, "seed": r.config.seed, "ours": r.score(task),
                         "HF Trainer": hf[task, r.config.seed]})
    per_seed = pd.DataFrame(rows, columns=["task", "seed", "ours", "HF Trainer"])
    per_seed["ours - HF"] = per_seed["ours"] - per_seed["HF Trainer"]
    summary = []
    for task, g in per_seed.groupby("task", sort=False):
        ci = mean_ci(g["ours - HF"].to_numpy())
        agree = bool(g.shape[0] > 1 and ci["ci_low"] <= 0 <= ci["ci_high"])
        summary.append({"task": task, "n": ci["n"], "ours": g["ours"].mean(), "HF Trainer": g["HF Trainer"].mean(),
                        "mean difference": ci["mean"], "ci_low": ci["ci_low"], "ci_high": ci["ci_high"],
                        "agree within noise": agree})
    return per_seed, pd.DataFrame(summary)
