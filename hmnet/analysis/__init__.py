"""Analyses of tasks and trained models: task relevance (:mod:`.relevance`), k-means groupings
(:mod:`.clustering`), attention similarity (:mod:`.attention`) and the paper's own numbers (:mod:`.paper`).

Submodules are imported on demand (``from hmnet.analysis import relevance``), so this package imports
nothing heavy by itself.
"""
