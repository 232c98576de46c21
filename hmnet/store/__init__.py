"""Results stores: a folder whose ``results/`` holds one verified record per run, named by the run's cache key
(:mod:`hmnet.results`), and whose manifest (:mod:`.manifest`) lists each section's planned runs with their tags.
A committed store (``reference/<store>``) is what the reference book renders, so nothing in it names a path of
the machine that produced it (:mod:`.scrub`).

- :mod:`.manifest`: reading and writing the manifest (planned and complete runs, settings, data files, floors,
  disclosure);
- :mod:`.records`: a build's runs section by section (a store's through its manifest, a plain folder's by
  their tags), the ledger's evidence and the claims ledger of a build;
- :mod:`.scrub`: path scrubbing;
- :mod:`.view`: the terminal view (``hmnet results``).
"""

from hmnet.store.manifest import MANIFEST, read_manifest, write_manifest
from hmnet.store.records import build_runs, evidence, ledger_for, section_records, store_analysis
from hmnet.store.scrub import machine_paths, path_replacements, scrub_file, scrub_paths
from hmnet.store.view import cells_frame, section_results_table

__all__ = ["MANIFEST", "read_manifest", "write_manifest", "build_runs", "evidence", "ledger_for", "section_records",
           "store_analysis", "machine_paths", "path_replacements", "scrub_file", "scrub_paths", "cells_frame",
           "section_results_table"]
