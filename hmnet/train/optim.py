"""The optimisation helpers of the trainer (:mod:`hmnet.train.loop`): AdamW with BERT's weight-decay groups,
the linear schedule, and the all-reduce of one path's gradients for data-parallel runs."""

from __future__ import annotations

import torch

from hmnet.experiments import RunConfig

BUCKET_BYTES = 25 * 2**20  # gradient all-reduce bucket size (as DDP's default)


def make_optimizer(model: torch.nn.Module, config: RunConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW; no weight decay on biases and LayerNorm weights (as BERT); fused kernels on CUDA and CPU
    (on CPU the fused step is about 5x faster than the default for-each one)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or "LayerNorm" in name or name.endswith("bias") else decay).append(p)
    groups = [{"params": decay, "weight_decay": config.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    kwargs = {"fused": True} if device.type in ("cuda", "cpu") else {}
    return torch.optim.AdamW(groups, lr=config.lr, **kwargs)


def make_scheduler(optimizer, total_steps: int, warmup_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up (off by default, as in the paper), then linear decay to 0 at the last step."""
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def all_reduce_path(params: list[torch.nn.Parameter], extra: list[float], world: int) -> list[float]:
    """Sum the gradients of one path over processes (flattened into buckets), plus a few scalars.

    Returns the summed scalars. Parameters that no process produced a gradient for keep grad=None.
    """
    dist = torch.distributed
    device = params[0].device
    flags = [float(p.grad is not None) for p in params] + [float(x) for x in extra]
    meta = torch.tensor(flags, dtype=torch.float64, device=device)
    dist.all_reduce(meta)
    any_grad = meta[:len(params)] > 0
    with_grad = [p for p, used in zip(params, any_grad.tolist()) if used]
    for p in with_grad:
        if p.grad is None:  # another process used it (e.g. this process had no rows): contribute zeros
            p.grad = torch.zeros_like(p)
    bucket: list[torch.nn.Parameter] = []
    size = 0
    for p in with_grad + [None]:
        if p is not None:
            bucket.append(p)
            size += p.grad.numel() * p.grad.element_size()
        if bucket and (p is None or size >= BUCKET_BYTES):
            flat = torch.cat([q.grad.reshape(-1) for q in bucket])
            dist.all_reduce(flat)
            offset = 0
            for q in bucket:
                n = q.grad.numel()
                q.grad.copy_(flat[offset:offset + n].view_as(q.grad))
                offset += n
            bucket, size = [], 0
    return meta[len(params):].tolist()


__all__ = ["make_optimizer", "make_scheduler", "all_reduce_path", "BUCKET_BYTES"]
