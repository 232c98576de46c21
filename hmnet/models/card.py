"""The model card (``README.md``) of a model in the Hugging Face format (:mod:`hmnet.models.pretrained`): what the
model is (method, tasks, clusters, split, labels), the record of the run that trained it (tasks, clusters, split,
data files, settings, seed, scores with the floors of a constant prediction), how to use it, and the citation.

Rendered from plain data (the model's config and the run summary :mod:`hmnet.report.export` puts in it), so a model
saved from Python without a run record gets a card too, saying so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# The paper, as book/references.bib cites it (tests/test_pretrained.py holds the two equal).
CITATION = """@inproceedings{hmnet2023,
  title     = {Hierarchical Multi-task Learning for Natural Language Understanding: {HMNet}},
  author    = {{HMNet authors}},
  booktitle = {Proceedings (pages 4953 onwards, as printed in the text we hold)},
  year      = {2023},
  note      = {Authors and venue are not part of the text this companion works from}
}"""
METHOD_TEXT = {
    "hmnet": "HMNet model: shared bottom layers, one stack of middle layers per task cluster, one stack of top "
             "layers and a head per task (hierarchical multi-task learning)",
    "multi": "multi-task fine-tuning (MT-DNN style): every encoder layer shared by all tasks, one head per task",
    "single": "single-task fine-tuning: one independent encoder and head per task, behind one interface",
    "skillnet": "a SkillNet-style sparsely activated model: every layer holds several skill FFNs, each task "
                "activates a fixed set of them",
}
BASE_MODELS = {"minilm": "sentence-transformers/all-MiniLM-L6-v2"}


def _front_matter(facts: Mapping[str, Any]) -> str:
    backbone = (facts.get("run") or {}).get("settings", {}).get("backbone")
    lines = ["---", "library_name: hmnet", "tags:", "- hmnet", "- multi-task-learning", "- text-classification",
             "- pytorch_model_hub_mixin", "pipeline_tag: text-classification"]
    base = BASE_MODELS.get(backbone, backbone if backbone and "/" in backbone else None)
    if base:
        lines.append(f"base_model: {base}")
    return "\n".join([*lines, "---", ""])


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        return " / ".join(_cell(v) for v in value)
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value).replace("|", "\\|")


def _tasks_table(facts: Mapping[str, Any]) -> list[str]:
    run = facts.get("run") or {}
    scores, floors = run.get("scores", {}), run.get("floors") or {}
    rows = ["| task | category | input | labels | reported metric | dev score | majority-class floor "
            "| best constant floor |", "|---|---|---|---|---|---|---|---|"]
    for task in facts["tasks"]:
        info = facts["task_info"][task]
        labels = "regression (a score)" if info["regression"] else ", ".join(info["labels"])
        rows.append(f"| {task} | {info['category']} | {info['input_format']} | {_cell(labels)} | "
                    f"{info['metric']} | {_cell(scores.get(task))} | {_cell(floors.get('majority', {}).get(task))} | "
                    f"{_cell(floors.get('best_constant', {}).get(task))} |")
    return rows


def _run_section(run: Mapping[str, Any]) -> list[str]:
    if not run:
        return ["## Training run", "", "Saved from Python without a run record: no scores are known for it.", ""]
    settings = run.get("settings", {})
    out = ["## Training run", "",
           f"Run key `{run.get('key')}` (the cache key of the hmnet results store: config, data fingerprint and "
           f"training-semantics version), seed {run.get('seed')}, average {_cell(run.get('average'))} over its "
           f"tasks (Table 1's rule). Evaluated with precision `{run.get('precision', 'no')}` and batches of "
           f"{run.get('eval_batch_size', '?')} rows; `predict` uses the same by default, so it reproduces these "
           "scores on the same rows.", ""]
    if run.get("floors_note"):
        out += [run["floors_note"], ""]
    out += ["Settings:", "", "```json", json.dumps(settings, indent=1, sort_keys=True), "```", "", "Data files:", "",
            "```json", json.dumps(run.get("data"), indent=1, sort_keys=True), "```", ""]
    if run.get("metrics"):
        out += ["Every metric, per evaluation split:", "", "```json", json.dumps(run["metrics"], indent=1), "```", ""]
    env = run.get("environment") or {}
    if env:
        out += ["Environment: " + ", ".join(f"{k} {v}" for k, v in env.items()) + ".", ""]
    return out


def _article(text: str) -> str:
    return ("An " if text[0].lower() in "aeiouh" and not text.startswith("single") else "A ") + text


def render_card(facts: Mapping[str, Any]) -> str:
    """The card's Markdown. `facts`: method, tasks, clusters, split, task_info (per task: category,
    input_format, labels, regression, metric), and run (the run summary, or empty)."""
    method = facts["method"]
    shape = ""
    if method == "hmnet":
        x, y, z = facts["split"]
        groups = "; ".join(f"{c}: {', '.join(ts)}" for c, ts in facts["clusters"].items())
        shape = f" Layer split {{{x} shared, {y} cluster, {z} task}}; clusters {groups}."
    usage = facts["tasks"][0]
    out = [_front_matter(facts), f"# {method} on {', '.join(facts['tasks'])}", "",
           f"{_article(METHOD_TEXT.get(method, method))}, trained with the "
           f"[hmnet](https://github.com/hmnet-companion/hmnet) companion to the HMNet paper.{shape}", "",
           "## Tasks", "", *_tasks_table(facts), "",
           "A floor is the score of a constant prediction on the same evaluation rows (every row the most frequent "
           "training label; the best any one label reaches): a task has learned only above both.", "",
           *_run_section(facts.get("run") or {}),
           "## Use", "", "```python", "from hmnet.models import HMNetForTasks", "",
           'model = HMNetForTasks.from_pretrained("path/or/hub-id")',
           f'model.predict("{usage}", ["a text"])  # texts: a string, a (text, text) pair, or a row dict',
           "```", "", "or `hmnet predict FOLDER --task " + usage + " --input rows.jsonl` (one JSON object a row).",
           "", "## Citation", "", "```bibtex", CITATION, "```", ""]
    return "\n".join(out)


__all__ = ["render_card", "CITATION"]
