"""The 13 tasks of the paper: formats, labels, metrics, manual groups and sources; and the task registry.

A task's spec holds every fact the package needs of it: input format, labels,
metrics, the paper's category, the hub source with its quirks (unlabelled rows,
row groups), the official file layout and how its files parse, the SkillNet-style
baseline's category and the synthetic suite's planted group and size. Everything
downstream derives what it needs from the spec (the skill map, the synthetic
suite's groups, the directory readers), so a new task is one entry here (or one
entry of a task file). Label names are spelled as they appear in the official
files (GLUE TSV, SuperGLUE JSONL, aclImdb folders); their position is the class
index, which also matches the Hugging Face hub's integer labels.

A :class:`TaskRegistry` is an immutable set of :class:`TaskSpec`: :data:`BUILTIN` holds the 13, and a task
file (:mod:`hmnet.data.taskfile`) yields a new registry, the built-ins plus its own tasks, that a run config
carries (``RunConfig.registry``). Code that needs task facts takes a registry (None: the built-ins); nothing
registers a task in a module-global table.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# The four manual groups of Section 4.1, in the paper's order.
NLI = "Natural language inference"
SENTIMENT = "Sentiment classification"
SIMILARITY = "Similarity and paraphrase"
QA = "Question answering"
CATEGORIES: tuple[str, ...] = (NLI, SENTIMENT, SIMILARITY, QA)

SINGLE, PAIR, QA_TRIPLE = "single", "pair", "question-passage-answer"
INPUT_FORMATS: tuple[str, ...] = (SINGLE, PAIR, QA_TRIPLE)
# A task name becomes a module key, a file name part and a command-line word.
TASK_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,39}")


class UnknownTaskError(ValueError):
    """A task name that is not in the registry."""


@dataclass(frozen=True)
class HubSource:
    """Where `datasets.load_dataset` finds a task, and how its columns map.

    `columns` maps our fields (text_a, text_b, text_c, label) to hub columns.
    `splits` maps our split names (train, dev, ...) to hub split names.
    `unlabelled` is the label value of rows without a gold label, which are dropped (SNLI's -1);
    `group` names the column whose keys, joined by "-", give a row's group (MultiRC: ``idx`` with
    ``paragraph`` and ``question``).
    """

    path: str
    config: str | None
    splits: dict[str, str]
    columns: dict[str, str]
    unlabelled: int | None = None
    group: tuple[str, tuple[str, ...]] | None = None


@dataclass(frozen=True)
class FileLayout:
    """The official file layout of a task inside `<data_dir>/<task dir>/`.

    `files` maps our split names to candidate file names, tried in order, and
    `columns` maps our fields to the official column names (TSV headers or JSON
    keys). `kind` says how :mod:`hmnet.data.directory` parses the files: "glue"
    (TSV), "superglue" (JSON lines), "nli" (a GLUE TSV, or SNLI/MNLI JSON lines
    whose unlabelled rows are dropped), "multirc" (nested passages, questions and
    answers) or "aclimdb" (review folders or archives).
    """

    directory: str
    files: dict[str, tuple[str, ...]]
    columns: dict[str, str]
    kind: str = "glue"


@dataclass(frozen=True)
class FileSource:
    """Where a task file's task finds its rows: per split, the files read in order (CSV, TSV, JSON lines or
    Parquet, by suffix; absolute paths), and which column holds each of our fields (text_a, text_b, text_c,
    label, group)."""

    splits: dict[str, tuple[str, ...]]
    columns: dict[str, str]


class TaskSpecError(ValueError):
    """A task definition that breaks a rule every task follows (built-in or from a task file)."""


@dataclass(frozen=True)
class TaskSpec:
    """The facts of one task. Built-in tasks have a hub source and an official file layout; a task from a
    task file has ``files`` (or a ``hub`` source of its own) and ``definition``, what its file declared
    (data paths relative to the file), which identifies it in cache keys and saved models."""

    name: str
    category: str
    input_format: str
    labels: tuple[str, ...]  # empty for regression
    metrics: tuple[str, ...]  # metric names as `hmnet.metrics` computes them
    table1_metrics: tuple[str, ...]  # the number(s) Table 1 prints
    hub: HubSource | None = None
    layout: FileLayout | None = None
    eval_splits: tuple[str, ...] = ("dev",)
    regression: bool = False
    aliases: tuple[str, ...] = field(default=())
    files: FileSource | None = None
    definition: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    # The SkillNet-style baseline's category of the task (its skills: hmnet.models.config.SKILLNET_CATEGORIES;
    # None: chosen from the paper category or the input format) and the synthetic suite's planted group and
    # training size at scale 1 (hmnet.synthetic; None: not in the suite).
    skill_category: str | None = None
    synthetic: tuple[str, int] | None = None

    def __post_init__(self):
        check_spec(self)

    @property
    def builtin(self) -> bool:
        """One of the paper's 13 (not from a task file)."""
        return self.definition is None

    @property
    def has_answers(self) -> bool:
        """Whether its rows hold a third text, an answer (question-passage-answer tasks such as MultiRC)."""
        sources = [c.columns for c in (self.hub, self.files) if c is not None]
        if self.layout is not None and self.layout.kind == "multirc":
            return True
        return any("text_c" in cols for cols in sources)

    @property
    def num_labels(self) -> int:
        """Width of the task head: 1 for regression."""
        return 1 if self.regression else len(self.labels)

    @property
    def group(self) -> str:
        return self.category


