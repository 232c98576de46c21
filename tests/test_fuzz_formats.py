"""Seeded fuzzing of every file format the loaders read.

Each format starts from a small pristine file synthesised here in the exact official layout (the real
bundle is not needed; one test re-seeds the TSV/JSONL mutations from the first rows of the real files when
the bundle is present). Seeded mutations (``random.Random(<format>/<n>)``, so every run is identical)
cover truncation at any byte, invalid UTF-8 and NUL bytes, a BOM, CRLF line endings, a missing final
newline, blank lines, a wrong delimiter, extra or missing fields, empty and header-only files, unknown
labels, bad scores (NaN, infinite, outside STS-B's 0-5), wrong JSON types, duplicate ids, random byte
flips, truncated or corrupted gzip streams and tar members that point outside the archive.

The oracle for every case: the loader raises :class:`hmnet.errors.DataError` naming the file (and the line
where the mutation has one), or it returns what the documented tolerance says (see the docstrings of
:mod:`hmnet.data` and :func:`hmnet.analysis.relevance.load_matrix`). Any other exception fails the test, and so
does a silently wrong row count: a file cut mid-row must fail or keep the partial row (with a warning
about the missing final newline); only a cut exactly at a row boundary may lose the rows after it.
"""

from __future__ import annotations

import copy
import gzip
import io
import json
import logging
import random
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hmnet.data import Example, read_split
from hmnet.errors import DataError, line_of

from conftest import SHARED_DATA

BOM = b"\xef\xbb\xbf"
TEXTS = ["A man is playing a guitar.", "Café owners say “it’s naïve” — or not.", 'He said "no", then left.',
         "Ünïcödé ⇒ 数据 ok", "short", "The drain is clogged with hair. It has to be cleaned."]


# ---------------------------------------------------------------------------------------------------------
# pristine files in the official layouts


@dataclass
class LineFormat:
    """A line-based file: TSV (header + rows of fields) or JSON lines (one object per line)."""

    name: str
    task: str
    split: str
    relpath: str
    kind: str  # "tsv" or "jsonl"
    header: list[str] | None  # TSV
    rows: list  # TSV: lists of fields; JSONL: dicts
    label_key: str | int  # TSV: field index; JSONL: key
    text_key: str | int
    has_ids: bool
    bom: bool = False
    rows_per_line: list[int] = field(default_factory=list)  # Examples each data line yields

    def render(self, rows=None, header=None) -> bytes:
        rows = self.rows if rows is None else rows
        if self.kind == "tsv":
            lines = ["\t".join(header or self.header)] + ["\t".join(r) for r in rows]
        else:
            lines = [json.dumps(r, ensure_ascii=False) for r in rows]
        return (BOM if self.bom else b"") + ("\n".join(lines) + "\n").encode()

    @property
    def first_data_line(self) -> int:
        return 2 if self.kind == "tsv" else 1


def _tsv(name, task, split, relpath, header, make_row, label_col, text_col, has_ids, n=6, bom=False):
    rows = [make_row(i) for i in range(n)]
    return LineFormat(name, task, split, relpath, "tsv", header, rows, header.index(label_col),
                      header.index(text_col), has_ids, bom, [1] * n)


def _labels(i, names):
    return names[i % len(names)]


