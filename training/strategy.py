"""Which `tf.distribute` strategy trains a stage, and how batch and learning rate scale with it.

`auto` (the default) mirrors the model over every GPU when there are two or
more and otherwise uses TensorFlow's default strategy (one device, no
overhead). `mirrored` forces MirroredStrategy: over the GPUs, or over the
logical CPU devices when there is no GPU (how the tests check it on a CPU
machine). `default` forces one device. Chosen by `--strategy` on
`train`, `cv`, `tune` and `worker`, or by LESIONLENS_STRATEGY.

Scaling, with R replicas: a config's `batch_size` is the batch **per
replica**, so the global batch is batch_size x R, and the learning rate is
multiplied by sqrt(R). Why per replica: Keras batch normalisation is computed
per replica, so each device still normalises over the recipe's batch size,
and a GPU gets a batch worth its time (16 images split over 8 GPUs would not
be). Why square root and not linear: the optimizer is AdamW, and for Adam-type
optimizers the square-root rule is the one that keeps the training dynamics
(Malladi et al., NeurIPS 2022); the linear rule (Goyal et al., 2017) is
derived for SGD. The recipe's warm-up (5% of the steps) is kept. With one
replica nothing changes, so every result in the README stands. Epoch counts
are unchanged: an epoch has 1/R as many steps.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from pathlib import Path
from typing import Any, TypeVar

from training.config import StageSchedule

log = logging.getLogger(__name__)
CHOICES = ("auto", "default", "mirrored")
ENV = "LESIONLENS_STRATEGY"
_cache: dict[str, Any] = {}
T = TypeVar("T", bound=StageSchedule)


def add_argument(p: Any) -> None:
    """The `--strategy` option of train, cv, tune and worker."""
    p.add_argument(
        "--strategy",
        choices=CHOICES,
        help="tf.distribute strategy (default auto: mirrored over 2+ GPUs, "
        f"else one device; env {ENV}); batch_size is per replica, see training/strategy.py",
    )


def set_strategy(name: str | None) -> None:
    """Choose the strategy for this process and the processes it starts (Celery pool children)."""
    if name is None:
        return
    if name not in CHOICES:
        raise ValueError(f"strategy must be one of {', '.join(CHOICES)}, not {name!r}")
    os.environ[ENV] = name


def chosen() -> str:
    name = os.environ.get(ENV) or "auto"
    if name not in CHOICES:
        raise ValueError(f"{ENV}={name!r}: must be one of {', '.join(CHOICES)}")
    return name


def current() -> Any:
    """The tf.distribute strategy for the chosen name (created once per process)."""
    name = chosen()
    if name not in _cache:
        import tensorflow as tf

        gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
        if name == "default" or (name == "auto" and len(gpus) < 2):
            _cache[name] = tf.distribute.get_strategy()
        else:
            devices = gpus or [d.name for d in tf.config.list_logical_devices("CPU")]
            _cache[name] = tf.distribute.MirroredStrategy(devices)
            log.info("MirroredStrategy over %s", ", ".join(devices))
    return _cache[name]


def replicas() -> int:
    return int(current().num_replicas_in_sync)


def scaled(stage_cfg: T, n: int | None = None) -> T:
    """A stage's schedule with the global batch and learning rate for n replicas."""
    n = replicas() if n is None else n
    if n <= 1:
        return stage_cfg
    batch, lr = stage_cfg.batch_size, stage_cfg.learning_rate
    return dataclasses.replace(stage_cfg, batch_size=batch * n, learning_rate=lr * math.sqrt(n))


def record(stage_dir: Path, batch_size: int, learning_rate: float) -> None:
    """Write the stage's strategy, replicas, global batch and learning rate beside its checkpoints."""
    n = replicas()
    info = {"strategy": chosen(), "replicas": n, "global_batch": batch_size, "learning_rate": learning_rate}
    stage_dir.mkdir(parents=True, exist_ok=True)
    (stage_dir / "strategy.json").write_text(json.dumps(info))
    if n > 1:
        log.info("%s: %d replicas, global batch %d, learning rate %.3g", stage_dir.name, n, batch_size, learning_rate)
