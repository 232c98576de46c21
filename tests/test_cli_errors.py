"""Every subcommand driven with bad arguments: each ends in exit status 2 and one line on stderr naming the
culprit, never a traceback, and never after training started (``hmnet.train.loop._train`` is replaced by a trap).

The commands run in-process (``hmnet.cli.main``) for speed; one subprocess test checks the real entry point.
Unreadable files and folders cannot be made with ``chmod 000`` when the tests run as root, so they are
simulated (a PermissionError from the read, ``os.access`` saying no); the real chmod test runs only as a
normal user.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hmnet.cli import main
from hmnet.errors import HmnetError

REPO = Path(__file__).resolve().parents[1]
BINARY = bytes(range(256)) * 4  # NUL bytes and invalid UTF-8


@pytest.fixture(autouse=True)
def no_training(monkeypatch):
    """A bad argument must be refused before any training starts."""
    import hmnet.train.loop

    def trap(*args, **kwargs):
        raise AssertionError("training started: the bad argument was not caught before training")

    real = hmnet.train.loop._train
    monkeypatch.setattr(hmnet.train.loop, "_train", trap)
    return real


@pytest.fixture
def paths(tmp_path):
    """Bad paths of every kind, by name."""
    folder = tmp_path / "folder"
    folder.mkdir()
    out = {"missing": tmp_path / "missing", "folder": folder, "file": tmp_path / "file.txt",
           "binary": tmp_path / "binary.json", "empty": tmp_path / "empty.json",
           "malformed": tmp_path / "malformed.json", "under_file": tmp_path / "file.txt" / "sub",
           "results": tmp_path / "results"}
    out["file"].write_text("hello\n")
    out["binary"].write_bytes(BINARY)
    out["empty"].write_bytes(b"")
    out["malformed"].write_text('{"tasks": ["RTE", "CB"], "values": [[1, 2], [3, \n')
    return out


def run(capsys, argv) -> tuple[int, str]:
    """Exit status and stderr of `hmnet argv` (argparse's own errors exit through SystemExit)."""
    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


def assert_refused(capsys, argv, *expected: str, status: int = 2) -> str:
    code, err = run(capsys, argv)
    assert code == status, f"hmnet {' '.join(map(str, argv))}: exit {code}, stderr {err!r}"
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"hmnet {argv[0]}: "), err
    for text in expected:
        assert str(text) in err, f"{text!r} not in {err!r}"
    return err


# ------------------------------------------------------------------------------------ input files

# Every argument that reads a file: `{}` is replaced by the path.
FILE_ARGS = {
    "cluster --matrix": ["cluster", "--matrix", "{}"],
    "train --config": ["train", "--config", "{}"],
    "train --config-json @": ["train", "--config-json", "@{}"],
    "train --clusters-json @": ["train", "--method", "hmnet", "--tasks", "RTE,CB", "--clusters-json", "@{}"],
    "plan --groupings-json @": ["plan", "export", "table1", "--groupings-json", "@{}"],
}
FILE_KINDS = {  # kind -> what the one-line error says
    "missing": "no such",
    "folder": "is a folder",
    "binary": "NUL byte",
    "empty": "",
    "malformed": "",
}


@pytest.mark.parametrize("kind", FILE_KINDS)
@pytest.mark.parametrize("arg", FILE_ARGS)
def test_bad_input_files(capsys, paths, arg, kind):
    path = paths[kind]
    argv = [a.replace("{}", str(path)) for a in FILE_ARGS[arg]]
    if argv[0] in ("train", "plan"):
        argv += ["--results", paths["results"]]
    assert_refused(capsys, argv, path, FILE_KINDS[kind])