def check_spec(spec: TaskSpec) -> None:
    """The rules every task follows, built-in or declared in a task file (a TaskSpecError names the rule).
    Metric names are checked against :mod:`hmnet.metrics` by :func:`hmnet.metrics.check_task_metrics`."""
    def fail(what: str) -> None:
        raise TaskSpecError(f"task {spec.name!r}: {what}")

    if not isinstance(spec.name, str) or not TASK_NAME.fullmatch(spec.name):
        raise TaskSpecError(f"task name {spec.name!r} is not usable: a letter, then up to 39 letters, digits, "
                            "'-' or '_'")
    if not isinstance(spec.category, str) or not spec.category.strip():
        fail("the category is empty")
    if spec.input_format not in INPUT_FORMATS:
        fail(f"input format {spec.input_format!r} is unknown; known: {', '.join(INPUT_FORMATS)}")
    if spec.regression and spec.labels:
        fail(f"a regression task has no labels, got {list(spec.labels)}")
    if not spec.regression:
        if len(spec.labels) < 2:
            fail(f"a classification task needs at least two labels, got {list(spec.labels)}")
        twice = sorted({lab for lab in spec.labels if spec.labels.count(lab) > 1})
        if twice:
            fail(f"label(s) {twice} are listed twice")
    if not spec.metrics:
        fail("no metric")
    if not spec.table1_metrics:
        fail("no reported metric")
    if not spec.eval_splits or "train" in spec.eval_splits:
        fail(f"the evaluation splits must be one or more splits other than train, got {list(spec.eval_splits)}")
    if spec.files is not None and "train" not in spec.files.splits:
        fail("no train split")
    if spec.layout is not None and spec.layout.kind not in LAYOUT_KINDS:
        fail(f"file layout kind {spec.layout.kind!r} is unknown; known: {', '.join(LAYOUT_KINDS)}")


LAYOUT_KINDS = ("glue", "superglue", "nli", "multirc", "aclimdb")


def _glue(config: str, a: str, b: str | None, splits: dict[str, str] | None = None) -> HubSource:
    cols = {"text_a": a, "label": "label"}
    if b:
        cols["text_b"] = b
    return HubSource("nyu-mll/glue", config, splits or {"train": "train", "dev": "validation"}, cols)


_TSV = {"train": ("train.tsv",), "dev": ("dev.tsv",)}
_JSONL = {"train": ("train.jsonl",), "dev": ("val.jsonl", "dev.jsonl")}


