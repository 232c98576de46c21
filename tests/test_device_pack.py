"""The GPU path on CPU: pack MiniLM (bf16) and the data, run scripts/gpu_campaign.sh in its tiny mode, bring
the result parts back into a store."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from hmnet.campaign import device_pack
from hmnet.errors import DataError
from hmnet.results import read_result_file

REPO = Path(__file__).resolve().parents[1]


def test_pack_run_tiny_and_collect(tmp_path, shared_data_dir, minilm_available):
    pack = tmp_path / "pack"
    sizes = device_pack.pack_inputs(pack, shared_data_dir, tasks=["RTE"])
    assert sizes["minilm/model.safetensors"] < 50e6  # bf16: half of the 91 MB fp32 file
    store, out = tmp_path / "store", tmp_path / "out"
    env = {**os.environ, "PACK": str(pack), "STORE": str(store), "OUT": str(out), "TINY": "1", "BUDGET": "20m",
           "PYTHON": sys.executable, "HMNET_TORCH_THREADS": "1"}
    env.pop("HMNET_DATA_DIR", None)
    proc = subprocess.run(["bash", str(REPO / "scripts" / "gpu_campaign.sh")], env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    parts = sorted(out.glob("results-*.tar.xz"))
    assert 1 <= len(parts) <= device_pack.MAX_PARTS and all(p.stat().st_size < 16 * 2**20 for p in parts)
    here = tmp_path / "here"
    counts = device_pack.collect_results(parts, here)
    stored = sorted((here / "results").glob("*.json"))
    assert counts["added"] == len(stored) > 0 and counts["rejected"] == 0
    assert all(read_result_file(p) is not None for p in stored)
    again = device_pack.collect_results(parts, here)  # never replaces a stored record
    assert again["added"] == 0 and again["already stored"] == len(stored)


def test_collect_rejects_tampered_records_and_unsafe_members(tmp_path):
    part = tmp_path / "results-00.tar.xz"
    (tmp_path / "results").mkdir()
    bad = tmp_path / "results" / "multi-0123.json"
    bad.write_text('{"format": 1, "complete": true, "checksum": "0"}')
    with tarfile.open(part, "w:xz") as tar:
        tar.add(bad, arcname="results/multi-0123.json")
        tar.add(bad, arcname="../escape.json")
    counts = device_pack.collect_results([part], tmp_path / "store")
    assert counts == {"added": 0, "already stored": 0, "rejected": 2}
    assert not (tmp_path / "escape.json").exists() or (tmp_path / "escape.json").read_text() != bad.read_text()
    truncated = tmp_path / "results-01.tar.xz"
    truncated.write_bytes(part.read_bytes()[:40])
    with pytest.raises(DataError, match="results-01"):
        device_pack.collect_results([truncated], tmp_path / "store")


def test_pack_refuses_to_exceed_the_working_tree_budget(tmp_path):
    with pytest.raises(DataError, match="over its budget of 60.0 MiB"):
        device_pack.check_budget(tmp_path, {"minilm/model.safetensors": 45 * 2**20, "nlu.tar.xz": 17 * 2**20},
                                 device_pack.TREE_LIMIT - 4 * 2**20)
    device_pack.check_budget(tmp_path, {"nlu.tar.xz": 17 * 2**20}, device_pack.TREE_LIMIT)
    assert 0 < device_pack.tree_size() < 16 * 2**20  # this checkout leaves room for the pack
