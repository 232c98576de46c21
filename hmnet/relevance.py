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
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from collections.abc import Iterable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from hmnet.clustering import Grouping, canonical_groups
from hmnet.errors import DataError, read_text
from hmnet.tasks import TASK_NAMES, get_task, manual_groups, resolve_tasks

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

WORDS = ("whitespace", "regex", "bert_basic", "wordpiece")
SPLIT_CHOICES = ("train", "train+dev")
_REGEX_WORD = re.compile(r"\w+")


def _frame(values: np.ndarray, tasks: Sequence[str]) -> pd.DataFrame:
    df = pd.DataFrame(np.asarray(values, dtype=float), index=list(tasks), columns=list(tasks))
    df.index.name, df.columns.name = "source", "target"
    return df


# ---------------------------------------------------------------------------------------------------------
# data property: vocabulary co-occurrence (Eq. 1-2)


@dataclass(frozen=True)
class VocabConfig:
    """What counts as a word of a task's vocabulary, and which splits are read.

    word: ``whitespace`` (``str.split``, case kept), ``regex`` (lower-cased ``\\w+`` runs), ``bert_basic``
    (the BERT tokenizer's words before WordPiece: lower-cased, accents stripped, punctuation split) or
    ``wordpiece`` (the BERT tokenizer's WordPiece tokens). splits: ``train`` or ``train+dev`` (train plus
    the task's evaluation splits). tokenizer: the backbone whose tokenizer defines ``bert_basic`` and
    ``wordpiece`` (hmnet.backbone.load_tokenizer).
    """

    word: str = "wordpiece"
    splits: str = "train"
    tokenizer: str = "minilm"

    def __post_init__(self):
        if self.word not in WORDS:
            raise ValueError(f"word definition {self.word!r} is unknown; known: {', '.join(WORDS)}")
        if self.splits not in SPLIT_CHOICES:
            raise ValueError(f"splits {self.splits!r} is unknown; known: {', '.join(SPLIT_CHOICES)}")

    def split_names(self, task: str) -> tuple[str, ...]:
        return ("train",) if self.splits == "train" else ("train", *get_task(task).eval_splits)

    @property
    def needs_tokenizer(self) -> bool:
        return self.word in ("bert_basic", "wordpiece")

    @property
    def label(self) -> str:
        return f"{self.word} / {self.splits}"


DEFAULT_VOCAB = VocabConfig("wordpiece", "train")
VOCAB_CANDIDATES: tuple[VocabConfig, ...] = tuple(VocabConfig(w, s) for s in SPLIT_CHOICES for w in WORDS)


