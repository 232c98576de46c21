"""`hmnet campaign` and `hmnet results` with bad arguments: exit status 2, one line naming the culprit, no
traceback, nothing trained (the conventions and helpers of tests/test_cli_errors.py)."""

from __future__ import annotations

import pytest
from test_cli_errors import assert_refused, no_training, paths  # noqa: F401 - fixtures

DATA_CMDS = [["campaign", "status", "--profile", "local"], ["campaign", "run", "--profile", "local"],
             ["campaign", "export", "--profile", "local"], ["campaign", "pack"]]


@pytest.mark.parametrize("cmd", DATA_CMDS, ids=lambda c: " ".join(c[:2]))
@pytest.mark.parametrize("kind", ["missing", "file", "binary", "empty"])
def test_data_dir_that_is_not_a_folder(capsys, paths, cmd, kind, monkeypatch):  # noqa: F811
    monkeypatch.delenv("HMNET_DATA_DIR", raising=False)
    assert_refused(capsys, [*cmd, "--data-dir", paths[kind]], "--data-dir",
                   "no such folder" if kind == "missing" else "expected a folder")


def test_data_dir_absent(capsys, monkeypatch):
    monkeypatch.delenv("HMNET_DATA_DIR", raising=False)
    assert_refused(capsys, ["campaign", "status", "--profile", "local"], "pass --data-dir")


@pytest.mark.parametrize("flag, value", [("--workers", "0"), ("--workers", "-2"), ("--threads", "0"),
                                         ("--checkpoint-minutes", "-1"), ("--budget", "soon"), ("--budget", "0"),
                                         ("--budget", "-5m")])
def test_numbers_out_of_range(capsys, tmp_path, flag, value):
    assert_refused(capsys, ["campaign", "run", "--profile", "smoke", "--store", tmp_path / "s", f"{flag}={value}"],
                   flag.lstrip("-").split("-")[0])


@pytest.mark.parametrize("kind", ["missing", "folder", "binary", "empty", "malformed"])
def test_results_from_a_folder_that_is_no_store(capsys, paths, kind):  # noqa: F811
    store = paths[kind]
    if kind in ("binary", "empty", "malformed"):  # a damaged manifest in a folder
        folder = paths["folder"] / kind
        folder.mkdir()
        (folder / "manifest.json").write_bytes(store.read_bytes())
        store = folder
    assert_refused(capsys, ["results", "table1", "--store", store])


@pytest.mark.parametrize("kind", ["missing", "folder", "binary", "empty", "file"])
def test_collect_refuses_what_is_no_results_archive(capsys, paths, tmp_path, kind):  # noqa: F811
    assert_refused(capsys, ["campaign", "collect", paths[kind], "--store", tmp_path / "s"], str(paths[kind]))


def test_store_that_is_a_file(capsys, paths):  # noqa: F811
    assert_refused(capsys, ["campaign", "status", "--profile", "smoke", "--store", paths["file"]], "is a file")


def test_a_store_of_auto_runs_is_refused_where_auto_means_another_precision(capsys, tmp_path, cpu_kind):
    """The v1 store ran "auto" as bf16. Where "auto" means fp32 its keys would name other runs, so planning into
    it (status, run, export) is refused in one line, and its manifest and records are left as they were; on a
    CPU with native bf16 it plans as before."""
    import shutil

    from hmnet.campaign.plan import STORE_ROOT, check_auto_precision

    source = STORE_ROOT / "local"
    if not (source / "manifest.json").exists():
        pytest.skip("no committed v1 store")
    store = tmp_path / "v1"
    (store / "results").mkdir(parents=True)
    shutil.copy(source / "manifest.json", store)
    for path in sorted((source / "results").glob("*.json"))[:3]:
        shutil.copy(path, store / "results")
    before = {p.name: p.read_bytes() for p in store.rglob("*.json")}
    cpu_kind(False)
    for action in ("status", "run", "export"):
        assert_refused(capsys, ["campaign", action, "--protocol", "v1", "--store", store, "--data-dir", tmp_path],
                       "\"auto\" runs ran in bf16", "means 'no' on this machine")
    assert {p.name: p.read_bytes() for p in store.rglob("*.json")} == before
    cpu_kind(True)
    check_auto_precision(store)
    check_auto_precision(tmp_path / "empty")  # nothing stored: nothing to refuse
