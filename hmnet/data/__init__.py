"""Data: three sources behind one interface, encoding, collation and Algorithm 1 batches.

Sources (:mod:`.sources` holds the one interface, :func:`load_task`)
- ``hub``: ``datasets.load_dataset`` with the hub ids in :mod:`hmnet.tasks` (what users run; :mod:`.hub`);
- ``directory``: the official GLUE TSV / SuperGLUE JSONL / aclImdb layouts under ``<data_dir>/<TASK>/``
  (:mod:`.directory`, whose docstring lists what the readers accept);
- ``synthetic``: the seeded suite of :mod:`hmnet.synthetic` (smoke profile).

Every source yields :class:`Example` rows with class indices (floats for STS-B) (:mod:`.examples`).
Bad input raises :class:`DataError` naming the file, the line and the problem;
rows are never silently dropped or shifted (the GLUE files hold quote
characters, so TSV lines are split on tabs only, never parsed as CSV).

:mod:`.encoding` turns rows into token ids (:class:`TextEncoder`, paper Section 4.3); :mod:`.sampling` packs
them into Algorithm 1's minibatches (:class:`MultiTaskBatches`) and pads them (:func:`collate`).
"""

from hmnet.data.directory import available_tasks, find_file, read_split
from hmnet.data.encoding import EncodedSplit, EncodedTask, TextEncoder
from hmnet.data.examples import SCORE_RANGES, Example, TaskData
from hmnet.data.hub import dataset_cached, hub_examples, load_hub_split, verify_hub_data
from hmnet.data.sampling import MultiTaskBatches, collate, padding_efficiency
from hmnet.data.sources import (carve, carve_notes, check_directory, load_run_task, load_task, load_tasks,
                                official_files, subsample, train_row_counts)
from hmnet.errors import DataError

__all__ = [
    "SCORE_RANGES", "DataError", "EncodedSplit", "EncodedTask", "Example", "MultiTaskBatches", "TaskData",
    "TextEncoder", "available_tasks", "carve", "carve_notes", "check_directory", "collate", "find_file",
    "dataset_cached", "hub_examples", "load_hub_split", "verify_hub_data",
    "load_run_task", "load_task", "load_tasks", "official_files", "padding_efficiency", "read_split", "subsample",
    "train_row_counts",
]