@pytest.mark.parametrize("arg", FILE_ARGS)
def test_unreadable_input_file_simulated(capsys, paths, monkeypatch, arg):
    """chmod 000 does not stop root, so the PermissionError a normal user gets is raised by the read."""
    victim = paths["file"]
    real = Path.read_bytes

    def read_bytes(self):
        if self == victim:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    argv = [a.replace("{}", str(victim)) for a in FILE_ARGS[arg]] + (
        ["--results", paths["results"]] if FILE_ARGS[arg][0] != "cluster" else [])
    assert_refused(capsys, argv, victim, "Permission denied")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="running as root: chmod 000 does not stop root from reading (the simulated test "
                           "above covers the PermissionError)")
def test_unreadable_input_file_chmod(capsys, paths):
    paths["file"].chmod(0)
    try:
        assert_refused(capsys, ["cluster", "--matrix", paths["file"]], paths["file"], "Permission denied")
    finally:
        paths["file"].chmod(0o644)


def test_inline_json_arguments(capsys, paths):
    results = ["--results", paths["results"]]
    assert_refused(capsys, ["train", "--config-json", "{not json", *results], "--config-json", "not valid JSON")
    assert_refused(capsys, ["train", "--config-json", "[1, 2]", *results], "must be a JSON object")
    assert_refused(capsys, ["train", "--method", "hmnet", "--tasks", "RTE,CB", "--clusters-json", '{"a": ["RTE"',
                            *results], "--clusters-json", "not valid JSON")
    assert_refused(capsys, ["plan", "export", "table1", "--groupings-json", "{", *results], "--groupings-json")
    paths["file"].write_text('{"seed": "zero"}')
    assert_refused(capsys, ["train", "--config", paths["file"], *results])


# ------------------------------------------------------------------------------------ matrix files


def _matrix_file(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


MATRICES = {
    "ragged.csv": ("source,RTE,CB\nRTE,1,2\nCB,3\n", "line 3: expected 3 fields, got 2"),
    "text.csv": ("source,RTE,CB\nRTE,1,2\nCB,3,high\n", "'high' is not a number"),
    "inf.csv": ("source,RTE,CB\nRTE,1,2\nCB,3,inf\n", "not a finite number"),
    "gap.csv": ("source,RTE,CB\nRTE,1,\nCB,3,4\n", "row RTE, column CB is missing"),
    "square.csv": ("source,RTE,CB\nRTE,1,2\n", "a CSV matrix is square"),
    "targets.json": ('{"tasks": ["RTE", "CB"], "targets": ["CB", "RTE"], "values": [[1, 2], [3, 4]]}',
                     "same tasks in the same order"),
    "order.csv": ("source,RTE,CB\nCB,1,2\nRTE,3,4\n", "same tasks in the same order"),
    "twice.csv": ("source,RTE,RTE\nRTE,1,2\nRTE,3,4\n", "appear more than once"),
    "header.csv": ("source,RTE,CB\n", "expected a header line"),
    "string.json": ('{"tasks": ["RTE", "CB"], "values": [[1, "2"], [3, 4]]}', "values[RTE][CB]: '2' is not a number"),
    "bool.json": ('{"tasks": ["RTE", "CB"], "values": [[1, true], [3, 4]]}', "True is not a number"),
    "short.json": ('{"tasks": ["RTE", "CB"], "values": [[1, 2]]}', "a list of 2 rows"),
    "row.json": ('{"tasks": ["RTE", "CB"], "values": [[1, 2], [3]]}', "the row of CB"),
    "list.json": ("[1, 2]", "expected a JSON object"),
    "names.json": ('{"tasks": ["RTE", 7], "values": [[1, 2], [3, 4]]}', "list of task names"),
    "infinity.json": ('{"tasks": ["RTE", "CB"], "values": [[1, Infinity], [3, 4]]}', "not a finite number"),
    "null.json": ('{"tasks": ["RTE", "CB"], "values": [[1, null], [3, 4]]}', "is missing"),
    "utf8.csv": (b"source,RTE,CB\nRTE,1,2\nCB,3,\xff\n", "line 3: invalid UTF-8"),
}


@pytest.mark.parametrize("name", MATRICES)
def test_bad_matrix_files(capsys, tmp_path, name):
    content, expected = MATRICES[name]
    path = _matrix_file(tmp_path, name, content)
    assert_refused(capsys, ["cluster", "--matrix", path], path, expected)


def test_good_matrix_with_bom_and_crlf_is_accepted(capsys, tmp_path):
    from hmnet.paper import table2
    from hmnet.analysis.relevance import save_matrix

    path = save_matrix(table2(), tmp_path / "m.csv")
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    assert main(["cluster", "--matrix", str(path), "--n-init", "2"]) == 0
    assert "groups:" in capsys.readouterr().out


# ------------------------------------------------------------------------------------ folders


def test_data_dir_errors(capsys, paths, monkeypatch):
    base = ["relevance", "--measure", "vocab", "--word", "whitespace", "--no-candidates", "--data-dir"]
    assert_refused(capsys, [*base, paths["missing"]], "--data-dir", paths["missing"], "no such folder")
    assert_refused(capsys, [*base, paths["file"]], paths["file"], "is a file; expected a folder")
    assert_refused(capsys, [*base, paths["folder"]], paths["folder"], "no task has the files")
    assert_refused(capsys, ["relevance", "--source", "directory"], "needs --data-dir")
    # A task file that is binary: the error names that file and line.
    (paths["folder"] / "RTE").mkdir()
    (paths["folder"] / "RTE" / "train.tsv").write_bytes(b"index\tsentence1\tsentence2\tlabel\n" + BINARY)
    assert_refused(capsys, [*base, paths["folder"]], "RTE/train.tsv line 2: NUL byte")
    # A folder where the task file belongs.
    (paths["folder"] / "RTE" / "train.tsv").unlink()
    (paths["folder"] / "RTE" / "train.tsv").mkdir()
    assert_refused(capsys, [*base, paths["folder"]], "RTE/train.tsv: is a folder")
    # An unreadable folder (simulated: os.access says no, as it would for a normal user after chmod 000).
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == paths["folder"] else real(p, mode))
    assert_refused(capsys, [*base, paths["folder"]], paths["folder"], "cannot be read (permission denied)")


