"""Carrying a campaign to a lent GPU machine and its results back, within that machine's limits.

The device machine has PyTorch and transformers but no network, no data and no MiniLM package; what travels
is the working tree (at most 64 MiB), and what comes back is at most 8 files of 16 MiB. So:

- :func:`pack_inputs` writes ``<dest>/minilm/`` (MiniLM-L6's folder with its weights in bf16, about 45 MB;
  :func:`hmnet.backbone.load_backbone` loads them as fp32 master weights) and ``<dest>/nlu.tar.xz`` (the
  data files, byte-identical, so runs keep their cache keys), and refuses to exceed the budget;
- ``scripts/gpu_campaign.sh`` unpacks them there and runs ``hmnet campaign run`` into a store;
- :func:`pack_results` puts the store's records and manifest into ``results-NN.tar.xz`` parts under $OUT;
- :func:`collect_results` reads those parts here and adds each record that verifies to the local store,
  never replacing a stored record.
"""

from __future__ import annotations

import io
import json
import logging
import tarfile
from collections.abc import Iterable
from pathlib import Path

import torch

from hmnet.data import available_tasks
from hmnet.errors import DataError
from hmnet.provenance import REPO
from hmnet.results import atomic_write_bytes, read_result_file

log = logging.getLogger(__name__)

TREE_LIMIT = 64 * 2**20  # the working tree that travels
PART_LIMIT = 15 * 2**20  # a file that comes back (16 MiB, with room for the archive's overhead)
MAX_PARTS = 8
MINILM_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")


def tree_size(repo: Path | None = None) -> int:
    """Bytes of the working tree that travels besides the pack: tracked and untracked, not ignored, files."""
    import subprocess

    repo = repo or REPO
    try:
        names = subprocess.run(["git", "-C", str(repo), "ls-files", "-co", "--exclude-standard", "-z"],
                               capture_output=True, check=True).stdout.decode().split("\0")
    except (OSError, subprocess.SubprocessError):
        return 2 * 2**20
    return sum((repo / n).stat().st_size for n in names if n and (repo / n).is_file())


def pack_inputs(dest: str | Path, data_dir: str | Path, tasks: Iterable[str] | None = None,
                budget: int | None = None) -> dict[str, int]:
    """MiniLM in bf16 and the data files (xz) into `dest`; returns the sizes. The default budget is what the
    64 MiB working-tree limit leaves beside this checkout's files."""
    from safetensors.torch import load_file, save_file

    from hmnet.backbone import minilm_path

    dest, data_dir = Path(dest), Path(data_dir)
    src = minilm_path()
    out = dest / "minilm"
    out.mkdir(parents=True, exist_ok=True)
    for name in MINILM_FILES:
        if (src / name).exists():
            atomic_write_bytes(out / name, (src / name).read_bytes())
    weights = {k: v.to(torch.bfloat16) if v.is_floating_point() else v
               for k, v in load_file(src / "model.safetensors").items()}
    save_file(weights, out / "model.safetensors", metadata={"format": "pt"})
    found = available_tasks(data_dir)
    wanted = [t for t in (tasks or found) if t in found]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz") as tar:
        for task in wanted:
            for path in sorted((data_dir / task).rglob("*")):
                if path.is_file() and not path.name.startswith("."):
                    tar.add(path, arcname=path.relative_to(data_dir).as_posix())
    atomic_write_bytes(dest / "nlu.tar.xz", buffer.getvalue())
    sizes = {p.relative_to(dest).as_posix(): p.stat().st_size for p in dest.rglob("*") if p.is_file()}
    check_budget(dest, sizes, TREE_LIMIT - tree_size() if budget is None else budget)
    return sizes


def check_budget(dest: Path, sizes: dict[str, int], budget: int) -> None:
    if sum(sizes.values()) > budget:
        raise DataError(f"the device pack in {dest} holds {sum(sizes.values()) / 2**20:.1f} MiB, over its budget of "
                        f"{budget / 2**20:.1f} MiB (the working tree that travels is at most 64 MiB)")


def unpack_data(archive: str | Path, dest: str | Path) -> Path:
    """Extract the data archive of :func:`pack_inputs` (members must stay inside `dest`)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:xz") as tar:
        tar.extractall(dest, filter="data")  # refuses absolute paths and '..'
    return dest


def pack_results(store: str | Path, out: str | Path) -> list[Path]:
    """The store's result records and manifest as ``results-NN.tar.xz`` parts of at most 15 MiB in `out`."""
    store, out = Path(store), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = sorted((store / "results").glob("*.json")) + [p for p in [store / "manifest.json"] if p.exists()]
    parts: list[list[Path]] = [[]]
    size = 0
    for f in files:
        n = f.stat().st_size // 4 + 1024  # records compress well; a conservative estimate
        if parts[-1] and size + n > PART_LIMIT:
            parts.append([])
            size = 0
        parts[-1].append(f)
        size += n
    if len(parts) > MAX_PARTS:
        raise DataError(f"{len(files)} files need {len(parts)} parts; at most {MAX_PARTS} files come back")
    written = []
    for i, group in enumerate(parts):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:xz") as tar:
            for f in group:
                tar.add(f, arcname=f.relative_to(store).as_posix())
        path = out / f"results-{i:02d}.tar.xz"
        atomic_write_bytes(path, buffer.getvalue())
        written.append(path)
    return written


def collect_results(parts: Iterable[str | Path], store: str | Path) -> dict[str, int]:
    """Add the records of :func:`pack_results` parts to `store`: each one must verify (checksum, format) and
    none replaces a record already stored. The manifest comes along when the store has none."""
    store = Path(store)
    counts = {"added": 0, "already stored": 0, "rejected": 0}
    for part in parts:
        try:
            tar = tarfile.open(part, "r:xz")
        except (OSError, tarfile.TarError, EOFError) as err:
            raise DataError(f"{part}: not a results archive of `hmnet campaign pack-results` ({err})") from None
        with tar:
            for member in tar.getmembers():
                name = Path(member.name)
                if not member.isfile() or name.is_absolute() or ".." in name.parts:
                    counts["rejected"] += 1
                    log.warning("%s: skipped member %r (not a plain relative file)", part, member.name)
                    continue
                try:
                    data = tar.extractfile(member).read()
                except (OSError, tarfile.TarError, EOFError) as err:
                    raise DataError(f"{part}: member {member.name!r} cannot be read ({err}): truncated?") from None
                target = store / name
                if name.parts[0] == "results" and name.suffix == ".json":
                    if target.exists() and read_result_file(target) is not None:
                        counts["already stored"] += 1
                        continue
                    tmp = target.with_name(f".{target.name}.incoming")
                    atomic_write_bytes(tmp, data)
                    ok = read_result_file(tmp) is not None
                    if ok:
                        tmp.replace(target)
                        counts["added"] += 1
                    else:
                        tmp.unlink(missing_ok=True)
                        counts["rejected"] += 1
                elif name.as_posix() == "manifest.json" and not target.exists():
                    json.loads(data)  # a manifest that does not parse is not kept
                    atomic_write_bytes(target, data)
    return counts