class VocabularyCache:
    """Loads task texts once and tokenizes each distinct text once per word definition.

    Tokens are interned to integers per (word, tokenizer); per split it keeps one token-id array per
    example, so vocabularies, their unions over splits and bootstrap resamples of examples are cheap.
    """

    def __init__(self, source: str = "directory", data_dir: str | Path | None = None, scale: float = 1.0):
        if source == "directory" and data_dir is None:
            raise ValueError("the directory source needs data_dir")
        self.source, self.data_dir, self.scale = source, data_dir, scale
        self._texts: dict[tuple[str, str], list[tuple[str, ...]]] = {}
        self._tokens: dict[tuple[str, str, str, str], list[np.ndarray]] = {}
        self._interners: dict[tuple[str, str], dict[Any, int]] = {}
        self._tokenizers: dict[str, Any] = {}

    def texts(self, task: str, split: str) -> list[tuple[str, ...]]:
        """The non-empty texts (text_a, text_b, text_c) of each example of one split."""
        key = (task, split)
        if key not in self._texts:
            from hmnet.data import load_task

            data = load_task(task, source=self.source, data_dir=self.data_dir, splits=[split], scale=self.scale)
            self._texts[key] = [tuple(t for t in (ex.text_a, ex.text_b, ex.text_c) if t) for ex in data[split]]
        return self._texts[key]

    def _tokenizer(self, name: str):
        if name not in self._tokenizers:
            from hmnet.backbone import load_tokenizer

            tok = load_tokenizer(name)
            if tok is None:
                raise ValueError(f"backbone {name!r} has no tokenizer")
            self._tokenizers[name] = tok
        return self._tokenizers[name]

    def _split_words(self, texts: list[str], word: str, tokenizer: str) -> list[list]:
        if word == "whitespace":
            return [t.split() for t in texts]
        if word == "regex":
            return [_REGEX_WORD.findall(t.lower()) for t in texts]
        tok = self._tokenizer(tokenizer)
        backend = getattr(tok, "backend_tokenizer", None)
        if word == "wordpiece":
            if backend is None:
                return list(tok(texts, add_special_tokens=False, verbose=False)["input_ids"])
            # Our own copy of the tokenizer: switch off the backend's truncation (MiniLM's is 128 tokens).
            backend.no_truncation()
            backend.no_padding()
            return [e.ids for e in backend.encode_batch(texts, add_special_tokens=False)]
        if backend is None:
            raise ValueError(f"word definition 'bert_basic' needs a fast tokenizer; {tokenizer!r} has none")
        norm, pre = backend.normalizer, backend.pre_tokenizer
        return [[w for w, _ in pre.pre_tokenize_str(norm.normalize_str(t) if norm else t)] for t in texts]

    def example_tokens(self, task: str, split: str, word: str, tokenizer: str = "minilm") -> list[np.ndarray]:
        """One array of token ids per example of a split (repeats allowed; WordPiece ids are the
        tokenizer's own, other words are interned per word definition)."""
        tok_key = tokenizer if word in ("bert_basic", "wordpiece") else ""
        key = (task, split, word, tok_key)
        if key not in self._tokens:
            rows = self.texts(task, split)
            unique = list(dict.fromkeys(t for row in rows for t in row))
            pieces = self._split_words(unique, word, tokenizer)
            if word == "wordpiece":
                ids_of = {text: np.asarray(ids, dtype=np.int64) for text, ids in zip(unique, pieces)}
            else:
                interner = self._interners.setdefault((word, tok_key), {})
                ids_of = {text: np.fromiter((interner.setdefault(w, len(interner)) for w in words),
                                            dtype=np.int64, count=len(words))
                          for text, words in zip(unique, pieces)}
            empty = np.zeros(0, np.int64)
            self._tokens[key] = [ids_of[row[0]] if len(row) == 1 else
                                 np.concatenate([ids_of[t] for t in row]) if row else empty for row in rows]
        return self._tokens[key]

    def n_tokens(self, config: VocabConfig) -> int:
        """Size of the token id space of a config (ids seen so far for interned words)."""
        if config.word == "wordpiece":
            return len(self._tokenizer(config.tokenizer))
        tok_key = config.tokenizer if config.needs_tokenizer else ""
        return len(self._interners.get((config.word, tok_key), {}))

    def vocabulary(self, task: str, config: VocabConfig = DEFAULT_VOCAB) -> np.ndarray:
        """The task's vocabulary as sorted interned ids (union over the configured splits)."""
        arrays = [a for split in config.split_names(task)
                  for a in self.example_tokens(task, split, config.word, config.tokenizer)]
        return np.unique(np.concatenate(arrays)) if arrays else np.zeros(0, np.int64)

    def incidence(self, task: str, config: VocabConfig, n_tokens: int) -> sparse.csr_matrix:
        """Examples x tokens 0/1 matrix of the configured splits (for bootstrap resampling)."""
        arrays = [a for split in config.split_names(task)
                  for a in self.example_tokens(task, split, config.word, config.tokenizer)]
        indptr = np.concatenate([[0], np.cumsum([len(a) for a in arrays])])
        indices = np.concatenate(arrays) if arrays else np.zeros(0, np.int64)
        return sparse.csr_matrix((np.ones(len(indices), np.float32), indices, indptr),
                                 shape=(len(arrays), n_tokens))


def _cooccurrence(presence: np.ndarray, tasks: Sequence[str], normalize: str) -> pd.DataFrame:
    if normalize not in ("target", "source"):
        raise ValueError(f"normalize must be 'target' (Eq. 2) or 'source' (Eq. 1), got {normalize!r}")
    p = presence.astype(np.float64)
    inter = p @ p.T
    sizes = p.sum(axis=1)
    empty = [t for t, n in zip(tasks, sizes) if n == 0]
    if empty:
        raise ValueError(f"task(s) {empty} have an empty vocabulary")
    denom = sizes[None, :] if normalize == "target" else sizes[:, None]
    return _frame(100.0 * inter / denom, tasks)


