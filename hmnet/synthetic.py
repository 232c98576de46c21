"""A small, seeded, deterministic suite that mirrors the 13 tasks.

Every synthetic task has the real task's input format, label set and split
names, so the whole pipeline (encoding, batching, models, trainer, relevance,
clustering, notebooks) runs offline in minutes. The suite has *planted* groups
of related tasks, so relevance measures and clustering have a known right
answer:

- vocabulary: a task draws its words from its group's vocabulary, a common
  vocabulary shared by all tasks, and a few words of its own; tasks of one
  group therefore share far more words than tasks of different groups
  (Eq. 1-2 sees the groups);
- labels: a task's label is carried by *signal words* of its group, with the
  same word-to-class map for every task of the group; a small task learns its
  rule faster when trained beside a larger task of its group (Eq. 3-4 sees the
  groups). Tasks of other groups use other signal words, so they do not help.

Sizes follow the real tasks' order of magnitude (MNLI and SNLI large, WNLI and
CB tiny), scaled down.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from hmnet.tasks import PAIR, QA_TRIPLE, SINGLE, TASK_NAMES, TASKS

PLANTED_GROUPS: dict[str, tuple[str, ...]] = {
    "alpha": ("MNLI", "QNLI", "RTE", "WNLI", "SNLI"),
    "beta": ("CB", "IMDB", "SST-2", "STS-B"),
    "gamma": ("QQP", "MRPC", "BoolQ", "MultiRC"),
}
GROUP_OF = {t: g for g, ts in PLANTED_GROUPS.items() for t in ts}

# Training examples per task at scale 1.0 (MultiRC counts questions, ~4 answers each).
TRAIN_SIZES = {"MNLI": 600, "QNLI": 400, "RTE": 100, "WNLI": 48, "CB": 48, "SNLI": 600, "IMDB": 300,
               "SST-2": 400, "QQP": 500, "STS-B": 160, "MRPC": 120, "BoolQ": 160, "MultiRC": 40}
DEV_SIZE = 120
N_COMMON, N_GROUP, N_OWN, N_SIGNAL_PER_CLASS = 60, 90, 8, 4
LABEL_NOISE = 0.05

_ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z"]
_VOWELS = ["a", "e", "i", "o", "u"]


def _words(prefix: str, n: int) -> list[str]:
    """n distinct pronounceable pseudo-words, deterministic for a prefix."""
    rng = np.random.default_rng(abs(hash_str(prefix)))
    out: list[str] = []
    while len(out) < n:
        w = prefix + "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(2))
        if w not in out:
            out.append(w)
    return out


def hash_str(s: str) -> int:
    """A stable (not salted) 32-bit hash of a string."""
    h = 2166136261
    for ch in s.encode():
        h = ((h ^ ch) * 16777619) & 0xFFFFFFFF
    return h


@cache
def _lexicon() -> dict[str, tuple[str, ...]]:
    lex = {"common": tuple(_words("c", N_COMMON))}
    for g in PLANTED_GROUPS:
        lex[g] = tuple(_words(g[:2], N_GROUP))
    for t in TASK_NAMES:
        lex["own:" + t] = tuple(_words("x" + t.lower().replace("-", "")[:3], N_OWN))
    return lex


def vocabulary() -> list[str]:
    """Every word the suite can emit, in a fixed order (the tiny tokenizer's vocabulary)."""
    return [w for ws in _lexicon().values() for w in ws]


def signal_words(group: str, n_classes: int) -> list[list[str]]:
    """The group's signal words for each class: the first words of its vocabulary."""
    words = _lexicon()[group]
    return [list(words[c * N_SIGNAL_PER_CLASS:(c + 1) * N_SIGNAL_PER_CLASS]) for c in range(n_classes)]


def _filler(rng: np.random.Generator, task: str, n: int) -> list[str]:
    lex = _lexicon()
    group_words = lex[GROUP_OF[task]][3 * N_SIGNAL_PER_CLASS:]  # never a signal word
    pools = [lex["common"], group_words, lex["own:" + task]]
    which = rng.choice(3, size=n, p=[0.35, 0.55, 0.10])
    return [pools[k][rng.integers(len(pools[k]))] for k in which]


def _sentence(rng, task: str, length: int, signal: list[str] = ()) -> str:
    words = _filler(rng, task, length)
    for s in signal:
        words.insert(int(rng.integers(len(words) + 1)), s)
    return " ".join(words)


def _lengths(task: str) -> tuple[int, int]:
    fmt = TASKS[task].input_format
    if task == "IMDB":
        return 30, 60
    if fmt == QA_TRIPLE:
        return 20, 40
    return (6, 16) if fmt == PAIR else (8, 20)


def generate(task: str, split: str, *, seed: int = 0, scale: float = 1.0) -> list[dict]:
    """Rows of one split of one synthetic task, as dicts with text_a/b/c, label, group."""
    spec = TASKS[task]
    rng = np.random.default_rng([hash_str(task), hash_str(split), seed])
    n = TRAIN_SIZES[task] if split == "train" else DEV_SIZE
    n = max(8, int(round(n * scale)))
    group = GROUP_OF[task]
    n_classes = 2 if spec.regression else spec.num_labels
    signals = signal_words(group, n_classes)
    lo, hi = _lengths(task)
    rows: list[dict] = []

    def label_and_signal() -> tuple[float | int, list[str]]:
        if spec.regression:  # score = 5 * share of "high" signal words among three
            k = int(rng.integers(4))
            sig = [signals[1][rng.integers(N_SIGNAL_PER_CLASS)] for _ in range(k)]
            sig += [signals[0][rng.integers(N_SIGNAL_PER_CLASS)] for _ in range(3 - k)]
            return round(float(np.clip(5 * k / 3 + rng.normal(0, 0.3), 0, 5)), 3), sig
        y = int(rng.integers(n_classes))
        sig = [signals[y][rng.integers(N_SIGNAL_PER_CLASS)]]
        if rng.random() < LABEL_NOISE:
            y = int(rng.integers(n_classes))
        return y, sig

    if task == "MultiRC":
        for q in range(n):
            passage = _sentence(rng, task, int(rng.integers(lo, hi)))
            question = _sentence(rng, task, int(rng.integers(4, 9)))
            for _ in range(int(rng.integers(3, 6))):
                y, sig = label_and_signal()
                rows.append({"text_a": question, "text_b": passage,
                             "text_c": _sentence(rng, task, int(rng.integers(3, 7)), sig),
                             "label": y, "group": f"{split}-{q}"})
        return rows
    for _ in range(n):
        y, sig = label_and_signal()
        length = int(rng.integers(lo, hi))
        if spec.input_format == SINGLE:
            rows.append({"text_a": _sentence(rng, task, length, sig), "label": y})
        elif spec.input_format == PAIR:
            rows.append({"text_a": _sentence(rng, task, length),
                         "text_b": _sentence(rng, task, length, sig), "label": y})
        else:  # BoolQ: question and passage, the signal in the passage
            rows.append({"text_a": _sentence(rng, task, int(rng.integers(4, 9))),
                         "text_b": _sentence(rng, task, length, sig), "label": y})
    return rows
