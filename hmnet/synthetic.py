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
  same word-to-class map for every task of the group. A task's training split
  uses only part of its group's signal words of each class (a window that
  depends on the task's place in its group, see :func:`train_signal_words`);
  its eval splits use all of them. Alone, a task cannot know the words it never
  saw in training; trained beside a task of its group, whose window covers
  other words, it learns them (Eq. 3-4 see the groups). Tasks of other groups
  use other signal words, so they do not help.

Sizes follow the real tasks' order (MNLI and SNLI largest, WNLI and CB
smallest) in a compressed range, so that even the smallest task has enough
rows for the tiny random BERT of the smoke profile to learn the words it sees:
what a relative adds is then knowledge (words), not just more optimizer steps.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from hmnet.tasks import PAIR, QA_TRIPLE, SINGLE, TASK_NAMES, TASKS

# Each task's planted group and its training examples at scale 1.0 (MultiRC counts questions, ~4 answers each)
# are facts of its spec (hmnet.tasks.TaskSpec.synthetic); the groups in order of their first task.
GROUP_OF: dict[str, str] = {t: spec.synthetic[0] for t, spec in TASKS.items() if spec.synthetic}
PLANTED_GROUPS: dict[str, tuple[str, ...]] = {
    g: tuple(t for t in GROUP_OF if GROUP_OF[t] == g) for g in dict.fromkeys(GROUP_OF.values())}
TRAIN_SIZES: dict[str, int] = {t: spec.synthetic[1] for t, spec in TASKS.items() if spec.synthetic}
DEV_SIZE = 400  # 200 rows at the smoke scale 0.5: accuracy's standard error about 3 points (6 with 60 rows)
# A task's own-word pool is large, so its vocabulary never saturates (a bootstrap resample misses words).
N_COMMON, N_GROUP, N_OWN, N_SIGNAL_PER_CLASS = 60, 90, 100, 8
N_TRAIN_SIGNAL = 5  # signal words per class a task's training split uses (a window of the group's 8)
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


def train_signal_words(task: str, n_classes: int) -> list[list[str]]:
    """The signal words a task's *training* split uses: per class a cyclic window of N_TRAIN_SIGNAL of
    its group's words, starting where the task's place in its group puts it. Two tasks of one group
    overlap a little (which ties their word maps together) and between them cover most of the words."""
    group = PLANTED_GROUPS[GROUP_OF[task]]
    start = group.index(task) * N_SIGNAL_PER_CLASS // len(group)
    window = [(start + j) % N_SIGNAL_PER_CLASS for j in range(N_TRAIN_SIGNAL)]
    return [[words[j] for j in window] for words in signal_words(GROUP_OF[task], n_classes)]


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
    return (4, 10) if fmt == PAIR else (6, 14)


def generate(task: str, split: str, *, seed: int = 0, scale: float = 1.0) -> list[dict]:
    """Rows of one split of one synthetic task, as dicts with text_a/b/c, label, group."""
    spec = TASKS[task]
    rng = np.random.default_rng([hash_str(task), hash_str(split), seed])
    n = TRAIN_SIZES[task] if split == "train" else DEV_SIZE
    n = max(8, int(round(n * scale)))
    group = GROUP_OF[task]
    n_classes = 2 if spec.regression else spec.num_labels
    signals = train_signal_words(task, n_classes) if split == "train" else signal_words(group, n_classes)
    n_sig = len(signals[0])
    lo, hi = _lengths(task)
    rows: list[dict] = []

    def label_and_signal() -> tuple[float | int, list[str]]:
        if spec.regression:  # score = 5 * share of "high" signal words among three
            k = int(rng.integers(4))
            sig = [signals[1][rng.integers(n_sig)] for _ in range(k)]
            sig += [signals[0][rng.integers(n_sig)] for _ in range(3 - k)]
            return round(float(np.clip(5 * k / 3 + rng.normal(0, 0.3), 0, 5)), 3), sig
        y = int(rng.integers(n_classes))
        sig = [signals[y][rng.integers(n_sig)]]
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
