"""Analyses of tasks and trained models: task relevance (:mod:`.relevance`), k-means groupings
(:mod:`.clustering`), attention similarity (:mod:`.attention`), Table 1's parameter rows counted on the models
(:mod:`.parameters`), what a build discloses (:mod:`.disclosure`) and the verdicts of the claims ledger
(:mod:`.verdicts`). The paper's own numbers are data, in :mod:`hmnet.paper`.

Submodules are imported on demand (``from hmnet.analysis import relevance``), so this package imports
nothing heavy by itself.
"""