def line_formats() -> list[LineFormat]:
    nli2 = ("entailment", "not_entailment")
    nli3 = ("entailment", "neutral", "contradiction")
    t = TEXTS
    out = [
        _tsv("RTE", "RTE", "train", "RTE/train.tsv", ["index", "sentence1", "sentence2", "label"],
             lambda i: [str(i), t[i % 6], t[(i + 1) % 6], _labels(i, nli2)], "label", "sentence1", True),
        _tsv("QNLI", "QNLI", "dev", "QNLI/dev.tsv", ["index", "question", "sentence", "label"],
             lambda i: [str(i), t[i % 6] + "?", t[(i + 2) % 6], _labels(i, nli2)], "label", "sentence", True),
        _tsv("WNLI", "WNLI", "train", "WNLI/train.tsv", ["index", "sentence1", "sentence2", "label"],
             lambda i: [str(i), t[i % 6], t[(i + 3) % 6], str(i % 2)], "label", "sentence1", True),
        _tsv("SST-2", "SST-2", "train", "SST-2/train.tsv", ["sentence", "label"],
             lambda i: [t[i % 6] + " ", str(i % 2)], "label", "sentence", False),
        _tsv("STS-B", "STS-B", "dev", "STS-B/dev.tsv",
             ["index", "genre", "filename", "year", "old_index", "source1", "source2", "sentence1", "sentence2",
              "score"],
             lambda i: [str(i), "main-captions", "MSRvid", "2012test", f"{i:04d}", "none", "none", t[i % 6],
                        t[(i + 1) % 6], f"{(i * 0.85) % 5:.3f}"], "score", "sentence2", True),
        _tsv("MRPC", "MRPC", "train", "MRPC/train.tsv", ["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"],
             lambda i: [str(i % 2), str(1000 + i), str(2000 + i), t[i % 6], t[(i + 4) % 6]], "Quality",
             "#2 String", True, bom=True),
        _tsv("QQP", "QQP", "dev", "QQP/dev.tsv", ["id", "qid1", "qid2", "question1", "question2", "is_duplicate"],
             lambda i: [str(i), str(2 * i), str(2 * i + 1), t[i % 6], t[(i + 1) % 6], str(i % 2)], "is_duplicate",
             "question2", True),
        _tsv("MNLI-tsv", "MNLI", "dev_matched", "MNLI/dev_matched.tsv",
             ["index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
              "sentence1_parse", "sentence2_parse", "sentence1", "sentence2", "label1", "gold_label"],
             lambda i: [str(i), str(60 + i), f"{60 + i}n", "fiction", "( a )", "( b )", "(ROOT a)", "(ROOT b)",
                        t[i % 6], t[(i + 5) % 6], _labels(i, nli3), _labels(i, nli3)], "gold_label", "sentence1",
             True),
    ]
    cb = [{"premise": t[i % 6], "hypothesis": t[(i + 1) % 6], "label": _labels(i, ("entailment", "contradiction",
                                                                                     "neutral")), "idx": i}
          for i in range(6)]
    boolq = [{"question": t[i % 6].lower(), "passage": t[(i + 2) % 6], "idx": i, "label": bool(i % 2)}
             for i in range(6)]
    derived = [{"premise": t[i % 6], "hypothesis": t[(i + 1) % 6], "label": _labels(i, nli3)} for i in range(6)]
    snli = [{"annotator_labels": ["neutral"], "captionID": f"{i}.jpg#0", "gold_label": "-" if i == 3 else
             _labels(i, nli3), "pairID": f"{i}.jpg#0r1n", "sentence1": t[i % 6], "sentence2": t[(i + 1) % 6]}
            for i in range(6)]
    multirc = [{"idx": p, "version": 1.1, "passage": {"text": t[p % 6] + " " + t[(p + 1) % 6], "questions": [
        {"question": f"question {q} of {p}?", "idx": q, "answers": [
            {"text": t[(p + q + a) % 6], "idx": a, "label": (p + q + a) % 2} for a in range(1 + (p + q) % 3)]}
        for q in range(2)]}} for p in range(4)]
    out += [
        LineFormat("CB", "CB", "dev", "CB/val.jsonl", "jsonl", None, cb, "label", "premise", True,
                   rows_per_line=[1] * 6),
        LineFormat("BoolQ", "BoolQ", "dev", "BoolQ/val.jsonl", "jsonl", None, boolq, "label", "passage", True,
                   rows_per_line=[1] * 6),
        LineFormat("MNLI-derived", "MNLI", "dev_matched", "MNLI/dev_matched.derived.jsonl", "jsonl", None, derived,
                   "label", "hypothesis", False, rows_per_line=[1] * 6),
        LineFormat("SNLI-derived", "SNLI", "dev", "SNLI/dev.derived.jsonl", "jsonl", None, derived, "label",
                   "premise", False, rows_per_line=[1] * 6),
        LineFormat("SNLI-official", "SNLI", "dev", "SNLI/snli_1.0_dev.jsonl", "jsonl", None, snli, "gold_label",
                   "sentence2", True, rows_per_line=[0 if r["gold_label"] == "-" else 1 for r in snli]),
        LineFormat("MultiRC", "MultiRC", "dev", "MultiRC/val.jsonl", "jsonl", None, multirc, "", "", True,
                   rows_per_line=[sum(len(q["answers"]) for q in r["passage"]["questions"]) for r in multirc]),
    ]
    return out


FORMATS = {f.name: f for f in line_formats()}


# ---------------------------------------------------------------------------------------------------------
# mutations: (id, bytes, expectation)


@dataclass
class Expect:
    """What a case must end in. error: must raise DataError (with `line` and `text` in the message when
    given); rows: must return exactly these rows; count: must return this many rows (or raise, when
    error_ok); partial: a cut mid-row, see check_truncation."""

    error: bool = False
    line: int | None = None
    text: str = ""
    rows: list | None = None
    count: int | None = None
    error_ok: bool = False
    warn: bool = False


def _lines_of(data: bytes) -> list[int]:
    """Byte offsets where each line starts (after a BOM)."""
    starts = [0]
    for i, b in enumerate(data):
        if b == 0x0A and i + 1 < len(data):
            starts.append(i + 1)
    return starts


