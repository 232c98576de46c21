"""Which precision a run computes in: ``"auto"`` resolved for the device at hand (a leaf: torch only).

A run's cache key must name the precision that ran (:meth:`hmnet.experiments.RunConfig.key_payload`), so
``"auto"`` is resolved here, before the key is made, by the same rule the trainer applies.
"""

from __future__ import annotations

import torch


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 matrix products natively (AVX512-BF16 or AMX). There, bf16 autocast
    makes a BERT training step about 1.7x faster (MiniLM-L6, batch 32, one thread: 17 -> 29 examples/s on an
    AVX512-BF16 EPYC). Without these instructions bf16 is only emulated, about 10x slower than fp32."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


def machine_description(device_type: str | None = None) -> str:
    """The machine a run computes on, in a few words, as a record keeps it: the CUDA device's name, or the CPU's
    model name and whether it computes bf16 natively (which decides what "auto" precision means there)."""
    import platform

    device_type = device_type or default_device_type()
    if device_type == "cuda":
        return f"cuda: {torch.cuda.get_device_name()}"
    name = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            name = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), "")
    except OSError:
        pass
    name = name or platform.processor() or platform.machine()
    return f"cpu: {name} ({'native' if cpu_has_native_bf16() else 'no native'} bf16)"


def default_device_type(cpu: bool = False) -> str:
    """The device a run trains on: CUDA when present (unless `cpu`), else the CPU."""
    return "cpu" if cpu or not torch.cuda.is_available() else "cuda"


def resolve_precision(mixed_precision: str, device_type: str | None = None) -> str:
    """"auto" means bf16 where the hardware computes it natively (a CUDA device with bf16 support, or a
    CPU with AVX512-BF16/AMX), full precision ("no") otherwise; any other value is returned as it is.
    `device_type` defaults to :func:`default_device_type`."""
    if mixed_precision != "auto":
        return mixed_precision
    device_type = device_type or default_device_type()
    if device_type == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16"
    if device_type == "cpu" and cpu_has_native_bf16():
        return "bf16"
    return "no"


def key_precision(mixed_precision: str, device_type: str | None = None) -> str:
    """The precision as a cache key spells it. An explicit precision is itself. ``"auto"`` that resolves to
    bf16 stays ``"auto"``: every record stored under ``"auto"`` before keys named the precision ran in bf16
    (the reference store's v1 records), so their keys stay valid. ``"auto"`` that resolves to anything else
    is spelled ``"auto->no"``: the two computations can never share a key."""
    resolved = resolve_precision(mixed_precision, device_type)
    if mixed_precision != "auto" or resolved == "bf16":
        return mixed_precision
    return f"auto->{resolved}"