def _directory_config(data_dir: Path) -> str:
    from hmnet.profiles import get_profile

    config = get_profile("smoke").run_config("multi", tasks=("RTE", "CB")).to_dict()
    config.update(source="directory", data_dir=str(data_dir), carve_train=None)
    return json.dumps(config)


def test_run_config_with_a_bad_data_dir(capsys, paths):
    results = ["--results", paths["results"], "--no-progress"]
    for bad in (paths["missing"], paths["file"], paths["folder"]):
        assert_refused(capsys, ["train", "--config-json", _directory_config(bad), *results], bad)


def test_a_bad_data_file_stops_the_run_while_loading(capsys, paths, monkeypatch, no_training):
    """Data files are read at the start of a run (after the checks above): a bad one is one line too."""
    import hmnet.train.loop

    monkeypatch.setattr(hmnet.train.loop, "_train", no_training)  # the real run: it stops while loading its data
    tsv = "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n"
    jsonl = '{"premise": "a", "hypothesis": "b", "label": "neutral", "idx": 0}\n'
    for task, name in (("RTE", "train.tsv"), ("RTE", "dev.tsv"), ("CB", "train.jsonl"), ("CB", "val.jsonl")):
        (paths["folder"] / task).mkdir(exist_ok=True)
        (paths["folder"] / task / name).write_text(tsv if name.endswith(".tsv") else jsonl)
    (paths["folder"] / "CB" / "train.jsonl").write_bytes(b'{"premise": "a", "hypothesis": "b", "label": "neutral"}\n'
                                                          b'{"premise": "\xff"}\n')
    assert_refused(capsys, ["train", "--config-json", _directory_config(paths["folder"]), "--results",
                            paths["results"], "--no-progress"], "CB/train.jsonl line 2: invalid UTF-8")