def _edit_label(fmt: LineFormat, rows: list, i: int, value) -> list:
    rows = copy.deepcopy(rows)
    if fmt.kind == "tsv":
        rows[i][fmt.label_key] = value
    elif fmt.name == "MultiRC":
        rows[i]["passage"]["questions"][0]["answers"][0]["label"] = value
    else:
        rows[i][fmt.label_key] = value
    return rows


def _same_question_idx(row: dict) -> None:
    questions = row["passage"]["questions"]
    questions[1]["idx"] = questions[0]["idx"]


def mutations(fmt: LineFormat, pristine: list[Example], n_random: int = 10) -> list[tuple[str, bytes, Expect]]:
    rng = random.Random(f"fuzz/{fmt.name}")
    data = fmt.render()
    body = data[len(BOM):] if fmt.bom else data
    lead = len(data) - len(body)
    n_rows = len(pristine)
    first = fmt.first_data_line
    cases: list[tuple[str, bytes, Expect]] = []
    add = cases.append

    # Tolerated: a BOM (added, or removed where the official file has one), CRLF, a missing final newline,
    # blank lines between rows, and extra JSON keys.
    add(("bom", body if fmt.bom else BOM + data, Expect(rows=pristine)))
    add(("crlf", data.replace(b"\n", b"\r\n"), Expect(rows=pristine)))
    add(("crlf-no-final-newline", data.replace(b"\n", b"\r\n")[:-2], Expect(rows=pristine, warn=True)))
    add(("no-final-newline", data[:-1], Expect(rows=pristine, warn=True)))
    add(("blank-lines", data.replace(b"\n", b"\n\n", 2) + b"\n", Expect(rows=pristine)))
    if fmt.kind == "jsonl":
        extra = copy.deepcopy(fmt.rows)
        for r in extra:
            r["extra_field"] = [1, {"x": None}]
        add(("extra-keys", fmt.render(extra), Expect(rows=pristine)))

    # Empty, header-only, wrong delimiter.
    add(("empty", b"", Expect(error=True, text="empty")))
    add(("bom-only", BOM, Expect(error=True, text="empty")))
    add(("blank-only", b"\n\n\r\n", Expect(error=True, text="empty")))
    if fmt.kind == "tsv":
        add(("header-only", data[:data.index(b"\n") + 1], Expect(error=True, text="only a header")))
        add(("comma-delimited", data.replace(b"\t", b","), Expect(error=True, line=1, text="missing column")))
        add(("space-delimited", data.replace(b"\t", b"    "), Expect(error=True, line=1, text="missing column")))
    else:
        add(("tsv-not-json", b"premise\thypothesis\tlabel\na\tb\tentailment\n", Expect(error=True, line=1)))
        add(("array-line", data + b"[1, 2, 3]\n", Expect(error=True, line=len(fmt.rows) + 1,
                                                        text="expected a JSON object")))

    # Structural edits of one data row (line numbers are 1-based file lines).
    for _ in range(2):
        i = rng.randrange(len(fmt.rows))
        line = first + i
        if fmt.kind == "tsv":
            rows = copy.deepcopy(fmt.rows)
            rows[i] = rows[i] + ["extra"]
            add((f"extra-field@{line}", fmt.render(rows), Expect(error=True, line=line, text="fields")))
            rows = copy.deepcopy(fmt.rows)
            rows[i] = rows[i][:-1]
            add((f"missing-field@{line}", fmt.render(rows), Expect(error=True, line=line, text="fields")))
        else:
            rows = copy.deepcopy(fmt.rows)
            key = next(k for k in ("passage", "premise", "question", "sentence1") if k in rows[i])
            del rows[i][key]
            add((f"missing-key@{line}", fmt.render(rows), Expect(error=True, line=line, text="missing field")))
            rows = copy.deepcopy(fmt.rows)
            if fmt.name == "MultiRC":
                rows[i]["passage"]["questions"][-1]["answers"][0]["text"] = 42
            else:
                rows[i][fmt.text_key] = rng.choice([42, None, ["a", "b"], {"t": "x"}])
            add((f"text-not-string@{line}", fmt.render(rows), Expect(error=True, line=line, text="must be a string")))
        bad = rng.choice(["maybe", "7", "ENTAILMENT", " entailment"]) if fmt.task != "STS-B" else "high"
        if fmt.task == "BoolQ":
            bad = rng.choice([1, "yes", None])
        if fmt.name == "MultiRC":
            bad = rng.choice([2, "1", True, None])
        if fmt.name == "SNLI-official" and i == 3:
            i, line = 2, first + 2  # row 3 has no gold label ("-") and is dropped before its label is read
        add((f"unknown-label@{line}", fmt.render(_edit_label(fmt, fmt.rows, i, bad)),
             Expect(error=True, line=line, text="is not")))
    if fmt.task == "STS-B":
        for score in ("nan", "NaN", "inf", "-inf", "1e999", "-0.5", "5.01", "", "4,5"):
            i = rng.randrange(len(fmt.rows))
            add((f"score={score!r}@{first + i}", fmt.render(_edit_label(fmt, fmt.rows, i, score)),
                 Expect(error=True, line=first + i, text="label" if score in ("", "4,5") else "")))
    if fmt.name == "MultiRC":
        for what, edit in [("questions-not-list", lambda r: r["passage"].__setitem__("questions", {})),
                           ("no-questions", lambda r: r["passage"].__setitem__("questions", [])),
                           ("no-answers", lambda r: r["passage"]["questions"][0].__setitem__("answers", [])),
                           ("passage-not-object", lambda r: r.__setitem__("passage", "text")),
                           ("question-not-object", lambda r: r["passage"]["questions"].__setitem__(0, "q")),
                           ("answer-without-label", lambda r: r["passage"]["questions"][0]["answers"][0].pop("label")),
                           ("duplicate-question-idx", _same_question_idx)]:
            rows = copy.deepcopy(fmt.rows)
            i = rng.randrange(len(rows))
            edit(rows[i])
            add((f"{what}@{first + i}", fmt.render(rows), Expect(error=True, line=first + i)))

    # Duplicate rows: an error where the format has ids, two rows where it has none.
    i = rng.randrange(len(fmt.rows))
    rows = fmt.rows[:i + 1] + [copy.deepcopy(fmt.rows[i])] + fmt.rows[i + 1:]
    if fmt.has_ids:
        add((f"duplicate-row@{first + i + 1}", fmt.render(rows), Expect(error=True, line=first + i + 1,
                                                                       text="duplicate")))
    else:
        add((f"duplicate-row@{first + i + 1}", fmt.render(rows),
             Expect(count=n_rows + fmt.rows_per_line[i])))

    # Invalid UTF-8 and NUL bytes at random positions: always an error naming the line.
    for what, junk, text in (("invalid-utf8", b"\xff", "invalid UTF-8"), ("bad-continuation", b"\xc3(",
                                                                           "invalid UTF-8"),
                             ("nul", b"\x00", "NUL byte")):
        for _ in range(2):
            pos = rng.randrange(lead, len(data))
            add((f"{what}@{pos}", data[:pos] + junk + data[pos:], Expect(error=True, line=line_of(data, pos),
                                                                        text=text)))

    # Truncation at every line boundary and at random bytes (see check_truncation).
    boundaries = [s for s in _lines_of(data) if s > 0] + [len(data)]
    cuts = sorted(set(boundaries[:3] + rng.sample(range(1, len(data)), n_random)))
    for k in cuts:
        add((f"truncate@{k}", data[:k], Expect(count=-1)))

    # Random byte flips: an error, or the same number of rows.
    for _ in range(n_random):
        pos = rng.randrange(lead, len(data))
        new = bytes([rng.choice([rng.randrange(32, 127), 9, 10, 13, 0x22, 0x7B, 0x5C])])
        add((f"flip@{pos}={new!r}", data[:pos] + new + data[pos + 1:], Expect(count=n_rows, error_ok=True)))
    return cases


