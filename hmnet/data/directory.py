"""The directory source: the official GLUE TSV / SuperGLUE JSONL / aclImdb layouts under ``<data_dir>/<TASK>/``.

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
import tarfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

from hmnet.data.examples import Example, parse_label
from hmnet.errors import DataError, decode_text, parse_json, read_text
from hmnet.tasks import TASK_NAMES, TASKS, TaskSpec, get_task

log = logging.getLogger(__name__)

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
                           label=parse_label(spec, fields[pos["label"]], where)))
    return out


def _json_lines(path: Path) -> Iterator[tuple[int, dict]]:
    lines = _lines(path)
    if not lines:
        raise DataError(f"{path}: the file is empty; expected one JSON object per line")
    for no, line in lines:
        row = parse_json(line, path, no)
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
                           label=parse_label(spec, row[cols["label"]], f"{path} line {no}")))
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
                                   label=parse_label(spec, a["label"], f"{path} line {no} (question {qid})"),
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
                           label=parse_label(spec, row[keys[2]], f"{path} line {no}")))
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
    kind = spec.layout.kind  # how the task's files are parsed (hmnet.tasks.FileLayout)
    if kind == "aclimdb":
        return _read_imdb(path, spec, split)
    if kind == "multirc":
        return _read_multirc(path, spec)
    if path.suffix == ".tsv":
        return _read_tsv(path, spec)
    if kind == "nli":
        return _read_nli_jsonl(path, spec)
    return _read_superglue(path, spec)


def available_tasks(data_dir: str | Path) -> dict[str, list[str]]:
    """Which splits of which tasks exist as files under data_dir."""
    found = {}
    for t in TASK_NAMES:
        splits = [s for s in TASKS[t].layout.files if find_file(t, s, data_dir) is not None]
        if splits:
            found[t] = splits
    return found
