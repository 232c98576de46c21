"""HMNet and the baselines: configuration errors, equivalences at initialisation, one path per batch,
padding, checkpoints, SkillNet's skills and sizes. Small random BERTs, plus MiniLM (real weights)."""

from __future__ import annotations

import pytest
import torch
from transformers import BertConfig, BertModel

from hmnet.models import (METHODS, SKILLS, TASK_SKILLS, CheckpointMismatchError, HMNet, HMNetConfig,
                          SingleTaskModel, SkillNetConfig, SkillNetModel, build_model, default_split, load_model,
                          load_weights, save_model)
from hmnet.tasks import TASK_NAMES, UnknownTaskError

TASKS = ("MNLI", "SST-2", "STS-B", "BoolQ", "RTE")  # 3-way, 2-way, regression, ...
CLUSTERS = {"a": ("MNLI", "STS-B", "RTE"), "b": ("SST-2", "BoolQ")}
SPLIT = (2, 1, 1)
SMALL = dict(vocab_size=120, hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64,
             max_position_embeddings=64)



@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models: one intra-op thread is faster, and far faster on a busy machine (no OpenMP spinning)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

def small_encoder(seed: int = 0, **overrides) -> BertModel:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return BertModel(BertConfig(**{**SMALL, **overrides}), add_pooling_layer=False).eval()


@pytest.fixture(scope="module")
def encoder() -> BertModel:
    return small_encoder()


def make(method: str, encoder, tasks=TASKS, clusters=CLUSTERS, split=SPLIT, seed=0):
    return build_model(method, encoder, tasks, clusters=clusters if method == "hmnet" else None,
                       split=split if method == "hmnet" else None, seed=seed)


def batch(task: str, lengths=(9, 5, 7), vocab: int = 120, seed: int = 1) -> dict[str, torch.Tensor]:
    """A right-padded batch: [CLS]=2 ... [SEP]=3, segment 1 on the second half, pad id 0."""
    gen = torch.Generator().manual_seed(seed)
    width = max(lengths)
    ids = torch.zeros(len(lengths), width, dtype=torch.long)
    types = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    for i, n in enumerate(lengths):
        ids[i, :n] = torch.randint(5, vocab, (n,), generator=gen)
        ids[i, 0], ids[i, n - 1] = 2, 3
        types[i, n // 2:n] = 1
        mask[i, :n] = 1
    if task == "STS-B":
        labels = torch.rand(len(lengths), generator=gen) * 5
    else:
        labels = torch.randint(0, 3 if task == "MNLI" else 2, (len(lengths),), generator=gen)
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types, "labels": labels}


# ---------------------------------------------------------------------------------------------------------
# Configuration


def test_config_normalises_names_and_derives_labels():
    cfg = HMNetConfig(tasks=("mnli", "sst2", "stsb"), clusters={"x": ["MNLI", "SST-2"], "y": "STS-B"}, split=(8, 2, 2))
    assert cfg.tasks == ("MNLI", "SST-2", "STS-B")
    assert cfg.clusters == {"x": ("MNLI", "SST-2"), "y": ("STS-B",)}
    assert cfg.num_labels == {"MNLI": 3, "SST-2": 2, "STS-B": 1}
    assert cfg.cluster_of == {"MNLI": "x", "SST-2": "x", "STS-B": "y"}
    assert HMNetConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("kwargs, error, culprit", [
    (dict(tasks=TASKS, clusters={"a": ("MNLI", "STS-B", "RTE"), "b": ("SST-2",)}, split=SPLIT),
     ValueError, r"\['BoolQ'\] have no cluster"),
    (dict(tasks=TASKS, clusters={**CLUSTERS, "empty": ()}, split=SPLIT), ValueError, "cluster 'empty' has no task"),
    (dict(tasks=("MNLI", "QQQ"), clusters={"a": ("MNLI", "QQQ")}, split=SPLIT), UnknownTaskError, "'QQQ' is unknown"),
    (dict(tasks=TASKS, clusters={"a": ("MNLI", "STS-B", "RTE", "XNLI"), "b": ("SST-2", "BoolQ")}, split=SPLIT),
     UnknownTaskError, r"clusters\['a'\].*'XNLI' is unknown"),
    (dict(tasks=TASKS, clusters={"a": ("MNLI", "STS-B", "RTE", "SST-2"), "b": ("SST-2", "BoolQ")}, split=SPLIT),
     ValueError, "'SST-2' is in two clusters"),
    (dict(tasks=TASKS[:4], clusters=CLUSTERS, split=SPLIT), ValueError, "cluster 'a' lists task 'RTE'"),
    (dict(tasks=TASKS, clusters=CLUSTERS, split=(2, -1, 1)), ValueError, "split must be three non-negative"),
    (dict(tasks=TASKS, clusters={"a.b": TASKS}, split=SPLIT), ValueError, "'a.b' is not usable"),
    (dict(tasks=TASKS, clusters=CLUSTERS, split=SPLIT, num_labels={"STS-B": 3}), ValueError, "regression"),
])
def test_config_errors_name_the_culprit(kwargs, error, culprit):
    with pytest.raises(error, match=culprit):
        HMNetConfig(**kwargs)


