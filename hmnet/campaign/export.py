"""The campaign's pending runs for another scheduler: `hmnet train` commands (one a line, for ``xargs -P``) or a
SLURM array script (one array task a run). Either trains into the same store the runner fills, so a store is
the same whoever ran its runs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hmnet.campaign.plan import campaign_plan, is_stored
from hmnet.experiments import ConfigError
from hmnet.sections import registry


def export_pending(profile: str, data_dir: str | None, store: str | Path, sections: Iterable[str] | None = None,
                   overrides: Mapping[str, Any] | None = None, fmt: str = "cmd",
                   slurm_options: Sequence[str] = (), protocol: str | None = None) -> str:
    """The pending runs as `hmnet train` commands (one a line, for ``xargs -P``) or as a SLURM array script
    (one array task a run). Either trains into ``<store>/results``: the same store the runner fills. The
    Hugging Face cross-check runs and Appendix C's (which keep their models) are left to ``hmnet campaign
    run --sections hf_check attention``."""
    import shlex

    store = Path(store)
    results_dir = store / "results"
    known = registry()
    pending = [p.config for p in campaign_plan(profile, data_dir, store, sections, overrides, protocol, known)
               if known.get(p.section).trainer == "train" and not is_stored(p, store, known)]
    train = ["hmnet", "train", "--results", str(results_dir), "--no-progress"]
    if fmt == "cmd":
        return "\n".join(shlex.join([*train[:2], "--config-json", c.to_json(), *train[2:]]) for c in pending)
    if fmt != "slurm":
        raise ConfigError(f"export format {fmt!r} is unknown; known: cmd, slurm")
    if not pending:
        return "# nothing pending: every planned run is in the store"
    lines = ["#!/bin/bash", f"#SBATCH --job-name=hmnet-{profile}", f"#SBATCH --array=0-{len(pending) - 1}",
             *(f"#SBATCH {o}" for o in slurm_options),
             f"# {len(pending)} pending runs of the {profile} campaign, in priority order; each array task trains",
             "# one into the store (a run another task or the runner already stored is skipped). Resubmit after",
             "# a time-out: an interrupted run resumes from its checkpoint.",
             "set -euo pipefail", "CONFIGS=(", *(shlex.quote(c.to_json()) for c in pending), ")",
             'hmnet train --config-json "${CONFIGS[$SLURM_ARRAY_TASK_ID]}" '
             + " ".join(shlex.quote(x) for x in train[2:])]
    return "\n".join(lines) + "\n"


__all__ = ["export_pending"]
