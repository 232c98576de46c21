"""Task files (hmnet.data.taskfile): your own tasks beside the 13, read from CSV, TSV, JSON lines, Parquet, a folder;
checked by the built-ins' rules with one-line errors; identified in cache keys by their content."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from hmnet.cli import main
from hmnet.data import load_task
from hmnet.data.taskfile import TaskFileError, check_rows, load_task_file, task_fingerprint
from hmnet.experiments import RunConfig
from hmnet.metrics import check_task_metrics
from hmnet.tasks import BUILTIN, TASK_NAMES, TASKS, TaskSpec, TaskSpecError, check_spec
from hmnet.toytasks import toy_rows, write_toy_tasks


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    return write_toy_tasks(tmp_path_factory.mktemp("toy") / "tasks", qa=True)


def test_the_toy_file_declares_four_tasks_in_four_formats(toy):
    reg = load_task_file(toy)
    assert reg.file_tasks == ("Polarity", "Stance", "Paraphrase", "Answers")
    assert reg.names[:13] == TASK_NAMES and reg.get("polarity").name == "Polarity"
    assert [reg.get(t).input_format for t in reg.file_tasks] == ["single", "pair", "pair", "question-passage-answer"]
    assert reg.get("Stance").labels == ("agree", "disagree", "unsure")
    assert reg.get("Paraphrase").files.splits["train"][0].endswith("paraphrase/train.parquet")  # a folder by split
    assert reg.get("Answers").table1_metrics == ("f1a",) and reg.get("Answers").files.columns["group"] == "question_id"
    counts = check_rows(reg)
    for task in reg.file_tasks:
        assert counts[task] == {"train": len(toy_rows(task, "train")), "dev": len(toy_rows(task, "dev"))}
    data = load_task("Answers", registry=reg, max_examples=10)
    assert len(data["train"]) <= 10 and data["dev"][0].text_c and data["dev"][0].group is not None
    stance = load_task("Stance", registry=reg)["dev"][0]
    assert stance.text_b and stance.label == reg.get("Stance").labels.index(toy_rows("Stance", "dev")[0]["stance"])
    assert reg.manual_groups() == {c: ts for c, ts in BUILTIN.manual_groups().items()}  # the 13 by default
    assert reg.manual_groups(reg.file_tasks)["Question answering"] == ["Answers"]


def test_the_13_builtin_tasks_pass_the_rules_a_task_file_must_pass():
    for spec in TASKS.values():
        check_spec(spec)
        check_task_metrics(spec, grouped=spec.name == "MultiRC")
    with pytest.raises(TaskSpecError, match="at least two labels"):
        TaskSpec("X", "Y", "single", ("a",), metrics=("accuracy",), table1_metrics=("accuracy",))
    with pytest.raises(TaskSpecError, match="metric 'mcc' is unknown"):
        check_task_metrics(TaskSpec("X", "Y", "single", ("a", "b"), metrics=("mcc",), table1_metrics=("mcc",)))


def test_an_unknown_metric_in_compute_metrics_is_an_error_not_skipped():
    from hmnet.metrics import compute_metrics
    from hmnet.tasks import TaskRegistry

    spec = TaskSpec("Odd", "Y", "single", ("a", "b"), metrics=("accuracy", "mcc"), table1_metrics=("accuracy",),
                    definition={})
    reg = TaskRegistry((*BUILTIN.specs, spec))
    with pytest.raises(ValueError, match="metric 'mcc' is unknown"):
        compute_metrics("Odd", [0, 1], [0, 1], registry=reg)


def test_a_run_keys_a_file_task_by_its_content_not_its_path(toy, tmp_path):
    a = RunConfig("multi", ("Polarity", "Stance"), task_file=str(toy))
    copy = tmp_path / "elsewhere"
    shutil.copytree(toy.parent, copy)
    b = RunConfig("multi", ("Polarity", "Stance"), task_file=str(copy / "tasks.yaml"))
    assert a.key() == b.key() and a.task_file != b.task_file
    assert "task_file" in a.key_payload()["data"] and "task_file" not in a.key_payload()["config"]
    rows = (copy / "polarity" / "reviews-fit.csv").read_text().splitlines()
    (copy / "polarity" / "reviews-fit.csv").write_text("\n".join([rows[0], *rows[2:]]) + "\n")  # one row less
    assert RunConfig("multi", ("Polarity", "Stance"), task_file=str(copy / "tasks.yaml")).key() != a.key()
    # A built-in task's run is the same run with or without a task file: the same key as before
    assert RunConfig("single", ("RTE",), task_file=str(toy)).key() == RunConfig("single", ("RTE",)).key()
    mixed = RunConfig("hmnet", ("Polarity", "RTE"), task_file=str(toy))
    assert mixed.clusters == {"Sentiment classification": ("Polarity",), "Natural language inference": ("RTE",)}
    fp = task_fingerprint(load_task_file(toy).get("Polarity"))
    assert set(fp) == {"definition", "files"} and "data" not in fp["definition"]


def test_a_task_file_task_is_unknown_without_the_file(toy):
    from hmnet.experiments import ConfigError

    with pytest.raises(ConfigError, match="task 'Polarity' is unknown"):
        RunConfig("multi", ("Polarity",))


GOOD = """\
tasks:
  - name: Mine
    category: Sentiment classification
    data:
      train: a.csv
      dev: b.csv
    text: [review]
    label: sentiment
    labels: [neg, pos]
