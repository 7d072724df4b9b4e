"""Fit the recipe to the dataset's size, so one default holds from ~150 images to BUS-BRA's 1,600.

Two things break on small datasets (issue 19: a 200-image set reached validation Dice 0.49 with
the defaults and 0.93 with batch-norm momentum 0.9):

* batch-norm moving statistics average over ~1/(1 - momentum) steps. At 0.99 that is 100 steps:
  1.5 epochs of BUS-BRA but 9 epochs of a 200-image set, so validation runs on statistics of
  weights long gone. The time constant is capped at three epochs' steps;
* a fixed number of epochs is far fewer optimiser steps on a small set; epochs grow with
  sqrt(reference size / size), at most 4x.

At BUS-BRA's size (the reference) both rules leave the recipe unchanged.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from training.config import TrainConfig

REFERENCE_IMAGES = 1000  # BUS-BRA has 1,093-1,356 training images per run: the recipe was tuned there
MAX_EPOCH_FACTOR = 4.0
MIN_MOMENTUM = 0.8


def bn_momentum_for(steps_per_epoch: int, configured: float) -> float:
    """Momentum whose averaging time constant is at most three epochs' steps (never above `configured`)."""
    tau = min(1.0 / max(1.0 - configured, 1e-6), 3.0 * max(steps_per_epoch, 1))
    return round(max(MIN_MOMENTUM, min(configured, 1.0 - 1.0 / tau)), 4)


def epochs_for(n_images: int, configured: int) -> int:
    factor = min(MAX_EPOCH_FACTOR, max(1.0, math.sqrt(REFERENCE_IMAGES / max(n_images, 1))))
    return int(math.ceil(configured * factor))


def adapt_to_dataset(cfg: TrainConfig, n_train: int) -> tuple[TrainConfig, dict[str, Any]]:
    """The config actually trained, and what changed (recorded in the card and printed)."""
    if not cfg.adapt:
        return cfg, {"adapted": False}
    changes: dict[str, Any] = {}
    stages = {}
    for name in ("seg", "refine", "cls"):
        stage = getattr(cfg, name)
        steps = math.ceil(n_train / stage.batch_size)
        momentum = bn_momentum_for(steps, stage.model.bn_momentum)
        epochs = epochs_for(n_train, stage.epochs)
        if momentum != stage.model.bn_momentum:
            changes[f"{name}.model.bn_momentum"] = [stage.model.bn_momentum, momentum]
        if epochs != stage.epochs:
            changes[f"{name}.epochs"] = [stage.epochs, epochs]
        stages[name] = dataclasses.replace(stage, epochs=epochs, model=dataclasses.replace(stage.model, bn_momentum=momentum))
    adapted = dataclasses.replace(cfg, **stages)
    return adapted, {"adapted": True, "n_train": n_train, "reference_images": REFERENCE_IMAGES, "changes": changes}
