import pytest

from hmnet.tasks import CATEGORIES, TASK_NAMES, TASKS, UnknownTaskError, get_task, manual_groups, resolve_tasks


def test_registry_has_the_papers_13_tasks_in_table1_order():
    assert TASK_NAMES == ("MNLI", "QNLI", "RTE", "WNLI", "CB", "SNLI", "IMDB", "SST-2", "QQP", "STS-B",
                          "MRPC", "BoolQ", "MultiRC")


def test_facts_follow_the_official_data():
    assert get_task("CB").num_labels == 3  # SuperGLUE CB; the paper's Table 4 says 2
    assert get_task("STS-B").regression and get_task("STS-B").num_labels == 1
    assert get_task("MNLI").eval_splits == ("dev_matched", "dev_mismatched")
    assert get_task("MNLI").table1_metrics == ("accuracy_m", "accuracy_mm")
    assert set(get_task("STS-B").metrics) == {"pearson", "spearman"}
    assert set(get_task("MultiRC").metrics) == {"f1a", "em"}
    assert "f1" in get_task("MRPC").metrics and "f1" in get_task("QQP").metrics
    assert get_task("BoolQ").labels == ("False", "True")
    assert get_task("MultiRC").input_format == "question-passage-answer"
    assert get_task("SST-2").input_format == "single"


def test_every_task_has_hub_and_file_sources():
    for spec in TASKS.values():
        assert spec.hub.path and "train" in spec.hub.splits
        assert set(spec.eval_splits) <= set(spec.hub.splits)
        assert "train" in spec.layout.files and set(spec.eval_splits) <= set(spec.layout.files)


def test_unknown_task_lists_the_known_ones():
    with pytest.raises(UnknownTaskError) as err:
        get_task("QQQ")
    assert "'QQQ'" in str(err.value) and "MultiRC" in str(err.value)


def test_aliases_and_resolution():
    assert get_task("sst2").name == "SST-2" and get_task("stsb").name == "STS-B"
    assert resolve_tasks("rte, mrpc RTE") == ("RTE", "MRPC")
    assert resolve_tasks(None) == TASK_NAMES


def test_manual_groups_are_the_four_categories():
    groups = manual_groups()
    assert list(groups) == list(CATEGORIES)
    assert groups[CATEGORIES[0]] == ["MNLI", "QNLI", "RTE", "WNLI", "CB", "SNLI"]
    assert groups[CATEGORIES[3]] == ["BoolQ", "MultiRC"]
    assert sum(map(len, groups.values())) == 13
