"""The Hugging Face Trainer cross-check (hmnet.train.hf_check) on the tiny backbone: both precisions on CPU, a
regression task, the stored record and its reuse."""

from __future__ import annotations

import pytest

from hmnet.profiles import get_profile
from hmnet.protocol import get_protocol
from hmnet.report.crosscheck import hf_crosscheck
from hmnet.sections.parameters import RunParameters
from hmnet.train.hf_check import read_record, record_path, run_and_store, train_with_hf


@pytest.mark.parametrize("task, bf16", [("RTE", True), ("STS-B", False)])
def test_train_with_hf_on_cpu(task, bf16):
    config = get_profile("smoke", tasks=(task,), max_examples=32, max_eval_examples=32, epochs=1).run_config(
        "single", tasks=(task,))
    out = train_with_hf(config, bf16=bf16)
    assert out["task"] == task and out["precision"] == ("bf16" if bf16 else "no")
    assert out["examples_per_second"] > 0 and set(out["metrics"]) == {"dev"}
    assert ("pearson" if task == "STS-B" else "accuracy") in out["metrics"]["dev"]


def test_records_are_stored_once_and_refuse_other_configs(tmp_path, monkeypatch):
    prof = get_profile("smoke", tasks=("RTE",), max_examples=32, max_eval_examples=32, epochs=1)
    config = prof.run_config("single", tasks=("RTE",))
    first = run_and_store(config, tmp_path)
    assert read_record(record_path(tmp_path, config), config)["score"] == first["score"]
    monkeypatch.setattr("hmnet.train.hf_check.train_with_hf", lambda *a, **k: pytest.fail("trained twice"))
    assert run_and_store(config, tmp_path)["score"] == first["score"]
    other = prof.run_config("single", tasks=("RTE",), seed=1)
    assert read_record(record_path(tmp_path, config), other) is None
    with pytest.raises(ValueError, match="mirrors single-task runs"):
        train_with_hf(prof.run_config("multi"))


def test_a_protocol_that_leaves_the_check_out_says_so_with_its_reason(tmp_path):
    """v2 registers the HF cross-check as not run: its Table 1 page gives the registered reason, not the
    command that would make the runs; a build without such a protocol still gives the command."""
    for name in ("RTE/train.tsv", "RTE/dev.tsv"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).touch()
    said = {}
    for protocol in ("v1", "v2"):
        prof = get_profile("local", protocol=protocol, data_dir=str(tmp_path), tasks=("RTE",))
        said[protocol] = hf_crosscheck(RunParameters(run_profile=prof, out_dir=str(tmp_path / "out")), [])
    assert said["v2"][0] is None and said["v2"][1] == (
        "Protocol v2 does not run the Hugging Face Trainer cross-check, as registered: "
        + get_protocol("local", "v2").not_run["hf_check"])
    assert said["v1"][0] is None and "`hmnet campaign run --sections hf_check` makes them" in said["v1"][1]
