import json
import tarfile
from collections import Counter

import numpy as np
import pytest

from hmnet.backbone import load_tokenizer
from hmnet.data import (DataError, TextEncoder, Example, MultiTaskBatches, TaskData, available_tasks, collate,
                        hub_examples, load_task, load_tasks, padding_efficiency, read_split, subsample)
from hmnet.synthetic import PLANTED_GROUPS
from hmnet.tasks import TASK_NAMES, get_task

# Official sizes (GLUE / SuperGLUE / aclImdb); MultiRC counts answer rows; SNLI dev without gold "-".
OFFICIAL_ROWS = {
    ("RTE", "train"): 2490, ("RTE", "dev"): 277, ("WNLI", "train"): 635, ("WNLI", "dev"): 71,
    ("CB", "train"): 250, ("CB", "dev"): 56, ("MNLI", "dev_matched"): 9815, ("QNLI", "dev"): 5463,
    ("SNLI", "dev"): 9842, ("SST-2", "train"): 67349, ("SST-2", "dev"): 872, ("IMDB", "test"): 25000,
    ("MRPC", "train"): 3668, ("MRPC", "dev"): 408, ("STS-B", "train"): 5749, ("STS-B", "dev"): 1500,
    ("BoolQ", "dev"): 3270, ("MultiRC", "train"): 27243, ("MultiRC", "dev"): 4848,
}


# ---------------------------------------------------------------- real files


def test_every_shared_file_loads_with_the_official_row_count(shared_data_dir):
    found = available_tasks(shared_data_dir)
    seen = {(t, s) for t, splits in found.items() for s in splits}
    assert seen == set(OFFICIAL_ROWS), "the shared bundle and this test disagree on which files exist"
    for (task, split), n in OFFICIAL_ROWS.items():
        rows = read_split(task, split, shared_data_dir)
        assert len(rows) == n, (task, split)
        spec = get_task(task)
        if not spec.regression:
            assert {r.label for r in rows} == set(range(spec.num_labels)), (task, split)


def test_real_label_counts_and_fields(shared_data_dir):
    rte = read_split("RTE", "train", shared_data_dir)
    assert Counter(r.label for r in rte) == {0: 1249, 1: 1241}  # entailment, not_entailment
    mrpc = read_split("MRPC", "dev", shared_data_dir)  # BOM-prefixed header, original column names
    assert Counter(r.label for r in mrpc) == {0: 129, 1: 279} and mrpc[0].text_b
    multirc = read_split("MultiRC", "dev", shared_data_dir)
    assert len({r.group for r in multirc}) == 953 and all(r.text_c is not None for r in multirc)
    stsb = read_split("STS-B", "train", shared_data_dir)
    assert 0.0 <= min(r.label for r in stsb) and max(r.label for r in stsb) <= 5.0
    boolq = read_split("BoolQ", "dev", shared_data_dir)
    assert Counter(r.label for r in boolq) == {0: 1237, 1: 2033}
    imdb = read_split("IMDB", "test", shared_data_dir)
    assert Counter(r.label for r in imdb) == {0: 12500, 1: 12500}


def test_quotes_in_glue_tsv_are_kept_verbatim(shared_data_dir):
    rows = read_split("RTE", "train", shared_data_dir)
    assert any('"' in r.text_a for r in rows)  # a CSV reader with default quoting would mangle these


def test_local_profile_carves_train_from_eval_file(shared_data_dir):
    data = load_task("BoolQ", "directory", data_dir=shared_data_dir, carve_train=0.8, seed=3)
    assert set(data.splits) == {"train", "dev"}
    assert len(data["train"]) + len(data["dev"]) == 3270
    assert "carved" in data.source
    mnli = load_task("MNLI", "directory", data_dir=shared_data_dir, carve_train=0.8, max_examples=100)
    assert set(mnli.splits) == {"train", "dev_matched"} and len(mnli["train"]) == 100
    texts = {r.text_a + r.text_b for r in mnli["train"]}
    assert not texts & {r.text_a + r.text_b for r in mnli["dev_matched"]}


