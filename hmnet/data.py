"""Data: three sources behind one interface, encoding, collation and Algorithm 1 batches.

Sources
- ``hub``: ``datasets.load_dataset`` with the hub ids in :mod:`hmnet.tasks` (what users run);
- ``directory``: the official GLUE TSV / SuperGLUE JSONL / aclImdb layouts under ``<data_dir>/<TASK>/``;
- ``synthetic``: the seeded suite of :mod:`hmnet.synthetic` (smoke profile).

Every source yields :class:`Example` rows with class indices (floats for STS-B).
Bad input raises :class:`DataError` naming the file, the line and the problem;
rows are never silently dropped or shifted (the GLUE files hold quote
characters, so TSV lines are split on tabs only, never parsed as CSV).

What the directory readers accept (tests/test_fuzz_formats.py holds them to it):

- Text is UTF-8. A leading BOM is dropped (the official MRPC files have one). Invalid UTF-8 and NUL
  bytes are errors naming the file and the line.
- Lines end with LF or CRLF. Empty lines are skipped (they hold no row). A last line without a final
  newline is read like the others, with a warning: it is also what a file cut short looks like. A cut
  inside a row is an error whenever it breaks the row (field count, JSON, label, UTF-8); a cut inside
  the last free-text field of a TSV, or inside a numeric score, leaves a complete-looking row that
  only the missing final newline (hence the warning) betrays.
- An empty file, a TSV with only its header, a wrong delimiter (the header then lacks the columns),
  extra or missing fields, an unknown label, a non-finite score or one outside its range (STS-B 0-5),
  a text field that is not a string, and a duplicate id (TSV ``index``/``id``/``pairID``/MRPC's
  ``#1 ID``+``#2 ID``, SuperGLUE ``idx``, MultiRC paragraph, question and answer ``idx``, SNLI
  ``pairID``, an aclImdb review id) are errors. Formats without ids (SST-2, the derived NLI JSONL)
  cannot tell a duplicate row from two equal rows and keep both.
- SNLI/MNLI rows whose gold label is ``-`` are dropped, as in the official GLUE/HF versions.
- aclImdb archives are read, never extracted (links and other non-file members are skipped); a member
  path that is absolute or holds ``..`` is an error, and so is a truncated or corrupt gzip stream (the
  stream is read to its end, so its CRC is checked). Review files are free text: a review cut short
  cannot be told from a short review.
"""

from __future__ import annotations

import json
import logging
import math
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import torch

from hmnet import synthetic
from hmnet.choices import SAMPLINGS, SOURCES
from hmnet.errors import DataError, decode_text, read_text
from hmnet.tasks import QA_TRIPLE, TaskSpec, get_task, resolve_tasks

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Example:
    text_a: str
    text_b: str | None = None
    text_c: str | None = None
    label: int | float = 0
    group: str | None = None  # MultiRC: the question id that EM and F1a group by


@dataclass
class TaskData:
    task: str
    splits: dict[str, list[Example]]
    source: str

    def __getitem__(self, split: str) -> list[Example]:
        if split not in self.splits:
            raise KeyError(f"{self.task} has no split {split!r}; it has {sorted(self.splits)}")
        return self.splits[split]

    def texts(self, split: str) -> Iterator[str]:
        for ex in self[split]:
            yield from (t for t in (ex.text_a, ex.text_b, ex.text_c) if t)


# ---------------------------------------------------------------------------------------------------------
# labels

# Scores outside these ranges are errors (the official STS-B scores are 0-5).
SCORE_RANGES: dict[str, tuple[float, float]] = {"STS-B": (0.0, 5.0)}


def _label(spec: TaskSpec, raw, where: str) -> int | float:
    """Official label -> class index (or float score), with an error naming `where` otherwise."""
    if spec.regression:
        if isinstance(raw, bool):
            raise DataError(f"{where}: label {raw!r} is not a number")
        try:
            value = float(raw)
        except (TypeError, ValueError, OverflowError):
            raise DataError(f"{where}: label {raw!r} is not a number") from None
        if not math.isfinite(value):
            raise DataError(f"{where}: label {raw!r} is not finite")
        low, high = SCORE_RANGES.get(spec.name, (-math.inf, math.inf))
        if not low <= value <= high:
            raise DataError(f"{where}: score {raw!r} is outside {low:g}..{high:g} for {spec.name}")
        return value
    key = str(raw)
    if key not in spec.labels:
        raise DataError(f"{where}: label {raw!r} is not one of {list(spec.labels)} for {spec.name}")
    return spec.labels.index(key)


