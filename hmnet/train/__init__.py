"""The trainer: Algorithm 1 as named phases over a typed state (:mod:`~hmnet.train.loop`), the process
context, precision and evaluation (:mod:`~hmnet.train.runtime`), exact-resume checkpoints
(:mod:`~hmnet.train.checkpoint`) and analyses the loop calls (:mod:`~hmnet.train.callbacks`). The result
record, file and cache are :mod:`hmnet.results`."""

from hmnet.results import RESULT_FORMAT, Result, load_result, load_results, read_result_file, summarize, write_result
from hmnet.train.callbacks import AffinityCallback
from hmnet.train.checkpoint import (CHECKPOINT_FORMAT, CheckpointError, latest_checkpoint, list_checkpoints, rng_state,
                                    seed_everything, set_rng_state, verify_checkpoint)
from hmnet.train.loop import TrainState, load_trained_model, run_plan, train
from hmnet.train.optim import make_optimizer, make_scheduler
from hmnet.train.runtime import (BatchOutOfMemoryError, TrainingError, cpu_has_native_bf16, load_encoded, predict,
                                 preflight, resolve_precision)

__all__ = ["Result", "RESULT_FORMAT", "train", "run_plan", "load_result", "load_results", "summarize", "predict",
           "write_result", "read_result_file", "latest_checkpoint", "list_checkpoints", "verify_checkpoint",
           "CHECKPOINT_FORMAT", "CheckpointError", "rng_state", "set_rng_state", "seed_everything", "TrainingError",
           "BatchOutOfMemoryError", "load_trained_model", "preflight", "load_encoded", "cpu_has_native_bf16",
           "resolve_precision", "make_optimizer", "make_scheduler", "TrainState", "AffinityCallback"]