# ---------------------------------------------------------------- bad input


def _write(tmp_path, rel, text):
    p = tmp_path / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return p


def test_missing_file_names_what_was_tried(tmp_path):
    with pytest.raises(DataError, match=r"RTE train: no file found; tried .*RTE/train.tsv"):
        read_split("RTE", "train", tmp_path)


def test_wrong_field_count_names_file_and_line(tmp_path):
    _write(tmp_path, "RTE/train.tsv", "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\ta b\tentailment\n")
    with pytest.raises(DataError, match=r"RTE/train.tsv line 3: expected 4 fields, got 3"):
        read_split("RTE", "train", tmp_path)


def test_missing_column_and_unknown_label(tmp_path):
    _write(tmp_path, "SST-2/train.tsv", "text\tlabel\nfine\t1\n")
    with pytest.raises(DataError, match=r"SST-2/train.tsv line 1: missing column\(s\) \['sentence'\]"):
        read_split("SST-2", "train", tmp_path)
    _write(tmp_path, "RTE/dev.tsv", "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tmaybe\n")
    with pytest.raises(DataError, match=r"RTE/dev.tsv line 2: label 'maybe' is not one of"):
        read_split("RTE", "dev", tmp_path)


def test_bad_jsonl_rows(tmp_path):
    _write(tmp_path, "CB/train.jsonl", '{"premise": "a", "hypothesis": "b", "label": "entailment"}\n{oops\n')
    with pytest.raises(DataError, match=r"CB/train.jsonl line 2: invalid JSON"):
        read_split("CB", "train", tmp_path)
    _write(tmp_path, "CB/val.jsonl", '{"premise": "a", "label": "entailment"}\n')
    with pytest.raises(DataError, match=r"CB/val.jsonl line 1: missing field\(s\) \['hypothesis'\]"):
        read_split("CB", "dev", tmp_path)
    _write(tmp_path, "STS-B/dev.tsv", "sentence1\tsentence2\tscore\na\tb\thigh\n")
    with pytest.raises(DataError, match=r"STS-B/dev.tsv line 2: label 'high' is not a number"):
        read_split("STS-B", "dev", tmp_path)