def _glue_tsv(name: str, category: str, labels: tuple[str, ...], hub_config: str, hub_columns: tuple[str, ...],
              file_columns: tuple[str, ...], metrics: tuple[str, ...] = ("accuracy",), **extra) -> TaskSpec:
    """A GLUE task with a train.tsv and a dev.tsv: one or two texts (``hub_columns`` on the hub; ``file_columns``
    in the TSV header, the label's last); Table 1 prints its first metric."""
    a, b = (*hub_columns, None)[:2]
    ours = ("text_a", "text_b")[:len(file_columns) - 1] + ("label",)
    return TaskSpec(name, category, PAIR if b else SINGLE, labels, metrics=metrics, table1_metrics=metrics[:1],
                    hub=_glue(hub_config, a, b), layout=FileLayout(name, _TSV, dict(zip(ours, file_columns))),
                    **extra)


_SPECS: list[TaskSpec] = [
    TaskSpec(
        "MNLI", NLI, PAIR, ("entailment", "neutral", "contradiction"),
        metrics=("accuracy",), table1_metrics=("accuracy_m", "accuracy_mm"),
        hub=_glue("mnli", "premise", "hypothesis",
                  {"train": "train", "dev_matched": "validation_matched",
                   "dev_mismatched": "validation_mismatched"}),
        layout=FileLayout("MNLI", {
            "train": ("train.tsv", "train.derived.jsonl"),
            "dev_matched": ("dev_matched.tsv", "dev_matched.derived.jsonl"),
            "dev_mismatched": ("dev_mismatched.tsv", "dev_mismatched.derived.jsonl"),
        }, {"text_a": "sentence1", "text_b": "sentence2", "label": "gold_label"}, kind="nli"),
        eval_splits=("dev_matched", "dev_mismatched"),
        skill_category="natural language inference", synthetic=('alpha', 400),
    ),
    _glue_tsv("QNLI", NLI, ("entailment", "not_entailment"), "qnli", ("question", "sentence"),
              ("question", "sentence", "label"),
              skill_category="question-sentence inference", synthetic=('alpha', 320)),
    _glue_tsv("RTE", NLI, ("entailment", "not_entailment"), "rte", ("sentence1", "sentence2"),
              ("sentence1", "sentence2", "label"),
              skill_category="natural language inference", synthetic=('alpha', 200)),
    _glue_tsv("WNLI", NLI, ("0", "1"), "wnli", ("sentence1", "sentence2"), ("sentence1", "sentence2", "label"),
              skill_category="natural language inference", synthetic=('alpha', 160)),
    TaskSpec(
        # SuperGLUE CB has three classes; the paper's Table 4 says 2.
        "CB", NLI, PAIR, ("entailment", "contradiction", "neutral"),
        metrics=("accuracy", "f1_macro"), table1_metrics=("accuracy",),
        hub=HubSource("aps/super_glue", "cb", {"train": "train", "dev": "validation"},
                      {"text_a": "premise", "text_b": "hypothesis", "label": "label"}),
        layout=FileLayout("CB", _JSONL, {"text_a": "premise", "text_b": "hypothesis", "label": "label"},
                          kind="superglue"),
        skill_category="natural language inference", synthetic=('beta', 160),
    ),
    TaskSpec(
        "SNLI", NLI, PAIR, ("entailment", "neutral", "contradiction"),
        metrics=("accuracy",), table1_metrics=("accuracy",),
        hub=HubSource("stanfordnlp/snli", None, {"train": "train", "dev": "validation"},
                      {"text_a": "premise", "text_b": "hypothesis", "label": "label"}, unlabelled=-1),
        layout=FileLayout("SNLI", {
            "train": ("snli_1.0_train.jsonl", "train.derived.jsonl"),
            "dev": ("snli_1.0_dev.jsonl", "dev.derived.jsonl"),
        }, {"text_a": "sentence1", "text_b": "sentence2", "label": "gold_label"}, kind="nli"),
        skill_category="natural language inference", synthetic=('alpha', 400),
    ),
    TaskSpec(
        # IMDB has no dev split; the paper (Table 4) evaluates on its test split.
        "IMDB", SENTIMENT, SINGLE, ("neg", "pos"),
        metrics=("accuracy",), table1_metrics=("accuracy",),
        hub=HubSource("stanfordnlp/imdb", None, {"train": "train", "test": "test"},
                      {"text_a": "text", "label": "label"}),
        layout=FileLayout("IMDB", {
            "train": ("aclImdb/train", "train.tar.gz", "aclImdb_v1.tar.gz"),
            "test": ("aclImdb/test", "test.tar.gz", "aclImdb_v1.tar.gz"),
        }, {"text_a": "text", "label": "label"}, kind="aclimdb"),
        eval_splits=("test",),
        skill_category="sentiment", synthetic=('beta', 200),
    ),
    _glue_tsv("SST-2", SENTIMENT, ("0", "1"), "sst2", ("sentence",), ("sentence", "label"), aliases=("SST2",),
              skill_category="sentiment", synthetic=('beta', 320)),
    _glue_tsv("QQP", SIMILARITY, ("0", "1"), "qqp", ("question1", "question2"),
              ("question1", "question2", "is_duplicate"), metrics=("accuracy", "f1"),
              skill_category="similarity and paraphrase", synthetic=('gamma', 320)),
    _glue_tsv("STS-B", SIMILARITY, (), "stsb", ("sentence1", "sentence2"), ("sentence1", "sentence2", "score"),
              metrics=("pearson", "spearman"), regression=True, aliases=("STSB",),
              skill_category="similarity and paraphrase", synthetic=('beta', 200)),
    _glue_tsv("MRPC", SIMILARITY, ("0", "1"), "mrpc", ("sentence1", "sentence2"),
              ("#1 String", "#2 String", "Quality"), metrics=("accuracy", "f1"),
              skill_category="similarity and paraphrase", synthetic=('gamma', 200)),
    TaskSpec(
        "BoolQ", QA, QA_TRIPLE, ("False", "True"),
        metrics=("accuracy",), table1_metrics=("accuracy",),
        hub=HubSource("aps/super_glue", "boolq", {"train": "train", "dev": "validation"},
                      {"text_a": "question", "text_b": "passage", "label": "label"}),
        layout=FileLayout("BoolQ", _JSONL, {"text_a": "question", "text_b": "passage", "label": "label"},
                          kind="superglue"),
        skill_category="question answering", synthetic=('gamma', 200),
    ),
    TaskSpec(
        # One row per candidate answer; the question id groups rows for EM/F1a.
        "MultiRC", QA, QA_TRIPLE, ("0", "1"),
        metrics=("f1a", "em"), table1_metrics=("f1a",),
        hub=HubSource("aps/super_glue", "multirc", {"train": "train", "dev": "validation"},
                      {"text_a": "question", "text_b": "paragraph", "text_c": "answer", "label": "label"},
                      group=("idx", ("paragraph", "question"))),
        layout=FileLayout("MultiRC", _JSONL, {}, kind="multirc"),
        skill_category="question answering", synthetic=('gamma', 50),
    ),
]