# ---------------------------------------------------------------------------------------------------------
# the oracle


def _read(tmp_path: Path, fmt: LineFormat, data: bytes, caplog) -> list[Example] | DataError:
    path = tmp_path / fmt.relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    caplog.clear()
    try:
        return read_split(fmt.task, fmt.split, tmp_path)
    except DataError as err:
        assert str(path) in str(err), f"the error does not name the file: {err}"
        return err


def check_truncation(fmt: LineFormat, data: bytes, k: int, out, pristine: list[Example], warned: bool) -> None:
    """Cut at k. At a row boundary: the rows before it, exactly (or an error if none are left). Mid-row: an
    error, or the rows before it plus the partial row, with a warning about the missing final newline."""
    full = fmt.render()
    starts = _lines_of(full) + [len(full)]
    header = 1 if fmt.kind == "tsv" else 0
    complete_lines = sum(1 for s in starts[1:] if s <= k)  # lines whose newline survived the cut
    done = sum(fmt.rows_per_line[:max(0, complete_lines - header)])
    if k in starts or k == len(full):
        if done == 0:
            assert isinstance(out, DataError), f"cut at {k}: expected an error (no rows left), got {out!r}"
        else:
            assert not isinstance(out, DataError), f"cut at a row boundary ({k}): {out}"
            assert out == pristine[:done]
        return
    if isinstance(out, DataError):
        return
    assert warned, f"cut mid-row at {k}: rows returned without a warning"
    assert out[:done] == pristine[:done], f"cut at {k}: the complete rows changed"
    partial = fmt.rows_per_line[complete_lines - header] if complete_lines >= header else 0
    assert len(out) == done + partial, f"cut mid-row at {k}: {len(out)} rows, expected {done + partial}"


