"""Notebook 03's cross-check of the single-task column against the Hugging Face Trainer (``hmnet.hf_check``).

The HF runs are made by the campaign (``hmnet campaign run --sections hf_check``), never by the notebook: the
page shows what the store holds.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from hmnet.report.parameters import RunParameters


def hf_crosscheck(params: RunParameters, results: Sequence) -> tuple[pd.DataFrame | None, str]:
    """(per task: our single-task score, the HF Trainer's, the paired difference with its 95% CI and whether
    they agree within noise; or None) and a sentence saying what was compared."""
    from hmnet.hf_check import HF_TASKS, comparison, read_record, record_path

    singles = [r for r in results if r.config.method == "single" and r.config.tasks[0] in HF_TASKS]
    records = [rec for r in singles if (rec := read_record(record_path(params.out_dir, r.config), r.config))]
    if not records:
        return None, (f"No Hugging Face Trainer runs are stored for {', '.join(HF_TASKS)} in this build "
                      "(`hmnet campaign run --sections hf_check` makes them).")
    _, summary = comparison(singles, records)
    agree = summary[summary["agree within noise"]]["task"].tolist()
    parts = [f"{row['task']} {row['ours']:.1f} vs {row['HF Trainer']:.1f} (difference {row['mean difference']:+.1f}, "
             f"95% CI [{row['ci_low']:+.1f}, {row['ci_high']:+.1f}])" for row in summary.to_dict("records")]
    text = (f"The HF Trainer, trained on the same model, rows and settings, against our single-task runs over "
            f"{len(records)} paired seeds: {'; '.join(parts)}. Within noise: {', '.join(agree) if agree else 'none'}.")
    return summary, text