OUTPUT_FOLDERS = {
    "train --results": ["train", "--no-progress", "--results", "{}"],
    "train --checkpoint-dir": ["train", "--no-progress", "--results", "@results", "--checkpoint-dir", "{}"],
    "plan --results": ["plan", "run", "table1", "--no-progress", "--results", "{}"],
    "relevance --results-dir": ["relevance", "--measure", "model", "--tasks", "RTE,CB", "--results-dir", "{}"],
}


@pytest.mark.parametrize("kind", ["file", "under_file", "unwritable"])
@pytest.mark.parametrize("arg", OUTPUT_FOLDERS)
def test_bad_output_folders(capsys, paths, monkeypatch, arg, kind):
    path = paths["folder"] if kind == "unwritable" else paths[kind]
    if kind == "unwritable":
        real = os.access
        monkeypatch.setattr(os, "access",
                            lambda p, mode, **kw: False if Path(p) == path else real(p, mode))
    argv = [a.replace("{}", str(path)).replace("@results", str(paths["results"])) for a in OUTPUT_FOLDERS[arg]]
    expected = {"file": "is a file", "under_file": "cannot be created", "unwritable": "not writable"}[kind]
    assert_refused(capsys, argv, expected)


@pytest.mark.parametrize("kind", ["folder", "under_file", "unwritable"])
def test_bad_output_file(capsys, paths, monkeypatch, kind):
    path = paths[kind] if kind != "unwritable" else paths["file"]
    if kind == "unwritable":
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == path else real(p, mode))
    expected = {"folder": "is a folder", "under_file": "cannot be created", "unwritable": "not writable"}[kind]
    assert_refused(capsys, ["relevance", "--source", "synthetic", "--out", path], "--out", expected)


def test_backbone_paths(capsys, paths):
    assert_refused(capsys, ["params", "--backbone", paths["missing"]], "no such model folder")
    assert_refused(capsys, ["params", "--backbone", paths["file"]], "--backbone", "cannot be used")
    assert_refused(capsys, ["params", "--backbone", paths["folder"]], "--backbone", "cannot be used")
    (paths["folder"] / "config.json").write_bytes(BINARY)
    assert_refused(capsys, ["params", "--backbone", paths["folder"]], "--backbone", "cannot be used")
    assert_refused(capsys, ["params", "--backbone", "random:huge"], "random:huge")


def test_tokenizer_folder(capsys, paths):
    argv = ["relevance", "--source", "synthetic", "--tokenizer"]
    assert_refused(capsys, [*argv, paths["missing"]], "--tokenizer", "no such model folder")
    assert_refused(capsys, [*argv, paths["folder"]], "--tokenizer", "cannot be loaded")


# ------------------------------------------------------------------------------------ numbers

