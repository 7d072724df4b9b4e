"""`python -m training worker`: a Celery worker that trains CV folds sent by `cv/tune --backend celery`.

Run one per machine (each fold uses every core and GPU of its machine through
TensorFlow), from the project folder, with the shared folder mounted at the
same path as on the submitting machine and the same LESIONLENS_BROKER_URL.
It consumes only the training queue, one fold at a time (`--concurrency`
more only on a machine with cores or GPUs to spare), each fold in a fresh
child process.
"""

from __future__ import annotations


def add_arguments(p) -> None:
    from training.strategy import add_argument as add_strategy_argument

    p.add_argument("--concurrency", type=int, default=1, help="folds trained at once on this machine (default 1)")
    p.add_argument("--name", help="worker name (default: training-<pid>@<host>)")
    p.add_argument("--loglevel", default="INFO")
    add_strategy_argument(p)


def run(args) -> int:
    import os

    from training.celery_backend import QUEUE, app, urls
    from training.strategy import set_strategy

    set_strategy(args.strategy)  # inherited by the pool's children through the environment
    name = args.name or f"training-{os.getpid()}@%h"
    broker, _ = urls()
    print(f"training worker {name}: queue {QUEUE} on {broker.split('@')[-1]}", flush=True)
    app.worker_main(
        [
            "worker",
            f"--loglevel={args.loglevel}",
            f"--concurrency={args.concurrency}",
            "--pool=prefork",
            "-Q",
            QUEUE,
            "-n",
            name,
            "--without-gossip",
            "--without-mingle",
        ]
    )
    return 0
