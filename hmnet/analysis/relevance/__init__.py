"""Task relevance (Section 3.2): data property (Eq. 1-2), manual design, model-based (Eq. 3-4), and a
cheap lookahead affinity measured inside one multi-task run (beyond the paper).

Every relevance matrix is a square pandas DataFrame with **index = source task, columns = target task**
(``df.index.name == "source"``, ``df.columns.name == "target"``), in percent like the paper's Tables 2
and 3:

- vocabulary co-occurrence, Eq. (2): ``[s, t] = 100 |V_s ∩ V_t| / |V_t|`` (Eq. (1) with
  ``normalize="source"``: ``/ |V_s|``);
- model-based, Eq. (4): ``[s, t] = 100 (f_{t|s} - f_t) / f_t``, the gain of target t when trained jointly
  with source s (Eq. (3) is the same quantity seen from the other task of the pair);
- lookahead affinity: ``[s, t] = 100 (1 - L_t(θ - lr ∇L_s) / L_t(θ))``, averaged over training.

What a "word" is and which splits are read is not stated in the paper; :class:`VocabConfig` makes both
configurable. :func:`vocab_candidates_table` measures every candidate against the published Table 2
cells of the tasks whose complete training split is available. The BERT WordPiece vocabulary of the
training split (uncased bert-base vocabulary, here through MiniLM's identical tokenizer) reproduces
the published cells to within rounding (mean absolute error 0.004 points, max 0.03, measured on RTE,
WNLI, CB, SST-2, MRPC, STS-B and MultiRC), so it is the default.

Modules: :mod:`.vocabulary` (Eq. 1-2 and the word-definition candidates), :mod:`.model_based` (Eq. 3-4, the
manual design, comparing the cheap affinity with the pairwise one), :mod:`.matrices` (the DataFrame shape,
save and load). The lookahead measurement itself runs inside training (:mod:`hmnet.train.affinity`).
"""

from hmnet.analysis.relevance.matrices import load_matrix, relevance_frame, save_matrix
from hmnet.analysis.relevance.model_based import (compare_affinity, cost_fraction, manual_grouping, model_relevance,
                                                  model_relevance_from_results, spearman_bootstrap_ci)
from hmnet.analysis.relevance.vocabulary import (DEFAULT_VOCAB, SPLIT_CHOICES, VOCAB_CANDIDATES, WORDS, VocabConfig,
                                                 VocabularyCache, bootstrap_vocab_matrices, paper_errors,
                                                 tasks_with_splits, vocab_candidates_table, vocab_cooccurrence,
                                                 vocab_relevance)


def __getattr__(name: str):
    # The lookahead measurement lives with the trainer (it needs torch); import it only when asked for.
    if name == "LookaheadAffinity":
        from hmnet.train.affinity import LookaheadAffinity

        return LookaheadAffinity
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_VOCAB", "SPLIT_CHOICES", "VOCAB_CANDIDATES", "WORDS", "LookaheadAffinity", "VocabConfig",
    "VocabularyCache", "bootstrap_vocab_matrices", "compare_affinity", "cost_fraction", "load_matrix",
    "manual_grouping", "model_relevance", "model_relevance_from_results", "paper_errors", "relevance_frame",
    "save_matrix", "spearman_bootstrap_ci", "tasks_with_splits", "vocab_candidates_table", "vocab_cooccurrence",
    "vocab_relevance",
]