def _hub_label(spec: TaskSpec, raw, where: str) -> int | float:
    if spec.regression:
        return float(raw)
    value = int(raw)
    if not 0 <= value < spec.num_labels:
        raise DataError(f"{where}: label {raw!r} is outside 0..{spec.num_labels - 1} for {spec.name}")
    return value


# ---------------------------------------------------------------------------------------------------------
# directory source

# Columns that identify a row, where a layout has them (the first set fully present in the header is used).
_TSV_ID_COLUMNS = (("index",), ("id",), ("pairID",), ("#1 ID", "#2 ID"))


def _lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of each non-empty line, without its LF or CRLF ending (see the module docstring)."""
    text = read_text(path)
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    elif text:
        log.warning("%s: line %d does not end with a newline; if the file was cut short, that row may be "
                    "incomplete", path, len(lines))
    out = []
    for no, line in enumerate(lines, start=1):
        if line.endswith("\r"):
            line = line[:-1]
        if line:
            out.append((no, line))
    return out


class _Ids:
    """Duplicate-id detection: remembers where each id was seen first."""

    def __init__(self, path: Path, what: str = "id"):
        self.path, self.what, self.seen = path, what, {}

    def add(self, value, no: int) -> None:
        key = value if isinstance(value, str | int | tuple) else json.dumps(value, sort_keys=True)
        if key in self.seen:
            raise DataError(f"{self.path} line {no}: duplicate {self.what} {value!r} (first on line "
                            f"{self.seen[key]})")
        self.seen[key] = no


def _read_tsv(path: Path, spec: TaskSpec) -> list[Example]:
    cols = spec.layout.columns
    lines = _lines(path)
    if not lines:
        raise DataError(f"{path}: the file is empty; expected a header line and rows")
    header_no, header_line = lines[0]
    header = header_line.split("\t")
    missing = [c for c in cols.values() if c not in header]
    if missing:
        raise DataError(f"{path} line {header_no}: missing column(s) {missing}; the header has {header} "
                        "(fields are separated by tabs)")
    if len(lines) == 1:
        raise DataError(f"{path}: only a header line, no rows")
    pos = {k: header.index(c) for k, c in cols.items()}
    id_cols = next(([header.index(c) for c in group] for group in _TSV_ID_COLUMNS
                    if all(c in header for c in group)), None)
    ids = _Ids(path, "id " + "/".join(header[i] for i in id_cols) if id_cols else "id")
    out = []
    for no, line in lines[1:]:
        fields = line.split("\t")
        if len(fields) != len(header):
            raise DataError(f"{path} line {no}: expected {len(header)} fields, got {len(fields)}")
        if id_cols:
            ids.add(fields[id_cols[0]] if len(id_cols) == 1 else tuple(fields[i] for i in id_cols), no)
        where = f"{path} line {no}"
        out.append(Example(text_a=fields[pos["text_a"]],
                           text_b=fields[pos["text_b"]] if "text_b" in pos else None,
                           label=_label(spec, fields[pos["label"]], where)))
    return out


def _json_lines(path: Path) -> Iterator[tuple[int, dict]]:
    lines = _lines(path)
    if not lines:
        raise DataError(f"{path}: the file is empty; expected one JSON object per line")
    for no, line in lines:
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{path} line {no}: invalid JSON ({err.msg} at column {err.colno})") from None
        except RecursionError:
            raise DataError(f"{path} line {no}: invalid JSON (nested too deeply)") from None
        if not isinstance(row, dict):
            raise DataError(f"{path} line {no}: expected a JSON object, got {type(row).__name__}")
        yield no, row


def _need(row, keys: Iterable[str], path: Path, no: int, what: str = "") -> None:
    if not isinstance(row, dict):
        raise DataError(f"{path} line {no}: {what or 'the row'} must be a JSON object, got {type(row).__name__}")
    missing = [k for k in keys if k not in row]
    if missing:
        raise DataError(f"{path} line {no}: missing field(s) {missing}{' in ' + what if what else ''}")


def _text(row: dict, key: str, path: Path, no: int) -> str:
    value = row[key]
    if not isinstance(value, str):
        raise DataError(f"{path} line {no}: field {key!r} must be a string, got {type(value).__name__} "
                        f"{_short(value)}")
    return value


def _list(row: dict, key: str, path: Path, no: int) -> list:
    value = row[key]
    if not isinstance(value, list) or not value:
        raise DataError(f"{path} line {no}: field {key!r} must be a non-empty list, got {_short(value)}")
    return value


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _read_superglue(path: Path, spec: TaskSpec) -> list[Example]:
    cols = spec.layout.columns
    ids = _Ids(path, "idx")
    out = []
    for no, row in _json_lines(path):
        _need(row, cols.values(), path, no)
        if "idx" in row:
            ids.add(row["idx"], no)
        out.append(Example(text_a=_text(row, cols["text_a"], path, no),
                           text_b=_text(row, cols["text_b"], path, no) if "text_b" in cols else None,
                           label=_label(spec, row[cols["label"]], f"{path} line {no}")))
    return out


def _read_multirc(path: Path, spec: TaskSpec) -> list[Example]:
    """SuperGLUE MultiRC: one row per (question, answer), grouped by question id."""
    out = []
    paragraphs, questions = _Ids(path, "paragraph idx"), _Ids(path, "question id")
    for no, row in _json_lines(path):
        _need(row, ["idx", "passage"], path, no)
        paragraphs.add(row["idx"], no)
        passage = row["passage"]
        _need(passage, ["text", "questions"], path, no, "passage")
        text = _text(passage, "text", path, no)
        for q in _list(passage, "questions", path, no):
            _need(q, ["question", "answers", "idx"], path, no, "a question")
            qid = f"{row['idx']}-{q['idx']}"
            questions.add(qid, no)
            answers = _Ids(path, f"answer idx in question {qid}")
            for a in _list(q, "answers", path, no):
                _need(a, ["text", "label"], path, no, f"an answer of question {qid}")
                if "idx" in a:
                    answers.add(a["idx"], no)
                out.append(Example(text_a=_text(q, "question", path, no), text_b=text,
                                   text_c=_text(a, "text", path, no),
                                   label=_label(spec, a["label"], f"{path} line {no} (question {qid})"),
                                   group=qid))
    return out


def _read_nli_jsonl(path: Path, spec: TaskSpec) -> list[Example]:
    """SNLI/MNLI JSON lines: official (sentence1, sentence2, gold_label; '-' = no gold label, dropped as in
    the official GLUE/HF versions) or the reduced derived form (premise, hypothesis, label)."""
    out = []
    ids = _Ids(path, "pairID")
    dropped = 0
    for no, row in _json_lines(path):
        if "premise" in row:
            keys = ("premise", "hypothesis", "label")
        else:
            keys = ("sentence1", "sentence2", "gold_label")
        _need(row, keys, path, no)
        if "pairID" in row:
            ids.add(row["pairID"], no)
        if row[keys[2]] == "-":
            dropped += 1
            continue
        out.append(Example(text_a=_text(row, keys[0], path, no), text_b=_text(row, keys[1], path, no),
                           label=_label(spec, row[keys[2]], f"{path} line {no}")))
    if dropped:
        log.info("%s: dropped %d row(s) without a gold label ('-')", path, dropped)
    return out


def _read_imdb(path: Path, spec: TaskSpec, split: str) -> list[Example]:
    """aclImdb: <split>/{pos,neg}/<id>_<rating>.txt, as a folder or inside a .tar.gz (read, never extracted)."""
    rows: dict[tuple[str, int], tuple[str, str]] = {}  # (label name, id) -> (where, text)

    def add(label: str, name: str, where: str, text: str) -> None:
        key = (label, _imdb_id(name, where))
        if key in rows:
            raise DataError(f"{where}: duplicate review id {key[1]} in {label}/ (also {rows[key][0]})")
        rows[key] = (where, text)

    if path.is_dir():
        for label in ("neg", "pos"):
            folder = path / label
            if not folder.is_dir():
                raise DataError(f"{path}: missing folder {label}/")
            for f in folder.glob("*.txt"):
                add(label, f.name, str(f), read_text(f, "review file"))
    else:
        try:
            with tarfile.open(path, "r:gz") as tar:
                for m in tar:
                    name = PurePosixPath(m.name)
                    if name.is_absolute() or ".." in name.parts:
                        raise DataError(f"{path}: member {m.name!r} points outside the archive (absolute or "
                                        "'..' in its path); refusing the archive")
                    parts = m.name.split("/")
                    if not m.isfile() or len(parts) < 3 or parts[-3] != split or parts[-2] not in ("pos", "neg"):
                        continue
                    where = f"{path}:{m.name}"
                    add(parts[-2], parts[-1], where, decode_text(tar.extractfile(m).read(), where))
                # tarfile stops at the end-of-archive block; read the rest so that a cut or corrupt gzip
                # stream (its CRC and length trailer) is noticed even when every member came through.
                while tar.fileobj.read(1 << 20):
                    pass
        except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
            raise DataError(f"{path}: not a readable .tar.gz ({err or type(err).__name__})") from None
    if not rows:
        raise DataError(f"{path}: no {split}/pos or {split}/neg reviews inside")
    return [Example(text_a=rows[k][1], label=spec.labels.index(k[0])) for k in sorted(rows)]


def _imdb_id(name: str, where) -> int:
    stem = name[:-4] if name.endswith(".txt") else name
    head, sep, rating = stem.partition("_")
    if not (sep and head.isascii() and head.isdigit() and rating.isascii() and rating.isdigit()):
        raise DataError(f"{where}: review file name {name!r} is not <id>_<rating>.txt")
    return int(head)


def find_file(task: str, split: str, data_dir: str | Path) -> Path | None:
    """The first existing candidate file of a task split under data_dir, or None."""
    spec = get_task(task)
    base = Path(data_dir) / spec.layout.directory
    for name in spec.layout.files.get(split, ()):
        try:
            if (base / name).exists():
                return base / name
        except OSError as err:
            raise DataError(f"{base / name}: cannot be checked ({err.strerror or err})") from None
    return None


def read_split(task: str, split: str, data_dir: str | Path) -> list[Example]:
    spec = get_task(task)
    if split not in spec.layout.files:
        raise DataError(f"{spec.name} has no split {split!r}; known: {list(spec.layout.files)}")
    path = find_file(task, split, data_dir)
    if path is None:
        tried = ", ".join(str(Path(data_dir) / spec.layout.directory / n) for n in spec.layout.files[split])
        raise DataError(f"{spec.name} {split}: no file found; tried {tried}")
    if spec.name == "IMDB":
        return _read_imdb(path, spec, split)
    if spec.name == "MultiRC":
        return _read_multirc(path, spec)
    if path.suffix == ".tsv":
        return _read_tsv(path, spec)
    if spec.name in ("MNLI", "SNLI"):
        return _read_nli_jsonl(path, spec)
    return _read_superglue(path, spec)


def available_tasks(data_dir: str | Path) -> dict[str, list[str]]:
    """Which splits of which tasks exist as files under data_dir."""
    from hmnet.tasks import TASK_NAMES, TASKS

    found = {}
    for t in TASK_NAMES:
        splits = [s for s in TASKS[t].layout.files if find_file(t, s, data_dir) is not None]
        if splits:
            found[t] = splits
    return found


# ---------------------------------------------------------------------------------------------------------
# hub source


def hub_examples(task: str, rows: Iterable[dict]) -> list[Example]:
    """Map rows with the hub's schema (a `datasets.Dataset` or dicts) to Examples.

    SNLI rows without a gold label (-1) are dropped, as every published SNLI result does.
    """
    spec = get_task(task)
    cols = spec.hub.columns
    out = []
    for i, row in enumerate(rows):
        missing = [c for c in cols.values() if c not in row]
        if missing:
            raise DataError(f"hub {spec.hub.path}/{spec.hub.config} row {i}: missing column(s) {missing}")
        if spec.name == "SNLI" and int(row["label"]) == -1:
            continue
        group = None
        if spec.name == "MultiRC":
            idx = row["idx"]
            group = f"{idx['paragraph']}-{idx['question']}"
        out.append(Example(text_a=row[cols["text_a"]], text_b=row.get(cols.get("text_b")) if "text_b" in cols
                           else None, text_c=row.get(cols.get("text_c")) if "text_c" in cols else None,
                           label=_hub_label(spec, row[cols["label"]], f"hub {spec.name} row {i}"), group=group))
    return out


def load_hub_split(task: str, split: str) -> list[Example]:
    import datasets

    spec = get_task(task)
    if split not in spec.hub.splits:
        raise DataError(f"{spec.name} has no hub split {split!r}; known: {list(spec.hub.splits)}")
    args = (spec.hub.path, spec.hub.config) if spec.hub.config else (spec.hub.path,)
    ds = datasets.load_dataset(*args, split=spec.hub.splits[split])
    return hub_examples(task, ds)


# ---------------------------------------------------------------------------------------------------------
# one interface


def subsample(examples: list[Example], max_examples: int | None, seed: int, key: str) -> list[Example]:
    """A seeded subset of at most max_examples rows, in the original order.

    Rows that share a group (MultiRC question) are kept or dropped together so EM stays meaningful.
    """
    if max_examples is None or len(examples) <= max_examples:
        return examples
    rng = np.random.default_rng([seed, synthetic.hash_str(key)])
    if examples[0].group is None:
        keep = np.sort(rng.choice(len(examples), size=max_examples, replace=False))
        return [examples[i] for i in keep]
    groups: dict[str, list[int]] = {}
    for i, ex in enumerate(examples):
        groups.setdefault(ex.group, []).append(i)
    order = rng.permutation(len(groups))
    names = list(groups)
    chosen: list[int] = []
    for g in order:
        rows = groups[names[g]]
        if chosen and len(chosen) + len(rows) > max_examples:
            continue
        chosen.extend(rows)
    return [examples[i] for i in sorted(chosen)]


def load_task(task: str, source: str = "synthetic", data_dir: str | Path | None = None,
              splits: Sequence[str] | None = None, max_examples: int | None = None,
              max_eval_examples: int | None = None, seed: int = 0, scale: float = 1.0,
              carve_train: float | None = None) -> TaskData:
    """Load the train split and the task's eval splits (or `splits`) from one source.

    `max_examples` caps the train split and `max_eval_examples` the others, each by seeded subsampling.
    With `carve_train` (directory source), a task without a training file gets one carved from its first
    eval file (see :func:`carve`); the TaskData's `source` says so.
    """
    spec = get_task(task)
    if source not in SOURCES:
        raise ValueError(f"data source {source!r} is unknown; known: {', '.join(SOURCES)}")
    wanted = list(splits) if splits is not None else ["train", *spec.eval_splits]
    out: dict[str, list[Example]] = {}
    carved = False
    if (source == "directory" and carve_train and "train" in wanted and data_dir is not None
            and find_file(spec.name, "train", data_dir) is None):
        # No training file: hold out a seeded share of the first eval file as training rows.
        out.update(carve(spec.name, read_split(spec.name, spec.eval_splits[0], data_dir), carve_train, seed))
        wanted = [s for s in wanted if s not in out]
        carved = True
    if source == "directory" and carve_train and data_dir is not None:
        absent = [s for s in wanted if s != "train" and find_file(spec.name, s, data_dir) is None]
        if absent:
            log.warning("%s: no file for eval split(s) %s under %s; evaluating without them",
                        spec.name, absent, data_dir)
            wanted = [s for s in wanted if s not in absent]
    for split in wanted:
        if source == "synthetic":
            rows = [Example(**r) for r in synthetic.generate(spec.name, split, seed=0, scale=scale)]
        elif source == "directory":
            if data_dir is None:
                raise ValueError("the directory source needs data_dir")
            rows = read_split(spec.name, split, data_dir)
        else:
            rows = load_hub_split(spec.name, split)
        out[split] = rows
    for split, rows in out.items():
        cap = max_examples if split == "train" else max_eval_examples
        out[split] = subsample(rows, cap, seed, f"{spec.name}/{split}")
    where = {"directory": f"directory:{data_dir}", "hub": f"hub:{spec.hub.path}"}.get(source, source)
    if carved:
        where += f" (train carved from {spec.eval_splits[0]}: {carve_train:.0%} of it)"
    return TaskData(spec.name, out, where)


def carve(task: str, rows: list[Example], share: float, seed: int) -> dict[str, list[Example]]:
    """Split one eval file into train (`share` of it) and the task's first eval split, seeded.

    Used by the local profile for tasks whose training file is not available (BoolQ, MNLI, QNLI, SNLI
    and IMDB in the shared bundle); MultiRC questions stay whole.
    """
    if not 0 < share < 1:
        raise ValueError(f"carve_train must be between 0 and 1, got {share}")
    spec = get_task(task)
    keys = [ex.group if ex.group is not None else str(i) for i, ex in enumerate(rows)]
    uniq = list(dict.fromkeys(keys))
    rng = np.random.default_rng([seed, synthetic.hash_str(task + "/carve")])
    train_keys = set(np.array(uniq, dtype=object)[rng.permutation(len(uniq))[:int(len(uniq) * share)]])
    train = [ex for ex, k in zip(rows, keys) if k in train_keys]
    dev = [ex for ex, k in zip(rows, keys) if k not in train_keys]
    return {"train": train, spec.eval_splits[0]: dev}


def load_tasks(tasks: Iterable[str] | None, source: str = "synthetic", **kwargs) -> dict[str, TaskData]:
    return {t: load_task(t, source, **kwargs) for t in resolve_tasks(tasks)}


# ---------------------------------------------------------------------------------------------------------
# encoding (paper Section 4.3)


@dataclass
class EncodedSplit:
    input_ids: list[list[int]]
    token_type_ids: list[list[int]]
    labels: np.ndarray
    groups: list[str] | None = None

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(x) for x in self.input_ids), dtype=np.int64, count=len(self.input_ids))


@dataclass
class EncodedTask:
    task: str
    splits: dict[str, EncodedSplit]

    def __getitem__(self, split: str) -> EncodedSplit:
        return self.splits[split]


@dataclass
class Encoder:
    """Turns Examples into token ids: `[CLS] a [SEP]`, `[CLS] a [SEP] b [SEP]`, `[CLS] q [SEP] p [SEP] a [SEP]`.

    Each distinct text is tokenized once per Encoder (MultiRC repeats its passage for every answer, and
    tasks share sentences), with the backbone's fast tokenizer; segments are then truncated longest-first
    to `max_length`, like the tokenizer's own pair truncation.
    """

    tokenizer: object
    max_length: int = 512
    _cache: dict[str, list[int]] = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if self.max_length < 4:
            raise ValueError(f"max_length must be at least 4, got {self.max_length}")
        self.cls_id = self.tokenizer.cls_token_id
        self.sep_id = self.tokenizer.sep_token_id
        self.pad_id = self.tokenizer.pad_token_id

    def _tokenize(self, texts: Iterable[str]) -> None:
        new = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if new:
            ids = self.tokenizer(new, add_special_tokens=False)["input_ids"]
            self._cache.update(zip(new, ids))

    @property
    def tokenized_texts(self) -> int:
        return len(self._cache)

    def assemble(self, segments: list[list[int]]) -> tuple[list[int], list[int]]:
        segs = [list(s) for s in segments]
        budget = self.max_length - 1 - len(segs)  # [CLS] + one [SEP] per segment
        while sum(map(len, segs)) > budget:
            longest = max(range(len(segs)), key=lambda i: (len(segs[i]), i))
            segs[longest].pop()
        ids, types = [self.cls_id], [0]
        for k, s in enumerate(segs):
            ids += s + [self.sep_id]
            types += [0 if k == 0 else 1] * (len(s) + 1)
        return ids, types

    def encode_examples(self, examples: list[Example]) -> EncodedSplit:
        self._tokenize(t for ex in examples for t in (ex.text_a, ex.text_b, ex.text_c) if t is not None)
        ids, types = [], []
        for ex in examples:
            segs = [self._cache[t] for t in (ex.text_a, ex.text_b, ex.text_c) if t is not None]
            i, tt = self.assemble(segs)
            ids.append(i)
            types.append(tt)
        labels = np.array([ex.label for ex in examples])
        groups = [ex.group for ex in examples] if examples and examples[0].group is not None else None
        return EncodedSplit(ids, types, labels, groups)

    def encode(self, data: TaskData) -> EncodedTask:
        spec = get_task(data.task)
        for split, rows in data.splits.items():
            if spec.input_format == QA_TRIPLE and spec.name == "MultiRC" and rows and rows[0].text_c is None:
                raise DataError(f"{spec.name} {split}: question-passage-answer rows need an answer (text_c)")
        return EncodedTask(data.task, {s: self.encode_examples(rows) for s, rows in data.splits.items()})


def collate(split: EncodedSplit, indices: Sequence[int], pad_token_id: int = 0,
            pad_to: int | None = None, pin_memory: bool = False) -> dict[str, torch.Tensor]:
    """A padded batch of the given rows: input_ids, attention_mask, token_type_ids, labels.

    Pads to the longest row (dynamic padding), or to `pad_to` when given.
    """
    rows = [split.input_ids[i] for i in indices]
    width = pad_to or max(map(len, rows))
    n = len(rows)
    ids = torch.full((n, width), pad_token_id, dtype=torch.long)
    types = torch.zeros((n, width), dtype=torch.long)
    mask = torch.zeros((n, width), dtype=torch.long)
    for r, i in enumerate(indices):
        row = split.input_ids[i]
        ids[r, :len(row)] = torch.tensor(row)
        types[r, :len(row)] = torch.tensor(split.token_type_ids[i])
        mask[r, :len(row)] = 1
    labels = split.labels[np.asarray(indices)]
    label_t = torch.tensor(labels, dtype=torch.float32 if labels.dtype.kind == "f" else torch.long)
    batch = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types, "labels": label_t}
    if pin_memory:
        batch = {k: v.pin_memory() for k, v in batch.items()}
    return batch


# ---------------------------------------------------------------------------------------------------------
# Algorithm 1: multi-task minibatches

@dataclass
class MultiTaskBatches:
    """Algorithm 1: pack each task into minibatches, merge all of them, shuffle, every epoch.

    Each batch holds rows of one task. With ``sampling="proportional"`` (the paper) every training
    example is visited exactly once per epoch. With ``"temperature"`` the number of batches of task t is
    proportional to n_t^(1/T) (same total), drawing rows without replacement until a task's rows run out
    and then reshuffling. ``group_by_length`` sorts rows by length inside chunks of 100 batches before
    packing, which cuts padding without changing which rows an epoch visits.
    The order is a pure function of (seed, epoch): a resumed run replays it exactly.
    """

    sizes: dict[str, int]
    batch_size: int
    seed: int = 0
    sampling: str = "proportional"
    temperature: float = 2.0
    lengths: dict[str, np.ndarray] | None = None
    group_by_length: bool = False
    drop_last: bool = False

    def __post_init__(self):
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {self.batch_size}")
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"sampling {self.sampling!r} is unknown; known: {', '.join(SAMPLINGS)}")
        if self.sampling == "temperature" and self.temperature <= 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")
        empty = [t for t, n in self.sizes.items() if n <= 0]
        if empty:
            raise ValueError(f"task(s) {empty} have no training rows")
        if self.group_by_length and self.lengths is None:
            raise ValueError("group_by_length needs the row lengths")

    def _pack(self, task: str, order: np.ndarray) -> list[np.ndarray]:
        bs = self.batch_size
        if self.group_by_length:
            # Sort each chunk of 100 batches by length and pack it on its own, so no batch straddles two
            # chunks (which would put a chunk's shortest rows beside the next one's longest).
            lengths = self.lengths[task]
            chunk = bs * 100
            batches = []
            for start in range(0, len(order), chunk):
                c = order[start:start + chunk]
                c = c[np.argsort(-lengths[c], kind="stable")]
                batches += [c[i:i + bs] for i in range(0, len(c), bs)]
        else:
            batches = [order[i:i + bs] for i in range(0, len(order), bs)]
        if self.drop_last and len(batches) > 1 and len(batches[-1]) < bs:
            batches.pop()
        return batches

    def num_batches(self, epoch: int = 0) -> int:
        return len(self.epoch(epoch))

    def _quota(self) -> dict[str, int]:
        total = sum(math.ceil(n / self.batch_size) for n in self.sizes.values())
        weights = {t: n ** (1.0 / self.temperature) for t, n in self.sizes.items()}
        z = sum(weights.values())
        return {t: max(1, round(total * w / z)) for t, w in weights.items()}

    def epoch(self, epoch: int) -> list[tuple[str, np.ndarray]]:
        rng = np.random.default_rng([self.seed, epoch])
        batches: list[tuple[str, np.ndarray]] = []
        quota = self._quota() if self.sampling == "temperature" else None
        for task in sorted(self.sizes):
            n = self.sizes[task]
            if quota is None:
                order = rng.permutation(n)
            else:
                need = quota[task] * self.batch_size
                order = np.concatenate([rng.permutation(n) for _ in range(math.ceil(need / n))])[:need]
            batches += [(task, b) for b in self._pack(task, order)]
        perm = rng.permutation(len(batches))
        return [batches[i] for i in perm]


def padding_efficiency(lengths: np.ndarray, batches: Iterable[np.ndarray], pad_to: int | None = None) -> float:
    """Real tokens divided by processed tokens (batch rows x padded width)."""
    real = processed = 0
    for b in batches:
        ls = lengths[b]
        real += int(ls.sum())
        processed += len(b) * (pad_to or int(ls.max()))
    return real / processed if processed else 1.0
