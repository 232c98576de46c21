"""The paper's published numbers as data: Tables 1-4 and the groupings of Appendix A / Section 4.1.

Everything the book shows as "paper" comes from here, transcribed from the paper's text and checked by
tests/test_paper.py. Task names are the registry's canonical ones (the paper prints "STSB" in Table 2).

Orientation of Tables 2 and 3 (checked against the numbers, see the tests):

- Table 2, data property, Eq. (2): cell ``[s, t] = |V_s ∩ V_t| / |V_t|`` in percent, **row = source s,
  column = target t**. The row of a small task is small (WNLI's row is about 5-10%: its vocabulary covers
  a small share of any other task's vocabulary) and the column of a small task is large (about 80-99% of
  WNLI's vocabulary occurs in every other task). Recomputing Eq. (2) on the real training files in this
  orientation reproduces the table to 0.03 percentage points (hmnet.analysis.relevance); the transposed reading
  is off by about 39 points.
- Table 3, model-based, Eq. (4): cell ``[s, t] = (f_jt - f_t) / f_t`` in percent, the gain of target t
  when trained together with source s; **row = source, column = target**. The BoolQ column holds the
  "influence of other tasks on BoolQ" of Figure 2 (left, 0-6%) and the BoolQ row, without WNLI and CB,
  the "influence of BoolQ on others" (right, -2.7..1.2%).

Section 3.3 clusters each source task's row of scores with k-means (k=3); Appendix A lists the groups.
"""

from __future__ import annotations

import re

import pandas as pd

from hmnet.tasks import canonical_groups
from hmnet.tasks import TASK_NAMES, manual_groups

# ---------------------------------------------------------------------------------------------------------
# Table 1

TABLE1_METHODS: tuple[str, ...] = ("Single-task", "Multi-task", "SkillNet", "HMNet_d", "HMNet_md", "HMNet_m")
# Which grouping each HMNet column of Table 1 uses (subscripts d, md, m).
HMNET_COLUMN_GROUPING: dict[str, str] = {"HMNet_d": "data", "HMNet_md": "manual", "HMNet_m": "model"}

# (task, metric) -> the six methods' scores, in TABLE1_METHODS order; metric names follow
# TaskSpec.table1_metrics (MNLI is a matched/mismatched pair; STS-B "Corr." is Pearson).
_TABLE1: dict[tuple[str, str], tuple[float, ...]] = {
    ("MNLI", "accuracy_m"): (85.0, 84.5, 84.5, 84.8, 84.7, 84.8),
    ("MNLI", "accuracy_mm"): (84.6, 84.8, 84.6, 84.6, 85.2, 84.9),
    ("QNLI", "accuracy"): (91.6, 90.9, 90.7, 90.8, 91.0, 91.1),
    ("RTE", "accuracy"): (66.1, 79.7, 77.6, 73.3, 79.4, 81.2),
    ("WNLI", "accuracy"): (56.3, 56.3, 56.3, 56.3, 56.3, 56.3),
    ("CB", "accuracy"): (67.8, 80.3, 85.7, 87.5, 82.1, 82.1),
    ("SNLI", "accuracy"): (91.0, 91.3, 91.1, 91.0, 91.4, 91.1),
    ("IMDB", "accuracy"): (93.9, 93.9, 94.1, 93.8, 93.9, 93.9),
    ("SST-2", "accuracy"): (92.3, 93.1, 92.5, 93.2, 92.3, 93.0),
    ("QQP", "accuracy"): (90.9, 90.7, 91.0, 90.9, 91.0, 90.9),
    ("STS-B", "pearson"): (85.8, 85.5, 86.0, 86.9, 87.5, 87.4),
    ("MRPC", "accuracy"): (83.3, 81.4, 85.7, 88.2, 90.4, 88.5),
    ("BoolQ", "accuracy"): (71.4, 77.9, 80.7, 79.0, 79.1, 80.3),
    ("MultiRC", "f1a"): (65.2, 68.4, 68.1, 68.9, 66.7, 68.4),
}
# The summary rows of Table 1, as printed.
_TABLE1_SUMMARY: dict[str, tuple[str, ...]] = {
    "Average Score": ("80.4", "82.8", "83.5", "83.5", "83.7", "84.0"),
    "# Params Activated": ("110M", "110M", ">166M", "110M", "110M", "110M"),
    "# Overall Params": ("110M", "110M", "450M", "231M", "240M", "231M"),
}


def table1() -> pd.DataFrame:
    """Table 1's per-task scores: rows (task, metric), MNLI as two rows (m, mm); columns TABLE1_METHODS."""
    index = pd.MultiIndex.from_tuples(list(_TABLE1), names=["task", "metric"])
    return pd.DataFrame(list(_TABLE1.values()), index=index, columns=list(TABLE1_METHODS))


def table1_scores() -> pd.DataFrame:
    """One score per task (the Table-1 score; MNLI = mean of m and mm), rows in paper order."""
    return table1().groupby(level="task", sort=False).mean().loc[list(TASK_NAMES)]


