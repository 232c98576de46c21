"""Models in the Hugging Face format (hmnet.models.HMNetForTasks): a round trip through a fresh process gives the
same logits on every head for all four methods; the folder holds what the hub expects; `hmnet export` writes a
model card with the run's record; `hmnet predict` reproduces the scores its record holds."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hmnet.backbone import load_backbone
from hmnet.cli import main
from hmnet.data.taskfile import load_task_file
from hmnet.models import HMNetForTasks, PredictError, build_model
from hmnet.models.card import CITATION
from hmnet.models.pretrained import text_columns
from hmnet.toytasks import write_toy_tasks

REPO = Path(__file__).resolve().parents[1]
METHODS = ("single", "multi", "skillnet", "hmnet")
# Every input format and head kind: one text, pairs, MultiRC's triples, regression (STS-B), task-file tasks.
TASKS = ("Polarity", "Stance", "Answers", "RTE", "STS-B", "MultiRC")

CHILD = """
import json, sys, torch
torch.set_num_threads(1)
from hmnet.models import HMNetForTasks
from hmnet.models.pretrained import text_columns
out = {}
for folder in sys.argv[2:]:
    model = HMNetForTasks.from_pretrained(folder)
    out[folder] = {t: model.logits(t, [["alpha bebela cniru"] * len(text_columns(model.registry.get(t))),
                                       ["x"] * len(text_columns(model.registry.get(t)))]).tolist()
                   for t in model.tasks}