TASKS: dict[str, TaskSpec] = {spec.name: spec for spec in _SPECS}
TASK_NAMES: tuple[str, ...] = tuple(TASKS)  # the paper's order (Table 1)


@dataclass(frozen=True)
class TaskRegistry:
    """An immutable set of tasks, looked up by name (case-insensitive, aliases too): the 13 built-ins
    (:data:`BUILTIN`), or the built-ins and the tasks of a task file (``origin`` names the file)."""

    specs: tuple[TaskSpec, ...]
    origin: str | None = None
    _lookup: dict[str, TaskSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        lookup: dict[str, TaskSpec] = {}
        for spec in self.specs:
            for key in (spec.name, *spec.aliases):
                if key.lower() in lookup:
                    raise TaskSpecError(f"task name {key!r} is taken by task {lookup[key.lower()].name!r}")
                lookup[key.lower()] = spec
        object.__setattr__(self, "_lookup", lookup)

    @property
    def names(self) -> tuple[str, ...]:
        """Every task, the built-ins first (Table 1's order), then the task file's in its order."""
        return tuple(s.name for s in self.specs)

    @property
    def file_tasks(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.specs if not s.builtin)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._lookup

    def get(self, name: str) -> TaskSpec:
        """The spec of a task, by name (case-insensitive; "SST2" and "STSB" also work)."""
        spec = self._lookup.get(str(name).lower())
        if spec is None:
            raise UnknownTaskError(f"task {name!r} is unknown; known: {', '.join(self.names)}")
        return spec

    def resolve(self, names: Iterable[str] | None) -> tuple[str, ...]:
        """Canonical names for a list of task names (the 13 built-ins for None), order kept, no duplicates."""
        if names is None:
            return TASK_NAMES
        if isinstance(names, str):
            names = [n for n in names.replace(",", " ").split() if n]
        out: list[str] = []
        for n in names:
            canon = self.get(n).name
            if canon not in out:
                out.append(canon)
        if not out:
            raise ValueError("the task list is empty")
        return tuple(out)

    def manual_groups(self, tasks: Iterable[str] | None = None) -> dict[str, list[str]]:
        """The manual design of Section 4.1: category -> tasks, empty groups left out; a task file's own
        categories follow the paper's four, in the order they first appear."""
        chosen = self.resolve(tasks)
        categories = list(dict.fromkeys((*CATEGORIES, *(self.get(t).category for t in chosen))))
        groups = {c: [t for t in chosen if self.get(t).category == c] for c in categories}
        return {c: ts for c, ts in groups.items() if ts}

    def with_tasks(self, specs: Iterable[TaskSpec], origin: str | None) -> TaskRegistry:
        """This registry and `specs` (a name taken twice is a TaskSpecError)."""
        return TaskRegistry((*self.specs, *specs), origin)


BUILTIN = TaskRegistry(tuple(_SPECS))


def registry_or_builtin(registry: TaskRegistry | None) -> TaskRegistry:
    return BUILTIN if registry is None else registry


def get_task(name: str, registry: TaskRegistry | None = None) -> TaskSpec:
    """The spec of a task, by name (case-insensitive; "SST2" and "STSB" also work), in `registry` (None:
    the 13 built-ins)."""
    return registry_or_builtin(registry).get(name)


def resolve_tasks(names: Iterable[str] | None, registry: TaskRegistry | None = None) -> tuple[str, ...]:
    """Canonical names for a list of task names (all 13 for None), order kept, no duplicates."""
    return registry_or_builtin(registry).resolve(names)


def manual_groups(tasks: Iterable[str] | None = None, registry: TaskRegistry | None = None) -> dict[str, list[str]]:
    """The manual design of Section 4.1: category -> tasks, empty groups left out."""
    return registry_or_builtin(registry).manual_groups(tasks)


def canonical_name(name: str) -> str:
    try:
        return get_task(name).name
    except UnknownTaskError:
        return str(name)


def canonical_groups(groups: Mapping[str, Iterable[str]] | Iterable[Iterable[str]]) -> list[list[str]]:
    """Groups as sorted lists of canonical task names, the groups sorted; empty groups dropped.

    Raises ValueError when a task appears in two groups.
    """
    if isinstance(groups, Mapping):
        groups = groups.values()
    out = [sorted(canonical_name(t) for t in g) for g in groups]
    out = sorted(g for g in out if g)
    seen = Counter(t for g in out for t in g)
    twice = sorted(t for t, n in seen.items() if n > 1)
    if twice:
        raise ValueError(f"task(s) {twice} appear in more than one group: {out}")
    return out


