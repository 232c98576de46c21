"""Task files: your own tasks, declared in YAML (or JSON, which YAML reads too), checked by the rules of the
built-in 13 (:func:`hmnet.tasks.check_spec`, :func:`hmnet.metrics.check_task_metrics`) and read by
:mod:`hmnet.data.tabular`. :func:`load_task_file` returns a :class:`hmnet.tasks.TaskRegistry`: the built-ins plus
the file's tasks; a run config carries it (``RunConfig(task_file=...)``).

The schema (every key but ``labels`` / ``regression``, ``metric``, ``group`` and ``description`` is required)::

    tasks:
      - name: Polarity                 # a letter, then letters, digits, '-' or '_'; not a built-in name
        category: Sentiment classification   # its manual group (Section 4.1): a paper category or your own
        data:                          # per split a file or a folder of files, relative to this file;
          train: polarity/reviews-a.csv    # CSV, TSV, JSON lines or Parquet (by suffix). Every split
          dev: polarity/reviews-b.csv      # but train is evaluated; the first one is reported
        text: [review]                 # 1 column: one text; 2: a pair; 3: question, passage, answer
        label: sentiment               # the label column
        labels: [neg, pos]             # its values as the data holds them, position = class index (YAML's
                                       # yes/no stay words; a hub dataset's integer labels are "0", "1", ...)
        metric: accuracy               # or a list, the first reported; default accuracy (pearson)
      - name: Rating
        category: Sentiment classification
        data: {folder: rating}         # a folder whose files are named by split: train.csv, dev.parquet, ...
        text: [first, second]
        label: score
        regression: true               # a score instead of labels; metric pearson or spearman
      - name: Answers
        category: Question answering
        data: {hub: org/dataset, config: null, splits: {train: train, dev: validation}}   # a HF dataset
        text: [question, paragraph, answer]
        label: label
        labels: ["0", "1"]
        group: question_id             # the rows' group (a question's answers): needed by f1a and em
        metric: [f1a, em]

Every mistake is a :class:`TaskFileError` of one line naming the file, the line and the culprit: an unknown
key, a missing file, a column that is not in a data file, an unknown metric, a name taken by a built-in task.
A label not in ``labels`` is found when the rows are read (``hmnet tasks --task-file F --check`` reads them
all) and names the data file and its line.

The 13 built-ins are not declared in this schema: they read the official files (GLUE TSV with several
candidate names, MNLI's two dev sets, SNLI's unlabelled rows dropped, MultiRC's nested passages, aclImdb's
folders and archives), which :mod:`hmnet.data.directory` parses task by task, and their facts are pinned by
the committed results store. What the schema yields is the same :class:`hmnet.tasks.TaskSpec`, under the same
checks.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hmnet.data.tabular import FIELDS, FORMATS, data_files, file_columns, read_task_split
from hmnet.errors import DataError, decode_text, read_bytes
from hmnet.metrics import check_task_metrics
from hmnet.tasks import (BUILTIN, CATEGORIES, PAIR, QA_TRIPLE, SINGLE, FileSource, HubSource, TaskRegistry, TaskSpec,
                         TaskSpecError)

TASK_KEYS = ("name", "category", "data", "text", "label", "labels", "regression", "metric", "group", "description")
SPLIT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
DEFAULT_HUB_SPLITS = {"train": "train", "dev": "validation"}


class TaskFileError(DataError):
    """A task file that cannot be used; the one-line message names the file, the line and the culprit."""


@dataclass
class _Parsed:
    """A parsed task file: its data, and the YAML node of every value (for line numbers and raw scalars)."""

    path: Path
    data: Any
    nodes: dict[tuple, Any]

    def line(self, at: tuple) -> int:
        while at and at not in self.nodes:
            at = at[:-1]
        node = self.nodes.get(at)
        return node.start_mark.line + 1 if node is not None else 1

    def error(self, at: tuple, message: str) -> TaskFileError:
        return TaskFileError(f"{self.path} line {self.line(at)}: {message}")


def _parse(path: Path) -> _Parsed:
    import yaml

    text = decode_text(read_bytes(path, "task file"), path)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        raise TaskFileError(f"{path} line {mark.line + 1 if mark else 1}: invalid YAML "
                            f"({err.problem or err.context})") from None
    except yaml.YAMLError as err:
        raise TaskFileError(f"{path}: invalid YAML ({' '.join(str(err).split())})") from None
    finally:
        loader.dispose()
    parsed = _Parsed(path, data, {})
    if node is not None:
        _index(parsed, node, ())
    return parsed


def _index(parsed: _Parsed, node, at: tuple) -> None:
    import yaml

    parsed.nodes[at] = node
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            name = str(key.value)
            if name in seen:
                raise TaskFileError(f"{parsed.path} line {key.start_mark.line + 1}: key {name!r} is given twice "
                                    f"(first on line {seen[name]})")
            seen[name] = key.start_mark.line + 1
            _index(parsed, value, (*at, name))
            parsed.nodes[(*at, name)] = value if value.start_mark.line == key.start_mark.line else key
    elif isinstance(node, yaml.SequenceNode):
        for i, value in enumerate(node.value):
            _index(parsed, value, (*at, i))


# ---------------------------------------------------------------------------------------------------------
# one task's declaration -> its definition (plain data, data paths relative to the file)


def _unknown(parsed: _Parsed, at: tuple, keys, known: Sequence[str], what: str) -> None:
    for key in keys:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise parsed.error((*at, key), f"unknown key {key!r} in {what}{hint}; known: {', '.join(known)}")


def _string(parsed: _Parsed, at: tuple, value, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise parsed.error(at, f"{what} must be a non-empty text, got {value!r}")
    return value.strip()


def _raw_list(parsed: _Parsed, at: tuple, value, what: str) -> list[str]:
    """A list of scalars as written (a YAML `yes` stays "yes", a JSON 0 is "0")."""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not value:
        raise parsed.error(at, f"{what} must be a non-empty list, got {value!r}")
    out = []
    for i, item in enumerate(value):
        if isinstance(item, (list, dict)) or item is None:
            raise parsed.error((*at, i), f"{what}: item {item!r} is not a single value")
        node = parsed.nodes.get((*at, i))
        out.append(str(node.value) if node is not None and hasattr(node, "style") else str(item))
    return out


def _declaration(parsed: _Parsed, at: tuple, entry) -> dict[str, Any]:
    """The definition of one task entry (checked for shape; files and columns are checked by _resolve)."""
    if not isinstance(entry, dict):
        raise parsed.error(at, f"a task must be a mapping of {', '.join(TASK_KEYS[:5])}, ...; got {entry!r}")
    _unknown(parsed, at, entry, TASK_KEYS, "a task")
    for key in ("name", "category", "data", "text", "label"):
        if key not in entry:
            raise parsed.error(at, f"task {entry.get('name', f'#{at[-1] + 1}')!r} has no {key!r}")
    name = _string(parsed, (*at, "name"), entry["name"], "name")
    category = _string(parsed, (*at, "category"), entry["category"], "category")
    category = next((c for c in CATEGORIES if c.lower() == category.lower()), category)
    text = _raw_list(parsed, (*at, "text"), entry["text"], "text")
    if len(text) > 3:
        raise parsed.error((*at, "text"), f"text names {len(text)} columns; a task has 1 to 3 texts")
    regression = entry.get("regression", False)
    if not isinstance(regression, bool):
        raise parsed.error((*at, "regression"), f"regression must be true or false, got {regression!r}")
    if regression and "labels" in entry:
        raise parsed.error((*at, "labels"), f"task {name!r} is a regression task: it has no labels")
    if not regression and "labels" not in entry:
        raise parsed.error(at, f"task {name!r} has no 'labels' (the label values) and is not 'regression: true'")
    labels = [] if regression else _raw_list(parsed, (*at, "labels"), entry["labels"], "labels")
    twice = sorted({lab for lab in labels if labels.count(lab) > 1})
    if twice or (labels and len(labels) < 2):
        raise parsed.error((*at, "labels"), f"task {name!r}: " + (f"label(s) {twice} are listed twice" if twice else
                                                                 f"a classification task needs at least two labels, "
                                                                 f"got {labels}"))
    metrics = _raw_list(parsed, (*at, "metric"), entry.get("metric", "pearson" if regression else "accuracy"),
                        "metric")
    group = entry.get("group")
    return {"name": name, "category": category, "text": text,
            "label": _string(parsed, (*at, "label"), entry["label"], "label"),
            "labels": labels, "regression": regression, "metrics": metrics,
            "group": None if group is None else _string(parsed, (*at, "group"), group, "group"),
            "description": entry.get("description"), "data": _data(parsed, (*at, "data"), entry["data"])}


def _data(parsed: _Parsed, at: tuple, data) -> dict[str, Any]:
    if not isinstance(data, dict) or not data:
        raise parsed.error(at, "data must be a mapping: split -> file or folder, {folder: DIR} or {hub: ID}")
    if "hub" in data:
        _unknown(parsed, at, data, ("hub", "config", "splits"), "data from the hub")
        splits = data.get("splits", DEFAULT_HUB_SPLITS)
        if not isinstance(splits, dict) or not all(isinstance(v, str) for v in splits.values()):
            raise parsed.error((*at, "splits"), f"splits must map our split names to the dataset's, got {splits!r}")
        _split_names(parsed, at + ("splits",), splits)
        config = data.get("config")
        return {"hub": _string(parsed, (*at, "hub"), data["hub"], "hub"),
                "config": None if config is None else str(config), "splits": dict(splits)}
    if "folder" in data:
        _unknown(parsed, at, data, ("folder",), "data from a folder")
        folder = _string(parsed, (*at, "folder"), data["folder"], "folder")
        return {"files": _folder_splits(parsed, (*at, "folder"), folder)}
    _split_names(parsed, at, data)
    files = {}
    for split, value in data.items():
        paths = value if isinstance(value, list) else [value]
        files[split] = [_string(parsed, (*at, split, i) if isinstance(value, list) else (*at, split), p,
                                f"the {split} file") for i, p in enumerate(paths)]
    return {"files": files}


def _split_names(parsed: _Parsed, at: tuple, splits: Mapping) -> None:
    for split in splits:
        if not isinstance(split, str) or not SPLIT_NAME.fullmatch(split):
            raise parsed.error((*at, split), f"split name {split!r} is not usable (a letter, then letters, digits, "
                                             "'-' or '_')")
    if "train" not in splits:
        raise parsed.error(at, f"data has no train split; it has {', '.join(map(str, splits))}")
    if len(splits) < 2:
        raise parsed.error(at, "data has only a train split; add a split to evaluate on (dev, test, ...)")


def _folder_splits(parsed: _Parsed, at: tuple, folder: str) -> dict[str, list[str]]:
    base = parsed.path.parent
    where = (base / folder)
    if not where.is_dir():
        raise parsed.error(at, f"folder {folder!r} does not exist (looked at {where})")
    found: dict[str, list[str]] = {}
    for p in sorted(where.iterdir()):
        if p.is_file() and p.suffix.lower() in FORMATS:
            found.setdefault(p.stem, []).append(Path(folder, p.name).as_posix())
    twice = {s: fs for s, fs in found.items() if len(fs) > 1}
    if twice:
        split, files = next(iter(twice.items()))
        raise parsed.error(at, f"folder {folder!r} holds two files for split {split!r}: {', '.join(files)}")
    splits = {"train": found.pop("train")} if "train" in found else {}
    splits.update(sorted(found.items()))
    try:
        _split_names(parsed, at, splits)
    except TaskFileError as err:
        raise parsed.error(at, f"folder {folder!r} (files named by split, e.g. train.csv, dev.jsonl): "
                               f"{str(err).split(': ', 1)[1]}") from None
    return splits


# ---------------------------------------------------------------------------------------------------------
# definition -> TaskSpec


def spec_from_definition(definition: Mapping[str, Any], base: Path | None = None) -> TaskSpec:
    """The TaskSpec of a definition (a task file's, or one saved beside a model). Data paths are resolved
    against `base` (the task file's folder); files are not opened."""
    d = dict(definition)
    text = list(d["text"])
    columns = dict(zip(FIELDS, text))
    columns["label"] = d["label"]
    if d.get("group"):
        columns["group"] = d["group"]
    data = d["data"]
    files = hub = None
    if "hub" in data:
        hub = HubSource(data["hub"], data.get("config"), dict(data["splits"]), columns)
        splits = list(data["splits"])
    else:
        files = FileSource({s: tuple(str((base / p) if base else Path(p)) for p in ps)
                            for s, ps in data["files"].items()}, columns)
        splits = list(data["files"])
    return TaskSpec(d["name"], d["category"], (SINGLE, PAIR, QA_TRIPLE)[len(text) - 1], tuple(d["labels"]),
                    metrics=tuple(d["metrics"]), table1_metrics=tuple(d["metrics"][:1]), hub=hub,
                    eval_splits=tuple(s for s in splits if s != "train"), regression=bool(d["regression"]),
                    files=files, definition=d)


def _resolve(parsed: _Parsed, at: tuple, definition: dict[str, Any]) -> TaskSpec:
    """The TaskSpec of one declared task, with every rule, file and column checked (errors name the line)."""
    name = definition["name"]
    if name in BUILTIN:
        raise parsed.error((*at, "name"), f"task name {name!r} is taken by the built-in task "
                                          f"{BUILTIN.get(name).name!r}; choose another name")
    try:
        spec = spec_from_definition(definition, parsed.path.parent)
    except TaskSpecError as err:
        raise parsed.error((*at, "name"), str(err)) from None
    try:
        check_task_metrics(spec, grouped=definition["group"] is not None)
    except TaskSpecError as err:
        raise parsed.error((*at, "metric"), str(err)) from None
    if spec.files is not None:
        _check_files(parsed, at, spec, definition)
    return spec


def _check_files(parsed: _Parsed, at: tuple, spec: TaskSpec, definition: dict[str, Any]) -> None:
    """Every data file exists and holds every column the task names (errors at the line that names it)."""
    wanted = [((*at, "text", i), c) for i, c in enumerate(definition["text"])] + [((*at, "label"), definition["label"])]
    if definition["group"]:
        wanted.append(((*at, "group"), definition["group"]))
    for split, names in spec.files.splits.items():
        for i, name in enumerate(names):
            where = next(w for w in ((*at, "data", "folder"), (*at, "data", split, i), (*at, "data", split))
                         if w in parsed.nodes)
            given = definition["data"]["files"][split][i]
            if not Path(name).exists():
                raise parsed.error(where, f"task {spec.name!r}: the {split} file {given!r} does not exist "
                                          f"(looked at {name})")
            try:
                for f in data_files(Path(name)):
                    columns = file_columns(f)
                    for line_at, column in wanted:
                        if column not in columns:
                            raise parsed.error(line_at, f"task {spec.name!r}: column {column!r} is not in "
                                                        f"{f.name} ({split}); its columns: {', '.join(columns)}")
            except TaskFileError:
                raise
            except DataError as err:
                raise parsed.error(where, f"task {spec.name!r}: {err}") from None


def parse_task_file(path: str | Path) -> list[TaskSpec]:
    """The tasks a task file declares, each checked (a TaskFileError names the file, the line, the culprit)."""
    path = Path(path).expanduser()
    parsed = _parse(path)
    data = parsed.data
    if not isinstance(data, dict) or "tasks" not in data:
        raise parsed.error((), "a task file is a mapping with a list under 'tasks' (see hmnet.data.taskfile)")
    _unknown(parsed, (), data, ("tasks", "description"), "the task file")
    entries = data["tasks"]
    if not isinstance(entries, list) or not entries:
        raise parsed.error(("tasks",), "'tasks' must be a non-empty list of tasks")
    specs: list[TaskSpec] = []
    first: dict[str, int] = {}
    for i, entry in enumerate(entries):
        at = ("tasks", i)
        definition = _declaration(parsed, at, entry)
        key = definition["name"].lower()
        if key in first:
            raise parsed.error((*at, "name"), f"task name {definition['name']!r} is declared twice (first on "
                                              f"line {first[key]})")
        first[key] = parsed.line((*at, "name"))
        specs.append(_resolve(parsed, at, definition))
    return specs


def load_task_file(path: str | Path) -> TaskRegistry:
    """The built-in tasks and the tasks of a task file, as one registry (``origin``: the file)."""
    path = Path(path).expanduser()
    return BUILTIN.with_tasks(parse_task_file(path), str(path))


def registry_from_definitions(definitions: Sequence[Mapping[str, Any]]) -> TaskRegistry:
    """The built-ins and tasks rebuilt from saved definitions (a model's config): no file is read."""
    return BUILTIN.with_tasks([spec_from_definition(d) for d in definitions], None) if definitions else BUILTIN


def task_fingerprint(spec: TaskSpec) -> dict[str, Any]:
    """What identifies a task file's task in a cache key: its definition without where its files are, and the
    content of every file (size and SHA-256), or its hub dataset."""
    definition = {k: v for k, v in spec.definition.items() if k not in ("data", "description")}
    if spec.files is None:
        return {"definition": definition, "hub": spec.definition["data"]}
    contents = {}
    for split, names in spec.files.splits.items():
        contents[split] = [[f.stat().st_size, hashlib.sha256(f.read_bytes()).hexdigest()]
                           for name in names for f in data_files(Path(name))]
    return {"definition": definition, "files": contents}


def check_rows(registry: TaskRegistry, tasks: Sequence[str] | None = None) -> dict[str, dict[str, int]]:
    """Read every row of the file tasks (labels checked against the lists); rows per task and split."""
    names = registry.resolve(tasks) if tasks is not None else registry.file_tasks
    out = {}
    for name in names:
        spec = registry.get(name)
        if not spec.builtin:
            out[name] = {split: len(read_task_split(spec, split)) for split in ("train", *spec.eval_splits)}
    return out


__all__ = ["TaskFileError", "TASK_KEYS", "parse_task_file", "load_task_file", "spec_from_definition",
           "registry_from_definitions", "task_fingerprint", "check_rows"]