json.dump(out, open(sys.argv[1], "w"))
"""


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    return write_toy_tasks(tmp_path_factory.mktemp("toy") / "tasks", qa=True)


def _inputs(model, task):
    n = len(text_columns(model.registry.get(task)))
    return [["alpha bebela cniru"] * n, ["x"] * n]


def test_save_then_load_in_a_fresh_process_gives_identical_logits_for_every_method(toy, tmp_path):
    registry = load_task_file(toy)
    backbone = load_backbone("tiny")
    folders, expected = [], {}
    for i, method in enumerate(METHODS):
        model = build_model(method, backbone, TASKS, seed=i + 1, registry=registry)
        with torch.no_grad():  # move every weight off its initial value, heads included
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 0.01)
        hf = HMNetForTasks.from_model(model, backbone.tokenizer)
        folder = tmp_path / method
        hf.save_pretrained(folder)
        folders.append(str(folder))
        expected[str(folder)] = {t: hf.logits(t, _inputs(hf, t)) for t in TASKS}
    out = tmp_path / "logits.json"
    subprocess.run([sys.executable, "-c", CHILD, str(out), *folders], check=True, timeout=600,
                   env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    got = json.loads(out.read_text())
    for folder in folders:
        assert set(got[folder]) == set(TASKS)
        for task in TASKS:
            diff = (torch.tensor(got[folder][task]) - expected[folder][task]).abs().max().item()
            assert diff == 0.0, (folder, task, diff)


def test_the_folder_holds_what_the_hub_expects_and_push_uploads_it(toy, tmp_path, monkeypatch):
    from huggingface_hub import hub_mixin

    registry = load_task_file(toy)
    backbone = load_backbone("tiny")
    hf = HMNetForTasks.from_model(build_model("hmnet", backbone, ("Polarity", "Stance", "RTE"), registry=registry),
                                  backbone.tokenizer)
    hf.save_pretrained(tmp_path / "m")
    files = {p.name for p in (tmp_path / "m").iterdir()}
    assert {"config.json", "model.safetensors", "README.md", "tokenizer_config.json"} <= files
    assert "tokenizer.json" in files or "vocab.txt" in files
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["method"] == "hmnet" and config["tasks"] == ["Polarity", "Stance", "RTE"]
    assert config["split"] == [2, 1, 1] and config["clusters"]["Natural language inference"] == ["Stance", "RTE"]
    assert config["labels"]["Stance"] == ["agree", "disagree", "unsure"]
    assert [d["name"] for d in config["task_definitions"]] == ["Polarity", "Stance"]  # the built-in needs none
    card = (tmp_path / "m" / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: hmnet") and "Polarity" in card and CITATION in card
    uploaded = {}

    class FakeApi:
        def __init__(self, token=None):
            pass

        def create_repo(self, repo_id, private=None, exist_ok=False):
            return type("Repo", (), {"repo_id": repo_id})()

        def upload_folder(self, repo_id, folder_path, **kwargs):
            uploaded.update(repo=repo_id, files={p.name for p in Path(folder_path).iterdir()})
            return f"https://huggingface.co/{repo_id}/commit/0"

    monkeypatch.setattr(hub_mixin, "HfApi", FakeApi)
    assert hf.push_to_hub("someone/toy-hmnet").endswith("/commit/0")
    assert uploaded["repo"] == "someone/toy-hmnet" and uploaded["files"] == files


def test_the_citation_is_the_books(tmp_path):
    bib = (REPO / "book" / "references.bib").read_text()
    assert CITATION in bib


def test_predict_takes_the_tasks_own_encoding_and_names_bad_rows(toy):
    registry = load_task_file(toy)
    backbone = load_backbone("tiny")
    hf = HMNetForTasks.from_model(build_model("multi", backbone, ("Polarity", "Answers", "MultiRC", "STS-B", "RTE"),
                                              registry=registry), backbone.tokenizer)
    assert hf.predict("polarity", "one text")[0] in ("neg", "pos")
    assert hf.predict("Answers", [{"question": "q", "passage": "p", "answer": "a"}])[0] in ("wrong", "right")
    assert hf.predict("MultiRC", [("question", "paragraph", "answer")])[0] in ("0", "1")
    assert isinstance(hf.predict("STS-B", [("a", "b")])[0], float)
    assert hf.predict("RTE", [{"sentence1": "a", "sentence2": "b"}]) == hf.predict("RTE", [("a", "b")])
    with pytest.raises(PredictError, match="row 1: RTE takes 2 text"):
        hf.predict("RTE", ["only one"])
    with pytest.raises(PredictError, match="row 1: no text_b for Answers"):
        hf.predict("Answers", [{"question": "q"}])
    with pytest.raises(PredictError, match="not one of this model's tasks"):
        hf.predict("MRPC", [("a", "b")])


@pytest.fixture(scope="module")
def trained(toy, tmp_path_factory):
    """One tiny HMNet on the toy tasks, trained with its model kept (seconds)."""
    results = tmp_path_factory.mktemp("results")
    rc = main(["train", "--method", "hmnet", "--task-file", str(toy), "--tasks", "Polarity,Stance,Paraphrase",
               "--epochs", "1", "--max-examples", "32", "--results", str(results), "--no-progress", "--keep-model"])
    assert rc == 0
    record = next(results.glob("hmnet-*.json"))
    return results, record


def test_export_writes_a_card_with_the_runs_record_and_predict_reproduces_its_scores(trained, toy, tmp_path, capsys):
    results, record = trained
    capsys.readouterr()
    key = record.stem.split("-", 1)[1]
    assert main(["export", key, str(tmp_path / "out"), "--results", str(results)]) == 0
    card = (tmp_path / "out" / "README.md").read_text()
    stored = json.loads(record.read_text())
    for task, score in stored["scores"].items():
        assert re.search(rf"\| {task} \|.*\| {score:.2f} \|", card), task
    assert "majority-class floor" in card and key in card and CITATION in card
    assert "seed 0" in card and '"max_examples": 32' in card and "tasks.yaml" in card
    assert main(["predict", str(tmp_path / "out"), "--task", "Paraphrase", "--score", "--output",
                 str(tmp_path / "p.jsonl"), "--input", str(toy.parent / "paraphrase" / "dev.parquet")]) == 0
    scored = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert scored["rows"] == 200 and scored["metrics"]["accuracy"] == stored["scores"]["Paraphrase"]
    assert len((tmp_path / "p.jsonl").read_text().splitlines()) == 200


def test_export_and_predict_errors_are_one_line(trained, tmp_path, capsys):
    results, _ = trained
    assert main(["export", "deadbeef00", str(tmp_path / "x"), "--results", str(results)]) == 2
    assert "no run deadbeef00" in capsys.readouterr().err
    assert main(["predict", str(tmp_path), "--task", "RTE", "--input", str(tmp_path / "none.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_predict_on_the_exported_reference_profile_model_reproduces_its_dev_score(shared_data_dir, minilm_available,
                                                                                   tmp_path, capsys):
    """A local-profile (reference build) run on real CB, kept, exported, and predicted from the command line."""
    from hmnet.data import load_run_task
    from hmnet.profiles import get_profile
    from hmnet.train import train

    profile = get_profile("local", data_dir=str(shared_data_dir), tasks=("CB",), max_examples=64, epochs=1)
    config = profile.run_config("single", tasks=("CB",))
    result = train(config, tmp_path / "results", keep_model=True, progress=False)
    rows = load_run_task(config, "CB", splits=["dev"])["dev"]
    labels = ("entailment", "contradiction", "neutral")
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps({"premise": ex.text_a, "hypothesis": ex.text_b,
                                                             "label": labels[ex.label]}) + "\n" for ex in rows))
    assert main(["export", result.key, str(tmp_path / "cb"), "--results", str(tmp_path / "results"),
                 "--data-dir", str(shared_data_dir)]) == 0
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "cb"), "--task", "CB", "--input", str(tmp_path / "rows.jsonl"),
                 "--score", "--output", str(tmp_path / "p.jsonl")]) == 0
    scored = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert scored["rows"] == len(rows) and scored["metrics"]["accuracy"] == result.scores["CB"]  # exactly
    assert "Floors: computed" in (tmp_path / "cb" / "README.md").read_text()