def vocab_cooccurrence(vocabularies: Mapping[str, Iterable], normalize: str = "target") -> pd.DataFrame:
    """Eq. (2) for every ordered pair: ``[s, t] = 100 |V_s ∩ V_t| / |V_t|`` (Eq. (1) with normalize="source").

    `vocabularies` maps task -> its vocabulary (any iterable of hashable tokens).
    """
    tasks = list(vocabularies)
    index: dict[Any, int] = {}
    sets = [{index.setdefault(w, len(index)) for w in vocabularies[t]} for t in tasks]
    presence = np.zeros((len(tasks), len(index)), dtype=bool)
    for i, s in enumerate(sets):
        presence[i, list(s)] = True
    return _cooccurrence(presence, tasks, normalize)


def tasks_with_splits(data_dir: str | Path, configs: Iterable[VocabConfig] = (DEFAULT_VOCAB,)) -> list[str]:
    """Tasks (paper order) whose files under data_dir hold every split that each config reads."""
    from hmnet.data import available_tasks

    found = available_tasks(data_dir)
    configs = list(configs)
    return [t for t in TASK_NAMES if t in found and all(s in found[t] for c in configs for s in c.split_names(t))]


def vocab_relevance(tasks: Iterable[str] | None = None, *, source: str = "directory",
                    data_dir: str | Path | None = None, config: VocabConfig = DEFAULT_VOCAB,
                    normalize: str = "target", cache: VocabularyCache | None = None,
                    scale: float = 1.0) -> pd.DataFrame:
    """The data-property relevance matrix (Eq. 2, percent) of the given tasks' texts.

    With the directory source and tasks=None, every task whose needed splits are under data_dir is used.
    Pass a shared `cache` to reuse loaded texts and tokens across calls.
    """
    cache = cache or VocabularyCache(source, data_dir, scale)
    if tasks is None:
        tasks = tasks_with_splits(cache.data_dir, [config]) if cache.source == "directory" else TASK_NAMES
        if not tasks:
            raise ValueError(f"no task under {cache.data_dir} has the splits {config.splits!r} needs")
    tasks = resolve_tasks(tasks)
    vocabs = {t: cache.vocabulary(t, config) for t in tasks}
    n = max((int(v.max()) + 1 for v in vocabs.values() if len(v)), default=0)
    presence = np.zeros((len(tasks), n), dtype=bool)
    for i, t in enumerate(tasks):
        presence[i, vocabs[t]] = True
    log.info("vocabulary sizes (%s): %s", config.label, {t: len(v) for t, v in vocabs.items()})
    return _cooccurrence(presence, tasks, normalize)


def bootstrap_vocab_matrices(tasks: Iterable[str], n: int, *, seed: int = 0,
                             config: VocabConfig = DEFAULT_VOCAB, cache: VocabularyCache | None = None,
                             source: str = "directory", data_dir: str | Path | None = None,
                             normalize: str = "target", scale: float = 1.0) -> Iterator[pd.DataFrame]:
    """`n` Eq.-2 matrices, each from a bootstrap resample (with replacement) of every task's examples."""
    if n < 1:
        raise ValueError(f"the number of bootstrap resamples must be positive, got {n}")
    cache = cache or VocabularyCache(source, data_dir, scale)
    tasks = resolve_tasks(tasks)
    for t in tasks:
        cache.vocabulary(t, config)  # tokenize everything first so the id space is complete
    n_tokens = cache.n_tokens(config)
    mats = {t: cache.incidence(t, config, n_tokens).T.tocsr() for t in tasks}  # tokens x examples
    rng = np.random.default_rng(seed)
    for _ in range(n):
        presence = np.zeros((len(tasks), n_tokens), dtype=bool)
        for i, t in enumerate(tasks):
            m = mats[t]
            counts = rng.multinomial(m.shape[1], np.full(m.shape[1], 1.0 / m.shape[1]))
            presence[i] = (m @ counts) > 0
        yield _cooccurrence(presence, tasks, normalize)