def test_split_must_use_every_layer(encoder):
    cfg = HMNetConfig(tasks=TASKS, clusters=CLUSTERS, split=(2, 1, 2))
    with pytest.raises(ValueError, match=r"\{2, 1, 2\} has x\+y\+z = 5 layers, but the encoder has 4"):
        HMNet(encoder, cfg)


def test_build_model_rejects_unknown_method_and_task(encoder):
    with pytest.raises(ValueError, match="method 'mtl' is unknown; known: single, multi, skillnet, hmnet"):
        build_model("mtl", encoder, TASKS)
    model = make("hmnet", encoder)
    b = batch("MNLI")
    with pytest.raises(ValueError, match="not one of this model's tasks"):
        model("QQP", b["input_ids"], b["attention_mask"])
    with pytest.raises(UnknownTaskError, match="'QQQ' is unknown"):
        model("QQQ", b["input_ids"], b["attention_mask"])


def test_default_split():
    assert default_split(12) == (8, 2, 2)
    assert default_split(6) == (4, 1, 1)
    assert default_split(4) == (2, 1, 1)
    with pytest.raises(ValueError, match="2 layer"):
        default_split(2)


# ---------------------------------------------------------------------------------------------------------
# Structure and equivalences


def test_every_copy_starts_from_the_layer_at_its_depth(encoder):
    model = make("hmnet", encoder)
    assert all(m.training for m in model.modules())  # one mode, whatever the encoder's
    x, y, z = SPLIT
    reference = [layer.state_dict() for layer in encoder.encoder.layer]

    def same(layer, depth):
        return all(torch.equal(v, reference[depth][k]) for k, v in layer.state_dict().items())

    assert len(model.shared) == x and all(same(layer, i) for i, layer in enumerate(model.shared))
    for stack in model.cluster_layers.values():
        assert len(stack) == y and all(same(layer, x + i) for i, layer in enumerate(stack))
    for stack in model.task_layers.values():
        assert len(stack) == z and all(same(layer, x + y + i) for i, layer in enumerate(stack))
    # deep copies: nothing shared with the encoder or between stacks
    ptrs = [p.data_ptr() for p in model.parameters()]
    assert len(ptrs) == len(set(ptrs))
    assert not set(ptrs) & {p.data_ptr() for p in encoder.parameters()}
    assert [type(m).__name__ for m in model.path_layers("SST-2")] == ["BertLayer"] * 4


def test_path_is_shared_then_cluster_then_task(encoder):
    model = make("hmnet", encoder)
    path = model.path_layers("RTE")
    assert path[:2] == tuple(model.shared)
    assert path[2] is model.cluster_layers["a"][0] and path[3] is model.task_layers["RTE"][0]
    assert model.path_layers("MNLI")[2] is path[2]  # same cluster
    assert model.path_layers("SST-2")[2] is model.cluster_layers["b"][0]


