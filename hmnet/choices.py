"""The closed sets a run chooses from, and the paper's default layer split: declared once, below every
module that checks them (experiments, data, models)."""

from __future__ import annotations

METHODS: tuple[str, ...] = ("single", "multi", "skillnet", "hmnet")
SOURCES: tuple[str, ...] = ("synthetic", "directory", "hub")
SAMPLINGS: tuple[str, ...] = ("proportional", "temperature")
# What a task head reads: the [CLS] hidden state (the paper, Section 4.3) or the mean of the real tokens' states
# (how sentence-transformers backbones such as all-MiniLM-L6-v2 were trained).
POOLINGS: tuple[str, ...] = ("cls", "mean")
# What a carve of a labelled file into train and eval rows keeps whole on one side (hmnet.data.sources.carve).
CARVE_UNITS: tuple[str, ...] = ("row", "text")


def default_split(depth: int) -> tuple[int, int, int]:
    """The paper's {8 shared, 2 cluster, 2 task} for 12 layers; for other depths y = z = max(1, depth // 6),
    the rest shared ((4, 1, 1) for 6 layers, (2, 1, 1) for 4)."""
    if depth < 3:
        raise ValueError(f"an encoder with {depth} layer(s) cannot be split into shared, cluster and task "
                         "layers; pass split explicitly")
    y = z = max(1, depth // 6)
    return depth - y - z, y, z