def paper_errors(ours: pd.DataFrame, published: pd.DataFrame | None = None) -> dict[str, float]:
    """Mean and max absolute difference (percentage points) from a published matrix (default Table 2),
    over the off-diagonal cells of the tasks both matrices hold."""
    if published is None:
        from hmnet.paper import table2

        published = table2()
    tasks = [t for t in ours.index if t in published.index]
    if len(tasks) < 2:
        raise ValueError(f"need at least two tasks in common with the published table, got {tasks}")
    diff = (ours.loc[tasks, tasks].to_numpy() - published.loc[tasks, tasks].to_numpy())
    off = np.abs(diff[~np.eye(len(tasks), dtype=bool)])
    return {"mae": float(off.mean()), "max_error": float(off.max()), "cells": int(off.size)}


def vocab_candidates_table(data_dir: str | Path, tasks: Iterable[str] | None = None,
                           candidates: Iterable[VocabConfig] = VOCAB_CANDIDATES,
                           cache: VocabularyCache | None = None) -> pd.DataFrame:
    """Each candidate word definition / split choice against the published Table 2.

    Compared on the tasks whose files hold every split any candidate reads (default), off-diagonal
    cells; one row per candidate with the mean and max absolute error in percentage points, best first.
    """
    candidates = list(candidates)
    cache = cache or VocabularyCache("directory", data_dir)
    tasks = resolve_tasks(tasks) if tasks is not None else tasks_with_splits(data_dir, candidates)
    if len(tasks) < 2:
        raise ValueError(f"need at least two tasks with the required splits under {data_dir}, found {tasks}")
    rows = []
    for c in candidates:
        t0 = time.perf_counter()
        errs = paper_errors(vocab_relevance(tasks, config=c, cache=cache))
        rows.append({"word": c.word, "splits": c.splits, "mae": errs["mae"], "max_error": errs["max_error"],
                     "cells": errs["cells"], "tasks": ", ".join(tasks), "default": c == DEFAULT_VOCAB,
                     "seconds": time.perf_counter() - t0})
    return pd.DataFrame(rows).sort_values("mae").reset_index(drop=True)


# ---------------------------------------------------------------------------------------------------------
# manual design (Section 4.1)


def manual_grouping(tasks: Iterable[str] | None = None) -> Grouping:
    """The four categories of Section 4.1 (from the registry), in canonical form."""
    return canonical_groups(manual_groups(tasks))


# ---------------------------------------------------------------------------------------------------------
# model-based relevance (Eq. 3-4)


def model_relevance(single_scores: Mapping[str, float],
                    pair_scores: Mapping[tuple[str, str], Mapping[str, float]]) -> pd.DataFrame:
    """Eq. (3)-(4) for every ordered pair, percent: ``[s, t] = 100 (f_{t|s} - f_t) / f_t``.

    `single_scores[t]` is f_t, task t's score trained alone; `pair_scores[(a, b)]` holds both tasks'
    scores from the joint run of a and b (either key order, once per pair). Row s, column t is the gain
    of target t from training with source s (the orientation of Table 3); the diagonal is 0, pairs
    without a joint run are NaN, and so is the column of a task whose single-task score is 0 (logged).
    """
    tasks = list(resolve_tasks(list(single_scores)))
    f = {get_task(t).name: float(v) for t, v in single_scores.items()}
    zero = [t for t, v in f.items() if v == 0 or not np.isfinite(v)]
    if zero:  # Eq. 4 divides by f_t: those targets' columns stay NaN
        log.warning("single-task score(s) of %s are zero or not finite; their relative gains are undefined (NaN)",
                    zero)
    out = np.full((len(tasks), len(tasks)), np.nan)
    np.fill_diagonal(out, 0.0)
    pos = {t: i for i, t in enumerate(tasks)}
    seen: set[frozenset] = set()
    for key, scores in pair_scores.items():
        if len(key) != 2:
            raise ValueError(f"pair key {key!r} must name two tasks")
        a, b = (get_task(k).name for k in key)
        if a == b:
            raise ValueError(f"pair {key!r} names the same task twice")
        if frozenset((a, b)) in seen:
            raise ValueError(f"pair {a}+{b} is given twice (as both orders?)")
        seen.add(frozenset((a, b)))
        missing = [t for t in (a, b) if t not in pos]
        if missing:
            raise ValueError(f"pair {key!r}: no single-task score for {missing}")
        joint = {get_task(k).name: float(v) for k, v in scores.items()}
        for s, t in ((a, b), (b, a)):
            if t not in joint:
                raise ValueError(f"pair {key!r} has no score for {t}; it has {sorted(joint)}")
            if t not in zero:
                out[pos[s], pos[t]] = 100.0 * (joint[t] - f[t]) / f[t]
    return _frame(out, tasks)


