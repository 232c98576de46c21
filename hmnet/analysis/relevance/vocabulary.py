"""Data-property relevance (Section 3.2, Eq. 1-2): vocabulary co-occurrence, and which word definition
reproduces the published Table 2 (:func:`vocab_candidates_table`)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from hmnet.analysis.relevance.matrices import relevance_frame
from hmnet.paper import table2
from hmnet.tasks import TASK_NAMES, TaskRegistry, get_task, resolve_tasks

log = logging.getLogger(__name__)

WORDS = ("whitespace", "regex", "bert_basic", "wordpiece")
SPLIT_CHOICES = ("train", "train+dev")
_REGEX_WORD = re.compile(r"\w+")


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

    def split_names(self, task: str, registry: TaskRegistry | None = None) -> tuple[str, ...]:
        return ("train",) if self.splits == "train" else ("train", *get_task(task, registry).eval_splits)

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

    def __init__(self, source: str = "directory", data_dir: str | Path | None = None, scale: float = 1.0,
                 registry: TaskRegistry | None = None):
        if source == "directory" and data_dir is None:
            raise ValueError("the directory source needs data_dir")
        self.source, self.data_dir, self.scale, self.registry = source, data_dir, scale, registry
        self._texts: dict[tuple[str, str], list[tuple[str, ...]]] = {}
        self._tokens: dict[tuple[str, str, str, str], list[np.ndarray]] = {}
        self._interners: dict[tuple[str, str], dict[Any, int]] = {}
        self._tokenizers: dict[str, Any] = {}

    def texts(self, task: str, split: str) -> list[tuple[str, ...]]:
        """The non-empty texts (text_a, text_b, text_c) of each example of one split."""
        key = (task, split)
        if key not in self._texts:
            from hmnet.data import load_task

            data = load_task(task, source=self.source, data_dir=self.data_dir, splits=[split], scale=self.scale,
                             registry=self.registry)
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
        arrays = [a for split in config.split_names(task, self.registry)
                  for a in self.example_tokens(task, split, config.word, config.tokenizer)]
        return np.unique(np.concatenate(arrays)) if arrays else np.zeros(0, np.int64)

    def incidence(self, task: str, config: VocabConfig, n_tokens: int) -> sparse.csr_matrix:
        """Examples x tokens 0/1 matrix of the configured splits (for bootstrap resampling)."""
        arrays = [a for split in config.split_names(task, self.registry)
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
    return relevance_frame(100.0 * inter / denom, tasks)


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
    Pass a shared `cache` to reuse loaded texts and tokens across calls; a cache with a task file's registry
    reads its tasks from their own files.
    """
    cache = cache or VocabularyCache(source, data_dir, scale)
    if tasks is None:
        tasks = tasks_with_splits(cache.data_dir, [config]) if cache.source == "directory" else TASK_NAMES
        if not tasks:
            raise ValueError(f"no task under {cache.data_dir} has the splits {config.splits!r} needs")
    tasks = resolve_tasks(tasks, cache.registry)
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
    tasks = resolve_tasks(tasks, cache.registry)
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
