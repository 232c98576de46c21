"""Stored results and checkpoints are never trusted blindly: a damaged record is reported and recomputed, a
checkpoint of another run is refused with the reason, concurrent writers leave one intact record, and a
full disk during a write leaves the previous record (or checkpoint) intact."""

from __future__ import annotations

import errno
import json
import logging
import multiprocessing
import threading
from pathlib import Path

import pytest

from hmnet.results import read_result_file, write_result

from test_fuzz_formats import _checkpoint, _result


def test_damaged_record_is_reported_then_recomputed(tmp_path, caplog, monkeypatch):
    import hmnet.train.loop

    config, result, path = _result(tmp_path)
    calls = []

    def fake_train(config, results_dir, *args, **kwargs):  # stands in for the training loop: writes a record
        calls.append(config.key())
        result.wall_time = 2.0
        write_result(result, results_dir)
        return result

    monkeypatch.setattr(hmnet.train.loop, "_train", fake_train)
    monkeypatch.setattr(hmnet.train.loop, "make_accelerator", lambda *a: (type("A", (), {"process_index": 0,
                                                                                 "num_processes": 1})(), "no"))
    for damage in (lambda b: b[: len(b) // 2], lambda b: b.replace(b'"average": 57.75', b'"average": 99.0')):
        path.write_bytes(damage(path.read_bytes()))
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="hmnet"):
            out = hmnet.train.train(config, tmp_path, progress=False)
        assert f"ignoring result file {path}" in caplog.text and "recomputed" in caplog.text
        assert out.wall_time == 2.0 and read_result_file(path, config).to_dict() == result.to_dict()
    assert calls == [config.key(), config.key()]
    assert hmnet.train.train(config, tmp_path, progress=False).wall_time == 2.0  # intact now: no third run
    assert len(calls) == 2


def test_a_checkpoint_of_another_run_is_refused_with_the_reason(tmp_path, caplog):
    from hmnet.train.checkpoint import latest_checkpoint

    _checkpoint(tmp_path, "a" * 16, step=5)
    with caplog.at_level(logging.WARNING, logger="hmnet"):
        assert latest_checkpoint(tmp_path, "b" * 16) is None
    assert (f"skipping checkpoint {tmp_path / 'ckpt-000000005'}: checkpoint of another run (its key "
            f"'{'a' * 16}', this run's '{'b' * 16}')") in caplog.text
    assert latest_checkpoint(tmp_path, "a" * 16)[0].name == "ckpt-000000005"


def _writer(results_dir: str, wall_time: float, n: int) -> None:
    config, result, _ = _result(Path(results_dir) / "scratch")
    result.wall_time = wall_time
    for _ in range(n):
        write_result(result, results_dir)


def test_two_processes_writing_one_run_leave_one_intact_record(tmp_path):
    config, result, _ = _result(tmp_path / "scratch")
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), float(w), 40)) for w in (10, 20)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    stored = read_result_file(tmp_path / config.result_name(), config)
    assert stored is not None and stored.wall_time in (10.0, 20.0)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_two_threads_writing_one_run_leave_one_intact_record(tmp_path):
    config, result, _ = _result(tmp_path / "scratch")
    errors = []

    def write(wall_time):
        try:
            _writer(str(tmp_path), wall_time, 40)
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=write, args=(float(w),)) for w in (10, 20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    stored = read_result_file(tmp_path / config.result_name(), config)
    assert stored is not None and stored.wall_time in (10.0, 20.0)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


class _FullDisk:
    """A file object whose write stores half the bytes and then fails as a full disk does."""

    def __init__(self, fh):
        self.fh = fh

    def write(self, data):
        self.fh.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()

    def __getattr__(self, name):
        return getattr(self.fh, name)


def test_full_disk_while_writing_a_record_keeps_the_previous_one(tmp_path, monkeypatch):
    import builtins

    config, result, path = _result(tmp_path)
    before = path.read_bytes()
    real_open = builtins.open

    def full_open(file, mode="r", *args, **kwargs):
        fh = real_open(file, mode, *args, **kwargs)
        return _FullDisk(fh) if mode[0] in "wx" and str(file).endswith(".tmp") else fh

    monkeypatch.setattr(builtins, "open", full_open)
    result.average = 1.0
    with pytest.raises(OSError) as info:
        write_result(result, tmp_path)
    monkeypatch.setattr(builtins, "open", real_open)
    assert info.value.errno == errno.ENOSPC
    assert path.read_bytes() == before and read_result_file(path, config).average == 57.75
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary file left


def test_full_disk_while_writing_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch, caplog):
    import torch

    from hmnet.train.checkpoint import latest_checkpoint

    _checkpoint(tmp_path, "a" * 16, step=3)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    with caplog.at_level(logging.ERROR, logger="hmnet"):
        with pytest.raises(AssertionError):  # _checkpoint asserts the write succeeded; here it did not
            _checkpoint(tmp_path, "a" * 16, step=6)
    assert "No space left on device" in caplog.text
    monkeypatch.undo()
    found = latest_checkpoint(tmp_path, "a" * 16)
    assert found is not None and found[0].name == "ckpt-000000003"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-000000003"]


def test_full_disk_while_saving_a_matrix_keeps_the_previous_one(tmp_path, monkeypatch, capsys):
    import os

    from hmnet.cli import main

    out = tmp_path / "m.json"
    assert main(["relevance", "--measure", "vocab", "--source", "synthetic", "--tasks", "RTE,CB,MRPC",
                 "--word", "whitespace", "--k", "0", "--out", str(out)]) == 0
    before = json.loads(out.read_text())

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    capsys.readouterr()
    assert main(["relevance", "--measure", "vocab", "--source", "synthetic", "--tasks", "RTE,CB",
                 "--word", "whitespace", "--k", "0", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"hmnet relevance: --out {out}: cannot be written (No space left on device)"
    assert json.loads(out.read_text()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]