def test_multi_task_is_hmnet_with_full_sharing(encoder):
    multi = make("multi", encoder).eval()
    assert isinstance(multi, HMNet) and multi.method == "multi"
    assert multi.config.split == (4, 0, 0) and multi.config.clusters == {"all": TASKS}
    # An HMNet {depth, 0, 0} with any cluster map computes the same function.
    full = make("hmnet", encoder, split=(4, 0, 0)).eval()
    assert full.method == "hmnet"
    assert set(full.state_dict()) == set(multi.state_dict())
    for task in TASKS:
        b = batch(task)
        a = multi(task, b["input_ids"], b["attention_mask"], b["token_type_ids"], labels=b["labels"])
        c = full(task, b["input_ids"], b["attention_mask"], b["token_type_ids"], labels=b["labels"])
        assert torch.equal(a.logits, c.logits) and torch.equal(a.loss, c.loss)


@pytest.mark.parametrize("method", METHODS)
def test_initial_cls_state_is_the_pretrained_encoders(method, encoder):
    model = make(method, encoder).eval()
    for task in TASKS:
        b = batch(task)
        with torch.no_grad():
            ref = encoder(input_ids=b["input_ids"], attention_mask=b["attention_mask"],
                          token_type_ids=b["token_type_ids"]).last_hidden_state[:, 0]
            out = model(task, b["input_ids"], b["attention_mask"], b["token_type_ids"])
        torch.testing.assert_close(out.cls_hidden_state, ref, rtol=0, atol=1e-6)
        expected_shape = (3,) if task == "STS-B" else (3, 3 if task == "MNLI" else 2)
        assert out.logits.shape == expected_shape and out.loss is None


def test_heads_depend_on_seed_and_task_only(encoder):
    hm, single = make("hmnet", encoder, seed=3), make("single", encoder, seed=3)
    other_tasks = make("multi", encoder, tasks=("BoolQ", "MNLI"), seed=3)
    assert torch.equal(hm.heads["MNLI"].classifier.weight, single.models["MNLI"].heads["MNLI"].classifier.weight)
    assert torch.equal(hm.heads["MNLI"].classifier.weight, other_tasks.heads["MNLI"].classifier.weight)
    assert not torch.equal(hm.heads["BoolQ"].classifier.weight, make("hmnet", encoder, seed=4).heads["BoolQ"]
                           .classifier.weight)


def test_loss_is_cross_entropy_or_mse(encoder):
    model = make("hmnet", encoder).eval()
    for task in ("MNLI", "STS-B"):
        b = batch(task)
        out = model(task, b["input_ids"], b["attention_mask"], b["token_type_ids"], labels=b["labels"])
        if task == "STS-B":
            expected = torch.nn.functional.mse_loss(out.logits, b["labels"])
        else:
            expected = torch.nn.functional.cross_entropy(out.logits, b["labels"])
        torch.testing.assert_close(out.loss, expected)


@pytest.fixture(scope="module")
def minilm(minilm_available):
    from hmnet.backbone import load_backbone

    backbone = load_backbone("minilm", attn_implementation="eager")
    tok = backbone.tokenizer(["a man is playing a guitar on the stage tonight .", "great fun"],
                             ["someone plays music", "it was good"], padding=True, return_tensors="pt")
    return backbone.encoder.eval(), dict(tok)


def minilm_model(method: str, enc, split=(4, 1, 1)):
    return build_model(method, enc, ("MNLI", "SST-2"), clusters={"c": ("MNLI",), "d": ("SST-2",)}
                       if method == "hmnet" else None, split=split if method == "hmnet" else None)


def test_minilm_paths_start_as_the_pretrained_encoder(minilm):
    enc, tok = minilm
    with torch.no_grad():
        ref = enc(**tok, output_attentions=True)
    assert int(tok["attention_mask"].sum()) < tok["attention_mask"].numel()  # the batch is padded
    for method in METHODS:
        model = minilm_model(method, enc).eval()
        with torch.no_grad():
            out = model("MNLI", tok["input_ids"], tok["attention_mask"], tok["token_type_ids"],
                        output_attentions=True)
        torch.testing.assert_close(out.cls_hidden_state, ref.last_hidden_state[:, 0], rtol=0, atol=1e-5)
        assert len(out.attentions) == 6
        for mine, theirs in zip(out.attentions, ref.attentions):
            torch.testing.assert_close(mine, theirs, rtol=0, atol=1e-5)