def table1_summary() -> pd.DataFrame:
    """Table 1's Average Score and parameter rows exactly as printed (strings)."""
    return pd.DataFrame(_TABLE1_SUMMARY, index=list(TABLE1_METHODS)).T


def table1_averages() -> pd.Series:
    """The published Average Score per method, as floats."""
    return table1_summary().loc["Average Score"].astype(float)


def table1_params() -> pd.DataFrame:
    """The parameter rows in millions, with a flag for the lower bound printed as ">166M"."""
    rows = []
    for name, values in _TABLE1_SUMMARY.items():
        if name == "Average Score":
            continue
        for method, v in zip(TABLE1_METHODS, values):
            rows.append({"row": name, "method": method, "millions": float(v.strip(">M")),
                         "lower_bound": v.startswith(">")})
    return pd.DataFrame(rows)


def paper_scores(method: str) -> dict[str, float | tuple[float, float]]:
    """A method's Table-1 scores as {task: score}, MNLI as an (m, mm) tuple (hmnet.metrics.paper_average)."""
    if method not in TABLE1_METHODS:
        raise ValueError(f"method {method!r} is not a column of Table 1; columns: {', '.join(TABLE1_METHODS)}")
    col = table1()[method]
    out: dict[str, float | tuple[float, float]] = {}
    for task in TASK_NAMES:
        values = tuple(float(v) for v in col.loc[task].to_numpy())
        out[task] = values if len(values) > 1 else values[0]
    return out


# ---------------------------------------------------------------------------------------------------------
# Tables 2 and 3 (percent; row = source, column = target)

_TABLE2 = """
MNLI 100.00 92.83 97.64 99.58 99.42 98.50 95.70 99.21 93.46 98.29 98.21 93.83 98.76
QNLI 94.40 100.00 98.11 98.32 98.01 95.02 94.00 96.55 94.19 97.71 98.02 95.31 97.55
RTE 52.42 51.80 100.00 84.72 81.73 59.25 52.99 65.23 52.26 74.24 74.11 54.11 66.54
WNLI 5.50 5.34 8.72 100.00 24.80 7.47 5.63 9.90 5.51 10.64 9.77 5.75 8.78
CB 10.62 10.29 16.26 47.93 100.00 13.76 10.87 18.86 10.61 18.95 18.44 11.00 16.15
SNLI 69.92 66.33 78.35 95.94 91.44 100.00 70.87 84.65 68.98 83.62 80.12 69.19 80.05
IMDB 93.74 90.55 96.68 99.72 99.67 97.80 100.00 99.69 91.86 97.45 97.06 92.13 97.41
SST-2 44.45 42.54 54.44 80.31 79.12 53.43 45.60 100.00 44.07 58.34 57.02 44.68 56.31
QQP 92.93 92.11 96.79 99.09 98.80 96.63 93.25 97.80 100.00 97.67 97.40 93.65 97.13
STS-B 41.08 40.17 57.80 80.52 74.18 49.24 41.59 54.43 41.06 100.00 67.28 42.43 54.52
MRPC 43.97 43.15 61.80 79.12 77.30 50.53 44.36 56.97 43.85 72.06 100.00 45.47 57.67
BoolQ 87.67 87.58 94.18 97.20 96.27 91.07 87.88 93.19 88.01 94.84 94.90 100.00 93.29
MultiRC 57.48 55.84 72.14 92.43 88.03 65.64 57.88 73.15 56.86 75.92 74.98 58.11 100.00
"""

_TABLE3 = """
MNLI 0.00 -0.10 15.96 50.00 47.31 0.75 -0.29 0.00 -0.14 -0.96 -1.87 5.93 6.42
QNLI -0.54 0.00 2.13 21.43 26.37 0.24 -0.09 -0.62 -0.06 0.43 -0.69 5.38 1.58
RTE -0.47 -0.32 0.00 7.14 10.45 0.25 0.10 -0.98 -0.03 -0.10 -1.95 0.67 1.03
WNLI -0.28 -0.32 -3.19 0.00 2.62 0.08 0.08 -0.74 -0.03 -0.16 -0.39 0.59 -0.18
CB -0.35 0.02 0.00 7.14 0.00 -0.30 -0.09 -0.49 0.04 0.35 -0.50 -0.17 0.29
SNLI -0.19 -0.64 11.70 64.29 33.51 0.00 -0.17 -1.85 -0.12 -1.23 -3.16 3.19 3.16
IMDB 0.01 0.00 -1.06 14.29 30.95 -0.03 0.00 -0.74 -0.16 0.52 0.79 0.38 0.68
SST-2 0.21 -0.02 1.06 14.29 33.58 0.09 -4.24 0.00 0.02 -0.76 -1.98 4.71 0.53
QQP -0.77 -0.82 3.19 0.00 7.48 0.09 -0.41 -2.21 0.00 -1.63 -2.85 1.89 -0.19
STS-B -0.12 0.04 5.85 57.14 13.07 0.13 0.03 -1.23 0.05 0.00 1.15 3.15 1.48
MRPC -0.21 0.02 2.66 21.43 13.07 -0.01 -0.01 0.25 -0.11 -0.23 0.00 1.77 0.22
BoolQ -0.35 -0.36 -2.66 21.43 33.58 -0.15 -0.05 -0.62 -0.03 1.18 -1.24 0.00 -0.26
MultiRC -0.37 -0.20 4.26 71.43 10.38 -0.07 -0.04 -1.48 0.04 0.70 0.27 1.64 0.00
"""


