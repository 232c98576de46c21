"""Shared fixtures. Real data lives beside the checkout in ../shared/data/nlu; users do not have it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("HMNET_SHARED_DATA", REPO.parent / "shared" / "data" / "nlu"))

# Tiny models are dominated by per-op overhead: one thread is faster and keeps timings steady.
torch.set_num_threads(1)


def shared_data_or_skip() -> Path:
    if not (SHARED_DATA / "PROVENANCE.md").exists():
        pytest.skip(f"real NLU data not found at {SHARED_DATA} (set HMNET_SHARED_DATA); "
                    "it is a bundle beside the development checkout, not part of the repository")
    return SHARED_DATA


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    return shared_data_or_skip()


@pytest.fixture(scope="session")
def minilm_available() -> str:
    try:
        from hmnet.backbone import minilm_path

        minilm_path()
    except ModuleNotFoundError as err:
        pytest.skip(str(err))
    return "minilm"


@pytest.fixture
def cpu_kind(monkeypatch):
    """Makes this machine look like a CPU with native bf16 or without (``cpu_kind(True)``), so that an "auto"
    precision key resolves as it did where a record ran: every v1 record ran "auto" as bf16 on a CPU with
    native bf16, and on an AVX2-only CPU the same config rightly names another computation (hmnet.precision)."""
    from hmnet import precision

    monkeypatch.setattr(precision, "default_device_type", lambda cpu=False: "cpu")

    def simulate(native_bf16: bool) -> None:
        monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native_bf16)

    return simulate


# `make test` runs the suite on two workers (pytest-xdist). Each test module goes to one worker, and the modules
# that share the one smoke execution of the notebooks and its book build (tests/_companion.py caches them per
# process) go together, so that work is done once. (xdist's own `--dist loadgroup` does not group under
# pytest 9: the group suffix it writes into `item._nodeid` no longer reaches `item.nodeid`.)
SMOKE_BOOK_MODULES = {"test_notebooks.py", "test_book.py", "test_browser.py", "test_notebook_outputs.py"}


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class ModulesWithTheSmokeBookTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.split("::")[0].rsplit("/", 1)[-1] in SMOKE_BOOK_MODULES:
                return "smoke_book"
            return super()._split_scope(nodeid)

    return ModulesWithTheSmokeBookTogether(config, log)