NUMBERS = [
    (["cluster", "--from-paper", "table2", "--k", "0"], "--k must be between 1 and 13, got 0"),
    (["cluster", "--from-paper", "table2", "--k", "-2"], "--k must be between 1 and 13"),
    (["cluster", "--from-paper", "table2", "--k", "99"], "--k must be between 1 and 13, got 99"),
    (["cluster", "--from-paper", "table2", "--n-init", "0"], "--n-init"),
    (["cluster", "--from-paper", "table2", "--n-init", "-5"], "--n-init"),
    (["cluster", "--from-paper", "table2", "--n-init", "1000000000"], "--n-init"),
    (["cluster", "--from-paper", "table2", "--seed", "-1"], "--seed"),
    (["cluster", "--from-paper", "table2", "--seed", str(2**40)], "--seed"),
    (["cluster", "--from-paper", "table2", "--stability", "-1"], "--stability"),
    (["cluster", "--from-paper", "table2", "--stability", "1000000000"], "--stability"),
    (["relevance", "--source", "synthetic", "--k", "-1"], "--k must be between 0 and 13"),
    (["relevance", "--source", "synthetic", "--k", "99"], "--k must be between 0 and 13"),
    (["relevance", "--source", "synthetic", "--tasks", "RTE,CB", "--k", "3"], "--k must be between 0 and 2"),
    (["relevance", "--measure", "model", "--tasks", "RTE,CB", "--seeds", "-1"], "--seeds"),
    (["relevance", "--measure", "model", "--tasks", "RTE,CB", "--seeds", "0,x"], "--seeds"),
    (["relevance", "--measure", "model", "--tasks", "RTE,CB", "--seeds", ""], "--seeds"),
    (["relevance", "--measure", "model", "--tasks", "RTE,CB", "--seeds", str(2**40)], "--seeds"),
    (["relevance", "--measure", "model", "--tasks", "RTE"], "at least two tasks"),
    (["relevance", "--tasks", "RTE,QQQ", "--source", "synthetic"], "task 'QQQ' is unknown"),
    (["relevance", "--tasks", ",", "--source", "synthetic"], "--tasks names no task"),
    (["relevance", "--source", "synthetic", "--tokenizer", "/no/such/folder"], "--tokenizer /no/such/folder: no such"),
    (["params", "--split", "0,0,0"], "has 0 layers"),
    (["params", "--split", "99,2,2"], "has 103 layers"),
    (["train", "--seed", "-1"], "--seed must be between 0 and"),
    (["train", "--seed", str(2**40)], "--seed must be between 0 and"),
    (["train", "--checkpoint-every", "0"], "--checkpoint-every must be at least 1"),
    (["train", "--checkpoint-every", "-3"], "--checkpoint-every must be at least 1"),
    (["train", "--checkpoint-minutes", "0"], "--checkpoint-minutes must be a positive number"),
    (["train", "--checkpoint-minutes", "-1"], "--checkpoint-minutes"),
    (["train", "--checkpoint-minutes", "nan"], "--checkpoint-minutes"),
    (["train", "--checkpoint-minutes", "inf"], "--checkpoint-minutes"),
    (["train", "--method", "hmnet", "--tasks", "RTE,CB", "--split", "0,0,0"], "0 layers"),
    (["train", "--method", "hmnet", "--tasks", "RTE,CB", "--split", "99,99,99"], "297 layers"),
    (["train", "--method", "hmnet", "--tasks", "RTE,CB", "--split", "a,b"], "--split expects three"),
    (["train", "--set", "epochs=0"], "epochs must be >= 1, got 0"),
    (["train", "--set", "batch_size=-1"], "batch_size must be >= 1, got -1"),
    (["train", "--set", "seed=99999999999"], "must be between 0 and"),
    (["train", "--set", "nonsense"], "--set expects key=value"),
    (["train", "--profile", "nope"], "profile 'nope' is unknown"),
    (["train", "--tasks", "RTE,QQQ"], "task 'QQQ' is unknown"),
    (["plan", "run", "table1", "--seeds", "-1"], "--seeds must be between 0 and"),
    (["plan", "run", "table1", "--seeds", str(2**40)], "--seeds must be between 0 and"),
    (["plan", "run", "table1", "--checkpoint-every", "0"], "--checkpoint-every"),
    (["plan", "run", "layer_grid", "--splits", "0,0,0"], "0 layers"),
    (["plan", "run", "layer_grid", "--splits", "8,2"], "--splits expects three"),
    (["plan", "run", "layer_grid"], "needs --splits"),
    (["plan", "list", "pairwise", "--tasks", "RTE"], ""),
    # an option the plan does not take is refused, not silently dropped
    (["plan", "list", "table1", "--tasks", "RTE,CB"], "plan table1 takes no --tasks: --tasks is for shared_layers"),
    (["plan", "list", "shared_layers", "--splits", "8,2,2"], "takes no --splits: --splits is for layer_grid"),
    (["plan", "list", "pairwise", "--groupings", "data"], "takes no --groupings: --groupings is for table1"),
]