def run_cases(tmp_path: Path, fmt: LineFormat, caplog) -> int:
    pristine = _read(tmp_path, fmt, fmt.render(), caplog)
    assert not isinstance(pristine, DataError), pristine
    assert len(pristine) == sum(fmt.rows_per_line)
    cases = mutations(fmt, pristine)
    for case_id, data, expect in cases:
        out = _read(tmp_path, fmt, data, caplog)
        warned = any(r.levelno == logging.WARNING and fmt.relpath in r.getMessage() for r in caplog.records)
        what = f"{fmt.name} {case_id}"
        if expect.count == -1:
            check_truncation(fmt, data, len(data), out, pristine, warned)
        elif expect.error:
            assert isinstance(out, DataError), f"{what}: expected a DataError, got {len(out)} rows"
            if expect.line is not None:
                assert f"line {expect.line}" in str(out), f"{what}: {out}"
            assert expect.text in str(out), f"{what}: {out}"
        elif isinstance(out, DataError):
            assert expect.error_ok, f"{what}: unexpected error {out}"
        elif expect.rows is not None:
            assert out == expect.rows, f"{what}: rows differ"
            assert warned == expect.warn, f"{what}: warning {warned}, expected {expect.warn}"
        else:
            assert len(out) == expect.count, f"{what}: {len(out)} rows, expected {expect.count}"
    return len(cases)


@pytest.mark.parametrize("name", FORMATS)
def test_line_formats(tmp_path, caplog, name):
    caplog.set_level(logging.WARNING, logger="hmnet")
    assert run_cases(tmp_path, FORMATS[name], caplog) >= 35


def test_real_rows_seed_the_same_mutations(tmp_path, caplog):
    """The same cases, seeded from the first rows of the real files (skipped without the bundle)."""
    if not (SHARED_DATA / "PROVENANCE.md").exists():
        pytest.skip(f"real NLU data not found at {SHARED_DATA} (set HMNET_SHARED_DATA); the synthetic files above "
                    "cover the same layouts")
    caplog.set_level(logging.WARNING, logger="hmnet")
    total = 0
    for fmt in line_formats():
        real = SHARED_DATA / fmt.relpath
        if not real.exists():
            continue
        head = real.read_bytes().split(b"\n")[:6 if fmt.kind == "tsv" else 5]
        text = b"\n".join(head).decode("utf-8-sig")
        lines = text.split("\n")
        if fmt.kind == "tsv":
            fmt.header, fmt.rows = lines[0].split("\t"), [line.split("\t") for line in lines[1:]]
        else:
            fmt.rows = [json.loads(line) for line in lines]
        fmt.bom = real.read_bytes().startswith(BOM)
        fmt.rows_per_line = ([sum(len(q["answers"]) for q in r["passage"]["questions"]) for r in fmt.rows]
                             if fmt.name == "MultiRC" else [1] * len(fmt.rows))
        total += run_cases(tmp_path / fmt.name, fmt, caplog)
    assert total >= 200


# ---------------------------------------------------------------------------------------------------------
# aclImdb: folders and archives

REVIEWS = {"pos/0_10.txt": "Loved it.", "pos/3_8.txt": "Café scenes — “great”.", "neg/1_2.txt": "Awful <br />film.",
           "neg/7_1.txt": "No."}


def _imdb_folder(root: Path, reviews=REVIEWS) -> Path:
    for rel, text in reviews.items():
        p = root / "IMDB" / "aclImdb" / "train" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return root


