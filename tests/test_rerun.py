"""A stored record re-runs from itself (``hmnet rerun``): a smoke record trained again gives its scores, a tampered
record is reported as a mismatch, a damaged one as damaged; both sides' machine and precision are reported. Also
here, with real tiny runs: every carve is reported on stderr and kept in the record, and a fault in the middle of
a run leaves the last checkpoint and the results store as they were."""

from __future__ import annotations

import errno
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from hmnet.cli import main

# A smoke run in seconds: the tiny random BERT on 16 synthetic RTE rows, one epoch.
SMOKE = ["--method", "single", "--tasks", "RTE", "--set", "max_examples=16", "--set", "max_eval_examples=16",
         "--set", "epochs=1", "--set", "batch_size=8", "--no-progress"]


def cli(capsys, argv) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of `hmnet argv`, log lines included: the command's logging set-up (a handler
    on stderr, as a user's terminal gets it) is made afresh for each call."""
    import logging

    handlers, level = logging.root.handlers, logging.root.level
    logging.root.handlers = []
    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    finally:
        logging.root.handlers, logging.root.level = handlers, level
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def smoke_store(tmp_path_factory) -> Path:
    """A results store holding one smoke record, trained by `hmnet train`."""
    store = tmp_path_factory.mktemp("store")
    assert main(["train", *SMOKE, "--results", str(store)]) == 0
    assert len(list(store.glob("*.json"))) == 1
    return store


def _rewrite(path: Path, change) -> None:
    """Edit a record and give it a valid checksum again (a tampered record that still verifies)."""
    from hmnet.files import canonical_json

    payload = json.loads(path.read_text())
    payload.pop("checksum")
    change(payload)
    payload["checksum"] = hashlib.sha256(canonical_json(payload)).hexdigest()
    path.write_text(json.dumps(payload, indent=1))


def test_a_stored_smoke_record_reruns_from_its_own_config(capsys, smoke_store, tmp_path):
    code, out, err = cli(capsys, ["rerun", "--results", smoke_store, "--scratch", tmp_path / "scratch",
                                  "--no-progress"])
    assert code == 0, err
    assert "1 of 1 record(s) match" in out and "tolerance: 0.01 points" in out
    report = json.loads((tmp_path / "scratch" / "rerun-report.json").read_text())
    [outcome] = report["outcomes"]
    assert outcome["status"] == "match" and outcome["max_difference"] == 0.0
    assert outcome["stored_key"] == outcome["rerun_key"]
    for side in ("stored", "rerun"):
        assert outcome[side]["precision"] == "no" and outcome[side]["machine"].startswith("cpu: ")
    assert report["this_machine"].startswith("cpu: ")
    record = next(smoke_store.glob("*.json"))
    assert (tmp_path / "scratch" / record.stem / record.name).exists(), "the rerun trained into the scratch folder"


