"""A training run in its own process, for the kill/resume and data-parallel tests.

    python tests/_train_worker.py CONFIG_JSON RESULTS_DIR [--checkpoint-every N] [--sleep SECONDS]
    python -m torch.distributed.run --nproc_per_node 2 tests/_train_worker.py CONFIG_JSON RESULTS_DIR

`--sleep` slows every training batch down so that the test can kill the process mid-epoch. One torch
thread per process, so that runs in different processes compute bit for bit the same numbers.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

import torch


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("config_json")
    parser.add_argument("results")
    parser.add_argument("--checkpoint-every", type=int)
    parser.add_argument("--sleep", type=float, default=0.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")

    import hmnet.data as hdata
    from hmnet.experiments import RunConfig
    from hmnet.train import train

    if args.sleep:
        collate = hdata.collate

        def slow_collate(*a, **k):
            time.sleep(args.sleep)
            return collate(*a, **k)

        hdata.collate = slow_collate
    config = RunConfig.from_json(args.config_json)
    result = train(config, args.results, checkpoint_every=args.checkpoint_every, checkpoint_minutes=None,
                   progress=False, cpu=True)
    print(f"RESULT {result.path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
