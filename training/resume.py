"""Exact resume of a killed stage: what `BackupAndRestore` does not save.

Keras' backup holds the weights, the optimizer and the epoch, but a resumed
run also needs (1) the augmentation generator's random state and sample
order, Python's `random` state (Keras shuffles the batch order with it) and
the dropout layers' seed states (Keras variables `save_weights` leaves out),
or epochs after the resume see other batches and masks than an uninterrupted
run would, and (2) the best score `ModelCheckpoint` has seen, or the first epoch after a
resume overwrites `best.keras` even when it is worse. They are written beside
the backup at every epoch end and restored when the backup's epoch matches; a mismatch (killed between the two writes) resumes as before, just
not bit-exactly. This is what lets a fold moved to another Celery worker give
the numbers the uninterrupted fold gives (README "Training on several workers").
Exact on one device: under MirroredStrategy Keras's prefetching iterator draws
the next epoch's batch order before the epoch ends, so a resumed multi-GPU
stage continues correctly but may see another batch order (not verified bit-exact).
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path
from typing import Any

import keras
import numpy as np

log = logging.getLogger(__name__)


def _seed_states(model: keras.Model) -> list:
    """The state variables of the model's random layers (dropout), in layer order."""
    return [v for v in model.variables if v.name == "seed_generator_state"]


def _backup_epoch(backup_dir: Path) -> int | None:
    path = backup_dir / "training_metadata.json"
    try:
        return int(json.loads(path.read_text())["epoch"])
    except (OSError, ValueError, KeyError):
        return None


class ResumeState(keras.callbacks.Callback):
    """Saves / restores the batch generator's RNG + order and the checkpoint's best score.

    Put it after `BackupAndRestore` in the callback list: its `on_train_begin`
    reads the epoch the backup restored, and its `on_epoch_end` writes after the
    backup did.
    """

    def __init__(self, backup_dir: Path, batches: Any, checkpoint: keras.callbacks.ModelCheckpoint):
        super().__init__()
        self.backup_dir, self.batches, self.checkpoint = Path(backup_dir), batches, checkpoint
        self.path = self.backup_dir / "resume_state.json"

    def _generator(self) -> np.random.Generator | None:
        rng = getattr(self.batches, "rng", None)
        return rng if isinstance(rng, np.random.Generator) else None

    def on_train_begin(self, logs=None):
        epoch = _backup_epoch(self.backup_dir)
        if epoch is None or not self.path.exists():
            return
        try:
            state = json.loads(self.path.read_text())
        except (OSError, ValueError):
            state = {}
        if state.get("epoch") != epoch:
            log.warning("resume state is for epoch %s, backup for %s: resuming without it", state.get("epoch"), epoch)
            return
        rng = self._generator()
        if rng is not None and state.get("rng") is not None:
            rng.bit_generator.state = state["rng"]
        if state.get("order") is not None and hasattr(self.batches, "order"):
            self.batches.order = np.asarray(state["order"], dtype=np.asarray(self.batches.order).dtype)
        if state.get("py_random") is not None:
            version, internal, gauss = state["py_random"]
            random.setstate((version, tuple(internal), gauss))
        seeds = _seed_states(self.model)
        if state.get("seeds") is not None and len(state["seeds"]) == len(seeds):
            for variable, value in zip(seeds, state["seeds"]):
                variable.assign(np.asarray(value, dtype=variable.dtype))
        if state.get("best") is not None:
            self.checkpoint.best = float(state["best"])
        log.info("resumed at epoch %d with the generator state and best score %s", epoch, state.get("best"))

    def on_epoch_end(self, epoch, logs=None):
        rng = self._generator()
        order = getattr(self.batches, "order", None)
        best = getattr(self.checkpoint, "best", None)
        state = {
            "epoch": epoch + 1,  # BackupAndRestore's numbering: the next epoch to run
            "rng": rng.bit_generator.state if rng is not None else None,
            "order": np.asarray(order).tolist() if order is not None else None,
            "py_random": random.getstate(),
            "seeds": [np.asarray(v).tolist() for v in _seed_states(self.model)],
            "best": float(best) if best is not None and np.isfinite(best) else None,
        }
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(self.path)