def relevance_plan(tasks: Iterable[str] | None, base: Any, seeds: Iterable[int] = (0,)) -> list:
    """The runs Eq. (3)-(4) need: every task alone, and every unordered pair jointly, per seed.

    For 13 tasks and one seed that is 13 single-task runs and 78 pairwise multi-task runs. `base` is a
    profile name ("smoke", "local", "paper"), a ``hmnet.experiments.Profile`` (the plan is then
    ``experiments.pairwise_plan``), or a ``RunConfig`` whose other fields (backbone, data, epochs, ...)
    every run keeps. tasks=None means the profile's (or the base config's) tasks.
    """
    from hmnet import experiments

    if isinstance(base, str):
        base = experiments.get_profile(base)
    seeds = [seeds] if isinstance(seeds, int) else list(seeds)
    if not seeds:
        raise ValueError("relevance_plan needs at least one seed")
    if isinstance(base, experiments.Profile):
        return experiments.pairwise_plan(base, tasks, seeds)
    if not isinstance(base, experiments.RunConfig):
        raise TypeError(f"base must be a profile name, a Profile or a RunConfig, got {type(base).__name__}")
    tasks = resolve_tasks(tasks) if tasks is not None else tuple(base.tasks)
    if len(tasks) < 2:
        raise ValueError(f"model-based relevance needs at least two tasks, got {list(tasks)}")
    common = dict(clusters=None, split=None, affinity=False)
    plan = []
    for seed in seeds:
        plan += [dataclasses.replace(base, method="single", tasks=(t,), seed=seed, name="single", **common)
                 for t in tasks]
        plan += [dataclasses.replace(base, method="multi", tasks=(a, b), seed=seed, name="pair", **common)
                 for i, a in enumerate(tasks) for b in tasks[i + 1:]]
    return plan


def model_relevance_from_results(results: Iterable[Any]) -> pd.DataFrame:
    """Eq. (4) from finished runs of :func:`relevance_plan` (scores averaged over seeds).

    Each result needs ``.config`` (with ``method`` and ``tasks``) and ``.score(task)``.
    """
    singles: dict[str, list[float]] = {}
    pairs: dict[tuple[str, str], dict[str, list[float]]] = {}
    for r in results:
        method, run_tasks = r.config.method, tuple(r.config.tasks)
        if method == "single" and len(run_tasks) == 1:
            singles.setdefault(run_tasks[0], []).append(float(r.score(run_tasks[0])))
        elif method == "multi" and len(run_tasks) == 2:
            key = tuple(sorted(run_tasks, key=TASK_NAMES.index))
            for t in key:
                pairs.setdefault(key, {}).setdefault(t, []).append(float(r.score(t)))
    if not singles:
        raise ValueError("no single-task results among the given runs")
    order = [t for t in TASK_NAMES if t in singles]
    return model_relevance({t: float(np.mean(singles[t])) for t in order},
                           {k: {t: float(np.mean(v)) for t, v in d.items()} for k, d in pairs.items()})


# ---------------------------------------------------------------------------------------------------------
# beyond the paper: lookahead affinity (Task Affinity Grouping, Fifty et al., 2021)


def _params(items: Iterable) -> list:
    """Parameters from path_parameters(): plain tensors or (name, tensor) pairs."""
    out, seen = [], set()
    for item in items:
        p = item[1] if isinstance(item, tuple) else item
        if id(p) not in seen:  # a tied weight counts once
            seen.add(id(p))
            out.append(p)
    return out


