"""How a registered protocol priced its runs before they ran, and what they cost once they did.

The v2 projection (``hmnet/protocols/local-v2.json``, computed by ``scripts/plan_protocol.py``) priced each
planned run from v1's wall time of the run of the same shape (method, tasks, layout, row cap; mean over v1's
seeds, per epoch), times the epochs it trains, times two factors measured in the pilot: fp32 against bf16 and
chunk-8 against chunk-100 length grouping. :func:`measured_against_priced` sets the stored runs' measured wall
time beside that price, per section and per machine, so the projection is checked as the campaign runs.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from hmnet.experiments import RunConfig

# fp32 against bf16 on the AVX512-BF16 EPYC kind, one thread, the same MRPC single-task run side by side:
# 177 s against 109 s (pilot, commit 5bb7cb9). Length grouping in chunks of 8 batches instead of 100 pads more:
# the real-token share of a 1,000-row task's batches falls by 2-7% on the long tasks (IMDB, BoolQ, RTE) that
# dominate the cost (measured with hmnet.data.padding_efficiency on the bundle).
FP32_OVER_BF16 = 177 / 109
CHUNK8_OVER_CHUNK100 = 1.05
BASIS = "v1 wall times of the same runs x fp32/bf16 (1.62, measured) x chunk-8 padding (1.05)"


def run_shape(config: RunConfig) -> tuple:
    """What makes two runs cost the same apart from seed and recipe: method, tasks, layout and row cap."""
    return (config.method, tuple(config.tasks), config.split, json.dumps(config.clusters, sort_keys=True),
            config.max_examples)


def seconds_per_epoch(records: Iterable) -> dict[tuple, float]:
    """Mean wall seconds per epoch of the stored runs of each :func:`run_shape` (over their seeds)."""
    found = defaultdict(list)
    for r in records:
        found[run_shape(r.config)].append(r.wall_time / r.config.epochs)
    return {shape: float(np.mean(v)) for shape, v in found.items()}


def priced_seconds(config: RunConfig, epochs: float, per_epoch: Mapping[tuple, float]) -> float | None:
    """A run's price in wall seconds on one thread (None when no basis run has its shape)."""
    base = per_epoch.get(run_shape(config))
    return None if base is None else base * epochs * FP32_OVER_BF16 * CHUNK8_OVER_CHUNK100


def measured_against_priced(runs: Iterable[tuple[str, object]], per_epoch: Mapping[tuple, float],
                            by: str = "section") -> pd.DataFrame:
    """Stored runs, given as (section, record), with their measured run-hours beside their price, grouped `by`
    ``"section"`` or ``"machine"``. The ratio is over the priced runs only; a run with ``min_steps`` trains more
    epochs than its ``epochs`` say and, like a run of a shape the basis lacks, is counted as unpriced."""
    rows = []
    for section, r in runs:
        c = r.config
        price = None if c.min_steps else priced_seconds(c, c.epochs, per_epoch)
        hours = r.wall_time / 3600
        rows.append({"section": section, "machine": (r.env or {}).get("machine", "?").removeprefix("cpu: "),
                     "runs": 1, "measured run-hours": hours,
                     "priced run-hours": 0.0 if price is None else price / 3600,
                     "measured of priced": 0.0 if price is None else hours, "unpriced runs": int(price is None)})
    columns = [by, "runs", "measured run-hours", "priced run-hours", "measured / priced", "unpriced runs"]
    if not rows:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(rows).groupby(by, sort=False).sum(numeric_only=True).reset_index()
    priced = frame["priced run-hours"].where(frame["priced run-hours"] > 0)
    frame["measured / priced"] = frame["measured of priced"] / priced
    return frame[columns]


__all__ = ["BASIS", "CHUNK8_OVER_CHUNK100", "FP32_OVER_BF16", "measured_against_priced", "priced_seconds",
           "run_shape", "seconds_per_epoch"]
