"""hmnet: a reproducible companion for HMNet (hierarchical multi-task learning for NLU)."""

__version__ = "0.1.0"