@pytest.mark.parametrize("argv,expected", NUMBERS, ids=[" ".join(a) for a, _ in NUMBERS])
def test_bad_numbers_and_values(capsys, paths, argv, expected):
    if argv[0] in ("train", "plan"):
        argv = [*argv, "--results", str(paths["results"]), *(["--no-progress"] if argv[1] != "list" else [])]
    if argv[0] == "relevance" and argv[1:3] == ["--measure", "model"]:
        argv = [*argv, "--results-dir", str(paths["results"])]
    assert_refused(capsys, argv, expected)
    assert not paths["results"].exists() or not any(paths["results"].iterdir())


ARGPARSE = [  # argparse's own refusals: exit 2 with a usage line, no traceback
    ["cluster", "--from-paper", "table2", "--k", "three"],
    ["params", "--split", "-1,2,2"],
    ["train", "--seed", "1.5"],
    ["train", "--checkpoint-every", "x"],
    ["plan", "run", "table1", "--seeds", "x"],
    ["relevance", "--measure", "nope"],
    ["nonsense"],
]


@pytest.mark.parametrize("argv", ARGPARSE, ids=[" ".join(a) for a in ARGPARSE])
def test_argparse_refusals(capsys, argv):
    code, err = run(capsys, argv)
    assert code == 2 and "Traceback" not in err and "error:" in err


# ------------------------------------------------------------------------------------ reproduce and book


@pytest.mark.parametrize("command", ["reproduce", "book"])
def test_reproduce_and_book_refuse_bad_arguments_before_running(capsys, paths, command):
    """cli_book maps its errors to exit status 1 (its own convention, kept); one line, no traceback."""
    for argv, expected in [([command, "--profile", "nope"], "nope"),
                           ([command, "--profile", "local", "--data-dir", paths["missing"]], paths["missing"]),
                           ([command, "--profile", "local", "--data-dir", paths["file"]], paths["file"])]:
        assert_refused(capsys, [*argv, "--out", paths["results"]], expected, status=1)


# ------------------------------------------------------------------------------------ the convention


def test_verbose_shows_the_traceback_and_the_line(capsys, paths):
    code, err = run(capsys, ["-v", "cluster", "--matrix", paths["missing"]])
    assert code == 2
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("hmnet cluster: ")


def test_unexpected_errors_keep_their_traceback(monkeypatch):
    import hmnet.cli

    def broken():
        raise RuntimeError("a bug")

    monkeypatch.setattr(hmnet.cli, "task_table", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["tasks"])


def test_bad_thread_setting(capsys, monkeypatch):
    monkeypatch.setenv("HMNET_TORCH_THREADS", "many")
    assert_refused(capsys, ["tasks"], "HMNET_TORCH_THREADS")


def test_package_errors_share_one_base():
    from hmnet.train.checkpoint import CheckpointError
    from hmnet.data import DataError
    from hmnet.errors import UsageError
    from hmnet.experiments import ConfigError
    from hmnet.sections.parameters import ParameterError
    from hmnet.train.runtime import BatchOutOfMemoryError, TrainingError

    for cls in (CheckpointError, DataError, UsageError, ConfigError, ParameterError, TrainingError,
                BatchOutOfMemoryError):
        assert issubclass(cls, HmnetError) and issubclass(cls, ValueError)
    assert issubclass(TrainingError, RuntimeError)  # as before


def test_the_installed_entry_point_prints_one_line(tmp_path):
    bad = tmp_path / "m.json"
    bad.write_text(json.dumps({"tasks": ["RTE", "CB"], "values": [[1, "x"], [3, 4]]}))
    proc = subprocess.run([sys.executable, "-m", "hmnet.cli", "cluster", "--matrix", str(bad)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [f"hmnet cluster: {bad}: values[RTE][CB]: 'x' is not a number"]
