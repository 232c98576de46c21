"""A notebook under papermill fails in its first cell that touches a missing resource, with the same one line as the
command line: notebook 01 with the paper profile and no hub (its address a closed local port, empty caches)."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _seconds_free(line: str) -> str:
    return re.sub(r"over \d+\.\d s", "over N s", line)


@pytest.mark.slow
def test_notebook_fails_where_it_first_needs_the_hub_with_the_cli_line(tmp_path, monkeypatch, capsys):
    import datasets.config
    import huggingface_hub.constants
    import papermill as pm

    import hmnet.train.loop
    from hmnet.cli import main
    from hmnet.remote import OFFLINE_VARIABLES, PROXY_VARIABLES

    for name in (*OFFLINE_VARIABLES, *PROXY_VARIABLES):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # the kernel's caches: empty
    monkeypatch.setenv("HMNET_HUB_BACKOFF", "0.1")
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    with pytest.raises(pm.PapermillExecutionError) as info:
        pm.execute_notebook(str(REPO / "notebooks" / "01_task_relevance.ipynb"), str(tmp_path / "out.ipynb"),
                            parameters={"profile": "paper", "out_dir": str(tmp_path / "out")}, progress_bar=False,
                            cwd=str(tmp_path), kernel_name="python3")
    err = info.value
    assert err.ename == "HubError" and "data_relevance_comparison" in err.source, (err.ename, err.source)
    executed = __import__("nbformat").read(tmp_path / "out.ipynb", as_version=4)
    code = [c for c in executed.cells if c.cell_type == "code"]
    failing = next(i for i, c in enumerate(code) if "data_relevance_comparison" in c.source)
    assert any("report.setup(" in c.source for c in code[:failing]), "the setup cell ran before and passed"
    task = re.search(r"\((\S+) train\)", err.evalue).group(1)

    # The command line, on the same missing hub, for the same resource.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf" / "datasets")
    monkeypatch.setattr(hmnet.train.loop, "_train", None)  # a trap: training must not start
    capsys.readouterr()
    assert main(["train", "--profile", "paper", "--method", "single", "--tasks", task, "--results",
                 str(tmp_path / "r"), "--no-progress"]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("hmnet train: ")
    assert _seconds_free(line.removeprefix("hmnet train: ")) == _seconds_free(err.evalue)