def _tar(members: dict[str, bytes] | list[tuple[str, bytes]], fmt: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=fmt) as tar:
        for name, data in (members.items() if isinstance(members, dict) else members):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _tar_with_link(members: dict[str, bytes]) -> bytes:
    """An archive with an extra symlink member pointing outside: links are never followed (not a file)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("aclImdb/train/pos/9_9.txt")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    return buf.getvalue()


def _imdb_tar(root: Path, data: bytes) -> Path:
    (root / "IMDB").mkdir(parents=True, exist_ok=True)
    (root / "IMDB" / "train.tar.gz").write_bytes(data)
    return root


def _outcome(fn, path_text: str):
    try:
        return fn()
    except DataError as err:
        assert path_text in str(err), f"the error does not name {path_text}: {err}"
        return err


def test_imdb_folders(tmp_path, caplog):
    pristine = read_split("IMDB", "train", _imdb_folder(tmp_path / "ok"))
    assert [e.label for e in pristine] == [0, 0, 1, 1]
    cases = {  # name -> (changes to REVIEWS, expected: rows or an error text)
        "bom": ({"pos/0_10.txt": BOM + b"Loved it."}, pristine),
        "crlf-text": ({"neg/7_1.txt": b"No.\r\n"}, None),  # free text: kept as written
        "extra-file-ignored": ({"pos/notes.md": "x"}, pristine),
        "invalid-utf8": ({"neg/1_2.txt": b"Awful \xff film"}, "neg/1_2.txt line 1: invalid UTF-8"),
        "nul": ({"pos/3_8.txt": b"Caf\x00e"}, "pos/3_8.txt line 1: NUL byte"),
        "cut-character": ({"pos/3_8.txt": "Café".encode()[:4]}, "truncated?"),
        "bad-name": ({"pos/great.txt": "x"}, "is not <id>_<rating>.txt"),
        "bad-rating": ({"pos/4_x.txt": "x"}, "is not <id>_<rating>.txt"),
        "duplicate-id": ({"pos/0_9.txt": "again"}, "duplicate review id 0"),
        "folder-named-txt": ({"pos/5_7.txt/x": "x"}, "is a folder"),
    }
    for name, (change, expected) in cases.items():
        root = _imdb_folder(tmp_path / name, {**REVIEWS, **change})
        out = _outcome(lambda root=root: read_split("IMDB", "train", root), str(root))
        if isinstance(expected, str):
            assert isinstance(out, DataError) and expected in str(out), f"{name}: {out}"
        elif expected is not None:
            assert out == expected, name
        else:
            assert len(out) == len(pristine) and any(e.text_a == "No.\r\n" for e in out)
    root = _imdb_folder(tmp_path / "no-pos", {k: v for k, v in REVIEWS.items() if k.startswith("neg")})
    assert "missing folder pos/" in str(_outcome(lambda: read_split("IMDB", "train", root), "aclImdb"))
    root = tmp_path / "empty"
    for label in ("pos", "neg"):
        (root / "IMDB" / "aclImdb" / "train" / label).mkdir(parents=True)
    assert "no train/pos or train/neg reviews" in str(_outcome(lambda: read_split("IMDB", "train", root), "aclImdb"))


def test_imdb_archives(tmp_path):
    members = {f"aclImdb/train/{k}": v.encode() for k, v in REVIEWS.items()}
    members["aclImdb/train/unsup/9_0.txt"] = b"ignored"
    members["aclImdb/test/pos/0_10.txt"] = b"another split"
    good = _tar(members)
    pristine = read_split("IMDB", "train", _imdb_tar(tmp_path / "ok", good))
    assert pristine == read_split("IMDB", "train", _imdb_folder(tmp_path / "folder"))
    rng = random.Random("fuzz/aclImdb.tar.gz")
    cases: list[tuple[str, bytes, str | None]] = []  # (id, archive, error text or None for "rows as pristine")
    for k in sorted(rng.sample(range(1, len(good)), 25)):
        cases.append((f"truncate@{k}", good[:k], "not a readable .tar.gz"))
    for _ in range(25):
        pos = rng.randrange(len(good))
        cases.append((f"flip@{pos}", good[:pos] + bytes([good[pos] ^ (1 << rng.randrange(8))]) + good[pos + 1:],
                      "either"))
    cases += [
        ("dotdot", _tar({**members, "aclImdb/train/pos/../../../../etc/5_5.txt": b"x"}), "points outside"),
        ("dotdot-first", _tar({"../train/pos/5_5.txt": b"x", **members}), "points outside"),
        ("absolute", _tar({"/aclImdb/train/pos/5_5.txt": b"x", **members}), "points outside"),
        ("invalid-utf8", _tar({**members, "aclImdb/train/neg/8_3.txt": b"\xfe"}), "neg/8_3.txt line 1: invalid"),
        ("nul", _tar({**members, "aclImdb/train/neg/8_3.txt": b"a\x00"}), "NUL byte"),
        ("duplicate-id", _tar({**members, "aclImdb/train/neg/1_3.txt": b"x"}), "duplicate review id 1"),
        ("same-member-twice", _tar([*members.items(), ("aclImdb/train/pos/0_10.txt", b"appended")]),
         "duplicate review id 0"),
        ("symlink-ignored", _tar_with_link(members), None),
        ("bom", _tar({**members, "aclImdb/train/pos/0_10.txt": BOM + b"Loved it."}), None),
        ("no-reviews", _tar({"aclImdb/README": b"x"}), "no train/pos or train/neg reviews"),
        ("plain-tar", _tar(members, "w"), "not a readable .tar.gz"),
        ("gzip-not-tar", gzip.compress(b"hello" * 100), "not a readable .tar.gz"),
        ("empty", b"", "not a readable .tar.gz"),
        ("text", b"not a tarball\n", "not a readable .tar.gz"),
    ]
    for case_id, data, expected in cases:
        root = _imdb_tar(tmp_path / case_id, data)
        out = _outcome(lambda root=root: read_split("IMDB", "train", root), "train.tar.gz")
        if expected is None or (expected == "either" and not isinstance(out, DataError)):
            assert out == pristine, f"{case_id}: rows differ"
        elif expected != "either":
            assert isinstance(out, DataError) and expected in str(out), f"{case_id}: {out!r:.200}"
    assert len(cases) >= 60


# ---------------------------------------------------------------------------------------------------------
# saved relevance matrices


def test_relevance_matrices(tmp_path, caplog):
    from hmnet.paper import table2
    from hmnet.analysis.relevance import load_matrix, save_matrix

    caplog.set_level(logging.WARNING, logger="hmnet")
    m = table2().iloc[:5, :5].copy()
    m.iloc[0, 1] = np.nan
    n_cases = 0
    for suffix in (".json", ".csv"):
        good = save_matrix(m, tmp_path / f"good{suffix}").read_bytes()
        rng = random.Random(f"fuzz/matrix{suffix}")
        cases: list[tuple[str, bytes, str]] = [  # expectation: "same", "error", "either" (error or same shape)
            ("bom", BOM + good, "same"), ("crlf", good.replace(b"\n", b"\r\n"), "same"),
            ("empty", b"", "error"), ("binary", bytes(range(256)), "error"),
            ("invalid-utf8", good[:40] + b"\xff" + good[40:], "error"), ("nul", good[:40] + b"\0" + good[40:], "error"),
        ]
        cases += [(f"truncate@{k}", good[:k], "either") for k in sorted(rng.sample(range(1, len(good)), 20))]
        for _ in range(20):
            pos = rng.randrange(len(good))
            cases.append((f"flip@{pos}", good[:pos] + bytes([rng.randrange(32, 127)]) + good[pos + 1:], "either"))
        for case_id, data, expected in cases:
            path = tmp_path / f"case{suffix}"
            path.write_bytes(data)
            caplog.clear()
            try:
                out = load_matrix(path)
            except DataError as err:
                assert str(path) in str(err), err
                assert expected != "same", f"{suffix} {case_id}: {err}"
                continue
            assert expected != "error", f"{suffix} {case_id}: loaded"
            if expected == "same":
                pd.testing.assert_frame_equal(out, load_matrix(tmp_path / f"good{suffix}"))
            else:
                assert out.shape == m.shape, f"{suffix} {case_id}: shape {out.shape}"
                if case_id.startswith("truncate"):  # only the last value can be cut: warned
                    assert suffix == ".csv" and "does not end with a newline" in caplog.text, case_id
        n_cases += len(cases)
    assert n_cases >= 90


# ---------------------------------------------------------------------------------------------------------
# result records


def _result(tmp_path: Path):
    from hmnet.profiles import get_profile
    from hmnet.results import Result, write_result

    config = get_profile("smoke").run_config("multi", tasks=("RTE", "CB"))
    result = Result(config=config, key=config.key(), metrics={"RTE": {"dev": {"accuracy": 55.5}}},
                    scores={"RTE": 55.5, "CB": 60.0}, average=57.75, params={"overall": 10}, wall_time=1.0,
                    examples_per_second=2.0, env={"python": "3"})
    return config, result, write_result(result, tmp_path)


def test_result_records(tmp_path, caplog):
    from hmnet.results import read_result_file

    config, result, path = _result(tmp_path)
    good = path.read_bytes()
    assert read_result_file(path, config).to_dict() == result.to_dict()
    rng = random.Random("fuzz/result")
    edited = json.loads(good)
    edited["average"] = 99.0
    foreign = json.loads(good)
    foreign.pop("checksum")
    foreign["key"] = "0" * 16
    import hashlib

    from hmnet.files import canonical_json

    foreign["checksum"] = hashlib.sha256(canonical_json(foreign)).hexdigest()
    cases = [("edited-value", json.dumps(edited).encode()), ("other-key", json.dumps(foreign).encode()),
             ("empty", b""), ("binary", bytes(range(256))), ("bom", BOM + good), ("list", b"[1, 2]"),
             ("no-checksum", json.dumps({k: v for k, v in json.loads(good).items() if k != "checksum"}).encode())]
    cases += [(f"truncate@{k}", good[:k]) for k in sorted(rng.sample(range(len(good)), 25))]
    for _ in range(25):
        pos = rng.randrange(len(good))
        cases.append((f"flip@{pos}", good[:pos] + bytes([rng.randrange(256)]) + good[pos + 1:]))
    for case_id, data in cases:
        path.write_bytes(data)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="hmnet"):
            out = read_result_file(path, config)
        if out is None:
            assert str(path) in caplog.text and "recomputed" in caplog.text, f"{case_id}: no warning"
        else:  # a change that leaves the content as it was (e.g. a space for a space)
            assert out.to_dict() == result.to_dict(), case_id
    assert sum(1 for c, _ in cases if not c.startswith("flip")) >= 30
    # Whitespace is not content: CRLF line endings keep the record.
    path.write_bytes(good.replace(b"\n", b"\r\n"))
    assert read_result_file(path, config).to_dict() == result.to_dict()
    # A folder where the record belongs: ignored with a warning, not a traceback.
    path.unlink()
    path.mkdir()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="hmnet"):
        assert read_result_file(path, config) is None
    assert "recomputed" in caplog.text


# ---------------------------------------------------------------------------------------------------------
# checkpoints


class _Ctx:
    main, rank, world = True, 0, 1

    @staticmethod
    def any(flag):
        return flag

    @staticmethod
    def barrier():
        return None


def _checkpoint(ckpt_dir: Path, key: str, step: int = 3) -> Path:
    import torch

    from hmnet.train.checkpoint import save_checkpoint

    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters())
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
    ok = save_checkpoint(ckpt_dir, key, {"global_step": step, "epoch": 0, "step_in_epoch": step}, 10, model,
                          optimizer, scheduler, None, _Ctx(),
                          lambda m, d: torch.save(m.state_dict(), d / "model.pt"))
    assert ok
    return ckpt_dir / f"ckpt-{step:09d}"


def test_checkpoints(tmp_path, caplog):
    from hmnet.train.checkpoint import CheckpointError, latest_checkpoint, verify_checkpoint

    key = "a" * 16
    ckpt = _checkpoint(tmp_path / "run", key)
    state = verify_checkpoint(ckpt, key)
    pristine = {name: (ckpt / name).read_bytes() for name in sorted(p.name for p in ckpt.iterdir())}
    with pytest.raises(CheckpointError, match=f"another run .*{'b' * 16}"):
        verify_checkpoint(ckpt, "b" * 16)
    caplog.set_level(logging.WARNING, logger="hmnet")
    assert latest_checkpoint(tmp_path / "run", "b" * 16) is None
    assert "skipping checkpoint" in caplog.text and "another run" in caplog.text

    rng = random.Random("fuzz/checkpoint")
    cases = []
    for name, data in pristine.items():
        for k in sorted(rng.sample(range(len(data)), 8)):
            cases.append((f"{name} truncate@{k}", name, data[:k]))
        for _ in range(6):
            pos = rng.randrange(len(data))
            cases.append((f"{name} flip@{pos}", name, data[:pos] + bytes([rng.randrange(256)]) + data[pos + 1:]))
    doc = json.loads(pristine["state.json"])
    for edit in ("format", "key", "files", "global_step"):
        changed = dict(doc, **{edit: {"format": 2, "key": "c" * 16, "files": [], "global_step": 99}[edit]})
        cases.append((f"state.json {edit} edited", "state.json", json.dumps(changed).encode()))
    cases += [("state.json list", "state.json", b"[]"), ("state.json binary", "state.json", bytes(range(256))),
              ("state.json missing", "state.json", None), ("model.pt missing", "model.pt", None)]
    for case_id, name, data in cases:
        for n, d in pristine.items():
            (ckpt / n).write_bytes(d)
        if data is None:
            (ckpt / name).unlink()
        else:
            (ckpt / name).write_bytes(data)
        try:
            out = verify_checkpoint(ckpt, key)
        except CheckpointError as err:
            assert str(err), case_id
            caplog.clear()
            assert latest_checkpoint(tmp_path / "run", key) is None
            assert str(ckpt) in caplog.text and "skipping checkpoint" in caplog.text, case_id
            continue
        assert out == state, f"{case_id}: accepted with another state"
    assert len(cases) >= 60
    # Folders that are not checkpoints are ignored, not a crash.
    (tmp_path / "run" / "ckpt-latest").mkdir()
    (tmp_path / "run" / "ckpt-").mkdir()
    for n, d in pristine.items():
        (ckpt / n).write_bytes(d)
    assert latest_checkpoint(tmp_path / "run", key)[0] == ckpt