"""

# (what is wrong, the task file, the data file's text or None, a word the message must name, needs --check)
BAD = [
    ("yaml syntax", GOOD.replace("labels: [neg, pos]", "labels: [neg, pos"), None, "invalid YAML", False),
    ("no tasks", "name: Mine\n", None, "'tasks'", False),
    ("misspelt key", GOOD.replace("labels:", "lables:"), None, "did you mean 'labels'", False),
    ("missing label", GOOD.replace("    label: sentiment\n", ""), None, "has no 'label'", False),
    ("a built-in name", GOOD.replace("name: Mine", "name: rte"), None, "built-in task 'RTE'", False),
    ("twice", GOOD + GOOD.split("tasks:\n")[1], None, "declared twice", False),
    ("missing file", GOOD.replace("dev: b.csv", "dev: nope.csv"), None, "'nope.csv' does not exist", False),
    ("unknown text column", GOOD.replace("[review]", "[revew]"), None, "column 'revew' is not in a.csv", False),
    ("unknown label column", GOOD.replace("label: sentiment", "label: stars"), None, "column 'stars'", False),
    ("unknown metric", GOOD + "    metric: mcc\n", None, "metric 'mcc' is unknown", False),
    ("wrong kind of metric", GOOD + "    metric: pearson\n", None, "is for regression tasks", False),
    ("f1 on three labels", GOOD.replace("[neg, pos]", "[neg, pos, mid]") + "    metric: f1\n", None,
     "needs two labels", False),
    ("f1a without a group", GOOD + "    metric: f1a\n", None, "group column", False),
    ("labels and regression", GOOD + "    regression: true\n", None, "regression task: it has no labels", False),
    ("a label twice", GOOD.replace("[neg, pos]", "[neg, neg]"), None, "listed twice", False),
    ("unsupported file type", GOOD.replace("dev: b.csv", "dev: b.xlsx"), "x", "unsupported data file type", False),
    ("no eval split", GOOD.replace("      dev: b.csv\n", ""), None, "only a train split", False),
    ("folder without train", GOOD.replace("      train: a.csv\n      dev: b.csv", "      folder: sub"), "sub",
     "no train split", False),
    ("label not in the list", GOOD, "review,sentiment\nfine,pos\nmeh,maybe\n", "label 'maybe' is not one of", True),
    ("a short CSV row", GOOD, "review,sentiment\nfine,pos\nmeh\n", "expected 2 fields", True),
    ("score not a number", GOOD.replace("labels: [neg, pos]", "regression: true"),
     "review,sentiment\nfine,4.5\nmeh,lots\n", "not a number", True),
    ("bad JSON line", GOOD.replace("b.csv", "b.jsonl"), '{"review": "x", "sentiment": "pos"}\n{"review": \n',
     "invalid JSON", True),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_a_bad_task_file_gets_one_line_naming_file_line_and_culprit(case, tmp_path, capsys):
    what, text, data, culprit, check = case
    regression = "regression: true" in text
    (tmp_path / "a.csv").write_text("review,sentiment\ngood,4\nbad,1\n" if regression else
                                    "review,sentiment\ngood,pos\nbad,neg\n")
    (tmp_path / "b.csv").write_text("review,sentiment\ngood,pos\n")
    bad_file = None
    if data == "x":
        (tmp_path / "b.xlsx").write_text("x")
    elif data == "sub":
        (tmp_path / "sub").mkdir()
        (tmp_path / "sub" / "dev.csv").write_text("review,sentiment\ngood,pos\n")
    elif data is not None:
        bad_file = tmp_path / ("b.jsonl" if "b.jsonl" in text else "b.csv")
        bad_file.write_text(data)
    path = tmp_path / "tasks.yaml"
    path.write_text(text)
    rc = main(["tasks", "--task-file", str(path), *(["--check"] if check else [])])
    err = capsys.readouterr().err
    assert rc == 2, what
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    where = bad_file if check else path
    assert f"{where} line " in err or (check and f"{where}" in err and "line" in err), err
    assert culprit in err, err


def test_errors_name_the_line_of_the_culprit(tmp_path):
    (tmp_path / "a.csv").write_text("review,sentiment\ngood,pos\n")
    (tmp_path / "b.csv").write_text("review,sentiment\ngood,pos\n")
    text = GOOD.replace("label: sentiment", "label: stars")
    (tmp_path / "t.yaml").write_text(text)
    with pytest.raises(TaskFileError, match=r"t\.yaml line 8: task 'Mine': column 'stars' is not in a\.csv"):
        load_task_file(tmp_path / "t.yaml")
    (tmp_path / "t.json").write_text(textwrap.dedent("""\
        {"tasks": [{"name": "Mine", "category": "X", "data": {"train": "a.csv", "dev": "b.csv"},
                    "text": ["review"], "label": "sentiment", "labels": ["neg", "pos"],
                    "metric": "accuracy", "colour": "red"}]}
        """))
    with pytest.raises(TaskFileError, match=r"t\.json line 3: unknown key 'colour'"):
        load_task_file(tmp_path / "t.json")


def test_yaml_words_stay_as_written_in_labels(tmp_path):
    (tmp_path / "a.csv").write_text("q,answer\nis it,yes\nis it not,no\n")
    (tmp_path / "t.yaml").write_text("tasks:\n  - name: YesNo\n    category: Question answering\n"
                                     "    data: {train: a.csv, dev: a.csv}\n    text: [q]\n    label: answer\n"
                                     "    labels: [no, yes]\n")
    reg = load_task_file(tmp_path / "t.yaml")
    assert reg.get("YesNo").labels == ("no", "yes")  # not YAML 1.1's booleans
    assert [ex.label for ex in load_task("YesNo", registry=reg)["train"]] == [1, 0]


def test_a_task_from_a_hugging_face_dataset_reads_through_datasets(tmp_path, monkeypatch):
    import datasets

    rows = {"train": [{"q": "is it", "passage": "it is", "ok": 1}, {"q": "is not", "passage": "it is", "ok": 0}],
            "validation": [{"q": "maybe", "passage": "it is", "ok": 1}]}
    calls = []

    def fake_load(*args, split):
        calls.append((args, split))
        return rows[split]

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    (tmp_path / "t.yaml").write_text("tasks:\n  - name: Hubbed\n    category: Question answering\n"
                                     "    data: {hub: someone/yesno, config: plain}\n    text: [q, passage]\n"
                                     "    label: ok\n    labels: ['0', '1']\n")
    reg = load_task_file(tmp_path / "t.yaml")
    data = load_task("Hubbed", registry=reg)
    assert [ex.label for ex in data["train"]] == [1, 0] and data["dev"][0].text_b == "it is"
    assert calls == [(("someone/yesno", "plain"), "train"), (("someone/yesno", "plain"), "validation")]
    assert data.source == "hub:someone/yesno"
    assert task_fingerprint(reg.get("Hubbed"))["hub"]["hub"] == "someone/yesno"
