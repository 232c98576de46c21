"""The results store and the campaign runner: plans that match the notebooks, records that round-trip without
machine paths, a runner killed with SIGKILL that resumes, two runners on one store, the terminal view, and
the committed reference store itself."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hmnet import report, store
from hmnet.book import banners
from hmnet.book.protocols import page_stores
from hmnet.campaign import export, plan, runner as campaign
from hmnet.campaign.plan import campaign_plan, store_dir
from hmnet.experiments import ConfigError
from hmnet.protocol import get_protocol
from hmnet.sections import registry
from hmnet.experiments import TRAINING_SEMANTICS
from hmnet.results import load_results, read_result_file

REPO = Path(__file__).resolve().parents[1]
# A small smoke campaign: Table 1 on two synthetic tasks, one seed (2 single-task runs, multi-task, SkillNet
# and HMNet with the three groupings that have clusters on these tasks).
SMALL = {"tasks": ["RTE", "SST-2"], "seeds": [0]}


def run_cli(store: Path, *extra: str, workers: int = 2) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "hmnet.cli", "campaign", "run", "--profile", "smoke", "--store", str(store),
           "--sections", "table1", "-p", "tasks", json.dumps(SMALL["tasks"]), "-p", "seeds", "[0]",
           "--workers", str(workers), *extra]
    return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "HMNET_TORCH_THREADS": "1"}, start_new_session=True)


def records(store_dir: Path) -> list[Path]:
    return sorted((store_dir / "results").glob("*.json"))


def planned(store: Path) -> list:
    return list(campaign_plan("smoke", None, store, ["table1"], SMALL))


def test_one_section_plans_each_run_once_and_an_unknown_section_is_named(tmp_path):
    one = campaign_plan("smoke", None, tmp_path, ["table1"])
    # Eq. 4's single-task denominators are Table 1's runs: planned once, under table1.
    both = campaign_plan("smoke", None, tmp_path, ["table1", "pairwise"])
    keys = [p.config.key() for p in both]
    assert len(keys) == len(set(keys)) and {p.config.key() for p in one} < set(keys)
    assert not [p for p in both if p.section == "pairwise" and p.config.method == "single"]
    with pytest.raises(ConfigError, match="section 'table2' is unknown"):
        campaign_plan("smoke", None, tmp_path, ["table2"])


def test_budget_parsing():
    assert campaign.parse_budget("90s") == 90 and campaign.parse_budget("2h") == 7200
    assert campaign.parse_budget("120m") == campaign.parse_budget("120") == 7200
    assert campaign.parse_budget(None) is None
    for bad in ("soon", "-5m", "0"):
        with pytest.raises(ConfigError, match="budget"):
            campaign.parse_budget(bad)


def test_runner_killed_with_sigkill_resumes_and_loses_no_stored_result(tmp_path):
    s = tmp_path / "store"
    proc = run_cli(s)
    deadline = time.monotonic() + 240
    while not records(s) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert records(s), f"no run was stored before the kill:\n{proc.communicate()[0][-3000:]}"
    os.killpg(proc.pid, signal.SIGKILL)  # the runner and its workers, mid-campaign
    proc.wait()
    before = {p.name: p.read_bytes() for p in records(s)}
    assert all(read_result_file(p) is not None for p in records(s))
    out, _ = run_cli(s).communicate(timeout=400)
    assert "campaign done" in out, out[-3000:]
    after = records(s)
    assert {p.name for p in after} == {p.config.result_name() for p in planned(s)}
    assert all(read_result_file(p) is not None for p in after)
    for name, data in before.items():  # a stored record is never rewritten by the resumed campaign
        assert (s / "results" / name).read_bytes() == data
    manifest = store.read_manifest(s)
    assert manifest["sections"]["table1"]["complete"] == manifest["sections"]["table1"]["planned"] == len(after)


def test_a_runner_in_the_background_stops_cleanly_on_sigterm(tmp_path):
    """A runner started in the background ignores SIGINT (as a shell's background job does); `kill PID` stops
    it as Ctrl-C would: it reports the interruption, terminates its workers and leaves a readable manifest."""
    s = tmp_path / "store"
    cmd = [sys.executable, "-m", "hmnet.cli", "campaign", "run", "--profile", "smoke", "--store", str(s),
           "--sections", "table1", "-p", "tasks", json.dumps(SMALL["tasks"]), "-p", "seeds", "[0]", "--workers", "1"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "HMNET_TORCH_THREADS": "1"}, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    deadline = time.monotonic() + 120
    while not (s / "manifest.json").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    time.sleep(2)
    proc.send_signal(signal.SIGINT)  # ignored, as by a background job
    time.sleep(1)
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert "campaign interrupted" in out and "Traceback" not in out, out[-3000:]
    assert store.read_manifest(s)["sections"]["table1"]["planned"] == len(planned(s))
    gone = time.monotonic() + 30  # the workers and multiprocessing's tracker exit after the runner
    while time.monotonic() < gone:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)  # no worker is left behind


def test_two_runners_on_one_store_complete_it_with_one_intact_record_per_run(tmp_path):
    s = tmp_path / "store"
    first, second = run_cli(s, workers=1), run_cli(s, workers=1)
    outs = [p.communicate(timeout=400)[0] for p in (first, second)]
    assert all("campaign done" in o for o in outs), "\n\n".join(o[-2000:] for o in outs)
    runs = load_results(s / "results")
    assert sorted(r.key for r in runs) == sorted(p.config.key() for p in planned(s))
    assert all(read_result_file(p) is not None for p in records(s))
    assert not list((s / "results" / "checkpoints").glob("*/ckpt-*"))


def test_store_round_trip_names_no_machine_path_and_prints_from_the_store(tmp_path, capsys):
    from hmnet.cli import main

    s = tmp_path / "store"
    report = campaign.run_campaign("smoke", None, s, ["table1"], {"tasks": ["RTE", "MRPC"], "seeds": [0]},
                                   workers=1, threads=1, progress=False, echo=lambda m: None)
    assert report.stopped_by == "done" and not report.failed
    manifest = json.loads((s / "manifest.json").read_text())
    assert list(manifest["sections"]) == ["table1"] and manifest["sections"]["table1"]["complete"] == len(
        load_results(s / "results"))
    # A later runner on another section keeps table1's entry in the manifest.
    manifest["sections"]["table1"]["note"] = "kept"
    (s / "manifest.json").write_text(json.dumps(manifest))
    campaign.run_campaign("smoke", None, s, ["hf_check"], {"tasks": ["RTE", "MRPC"], "seeds": [0]}, budget=0.0,
                          workers=1, threads=1, progress=False, echo=lambda m: None)
    manifest = json.loads((s / "manifest.json").read_text())
    assert list(manifest["sections"]) == ["table1", "hf_check"] and manifest["sections"]["table1"]["note"] == "kept"
    for path in s.rglob("*.json"):
        assert not store.machine_paths(path.read_text()), path
    runs = load_results(s / "results")
    for r in runs:
        assert r.config.data_dir is None and r.config.key() == r.key  # the record's key survives the trip
        assert r.env["training_semantics"] == TRAINING_SEMANTICS and "torch" in r.env["packages"]
    assert main(["results", "table1", "--store", str(s)]) == 0
    out = capsys.readouterr().out
    n = len(runs)
    assert f"table1: {n} of {n} planned runs stored" in out and "(n=1)" in out and "Average" in out
    status = ["campaign", "status", "--profile", "smoke", "--store", str(s), "--sections", "table1",
              "-p", "tasks", '["RTE", "MRPC"]', "-p", "seeds", "[0]"]
    assert main(status) == 0
    out = capsys.readouterr().out
    assert f"table1         {n:3d} of {n:3d} runs stored" in out
    assert "nothing pending: every planned run is stored" in out and "Empty DataFrame" not in out


def test_a_section_prints_beside_each_task_its_majority_class_and_the_average_last(capsys):
    from hmnet.cli import main

    manifest = store.read_manifest(store_dir("local", "v1"))
    if not manifest["sections"]["shared_layers"]["complete"]:
        pytest.skip("no Figure 3 run in the reference store yet")
    assert main(["results", "shared_layers", "--profile", "local", "--protocol", "v1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    floors = ["majority class"] + (["best constant"] if manifest.get("best_constant") else [])
    assert lines[3].split()[0] == "method" and lines[3].endswith(floors[-1]) and all(f in lines[3] for f in floors)
    assert lines[-1].startswith("Average") and lines[-1].endswith("–")
    boolq = next(x for x in lines if x.startswith("BoolQ")).split()
    assert boolq[-len(floors)] == f"{manifest['majority_class']['BoolQ']:.1f}"


def test_cells_frame_orders_rows_and_columns_marks_partial_averages_and_adds_the_majority():
    import pandas as pd

    rows = [("hmnet:model", t, m) for t, m in (("MNLI-m", 50.0), ("BoolQ", 60.0), ("Average", 55.0))]
    rows += [("multi", t, m) for t, m in (("MNLI-m", 49.0), ("Average", 49.0))]
    summary = pd.DataFrame([{"variant": v, "task": t, "n": 2, "mean": m, "ci_low": m - 1.0, "ci_high": m + 1.0}
                            for v, t, m in rows])
    partial = summary["variant"].eq("multi") & summary["task"].eq("Average")
    frame = store.cells_frame(summary, {"MNLI": 35.2, "BoolQ": 64.2}, ("multi",), marked=partial)
    assert list(frame.index) == ["MNLI-m", "BoolQ", "Average"]  # the summary's order, not alphabetical
    assert list(frame.columns) == ["multi", "hmnet:model", "majority class"]
    assert frame.loc["Average", "multi"] == "49.0 ± 1.0 (n=2) partial" and frame.loc["BoolQ", "multi"] == "–"
    assert list(frame["majority class"]) == ["35.2", "64.2", "–"]
    frame = store.cells_frame(summary, {"MNLI": 35.2, "BoolQ": 64.2}, ("multi",), best={"BoolQ": 64.5})
    assert list(frame.columns)[-2:] == ["majority class", "best constant"]
    assert list(frame["best constant"]) == ["–", "64.5", "–"]


def test_scrub_paths_replaces_every_local_prefix(tmp_path):
    data = tmp_path / "data"
    text = f"out {tmp_path}/store/x.json data {data}/RTE/train.tsv repo {REPO}/hmnet home {Path.home()}/x"
    clean = store.scrub_paths(text, store.path_replacements(tmp_path / "store", data))
    assert "<out_dir>/x.json" in clean and "$HMNET_DATA_DIR/RTE/train.tsv" in clean and " ./hmnet" in clean
    assert not store.machine_paths(clean)
    assert store.machine_paths("see /work/main/x and /tmp/abc") == ["/tmp/abc", "/work/main/x"]


def test_the_committed_reference_store_is_small_portable_text():
    root = plan.STORE_ROOT
    if not root.exists():
        pytest.skip("no reference store committed yet")
    files = [p for p in root.rglob("*") if p.is_file()]
    tracked = subprocess.run(["git", "-C", str(REPO), "ls-files", str(root)], capture_output=True, text=True)
    tracked_files = {REPO / f for f in tracked.stdout.split()} if tracked.returncode == 0 else set(files)
    for path in [p for p in files if p in tracked_files]:
        assert path.suffix in (".json", ".ipynb", ".csv", ".md", ".txt", ".png", ".svg"), f"unexpected {path}"
        assert path.stat().st_size < 8 * 2**20, f"{path} is larger than 8 MiB"
        assert "checkpoints" not in path.parts and "models" not in path.parts, f"weights committed: {path}"
        if path.suffix != ".png":
            assert not store.machine_paths(path.read_text(encoding="utf-8")), f"machine path in {path}"


def test_export_writes_the_pending_runs_as_commands_and_a_valid_slurm_array(tmp_path):
    s = tmp_path / "store"
    n = len(planned(s))
    cmds = export.export_pending("smoke", None, s, ["table1"], SMALL, "cmd").splitlines()
    assert len(cmds) == n and all(c.startswith("hmnet train --config-json ") for c in cmds)
    assert all(f"--results {s / 'results'}" in c for c in cmds)
    script = tmp_path / "array.sh"
    script.write_text(export.export_pending("smoke", None, s, ["table1"], SMALL, "slurm", ["--time=01:00:00"]))
    text = script.read_text()
    assert f"#SBATCH --array=0-{n - 1}" in text and "#SBATCH --time=01:00:00" in text
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0


def test_the_reference_book_builds_from_the_store_alone(tmp_path, monkeypatch):
    """What `make book` does on a fresh clone: no data, no training, only the committed store."""
    from hmnet.book.build import build_book

    v1 = store_dir("local", "v1")
    if not (v1 / "notebooks").is_dir():
        pytest.skip("the reference store holds no executed notebooks yet")
    monkeypatch.delenv("HMNET_DATA_DIR", raising=False)
    index = build_book("local", out=v1, run=False, build_root=tmp_path, progress=False, store_only=True)
    html = index.parent
    table2 = (html / "notebooks" / "01_task_relevance.html").read_text()
    assert "Where these numbers come from" in table2 and "Table 2" in table2
    stores = page_stores("local", v1)  # per page, the newest protocol whose store completes its sections
    for page, stem, section in (("03", "03_main_results", "table1"), ("04", "04_shared_layers", "shared_layers")):
        text = (html / "notebooks" / f"{stem}.html").read_text()
        shown, protocol = stores[page]
        done = store.read_manifest(shown)["sections"][section]
        assert f"{done['complete']} of {done['planned']}" in text, page
        assert f"Protocol <strong>{protocol}</strong>" in text, f"page {page} says which protocol it shows"
    claims = (html / "book" / "claims.html").read_text()
    import re

    stores = re.findall(r"Reference store <code[^>]*><span[^>]*>([^<]+)</span>", claims)
    assert "reference/local" not in stores, "this book is v1's store: not listed again"
    assert "reference/local-v2" in stores, "the other protocol's store has its own ledger"
    for page in html.rglob("*.html"):
        assert not store.machine_paths(page.read_text(errors="replace")), page


def test_a_page_banner_states_the_notebook_parameters_its_runs_used():
    """Figure 3 trains on more rows than the profile's cap: its banner says so, beside the profile's settings."""
    manifest = store.read_manifest(store_dir("local", "v1"))
    fig3 = banners.store_banner(manifest, "04")
    rows = get_protocol("local", "v1").parameters("04")["max_train_examples"]
    assert "at most 1000 training" in fig3 and rows == 3000
    assert f"`max_train_examples={rows}`" in fig3 and '`pair=["MNLI", "BoolQ"]`' in fig3
    assert "notebook parameters" not in banners.store_banner(manifest, "02")  # the reference build sets none there


def test_every_committed_record_still_has_its_key(shared_data_dir, cpu_kind):
    """A refactor keeps every stored result: each committed record's config, with the data directory where
    the files are here, recomputes to the key the record names (what `hmnet campaign` looks up), on a machine
    like the one it ran on: an "auto" precision key holds what "auto" meant there (native bf16 or not), so on
    another kind of CPU it rightly names another computation."""
    import dataclasses

    from hmnet.experiments import RunConfig

    records = sorted(p for v in ("v1", "v2") for p in (store_dir("local", v) / "results").glob("*.json"))
    if not records:
        pytest.skip("no committed records yet")
    for path in records:
        payload = json.loads(path.read_text())
        # records older than the machine field all ran in bf16 on CPUs with native bf16 (the v1 store)
        cpu_kind("(no native bf16)" not in (payload["env"].get("machine") or ""))
        config = RunConfig.from_dict({**payload["config"], "data_dir": str(shared_data_dir)})
        assert config.key() == payload["key"], f"{path.name}: the key moved; bump nothing, fix the refactor"
        assert dataclasses.replace(config).result_name() == path.name


def test_the_smoke_campaign_plans_every_section(tmp_path):
    """The reference parameters hold on any backbone depth (the smoke profile's tiny encoder has 4 layers)."""
    smoke = campaign_plan("smoke", None, tmp_path)
    assert {p.section for p in smoke} == set(registry().names) - {"attention", "table1_ours"}
    assert "waits" in smoke.waiting["attention"]  # Appendix C's pairs come from Eq. 4's stored runs
    assert "not grouped by notebook 02 yet" in smoke.waiting["table1_ours"]  # nor our grouping yet


def test_the_reference_plan_has_the_stated_size(shared_data_dir, tmp_path, cpu_kind):
    """The plan book/reproduce.md states: Table 1 with three seeds, the HF cross-check, Eq. 4 on six tasks,
    one affinity run on all the tasks, Figure 3 (on all of BoolQ's carved rows), Figure 4 (the model grouping
    at every split and seed, and the baseline) and Appendix C once Eq. 4 has run, and every stored record
    belongs to it (planned on a CPU like the ones v1 ran on: its "auto" keys mean bf16 there)."""
    cpu_kind(True)
    known = registry()
    v2 = campaign_plan("local", str(shared_data_dir), tmp_path / "v2", protocol="v2")
    assert {s: sum(p.section == s for p in v2) for s in ("table1", "shared_layers")} == {"table1": 99,
                                                                                       "shared_layers": 12}
    assert {p.section for p in v2} == {"table1", "shared_layers"}, "protocol v2 plans only what it registered"
    assert sum(p.config.method == "skillnet" for p in v2) == 3 and {p.config.seed for p in v2} == set(range(6))
    v1 = campaign_plan("local", str(shared_data_dir), tmp_path, protocol="v1")
    sizes = {s: sum(p.section == s for p in v1) for s in known.names}
    assert sizes == {"table1": 51, "hf_check": 9, "pairwise": 45, "affinity": 1, "shared_layers": 21, "layer_grid": 24,
                     "attention": 0, "table1_ours": 0}
    assert "Eq. 4's gains with RTE" in v1.waiting["attention"]  # planned once they are stored
    registered = get_protocol("local", "v1")
    affinity = next(p.config for p in v1 if p.section == "affinity")
    assert len(affinity.tasks) == 12 and affinity.affinity_every == registered.parameters("01")["affinity_every"] == 50
    grid = [p.config for p in v1 if p.section == "layer_grid" and p.config.method == "hmnet"]
    assert {c.tag("grouping") for c in grid} == {"model"}
    assert list(grid[0].tasks) == registered.parameters("05")["grid_tasks"]
    assert {c.split for c in grid} == set(report.layer_grid(6))
    for split in report.layer_grid(6):
        assert sorted(c.seed for c in grid if c.split == split) == [0, 1, 2]
    from hmnet.data import load_run_task

    figure3 = next(p.config for p in v1 if p.section == "shared_layers")
    assert len(load_run_task(figure3, "BoolQ")["train"]) == 2616, "Figure 3 trains on all of BoolQ's carved rows"
    names = {p.config.result_name() for p in v1 if known.get(p.section).trainer == "train"}
    # Table 1's extra rows are planned from the store's own groupings (tables/groupings_ours.json)
    v1_store = store_dir("local", "v1")
    ours = campaign_plan("local", str(shared_data_dir), v1_store, ["table1_ours"], protocol="v1")
    assert {(p.config.tag("grouping"), p.config.tag("origin")) for p in ours} == {("lookahead", "ours")}
    names |= {p.config.result_name() for p in ours}
    stored = {path.name for path in (v1_store / "results").glob("*.json")}
    assert stored <= names, sorted(stored - names)
    v2_stored = {path.name for path in (store_dir("local", "v2") / "results").glob("*.json")}
    assert v2_stored <= {p.config.result_name() for p in v2}, "every v2 record belongs to the registered plan"


def test_a_run_that_does_not_fit_the_budget_is_passed_over_for_one_that_does(monkeypatch, tmp_path):
    """Backfill: with 30 minutes left, a 50-minute multi-task run waits and the next seed's short runs start;
    nothing starts when nothing fits, and the report says the budget ended the campaign."""
    import time as time_

    from hmnet.profiles import get_profile
    from hmnet.sections.base import PlannedRun

    prof = get_profile("smoke", tasks=("RTE", "MRPC"))
    runs = [PlannedRun("table1", prof.run_config("multi", seed=1)),
            *(PlannedRun("table1", prof.run_config("single", tasks=(t,), seed=2)) for t in ("RTE", "MRPC"))]
    minutes = {"multi": 50.0, "single": 5.0}
    monkeypatch.setattr(campaign, "projected_seconds",
                        lambda config, rates, done=0.0: 60 * minutes[config.method] * (1 - done))
    monkeypatch.setattr(campaign, "_locked_by_another", lambda config, results: False)

    class Pool:
        started: list = []

        def apply_async(self, fn, args):
            self.started.append(json.loads(args[0])["method"])
            return object()

    report = campaign.CampaignReport()
    runner = campaign._Runner(tmp_path, registry(), list(runs), {}, report, 2, 1800.0, time_.monotonic() + 1800.0,
                              0.1, 5.0, print, dict)
    pool = Pool()
    runner.start_runs(pool)
    assert pool.started == ["single", "single"] and [p.config.method for p in runner.pending] == ["multi"]
    assert report.stopped_by == "budget"
    runner.running.clear()
    runner.start_runs(pool)  # the 50-minute run still does not fit: nothing more starts
    assert pool.started == ["single", "single"] and len(runner.pending) == 1
    runner.done = {runs[0].config.key(): 0.6}  # its checkpoints hold 60% of its steps: 20 minutes are left
    runner.start_runs(pool)
    assert pool.started == ["single", "single", "multi"] and not runner.pending


def test_a_manifest_written_before_runs_carried_tags_is_named_with_the_fix(tmp_path, capsys):
    from hmnet.cli import main

    manifest = json.loads((store_dir("local", "v1") / "manifest.json").read_text())
    for run in manifest["sections"]["table1"]["runs"]:
        run.pop("tags")
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert main(["results", "table1", "--store", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "without their tags" in err and "hmnet campaign status" in err


@pytest.mark.parametrize("protocol", ["v1", "v2"])
def test_results_claims_prints_the_ledger_the_book_shows(capsys, protocol):
    """`hmnet results claims` prints every claim of the store's ledger with its verdict and its comparisons as
    the book computes them; a claim whose section the protocol leaves out gives the registered reason."""
    from hmnet.analysis.verdicts import Comparison, verdict_counts
    from hmnet.cli import main
    from hmnet.protocol import get_protocol

    folder = store_dir("local", protocol)
    if store.read_manifest(folder) is None:
        pytest.skip(f"no committed {protocol} store")
    assert main(["results", "claims", "--profile", "local", "--protocol", protocol]) == 0
    out = capsys.readouterr().out
    frame = store.ledger_for(folder)
    assert ", ".join(f"{n} {v}" for v, n in verdict_counts(frame).items()) in out.splitlines()[1]
    for i, row in enumerate(frame.itertuples(index=False), 1):
        assert f"{i:2d}. {row.claim} [{row.verdict}]" in out
        for m in row.members:
            assert (Comparison(**m).short() in out) != (m["n"] == 0 and row.source in get_protocol(
                "local", protocol).not_run)
    for section, reason in get_protocol("local", protocol).not_run.items():
        if section in set(frame["source"]):
            assert f"left out by protocol {protocol}: {reason}" in out