def test_minilm_multi_task_padding_and_one_path(minilm):
    enc, tok = minilm
    multi, full = minilm_model("multi", enc).eval(), minilm_model("hmnet", enc, split=(6, 0, 0)).eval()
    hm = minilm_model("hmnet", enc)
    with torch.no_grad():
        assert torch.equal(multi("SST-2", **tok).logits, full("SST-2", **tok).logits)
        hm.eval()
        padded = hm("MNLI", **tok).logits
        for row in range(2):
            n = int(tok["attention_mask"][row].sum())
            alone = hm("MNLI", **{k: v[row:row + 1, :n] for k, v in tok.items()}).logits
            torch.testing.assert_close(alone[0], padded[row], rtol=0, atol=1e-5)
    hm.train()
    opt = torch.optim.AdamW(hm.parameters(), lr=1e-4, weight_decay=0.01)
    for task, labels in (("MNLI", torch.tensor([0, 2])), ("SST-2", torch.tensor([1, 0]))):
        before = {n: p.detach().clone() for n, p in hm.named_parameters()}
        opt.zero_grad(set_to_none=True)
        hm(task, **tok, labels=labels).loss.backward()
        opt.step()
        on_path = {id(p) for p in hm.path_parameters(task)}
        for n, p in hm.named_parameters():
            assert (p.grad is not None) == (id(p) in on_path), n
            assert torch.equal(p.detach(), before[n]) == (id(p) not in on_path), n


def test_attentions_need_eager(encoder):
    model = make("hmnet", encoder)
    b = batch("MNLI")
    with pytest.raises(ValueError, match="needs eager attention"):
        model("MNLI", b["input_ids"], b["attention_mask"], output_attentions=True)
    eager = make("hmnet", small_encoder(attn_implementation="eager")).eval()
    out = eager("MNLI", b["input_ids"], b["attention_mask"], b["token_type_ids"], output_attentions=True)
    assert len(out.attentions) == 4 and out.attentions[0].shape == (3, 2, 9, 9)
    # padded keys get no attention
    assert float(out.attentions[0][1, :, :, 5:].detach().abs().max()) == 0.0
    model.set_attn_implementation("eager")
    switched = model("MNLI", b["input_ids"], b["attention_mask"], output_attentions=True)
    assert len(switched.attentions) == 4 and switched.attentions[0] is not None


# ---------------------------------------------------------------------------------------------------------
# One path per batch: gradients and optimizer steps


@pytest.mark.parametrize("method", METHODS)
def test_training_moves_only_the_active_path(method, encoder):
    torch.manual_seed(0)
    model = make(method, encoder).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
    names = {id(p): n for n, p in model.named_parameters()}
    for step, task in enumerate(["MNLI", "SST-2", "MNLI", "STS-B", "BoolQ", "SST-2"]):
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        opt.zero_grad(set_to_none=True)
        b = batch(task, seed=step)
        model(task, **b).loss.backward()
        on_path = {id(p) for p in model.path_parameters(task)}
        with_grad = {id(p) for p in model.parameters() if p.grad is not None}
        assert with_grad == on_path, (f"step {step} ({task}): gradients off the path "
                                      f"{sorted(names[i] for i in with_grad - on_path)[:5]}, path params "
                                      f"without gradient {sorted(names[i] for i in on_path - with_grad)[:5]}")
        opt.step()
        for n, p in model.named_parameters():
            if id(p) in on_path:
                continue
            assert torch.equal(p.detach(), before[n]), f"step {step} ({task}): {n} moved although off the path"
        moved = sum(not torch.equal(p.detach(), before[names[id(p)]]) for p in model.path_parameters(task))
        assert moved == len(on_path)


def test_hmnet_paths_of_two_tasks(encoder):
    model = make("hmnet", encoder)
    mnli = {id(p) for p in model.path_parameters("MNLI")}
    rte = {id(p) for p in model.path_parameters("RTE")}
    sst = {id(p) for p in model.path_parameters("SST-2")}
    shared = {id(p) for m in (model.embeddings, *model.shared) for p in m.parameters()}
    assert mnli & sst == shared
    assert mnli & rte == shared | {id(p) for p in model.cluster_layers["a"].parameters()}