def test_a_tampered_record_is_a_mismatch_and_a_damaged_one_is_reported(capsys, smoke_store, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(smoke_store, store)
    record = next(store.glob("*.json"))

    def tamper(payload):
        payload["scores"]["RTE"] += 5.0
        payload["average"] += 5.0

    _rewrite(record, tamper)
    code, out, err = cli(capsys, ["rerun", "--results", store, "--scratch", tmp_path / "scratch", "--no-progress"])
    assert code == 1 and "0 of 1 record(s) match" in out and "mismatch" in out, out + err
    [outcome] = json.loads((tmp_path / "scratch" / "rerun-report.json").read_text())["outcomes"]
    assert outcome["status"] == "mismatch" and outcome["max_difference"] == pytest.approx(5.0)
    assert outcome["scores"]["RTE"]["stored"] - outcome["scores"]["RTE"]["rerun"] == pytest.approx(5.0)
    # Edited without a new checksum: the record does not verify; it is reported, and nothing trains.
    import hmnet.train.loop

    record.write_text(record.read_text().replace('"epochs": 1', '"epochs": 2'))
    real = hmnet.train.loop._train
    hmnet.train.loop._train = None  # a trap: calling it fails
    try:
        code, out, err = cli(capsys, ["rerun", record.name, "--results", store, "--scratch", tmp_path / "scratch2"])
    finally:
        hmnet.train.loop._train = real
    assert code == 1 and "damaged" in out and "does not verify" in out and "ignoring result file" in err


def test_choosing_records(tmp_path):
    from hmnet.errors import UsageError
    from hmnet.campaign.rerun import choose_records

    for name in ("single-aaaa1111.json", "multi-bbbb2222.json", "hmnet-cccc3333.json"):
        (tmp_path / name).write_text("{}")
    assert [p.name for p in choose_records(tmp_path, ["bbbb"])] == ["multi-bbbb2222.json"]
    assert choose_records(tmp_path, sample=2, seed=1) == choose_records(tmp_path, sample=2, seed=1)
    assert len(choose_records(tmp_path, sample=2)) == 2 and len(choose_records(tmp_path)) == 3
    with pytest.raises(UsageError, match="'zzz': no record"):
        choose_records(tmp_path, ["zzz"])
    with pytest.raises(UsageError, match="no records"):
        choose_records(tmp_path / "empty-folder-that-is-not-there")


def test_rerun_refuses_bad_arguments_in_one_line(capsys, smoke_store, tmp_path):
    for argv, expected in (
        (["--results", tmp_path / "missing"], "--results"),
        (["--results", smoke_store, "--scratch", smoke_store], "is the store itself"),
        (["--results", smoke_store, "--tolerance", "-1"], "--tolerance must be"),
        (["--results", smoke_store, "--sample", "0"], "--sample must be at least 1"),
        (["--results", smoke_store, "nosuchkey"], "'nosuchkey': no record"),
    ):
        code, out, err = cli(capsys, ["rerun", *argv, "--scratch" if "--scratch" not in argv else "--cpu",
                                      *([tmp_path / "s"] if "--scratch" not in argv else [])])
        assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert err.startswith("hmnet rerun: ") and expected in err, err


# ------------------------------------------------------------------------------------ carving, reported


def _rte_cb_folder(base: Path, with_rte_train: bool) -> Path:
    from test_external_faults import data_folder

    return data_folder(base, () if with_rte_train else ("RTE/train.tsv",))


def test_a_legacy_carve_is_reported_on_stderr_and_kept_in_the_record(capsys, tmp_path):
    from test_external_faults import directory_config

    data = _rte_cb_folder(tmp_path / "data", with_rte_train=False)
    config = json.loads(directory_config(data, carve_train=0.5, carve_tasks=None, max_eval_examples=8))
    code, out, err = cli(capsys, ["train", "--config-json", json.dumps(config), "--results", tmp_path / "r",
                                  "--no-progress"])
    assert code == 0, err
    carves = [line for line in err.splitlines() if "carv" in line]
    assert len(carves) == 1 and carves[0].startswith("WARNING hmnet.data.sources: RTE: no training file under "), err
    assert "(looked for RTE/train.tsv): carving 50% of RTE/dev.tsv into training rows" in carves[0]
    assert "declare carve_tasks to make a missing file an error" in carves[0]
    [record] = (tmp_path / "r").glob("*.json")
    notes = json.loads(record.read_text())["data_notes"]
    assert list(notes) == ["RTE"], "CB has its training file: not carved"
    assert notes["RTE"].startswith("train carved from dev (50% of its rows") and "no RTE/train.tsv" in notes["RTE"]
    assert str(data) not in record.read_text(), "the record keeps no path of this machine"


def test_a_carve_happens_only_for_declared_tasks_and_is_reported(tmp_path, caplog):
    from hmnet.data import DataError, carve_notes, load_task
    from hmnet.experiments import RunConfig

    data = _rte_cb_folder(tmp_path / "data", with_rte_train=True)
    with caplog.at_level("WARNING", logger="hmnet"):
        rte = load_task("RTE", "directory", data, carve_train=0.5, carve_tasks=("RTE",))
        cb = load_task("CB", "directory", data, carve_train=0.5, carve_tasks=("RTE",))
    assert len(rte["train"]) == 6 and "carved" in rte.source, "declared: carved even though its file is there"
    assert len(cb["train"]) == 12 and "carved" not in cb.source
    assert [r.message.split(":")[0] for r in caplog.records] == ["RTE"]
    assert "as the run declares (carve_tasks)" in caplog.text
    config = RunConfig(method="multi", tasks=("RTE", "CB"), source="directory", data_dir=str(data), carve_train=0.5,
                       carve_tasks=("RTE",))
    assert carve_notes(config) == {"RTE": "train carved from dev (50% of its rows; the rest evaluates): declared "
                                          "in carve_tasks"}
    (data / "CB" / "train.jsonl").unlink()
    with pytest.raises(DataError, match=r"CB: no training file .*CB/train.jsonl.* not among the tasks this run"):
        load_task("CB", "directory", data, carve_train=0.5, carve_tasks=("RTE",))


def test_data_notes_are_no_part_of_the_key_and_round_trip(tmp_path):
    from hmnet.results import read_result_file, write_result

    from test_fuzz_formats import _result

    config, result, path = _result(tmp_path)
    assert "data_notes" not in json.loads(path.read_text()), "a run without a carve stores what it stored before"
    result.data_notes = {"RTE": "train carved from dev"}
    write_result(result, tmp_path)
    back = read_result_file(path, config)
    assert back.data_notes == {"RTE": "train carved from dev"} and back.key == config.key()


# ------------------------------------------------------------------------------------ nothing written is lost


def test_a_fault_mid_run_keeps_the_last_checkpoint_and_the_store(capsys, tmp_path, monkeypatch, smoke_store):
    """The disk fills while the run's record is written: one line; the store's records are as they were, the
    last checkpoint is kept and verifies, and the next attempt resumes from it."""
    import os

    from hmnet.train.checkpoint import latest_checkpoint

    store = tmp_path / "store"
    shutil.copytree(smoke_store, store)
    before = {p.name: p.read_bytes() for p in store.glob("*.json")}
    argv = ["train", *SMOKE, "--seed", "3", "--checkpoint-every", "1", "--results", store]
    real_replace = os.replace

    def full(src, dst, *args, **kwargs):
        if Path(dst).parent == store and str(dst).endswith(".json"):
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", full)
    code, out, err = cli(capsys, argv)
    assert code == 2 and "Traceback" not in err and "(disk full)" in err.strip().splitlines()[-1], err
    assert {p.name: p.read_bytes() for p in store.glob("*.json")} == before
    [ckpt_dir] = (store / "checkpoints").iterdir()
    found = latest_checkpoint(ckpt_dir, ckpt_dir.name.split("-")[-1])
    assert found is not None and found[1]["global_step"] == 1, "the last checkpoint (step 1 of 2) is kept"
    monkeypatch.setattr(os, "replace", real_replace)
    code, out, err = cli(capsys, ["-v", *argv])
    assert code == 0 and "resuming from ckpt-000000001" in err, err
    assert len(list(store.glob("*.json"))) == len(before) + 1 and not ckpt_dir.exists()


def test_reference_records_rebuild_their_keys_from_the_shared_data(shared_data_dir, tmp_path, cpu_kind):
    """The committed records' configs, with the data folder given, are the same runs here (same keys) on a CPU
    like the one they ran on (v1's "auto" meant bf16 there); a stand-in for the trainer returns each stored
    record, so every one matches without training."""
    from hmnet.campaign.rerun import rerun_store
    from hmnet.results import read_result_file

    cpu_kind(True)
    store = Path(__file__).resolve().parents[1] / "reference" / "local" / "results"
    trained = []

    def stand_in(config, folder, **kwargs):
        trained.append(config.data_dir)
        stored = read_result_file(store / config.result_name(), config)
        assert stored is not None, f"{config.result_name()}: no stored record under this key"
        return stored

    outcomes = rerun_store(store, tmp_path / "scratch", sample=3, seed=28, data_dir=str(shared_data_dir),
                           train=stand_in)
    assert [o.status for o in outcomes] == ["match"] * 3 and all(o.stored_key == o.rerun_key for o in outcomes)
    assert set(trained) <= {str(shared_data_dir), None}