def test_snli_official_jsonl_drops_no_gold_rows(tmp_path):
    rows = [{"sentence1": "a", "sentence2": "b", "gold_label": "neutral"},
            {"sentence1": "c", "sentence2": "d", "gold_label": "-"},
            {"sentence1": "e", "sentence2": "f", "gold_label": "entailment"}]
    _write(tmp_path, "SNLI/snli_1.0_dev.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    out = read_split("SNLI", "dev", tmp_path)
    assert [r.label for r in out] == [1, 0]


def test_imdb_folder_and_tarball_agree(tmp_path):
    reviews = {"pos/1_9.txt": "great film", "pos/0_10.txt": "loved it", "neg/3_1.txt": "awful"}
    for rel, text in reviews.items():
        _write(tmp_path, f"IMDB/aclImdb/train/{rel}", text)
    folder = read_split("IMDB", "train", tmp_path)
    other = tmp_path / "other"
    (other / "IMDB").mkdir(parents=True)
    with tarfile.open(other / "IMDB" / "train.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "IMDB" / "aclImdb", arcname="aclImdb")
    packed = read_split("IMDB", "train", other)
    assert folder == packed
    assert [(r.text_a, r.label) for r in folder] == [("awful", 0), ("loved it", 1), ("great film", 1)]
    (other / "IMDB" / "train.tar.gz").write_bytes(b"not a tarball")
    with pytest.raises(DataError, match="not a readable .tar.gz"):
        read_split("IMDB", "train", other)


# ---------------------------------------------------------------- hub column mapping (offline)


def test_hub_schema_mapping_on_in_memory_datasets():
    datasets = pytest.importorskip("datasets")
    snli = datasets.Dataset.from_dict({"premise": ["a", "b"], "hypothesis": ["c", "d"], "label": [2, -1]})
    assert hub_examples("SNLI", snli) == [Example("a", "c", None, 2)]
    mrpc = datasets.Dataset.from_dict({"sentence1": ["x"], "sentence2": ["y"], "label": [1], "idx": [0]})
    assert hub_examples("MRPC", mrpc) == [Example("x", "y", None, 1)]
    multirc = datasets.Dataset.from_dict({
        "paragraph": ["P"], "question": ["Q"], "answer": ["A"], "label": [1],
        "idx": [{"paragraph": 4, "question": 7, "answer": 0}]})
    assert hub_examples("MultiRC", multirc) == [Example("Q", "P", "A", 1, "4-7")]
    stsb = datasets.Dataset.from_dict({"sentence1": ["x"], "sentence2": ["y"], "label": [3.2], "idx": [0]})
    assert hub_examples("STS-B", stsb)[0].label == pytest.approx(3.2)
    imdb = datasets.Dataset.from_dict({"text": ["meh"], "label": [0]})
    assert hub_examples("IMDB", imdb) == [Example("meh", None, None, 0)]
    with pytest.raises(DataError, match="missing column"):
        hub_examples("RTE", datasets.Dataset.from_dict({"sentence1": ["x"], "label": [0]}))


# ---------------------------------------------------------------- synthetic suite, subsampling


def test_synthetic_suite_mirrors_formats_and_is_deterministic():
    data = load_tasks(None, "synthetic")
    assert list(data) == list(TASK_NAMES)
    for t, d in data.items():
        spec = get_task(t)
        assert set(d.splits) == {"train", *spec.eval_splits}
        if not spec.regression:
            assert {ex.label for ex in d["train"]} == set(range(spec.num_labels)), t
        ex = d["train"][0]
        assert (ex.text_b is None) == (spec.input_format == "single")
    assert load_task("RTE")["train"] == data["RTE"]["train"]
    assert sorted(t for g in PLANTED_GROUPS.values() for t in g) == sorted(TASK_NAMES)


def test_subsampling_is_seeded_and_keeps_multirc_questions_whole():
    rows = load_task("MultiRC")["train"]
    a = subsample(rows, 50, seed=1, key="m")
    assert a == subsample(rows, 50, seed=1, key="m") and a != subsample(rows, 50, seed=2, key="m")
    assert len(a) <= 50
    kept = Counter(r.group for r in a)
    full = Counter(r.group for r in rows)
    assert all(kept[g] == full[g] for g in kept)


# ---------------------------------------------------------------- encoding


def test_encoding_matches_the_tokenizers_own_pairs(minilm_available):
    tok = load_tokenizer("minilm")
    enc = TextEncoder(tok, max_length=64)
    pair = enc.encode_examples([Example("A man sleeps.", "Someone is asleep.", label=0)])
    ref = tok("A man sleeps.", "Someone is asleep.")
    assert pair.input_ids[0] == ref["input_ids"] and pair.token_type_ids[0] == ref["token_type_ids"]
    single = enc.encode_examples([Example("Great movie!", label=1)])
    assert single.input_ids[0] == tok("Great movie!")["input_ids"]
    qa = enc.encode_examples([Example("Is it?", "The passage.", "Yes.", label=1, group="q")])
    ids = qa.input_ids[0]
    assert ids[0] == tok.cls_token_id and ids.count(tok.sep_token_id) == 3 and ids[-1] == tok.sep_token_id
    assert qa.groups == ["q"]
    long = enc.encode_examples([Example("word " * 100, "other " * 10, label=0)])
    assert len(long.input_ids[0]) == 64 and long.input_ids[0].count(tok.sep_token_id) == 2


def test_no_text_is_tokenized_twice():
    calls = []
    tok = load_tokenizer("tiny")
    original = tok.__call__

    class Counting:
        def __getattr__(self, name):
            return getattr(tok, name)

        def __call__(self, texts, **kw):
            calls.extend(texts)
            return original(texts, **kw)

    enc = TextEncoder(Counting(), max_length=128)
    data = load_task("MultiRC", scale=0.5)
    enc.encode(data)
    enc.encode(data)
    assert len(calls) == len(set(calls)) == enc.tokenized_texts


def test_collate_pads_dynamically():
    enc = TextEncoder(load_tokenizer("tiny"), max_length=128)
    split = enc.encode(load_task("STS-B", scale=0.2))["train"]
    batch = collate(split, [0, 1, 2], pad_token_id=0)
    width = max(split.lengths[:3])
    assert batch["input_ids"].shape == (3, width) and batch["labels"].dtype.is_floating_point
    assert batch["attention_mask"].sum().item() == split.lengths[:3].sum()
    assert collate(split, [0], pad_to=100)["input_ids"].shape == (1, 100)


# ---------------------------------------------------------------- Algorithm 1 batches


def test_algorithm1_visits_every_example_once_per_epoch_one_task_per_batch():
    sizes = {"RTE": 103, "CB": 17, "MNLI": 250}
    batches = MultiTaskBatches(sizes, batch_size=8, seed=5)
    for epoch in range(2):
        order = batches.epoch(epoch)
        seen = {t: [] for t in sizes}
        for task, idx in order:
            assert len(idx) <= 8
            seen[task].extend(idx.tolist())
        for t, n in sizes.items():
            assert sorted(seen[t]) == list(range(n)), t
        tasks_in_order = [t for t, _ in order]
        assert tasks_in_order != sorted(tasks_in_order)  # merged and shuffled, not task after task
    assert [(t, i.tolist()) for t, i in batches.epoch(0)] == \
        [(t, i.tolist()) for t, i in MultiTaskBatches(sizes, batch_size=8, seed=5).epoch(0)]
    assert [t for t, _ in batches.epoch(0)] != [t for t, _ in batches.epoch(1)]


def test_length_grouping_keeps_the_rows_and_cuts_padding():
    rng = np.random.default_rng(0)
    lengths = {"A": rng.integers(5, 300, 500), "B": rng.integers(5, 60, 300)}
    plain = MultiTaskBatches({t: len(v) for t, v in lengths.items()}, 32, seed=1)
    grouped = MultiTaskBatches({t: len(v) for t, v in lengths.items()}, 32, seed=1, lengths=lengths,
                               group_by_length=True)
    for t in lengths:
        rows_plain = sorted(i for task, b in plain.epoch(0) if task == t for i in b)
        rows_grouped = sorted(i for task, b in grouped.epoch(0) if task == t for i in b)
        assert rows_plain == rows_grouped
    eff = {name: padding_efficiency(lengths["A"], [b for t, b in m.epoch(0) if t == "A"])
           for name, m in (("plain", plain), ("grouped", grouped))}
    assert eff["grouped"] > 0.9 and eff["plain"] < 0.7  # 16 batches of uniform lengths: ~0.95 at best


def test_temperature_sampling_flattens_the_task_mix():
    sizes = {"big": 1000, "small": 40}
    prop = MultiTaskBatches(sizes, 10, seed=0)
    temp = MultiTaskBatches(sizes, 10, seed=0, sampling="temperature", temperature=5.0)
    share = {name: sum(t == "small" for t, _ in m.epoch(0)) / m.num_batches() for name, m in
             (("prop", prop), ("temp", temp))}
    assert share["temp"] > 2 * share["prop"]
    with pytest.raises(ValueError, match="sampling 'uniformish' is unknown"):
        MultiTaskBatches(sizes, 10, sampling="uniformish")


def test_task_data_errors_are_clear():
    d = TaskData("RTE", {"train": []}, "synthetic")
    with pytest.raises(KeyError, match="RTE has no split 'dev'"):
        d["dev"]
    with pytest.raises(ValueError, match="data source 'web' is unknown"):
        load_task("RTE", "web")