# ---------------------------------------------------------------------------------------------------------
# Padding


@pytest.mark.parametrize("method", METHODS)
def test_padding_does_not_change_logits(method, encoder):
    model = make(method, encoder).eval()
    for task in ("MNLI", "STS-B"):
        b = batch(task, lengths=(9, 5, 7))
        with torch.no_grad():
            padded = model(task, b["input_ids"], b["attention_mask"], b["token_type_ids"]).logits
            for row, n in enumerate((9, 5, 7)):
                alone = model(task, b["input_ids"][row:row + 1, :n], b["attention_mask"][row:row + 1, :n],
                              b["token_type_ids"][row:row + 1, :n]).logits
                torch.testing.assert_close(alone[0], padded[row], rtol=0, atol=1e-5)
            wider = {k: torch.nn.functional.pad(v, (0, 6)) for k, v in b.items() if k != "labels"}
            torch.testing.assert_close(model(task, **wider).logits, padded, rtol=0, atol=1e-5)


# ---------------------------------------------------------------------------------------------------------
# Checkpoints


@pytest.mark.parametrize("method", METHODS)
def test_save_load_roundtrip(method, encoder, tmp_path):
    model = make(method, encoder, seed=5)
    with torch.no_grad():  # move the weights away from the initialisation
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    save_model(model, tmp_path)
    assert {f.name for f in tmp_path.iterdir()} == {"model.safetensors", "model_config.json"}
    loaded = load_model(tmp_path).eval()
    model.eval()
    assert type(loaded) is type(model) and loaded.method == model.method and loaded.tasks == model.tasks
    for task in TASKS:
        b = batch(task)
        with torch.no_grad():
            assert torch.equal(model(task, **b).logits, loaded(task, **b).logits)


def test_checkpoint_with_other_tasks_or_clusters_is_refused(encoder, tmp_path):
    model = make("hmnet", encoder)
    save_model(model, tmp_path)
    swapped = {"a": ("MNLI", "SST-2"), "b": ("STS-B", "BoolQ", "RTE")}  # same names and shapes, other map
    with pytest.raises(CheckpointMismatchError, match="clusters: checkpoint has"):
        load_model(tmp_path, clusters=swapped)
    with pytest.raises(CheckpointMismatchError, match="tasks: checkpoint has"):
        load_model(tmp_path, tasks=TASKS[:4])
    with pytest.raises(CheckpointMismatchError, match="split: checkpoint has"):
        load_model(tmp_path, split=(1, 2, 1))
    with pytest.raises(CheckpointMismatchError, match="holds a 'hmnet' model, asked for 'multi'"):
        load_model(tmp_path, method="multi")
    other = make("hmnet", encoder, clusters=swapped)
    assert {k: v.shape for k, v in other.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointMismatchError, match="clusters"):
        load_weights(other, tmp_path)
    with pytest.raises(CheckpointMismatchError, match="tasks"):
        load_weights(make("hmnet", encoder, tasks=(*TASKS, "QQP"), clusters={**CLUSTERS, "c": ("QQP",)}), tmp_path)
    same = make("hmnet", encoder, seed=9)
    load_weights(same, tmp_path)
    assert all(torch.equal(a, b) for a, b in zip(same.state_dict().values(), model.state_dict().values()))
    renamed = {"a2": CLUSTERS["a"], "b": CLUSTERS["b"]}  # same grouping, but cluster 'a2' has no weights
    with pytest.raises(CheckpointMismatchError, match="clusters"):
        load_model(tmp_path, clusters=renamed)
    loaded = load_model(tmp_path, tasks=reversed(TASKS), clusters={"b": CLUSTERS["b"], "a": CLUSTERS["a"]},
                        split=SPLIT, attn_implementation="eager")
    assert loaded.tasks == TASKS
    b = batch("RTE")
    assert len(loaded("RTE", b["input_ids"], b["attention_mask"], output_attentions=True).attentions) == 4
    save_model(make("single", encoder), tmp_path / "single")
    assert load_model(tmp_path / "single", clusters=CLUSTERS, split=SPLIT).method == "single"  # ignored, as in build
    with pytest.raises(CheckpointMismatchError, match="tasks"):
        load_model(tmp_path / "single", tasks=("MNLI",))


