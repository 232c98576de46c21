"""Set-up files agree with each other, and the console command works."""

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[]", req.strip(), maxsplit=1)[0].lower()


def test_environment_yml_and_pyproject_list_the_same_dependencies():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + project["optional-dependencies"]["test"]
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    conda_pip = [r for r in pip if not r.startswith("-e")]
    assert sorted(conda_pip) == sorted(declared), "environment.yml and pyproject.toml disagree"
    assert any(r.startswith("torch") and "<=" in r for r in declared), "torch must stay capped"


def test_ci_runs_make_test():
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_console_command_lists_tasks():
    out = subprocess.run([sys.executable, "-m", "hmnet.cli", "tasks"], capture_output=True, text=True,
                         check=True).stdout
    for name in ("MNLI", "MultiRC", "STS-B", "question-passage-answer", "regression"):
        assert name in out


def test_console_command_honours_the_thread_setting():
    code = "import torch; from hmnet.cli import main; main(['tasks']); print('threads', torch.get_num_threads())"
    env = {**os.environ, "HMNET_TORCH_THREADS": "3"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert out.strip().splitlines()[-1] == "threads 3"


def test_a_bad_thread_setting_names_the_variable(monkeypatch):
    from hmnet.train.runtime import apply_thread_setting

    for bad in ("two", "0"):
        monkeypatch.setenv("HMNET_TORCH_THREADS", bad)
        with pytest.raises(ValueError, match=rf"\$HMNET_TORCH_THREADS must be a positive integer, got '{bad}'"):
            apply_thread_setting()