def _matrix(text: str) -> pd.DataFrame:
    rows = [line.split() for line in text.strip().splitlines()]
    names = [r[0] for r in rows]
    if tuple(names) != TASK_NAMES:
        raise AssertionError(f"transcribed rows {names} are not in paper order")
    df = pd.DataFrame([[float(v) for v in r[1:]] for r in rows], index=list(names), columns=list(names))
    df.index.name, df.columns.name = "source", "target"
    return df


def table2() -> pd.DataFrame:
    """Table 2, vocabulary co-occurrence (Eq. 2), percent: ``[s, t] = 100 |V_s ∩ V_t| / |V_t|``."""
    return _matrix(_TABLE2)


def table3() -> pd.DataFrame:
    """Table 3, model-based relevance (Eq. 4), percent: ``[s, t]`` = gain of target t from source s."""
    return _matrix(_TABLE3)


# ---------------------------------------------------------------------------------------------------------
# Table 4

_TABLE4 = """
MNLI     393K   20k   20k   3  Accuracy
QNLI     108k   5.7k  5.7k  2  Accuracy
RTE      2.5k   276   3k    2  Accuracy
WNLI     634    71    146   2  Accuracy
CB       250    57    250   2  Accuracy/F1
SNLI     549k   9.8k  9.8k  3  Accuracy
IMDB     25k    0k    25k   2  Accuracy
SST-2    67K    872   1.8k  2  Accuracy
QQP      364k   40k   391k  2  Accuracy/F1
STS-B    7K     1.5k  1.4k  1  Pearson/Spearman corr
MRPC     3.7k   408   1.7k  2  Accuracy/F1
BoolQ    9.4k   3.3k  3.2k  2  Accuracy
MultiRC  5.1k   953   1.8k  2  F1a/EM
"""  # task, #Train, #Dev, #Test, #Label, Metrics -- as printed


def parse_count(text: str) -> int:
    """A Table-4 count as a number: "393K" -> 393000, "5.7k" -> 5700, "634" -> 634."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kK]?)\s*", str(text))
    if m is None:
        raise ValueError(f"{text!r} is not a Table-4 count such as '634', '5.7k' or '393K'")
    return int(round(float(m.group(1)) * (1000 if m.group(2) else 1)))


def table4(numeric: bool = False) -> pd.DataFrame:
    """Table 4, dataset statistics, rows in paper order, plus the paper's category of each task.

    With ``numeric=True`` the counts are integers (approximate where the paper rounds, e.g. "2.5k").
    Note the paper's own inconsistencies: CB has 3 labels (Table 4 says 2), WNLI train has 635 rows in
    the GLUE file (Table 4: 634), and IMDB's "0k" dev means it has none (it is evaluated on test).
    """
    rows = [line.split(None, 5) for line in _TABLE4.strip().splitlines()]
    df = pd.DataFrame(rows, columns=["task", "train", "dev", "test", "labels", "metrics"]).set_index("task")
    df["labels"] = df["labels"].astype(int)
    if numeric:
        for col in ("train", "dev", "test"):
            df[col] = df[col].map(parse_count)
    cat_of = {t: c for c, ts in manual_groups().items() for t in ts}
    df["category"] = [cat_of[t] for t in df.index]
    return df


# ---------------------------------------------------------------------------------------------------------
# groupings: Appendix A (data, model) and Section 4.1 (manual)

_APPENDIX_A_DATA = [["WNLI", "CB"], ["MultiRC", "RTE", "SST-2", "MRPC", "STS-B"],
                    ["QQP", "QNLI", "BoolQ", "IMDB", "SNLI", "MNLI"]]
_APPENDIX_A_MODEL = [["CB", "WNLI", "QQP", "RTE"], ["MRPC", "QNLI", "BoolQ", "IMDB", "SST-2"],
                     ["MultiRC", "STS-B", "SNLI", "MNLI"]]

PAPER_GROUPINGS: dict[str, list[list[str]]] = {
    "data": canonical_groups(_APPENDIX_A_DATA),
    "model": canonical_groups(_APPENDIX_A_MODEL),
    "manual": canonical_groups(manual_groups().values()),
}
# Appendix A as model cluster maps, clusters named d1.. / m1.. in the order the paper lists them.
APPENDIX_A_CLUSTERS: dict[str, dict[str, tuple[str, ...]]] = {
    name: {f"{name[0]}{i}": tuple(g) for i, g in enumerate(groups, start=1)}
    for name, groups in (("data", _APPENDIX_A_DATA), ("model", _APPENDIX_A_MODEL))
}