# ---------------------------------------------------------------------------------------------------------
# Single-task and SkillNet


def test_single_task_models_are_independent(encoder):
    model = make("single", encoder)
    assert isinstance(model, SingleTaskModel) and set(model.models) == set(TASKS)
    a, b = ({id(p) for p in model.path_parameters(t)} for t in ("MNLI", "SST-2"))
    assert not a & b
    assert {id(p) for p in model.parameters()} == set().union(*({id(p) for p in model.path_parameters(t)}
                                                                 for t in TASKS))


def test_skill_map_gives_every_task_at_least_two_skills():
    assert set(TASK_SKILLS) == set(TASK_NAMES)
    assert len(SKILLS) == 7
    for task, skills in TASK_SKILLS.items():
        assert len(set(skills)) >= 2 and set(skills) <= set(SKILLS), task
    with pytest.raises(ValueError, match=r"task_skills\['MNLI'\] = \['s1'\]; every task activates at least 2"):
        SkillNetConfig(("MNLI",), task_skills={"MNLI": ("s1",)})
    with pytest.raises(ValueError, match="unknown skill"):
        SkillNetConfig(("MNLI",), task_skills={"MNLI": ("s1", "s9")})


def test_skillnet_layers_reuse_attention_and_copy_the_ffn(encoder):
    model = make("skillnet", encoder)
    assert isinstance(model, SkillNetModel)
    layer0 = encoder.encoder.layer[0]
    sk = model.layers[0]
    assert type(sk.attention) is type(layer0.attention)
    for skill in sk.skills.values():
        assert torch.equal(skill.intermediate.dense.weight, layer0.intermediate.dense.weight)
        assert torch.equal(skill.dense.weight, layer0.output.dense.weight)
        assert skill.dense.weight.data_ptr() != layer0.output.dense.weight.data_ptr()
    on_path = {id(p) for p in model.path_parameters("SST-2")}
    for name in SKILLS:
        active = name in TASK_SKILLS["SST-2"]
        assert all((id(p) in on_path) == active for p in sk.skills[name].parameters()), name


def bert_base_sizes():
    h, i, v, pos, types = 768, 3072, 30522, 512, 2
    emb = v * h + pos * h + types * h + 2 * h
    attention = 4 * (h * h + h) + 2 * h
    skill = (h * i + i) + (i * h + h)
    layer_norm = 2 * h
    return emb, attention, skill, layer_norm, h


def test_skillnet_size_at_bert_base_on_meta():
    from hmnet.models.counting import activated_parameters, meta_encoder, overall_parameters

    model = build_model("skillnet", meta_encoder("random:bert-base"), TASK_NAMES)
    assert next(model.parameters()).device.type == "meta"
    emb, attention, skill, layer_norm, h = bert_base_sizes()
    heads = sum(h * n + n for n in model.config.num_labels.values())
    assert overall_parameters(model) == emb + 12 * (attention + 7 * skill + layer_norm) + heads == 448_928_284
    for task in TASK_NAMES:
        k = len(TASK_SKILLS[task])
        n = model.config.num_labels[task]
        assert activated_parameters(model, task) == emb + 12 * (attention + k * skill + layer_norm) + h * n + n
    assert activated_parameters(model, "SST-2") == 222_231_554


def test_tied_tensors_survive_a_roundtrip(encoder, tmp_path):
    """safetensors refuses shared storage: save_model writes a tied tensor once and records the alias."""
    model = make("hmnet", encoder, seed=2).eval()
    model.heads["SST-2"].classifier.weight = model.heads["BoolQ"].classifier.weight  # same shape (2 labels)
    save_model(model, tmp_path)
    loaded = load_model(tmp_path).eval()
    b = batch("SST-2")
    with torch.no_grad():
        assert torch.equal(model("SST-2", **b).logits, loaded("SST-2", **b).logits)
    assert torch.equal(loaded.heads["SST-2"].classifier.weight, loaded.heads["BoolQ"].classifier.weight)