class LookaheadAffinity:
    """Inter-task affinity from lookahead steps inside one multi-task run (Fifty et al., 2021).

    ``Z[s, t] = 100 (1 - L_t(θ_s') / L_t(θ))`` where ``θ_s' = θ - lr ∇_θ L_s`` on the parameters shared by
    the paths of s and t (everything else unchanged). Positive: a step on s lowers t's loss. The model
    needs ``model(task, input_ids=..., attention_mask=..., token_type_ids=..., labels=...)`` returning an
    object with ``.loss`` and ``model.path_parameters(task)``. Measurement runs in eval mode (no
    dropout), does not touch ``.grad``, and restores the weights bit for bit and each module's mode.
    Cost per :meth:`measure` with n tasks: n forward+backward passes and n + n² forward-only passes.
    """

    def __init__(self, tasks: Sequence[str]):
        self.tasks = list(tasks)
        if len(set(self.tasks)) != len(self.tasks) or not self.tasks:
            raise ValueError(f"tasks must be a non-empty list without repeats, got {self.tasks}")
        n = len(self.tasks)
        self._sum = np.zeros((n, n))
        self._count = np.zeros((n, n))
        self.seconds = 0.0
        self.forward_passes = 0
        self.backward_passes = 0

    @staticmethod
    def _loss(model, task: str, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        keys = ("input_ids", "attention_mask", "token_type_ids", "labels")
        return model(task, **{k: batch[k] for k in keys if k in batch}).loss

    def measure(self, model, batches: Mapping[str, Mapping[str, torch.Tensor]], lr: float) -> pd.DataFrame:
        """One affinity matrix (percent) from one batch per task; rows = source s, columns = target t."""
        import torch

        if lr <= 0:
            raise ValueError(f"the lookahead learning rate must be positive, got {lr}")
        tasks = [t for t in self.tasks if t in batches]
        if len(tasks) < 2:
            raise ValueError(f"need batches of at least two of {self.tasks}, got {sorted(batches)}")
        t0 = time.perf_counter()
        modes = {m: m.training for m in model.modules()}
        model.eval()
        paths = {t: _params(model.path_parameters(t)) for t in tasks}
        out = np.full((len(tasks), len(tasks)), np.nan)
        try:
            with torch.no_grad():
                base = {t: float(self._loss(model, t, batches[t])) for t in tasks}
            self.forward_passes += len(tasks)
            for i, s in enumerate(tasks):
                params = [p for p in paths[s] if p.requires_grad]
                with torch.enable_grad():
                    loss = self._loss(model, s, batches[s])
                    grads = torch.autograd.grad(loss, params, allow_unused=True)
                self.forward_passes += 1
                self.backward_passes += 1
                grad_of = {id(p): g for p, g in zip(params, grads) if g is not None}
                for j, t in enumerate(tasks):
                    on_t = {id(p) for p in paths[t]}
                    shared = [p for p in params if id(p) in on_t and id(p) in grad_of]
                    saved = [p.detach().clone() for p in shared]
                    try:
                        with torch.no_grad():
                            for p in shared:
                                p.sub_(lr * grad_of[id(p)])
                            after = float(self._loss(model, t, batches[t]))
                    finally:
                        with torch.no_grad():
                            for p, v in zip(shared, saved):
                                p.copy_(v)
                    self.forward_passes += 1
                    out[i, j] = 100.0 * (1.0 - after / base[t]) if base[t] != 0 else np.nan
        finally:
            for m, was_training in modes.items():
                m.train(was_training)
            self.seconds += time.perf_counter() - t0
        return _frame(out, tasks)

    def update(self, model, batches: Mapping[str, Mapping[str, torch.Tensor]], lr: float) -> pd.DataFrame:
        """Measure once and add it to the running mean; returns this measurement."""
        m = self.measure(model, batches, lr)
        pos = [self.tasks.index(t) for t in m.index]
        vals = m.to_numpy()
        ok = np.isfinite(vals)
        block_sum = self._sum[np.ix_(pos, pos)]
        block_cnt = self._count[np.ix_(pos, pos)]
        block_sum[ok] += vals[ok]
        block_cnt[ok] += 1
        self._sum[np.ix_(pos, pos)] = block_sum
        self._count[np.ix_(pos, pos)] = block_cnt
        return m

    def state_dict(self) -> dict[str, Any]:
        """JSON-able running sums and counters (for checkpoints; :meth:`load_state_dict` restores them)."""
        return {"tasks": list(self.tasks), "sum": self._sum.tolist(), "count": self._count.tolist(),
                "seconds": self.seconds, "forward_passes": self.forward_passes,
                "backward_passes": self.backward_passes}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if list(state["tasks"]) != self.tasks:
            raise ValueError(f"affinity state is for tasks {list(state['tasks'])}, not {self.tasks}")
        n = len(self.tasks)
        total, count = np.asarray(state["sum"], dtype=float), np.asarray(state["count"], dtype=float)
        if total.shape != (n, n) or count.shape != (n, n):
            raise ValueError(f"affinity state matrices must be {n}x{n}, got {total.shape} and {count.shape}")
        self._sum, self._count = total, count
        self.seconds = float(state["seconds"])
        self.forward_passes = int(state["forward_passes"])
        self.backward_passes = int(state["backward_passes"])

    @property
    def measurements(self) -> int:
        return int(self._count.max()) if self._count.size else 0

    def matrix(self) -> pd.DataFrame:
        """The running mean over all updates (NaN where a pair was never measured)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(self._count > 0, self._sum / np.maximum(self._count, 1), np.nan)
        return _frame(mean, self.tasks)


def compare_affinity(cheap: pd.DataFrame, pairwise: pd.DataFrame, k: int = 3, *, seed: int = 0,
                     n_init: int = 50) -> dict[str, Any]:
    """How well a cheap affinity matrix stands in for the pairwise one (Eq. 4).

    Spearman correlation of the off-diagonal entries over the tasks both hold, and the adjusted Rand
    index between the k-means groupings of the two (rows as features, as Section 3.3).
    """
    from scipy.stats import spearmanr

    from hmnet.clustering import agreement, kmeans_groups

    tasks = [t for t in cheap.index if t in pairwise.index]
    if len(tasks) < 3:
        raise ValueError(f"need at least three common tasks to compare, got {tasks}")
    a = cheap.loc[tasks, tasks].to_numpy(dtype=float)
    b = pairwise.loc[tasks, tasks].to_numpy(dtype=float)
    off = ~np.eye(len(tasks), dtype=bool)
    rho = spearmanr(a[off], b[off]).statistic
    ga = kmeans_groups(cheap.loc[tasks, tasks], k, seed=seed, n_init=n_init)
    gb = kmeans_groups(pairwise.loc[tasks, tasks], k, seed=seed, n_init=n_init)
    return {"spearman": float(rho), "ari": agreement(ga, gb), "cheap_groups": ga, "pairwise_groups": gb,
            "tasks": tasks}


def cost_fraction(cheap_cost: float, pairwise_cost: float) -> float:
    """The cheap measure's cost as a fraction of the pairwise runs' cost (same unit: seconds or passes)."""
    if pairwise_cost <= 0 or cheap_cost < 0:
        raise ValueError(f"costs must be non-negative and the pairwise cost positive, got {cheap_cost}, "
                         f"{pairwise_cost}")
    return float(cheap_cost) / float(pairwise_cost)


# ---------------------------------------------------------------------------------------------------------
# saving and loading


def save_matrix(matrix: pd.DataFrame, path: str | Path, meta: Mapping[str, Any] | None = None) -> Path:
    """Write a relevance matrix atomically as JSON (``.json``) or CSV (anything else).

    JSON keeps ``meta`` (e.g. the word definition) beside the values; NaN is written as null.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".json":
        vals = [[None if not np.isfinite(v) else float(v) for v in row] for row in matrix.to_numpy(float)]
        text = json.dumps({"index": "source", "columns": "target", "tasks": [str(t) for t in matrix.index],
                           "targets": [str(t) for t in matrix.columns], "values": vals,
                           "meta": dict(meta or {})}, indent=1)
    else:
        if meta:
            raise ValueError("meta is only stored in JSON files; use a .json path")
        text = matrix.to_csv(index_label="source")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_matrix(path: str | Path) -> pd.DataFrame:
    """Read a matrix written by :func:`save_matrix` (index = source, columns = target).

    JSON ``null`` (or ``NaN``) and an empty (or ``nan``) CSV cell are missing values; every other value
    must be a finite number. A CSV matrix is square (save_matrix writes one line per task). Text rules
    as for data files: UTF-8, a BOM dropped, LF or CRLF, a missing final newline accepted with a warning.
    A file that is not such a matrix (unreadable, not UTF-8, ragged, a string where a number belongs,
    repeated task names, cut short) raises :class:`hmnet.errors.DataError` naming the file, line and field.
    """
    path = Path(path)
    text = read_text(path, "matrix file")
    rows, tasks, targets = _matrix_json(text, path) if path.suffix == ".json" else _matrix_csv(text, path)
    # (JSON may be rectangular: it names its targets. A cut JSON file is never valid JSON.)
    for what, names in (("task", tasks), ("target", targets)):
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise DataError(f"{path}: {what} name(s) {twice} appear more than once")
    df = pd.DataFrame(np.array(rows, dtype=float).reshape(len(tasks), len(targets)), index=tasks, columns=targets)
    df.index.name, df.columns.name = "source", "target"
    return df


def _matrix_value(value: Any, where: str, text: bool = False) -> float:
    """A cell: a finite number, or NaN for a missing value (JSON null or NaN, an empty or "nan" CSV cell)."""
    if value is None or value == "":
        return float("nan")
    if isinstance(value, bool) or not isinstance(value, (str, int, float) if text else (int, float)):
        raise DataError(f"{where}: {value!r} is not a number")
    try:
        out = float(value)
    except (ValueError, OverflowError):
        raise DataError(f"{where}: {value!r} is not a number") from None
    if np.isinf(out):
        raise DataError(f"{where}: {value!r} is not a finite number")
    return out


def _matrix_json(text: str, path: Path) -> tuple[list[list[float]], list[str], list[str]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"{path} line {err.lineno}: invalid JSON ({err.msg})") from None
    except RecursionError:
        raise DataError(f"{path}: invalid JSON (nested too deeply)") from None
    if not isinstance(data, dict) or "tasks" not in data or "values" not in data:
        raise DataError(f"{path}: expected a JSON object with 'tasks' and 'values' (as save_matrix writes)")
    tasks, values = data["tasks"], data["values"]
    targets = data.get("targets", tasks)
    for key, names in (("tasks", tasks), ("targets", targets)):
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
            raise DataError(f"{path}: field {key!r} must be a non-empty list of task names, got {names!r:.80}")
    if not isinstance(values, list) or len(values) != len(tasks):
        raise DataError(f"{path}: field 'values' must be a list of {len(tasks)} rows (one per task), got "
                        f"{len(values) if isinstance(values, list) else type(values).__name__}")
    rows = []
    for task, row in zip(tasks, values):
        if not isinstance(row, list) or len(row) != len(targets):
            raise DataError(f"{path}: the row of {task} must be a list of {len(targets)} values, got {row!r:.80}")
        rows.append([_matrix_value(v, f"{path}: values[{task}][{t}]") for t, v in zip(targets, row)])
    return rows, tasks, targets


def _matrix_csv(text: str, path: Path) -> tuple[list[list[float]], list[str], list[str]]:
    import csv
    import io

    try:
        lines = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as err:
        raise DataError(f"{path}: not a CSV file ({err})") from None
    numbered = [(no, r) for no, r in enumerate(lines, start=1) if r]
    if len(numbered) < 2:
        raise DataError(f"{path}: expected a header line (source,<task>,...) and one line per task")
    if not text.endswith("\n"):
        log.warning("%s: line %d does not end with a newline; if the file was cut short, its last value may be "
                    "incomplete", path, numbered[-1][0])
    (_, header), body = numbered[0], numbered[1:]
    targets = [c.strip() for c in header[1:]]
    if not targets or not all(targets):
        raise DataError(f"{path} line 1: the header must name the target tasks after its first cell, got {header}")
    rows, tasks = [], []
    for no, cells in body:
        if len(cells) != len(header):
            raise DataError(f"{path} line {no}: expected {len(header)} fields, got {len(cells)}")
        task = cells[0].strip()
        if not task:
            raise DataError(f"{path} line {no}: the first field must name the source task")
        tasks.append(task)
        rows.append([_matrix_value(v.strip(), f"{path} line {no}, column {t}", text=True)
                     for t, v in zip(targets, cells[1:])])
    if len(rows) != len(targets):  # save_matrix writes square CSV files: fewer lines means a cut file
        raise DataError(f"{path}: {len(targets)} target columns but {len(rows)} task lines; a CSV matrix is square "
                        "(one line per task: was the file cut short?)")
    return rows, tasks, targets
