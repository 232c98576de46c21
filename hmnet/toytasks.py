"""A small example of your own tasks: a task file and its data in three formats, written by
:func:`write_toy_tasks` (the book page "HMNet on your own tasks" and the tests use it; nothing is shipped).

The rows are the synthetic suite's (:mod:`hmnet.synthetic`), under new names and new label words, so the tiny
backbone's tokenizer knows every word and the planted relations hold: Polarity (one text, CSV files) and
Stance (pairs, JSON lines) draw their words and label signals from one planted group, Paraphrase (pairs,
a folder of Parquet files named by split) from another. Relevance should find the first two related, and
clustering should put them together. With ``qa=True`` a fourth task, Answers (question, passage and answer
triples grouped by question, TSV), shows MultiRC's format with F1a and EM.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from hmnet import synthetic
from hmnet.files import atomic_write

# toy task -> (synthetic task it copies, label words in class order)
SOURCES = {"Polarity": ("SST-2", ("neg", "pos")),
           "Stance": ("CB", ("agree", "disagree", "unsure")),
           "Paraphrase": ("MRPC", ("different", "same")),
           "Answers": ("MultiRC", ("wrong", "right"))}

TASK_FILE = """\
# Your own tasks for hmnet (schema: hmnet.data.taskfile). Paths are relative to this file.
tasks:
  - name: Polarity
    category: Sentiment classification       # one of the paper's four groups, or a name of your own
    data:                                    # one CSV file per split
      train: polarity/reviews-fit.csv
      dev: polarity/reviews-heldout.csv
    text: [review]                           # one text column: a single-sentence task
    label: sentiment
    labels: [neg, pos]
    metric: accuracy
  - name: Stance
    category: Natural language inference
    data:                                    # JSON lines, one object per row
      train: stance/claims-fit.jsonl
      dev: stance/claims-heldout.jsonl
    text: [premise, claim]                   # two text columns: a pair task
    label: stance
    labels: [agree, disagree, unsure]
    metric: [accuracy, f1_macro]             # the first is the one reported
  - name: Paraphrase
    category: Similarity and paraphrase
    data: {folder: paraphrase}               # a folder of files named by split (train.parquet, dev.parquet)
    text: [first, second]
    label: verdict
    labels: [different, same]
    metric: [accuracy, f1]
"""

QA_TASK = """\
  - name: Answers
    category: Question answering
    data:                                    # tab-separated, a header line first
      train: answers/options-fit.tsv
      dev: answers/options-heldout.tsv
    text: [question, passage, answer]        # three text columns: question, passage, answer (MultiRC's format)
    label: judgement
    labels: [wrong, right]
    group: question_id                       # the answers of one question: F1a and EM need it
    metric: [f1a, em]
"""

COLUMNS = {"Polarity": ("review",), "Stance": ("premise", "claim"), "Paraphrase": ("first", "second"),
           "Answers": ("question", "passage", "answer")}
LABEL_COLUMN = {"Polarity": "sentiment", "Stance": "stance", "Paraphrase": "verdict", "Answers": "judgement"}


def toy_rows(task: str, split: str, scale: float = 0.5) -> list[dict]:
    """The rows of one split of a toy task, with its own column names and label words."""
    source, words = SOURCES[task]
    out = []
    for row in synthetic.generate(source, "train" if split == "train" else "dev", seed=0, scale=scale):
        texts = [row[f] for f in ("text_a", "text_b", "text_c") if row.get(f) is not None]
        record = dict(zip(COLUMNS[task], texts))
        record[LABEL_COLUMN[task]] = words[int(row["label"])]
        if task == "Answers":
            record["question_id"] = row["group"]
        out.append(record)
    return out


def _write_csv(path: Path, rows: list[dict], delimiter: str = ",") -> None:
    buf = io.StringIO()
    if delimiter == "\t":  # TSV is split on tabs only: no quoting (the texts hold no tabs)
        buf.write("\n".join("\t".join(map(str, r)) for r in [list(rows[0]), *(r.values() for r in rows)]) + "\n")
    else:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    atomic_write(path, buf.getvalue())


def _write_parquet(path: Path, rows: list[dict]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(rows)
    atomic_write(path, lambda tmp: pq.write_table(table, tmp))


def write_toy_tasks(folder: str | Path, scale: float = 0.5, qa: bool = False) -> Path:
    """Write the toy task file and its data under `folder`; returns the task file's path."""
    folder = Path(folder)
    for sub in ("polarity", "stance", "paraphrase", *(("answers",) if qa else ())):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for split, tag in (("train", "fit"), ("dev", "heldout")):
        _write_csv(folder / "polarity" / f"reviews-{tag}.csv", toy_rows("Polarity", split, scale))
        text = "".join(json.dumps(r) + "\n" for r in toy_rows("Stance", split, scale))
        atomic_write(folder / "stance" / f"claims-{tag}.jsonl", text)
        _write_parquet(folder / "paraphrase" / f"{split}.parquet", toy_rows("Paraphrase", split, scale))
        if qa:
            _write_csv(folder / "answers" / f"options-{tag}.tsv", toy_rows("Answers", split, scale), "\t")
    path = folder / "tasks.yaml"
    atomic_write(path, TASK_FILE + (QA_TASK if qa else ""))
    return path


__all__ = ["write_toy_tasks", "toy_rows", "SOURCES", "TASK_FILE"]
