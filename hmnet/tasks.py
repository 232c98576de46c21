"""The 13 tasks of the paper: formats, labels, metrics, manual groups and sources.

Everything downstream asks this module about a task; nothing else hard-codes
task facts. Label names are spelled as they appear in the official files (GLUE
TSV, SuperGLUE JSONL, aclImdb folders); their position is the class index, which
also matches the Hugging Face hub's integer labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Iterable

# The four manual groups of Section 4.1, in the paper's order.
NLI = "Natural language inference"
SENTIMENT = "Sentiment classification"
SIMILARITY = "Similarity and paraphrase"
QA = "Question answering"
CATEGORIES: tuple[str, ...] = (NLI, SENTIMENT, SIMILARITY, QA)

SINGLE, PAIR, QA_TRIPLE = "single", "pair", "question-passage-answer"


class UnknownTaskError(ValueError):
    """A task name that is not in the registry."""


@dataclass(frozen=True)
class HubSource:
    """Where `datasets.load_dataset` finds a task, and how its columns map.

    `columns` maps our fields (text_a, text_b, text_c, label) to hub columns.
    `splits` maps our split names (train, dev, ...) to hub split names.
    """

    path: str
    config: str | None
    splits: dict[str, str]
    columns: dict[str, str]


@dataclass(frozen=True)
class FileLayout:
    """The official file layout of a task inside `<data_dir>/<task dir>/`.

    `files` maps our split names to candidate file names, tried in order, and
    `kind` says how to parse them: glue_tsv, superglue_jsonl, multirc_jsonl,
    snli_jsonl, derived_jsonl or aclimdb. `columns` maps our fields to the
    official column names (TSV headers or JSON keys).
    """

    directory: str
    files: dict[str, tuple[str, ...]]
    columns: dict[str, str]


@dataclass(frozen=True)
class TaskSpec:
    name: str
    category: str
    input_format: str
    labels: tuple[str, ...]  # empty for regression
    metrics: tuple[str, ...]  # metric names as `hmnet.metrics` computes them
    table1_metrics: tuple[str, ...]  # the number(s) Table 1 prints
    hub: HubSource
    layout: FileLayout
    eval_splits: tuple[str, ...] = ("dev",)
    regression: bool = False
    aliases: tuple[str, ...] = field(default=())

    @property
    def num_labels(self) -> int:
        """Width of the task head: 1 for regression."""
        return 1 if self.regression else len(self.labels)

    @property
    def group(self) -> str:
        return self.category


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
        }, {"text_a": "sentence1", "text_b": "sentence2", "label": "gold_label"}),
        eval_splits=("dev_matched", "dev_mismatched"),
    ),
    _glue_tsv("QNLI", NLI, ("entailment", "not_entailment"), "qnli", ("question", "sentence"),
              ("question", "sentence", "label")),
    _glue_tsv("RTE", NLI, ("entailment", "not_entailment"), "rte", ("sentence1", "sentence2"),
              ("sentence1", "sentence2", "label")),
    _glue_tsv("WNLI", NLI, ("0", "1"), "wnli", ("sentence1", "sentence2"), ("sentence1", "sentence2", "label")),
    TaskSpec(
        # SuperGLUE CB has three classes; the paper's Table 4 says 2.
        "CB", NLI, PAIR, ("entailment", "contradiction", "neutral"),
        metrics=("accuracy", "f1_macro"), table1_metrics=("accuracy",),
        hub=HubSource("aps/super_glue", "cb", {"train": "train", "dev": "validation"},
                      {"text_a": "premise", "text_b": "hypothesis", "label": "label"}),
        layout=FileLayout("CB", _JSONL, {"text_a": "premise", "text_b": "hypothesis", "label": "label"}),
    ),
    TaskSpec(
        "SNLI", NLI, PAIR, ("entailment", "neutral", "contradiction"),
        metrics=("accuracy",), table1_metrics=("accuracy",),
        hub=HubSource("stanfordnlp/snli", None, {"train": "train", "dev": "validation"},
                      {"text_a": "premise", "text_b": "hypothesis", "label": "label"}),
        layout=FileLayout("SNLI", {
            "train": ("snli_1.0_train.jsonl", "train.derived.jsonl"),
            "dev": ("snli_1.0_dev.jsonl", "dev.derived.jsonl"),
        }, {"text_a": "sentence1", "text_b": "sentence2", "label": "gold_label"}),
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
        }, {"text_a": "text", "label": "label"}),
        eval_splits=("test",),
    ),
    _glue_tsv("SST-2", SENTIMENT, ("0", "1"), "sst2", ("sentence",), ("sentence", "label"), aliases=("SST2",)),
    _glue_tsv("QQP", SIMILARITY, ("0", "1"), "qqp", ("question1", "question2"),
              ("question1", "question2", "is_duplicate"), metrics=("accuracy", "f1")),
    _glue_tsv("STS-B", SIMILARITY, (), "stsb", ("sentence1", "sentence2"), ("sentence1", "sentence2", "score"),
              metrics=("pearson", "spearman"), regression=True, aliases=("STSB",)),
    _glue_tsv("MRPC", SIMILARITY, ("0", "1"), "mrpc", ("sentence1", "sentence2"),
              ("#1 String", "#2 String", "Quality"), metrics=("accuracy", "f1")),
    TaskSpec(
        "BoolQ", QA, QA_TRIPLE, ("False", "True"),
        metrics=("accuracy",), table1_metrics=("accuracy",),
        hub=HubSource("aps/super_glue", "boolq", {"train": "train", "dev": "validation"},
                      {"text_a": "question", "text_b": "passage", "label": "label"}),
        layout=FileLayout("BoolQ", _JSONL, {"text_a": "question", "text_b": "passage", "label": "label"}),
    ),
    TaskSpec(
        # One row per candidate answer; the question id groups rows for EM/F1a.
        "MultiRC", QA, QA_TRIPLE, ("0", "1"),
        metrics=("f1a", "em"), table1_metrics=("f1a",),
        hub=HubSource("aps/super_glue", "multirc", {"train": "train", "dev": "validation"},
                      {"text_a": "question", "text_b": "paragraph", "text_c": "answer", "label": "label"}),
        layout=FileLayout("MultiRC", _JSONL, {}),
    ),
]

TASKS: dict[str, TaskSpec] = {spec.name: spec for spec in _SPECS}
TASK_NAMES: tuple[str, ...] = tuple(TASKS)  # the paper's order (Table 1)
_LOOKUP = {k.lower(): v for spec in _SPECS for k, v in [(spec.name, spec), *((a, spec) for a in spec.aliases)]}


def get_task(name: str) -> TaskSpec:
    """The spec of a task, by name (case-insensitive; "SST2" and "STSB" also work)."""
    spec = _LOOKUP.get(str(name).lower())
    if spec is None:
        raise UnknownTaskError(f"task {name!r} is unknown; known: {', '.join(TASK_NAMES)}")
    return spec


def resolve_tasks(names: Iterable[str] | None) -> tuple[str, ...]:
    """Canonical names for a list of task names (all 13 for None), order kept, no duplicates."""
    if names is None:
        return TASK_NAMES
    if isinstance(names, str):
        names = [n for n in names.replace(",", " ").split() if n]
    out: list[str] = []
    for n in names:
        canon = get_task(n).name
        if canon not in out:
            out.append(canon)
    if not out:
        raise ValueError("the task list is empty")
    return tuple(out)


def manual_groups(tasks: Iterable[str] | None = None) -> dict[str, list[str]]:
    """The manual design of Section 4.1: category -> tasks, empty groups left out."""
    chosen = resolve_tasks(tasks)
    groups = {c: [t for t in chosen if TASKS[t].category == c] for c in CATEGORIES}
    return {c: ts for c, ts in groups.items() if ts}
