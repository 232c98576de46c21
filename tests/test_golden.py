"""Golden behaviour: the guard of the training-semantics version (``hmnet.experiments.TRAINING_SEMANTICS``).

A run's cache key holds a hand-bumped version instead of a hash of the source, so that a refactor keeps every
stored result (the committed reference store included). This test is what makes that safe: a few tiny,
deterministic runs (fp32, one thread, synthetic data, a random 4-layer BERT) covering every method, length
grouping, temperature sampling, dropout and the affinity measurement, whose per-step losses, final scores and
affinity matrix must equal the stored values within a tight tolerance.

- A pure refactor passes untouched.
- A change to what training computes fails here. Then bump ``TRAINING_SEMANTICS`` (every stored result is
  recomputed) and regenerate the golden values: ``python tests/test_golden.py --update``.
- A bump without regenerating fails too (the stored values name the version they belong to).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

GOLDEN = Path(__file__).resolve().with_name("golden") / "training_semantics.json"
LOSS_TOL = 1e-4  # absolute, per step (fp32 on one thread; other CPUs differ in the last bits only)
SCORE_TOL = 1e-3  # points (0-100)


def golden_configs():
    from hmnet.profiles import get_profile

    prof = get_profile("smoke", tasks=("RTE", "MRPC", "CB"), scale=0.5, batch_size=16, max_examples=40,
                       max_eval_examples=60, epochs=2, mixed_precision="no", lr=2e-3)
    return {
        "single": prof.run_config("single", tasks=("RTE",)),
        "multi": prof.run_config("multi", group_by_length=True),
        "skillnet": prof.run_config("skillnet", epochs=1, sampling="temperature", temperature=2.0),
        "hmnet": prof.run_config("hmnet", clusters={"a": ("RTE", "CB"), "b": ("MRPC",)}, split=(2, 1, 1),
                                 affinity=True, affinity_every=3, warmup_ratio=0.1, dropout=0.0),
        # protocol v2's settings: mean pooling, length grouping in small chunks, a minimum of optimizer steps
        "v2": prof.run_config("hmnet", clusters={"a": ("RTE",), "b": ("MRPC", "CB")}, split=(1, 2, 1),
                              pooling="mean", group_by_length=True, length_chunk=1, min_steps=20),
    }


def measure(results_dir: Path) -> dict:
    from hmnet.train import train

    out = {}
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for name, config in golden_configs().items():
            r = train(config, results_dir / name, progress=False, cpu=True, checkpoint_minutes=None)
            out[name] = {
                "steps": len(r.train_loss),
                "train_loss": [round(float(x), 7) for x in r.train_loss],
                "scores": {t: (list(s) if isinstance(s, tuple) else s) for t, s in r.scores.items()},
                "affinity": None if r.affinity is None else
                [[None if not np.isfinite(v) else round(float(v), 7) for v in row] for row in r.affinity.to_numpy()],
            }
    finally:
        torch.set_num_threads(old)
    return out


def _close(a, b, tol: float, where: str) -> list[str]:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        return [f"{where}: shape {b.shape}, stored {a.shape}"]
    diff = np.abs(np.nan_to_num(a, nan=1e9) - np.nan_to_num(b, nan=1e9))
    if (diff > tol).any():
        i = int(np.argmax(diff))
        return [f"{where}: max difference {diff.max():.3g} at index {i} (stored {a.ravel()[i]:.7g}, "
                f"now {b.ravel()[i]:.7g}; tolerance {tol})"]
    return []


def test_training_semantics_match_the_golden_runs(tmp_path):
    from hmnet.experiments import TRAINING_SEMANTICS

    assert GOLDEN.exists(), f"{GOLDEN} is missing: run `python tests/test_golden.py --update`"
    stored = json.loads(GOLDEN.read_text())
    assert stored["training_semantics"] == TRAINING_SEMANTICS, (
        f"TRAINING_SEMANTICS is {TRAINING_SEMANTICS} but the golden values belong to version "
        f"{stored['training_semantics']}: regenerate them with `python tests/test_golden.py --update`")
    now = measure(tmp_path)
    problems = []
    for name, ref in stored["runs"].items():
        got = now[name]
        if got["steps"] != ref["steps"]:
            problems.append(f"{name}: {got['steps']} steps, stored {ref['steps']}")
            continue
        problems += _close(ref["train_loss"], got["train_loss"], LOSS_TOL, f"{name} per-step loss")
        for task, s in ref["scores"].items():
            problems += _close(s, got["scores"][task], SCORE_TOL, f"{name} {task} score")
        if ref["affinity"] is not None:
            problems += _close(ref["affinity"], got["affinity"], LOSS_TOL, f"{name} affinity")
    assert not problems, ("what a run computes has changed; if intended, bump TRAINING_SEMANTICS in "
                          "hmnet/experiments.py and run `python tests/test_golden.py --update`:\n  "
                          + "\n  ".join(problems))


def test_the_key_names_the_precision_that_ran(tmp_path, monkeypatch):
    """'auto' is resolved before the key is made: the key and the record name the precision that ran, and the
    same config on a CPU with native bf16 and on one without gets two keys (hmnet.precision)."""
    from hmnet import precision
    from hmnet.train import train

    config = golden_configs()["single"]
    auto = type(config)(**{**config.to_dict(), "mixed_precision": "auto", "epochs": 1})
    resolved = precision.resolve_precision("auto", "cpu")
    result = train(auto, tmp_path, progress=False, cpu=True, checkpoint_minutes=None)
    assert result.env["mixed_precision"] == resolved
    assert auto.key_payload()["config"]["mixed_precision"] == ("auto" if resolved == "bf16" else f"auto->{resolved}")
    here = auto.key()
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: resolved != "bf16")
    assert auto.key() != here, "the other CPU kind: another key"
    assert golden_configs()["single"].key_payload()["config"]["mixed_precision"] == "no"


def test_golden_values_cover_every_method_and_name_their_version():
    from hmnet.experiments import METHODS

    stored = json.loads(GOLDEN.read_text())
    assert {c.method for c in golden_configs().values()} == set(METHODS)
    assert set(stored["runs"]) == set(golden_configs())
    assert all(r["steps"] > 5 and len(r["train_loss"]) == r["steps"] for r in stored["runs"].values())


if __name__ == "__main__":
    import tempfile

    if sys.argv[1:2] != ["--update"]:
        sys.exit("usage: python tests/test_golden.py --update [--all]   (writes tests/golden/training_semantics.json:"
                 " the values of new runs, or with --all, after a TRAINING_SEMANTICS bump, of every run)")
    from hmnet.experiments import TRAINING_SEMANTICS
    from hmnet.results import atomic_write_bytes

    with tempfile.TemporaryDirectory() as tmp:
        runs = measure(Path(tmp))
    if GOLDEN.exists() and "--all" not in sys.argv:  # keep the stored values of the runs already there
        before = json.loads(GOLDEN.read_text())
        if before["training_semantics"] == TRAINING_SEMANTICS:
            runs = {name: before["runs"].get(name, value) for name, value in runs.items()}
    atomic_write_bytes(GOLDEN, (json.dumps({"training_semantics": TRAINING_SEMANTICS, "runs": runs}, indent=1)
                                + "\n").encode())
    print(f"wrote {GOLDEN}")
