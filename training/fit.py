"""Fit the two models of a bundle: segmentation, then the region classifier.

Each stage checkpoints every epoch (keras BackupAndRestore) and keeps its best
weights by validation score, so a killed run resumes where it stopped and a
finished stage is never retrained.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import keras
import numpy as np

from pipeline.models import build_classifier, build_unet
from pipeline.models.losses import hard_dice, make_boundary_loss, make_seg_loss, mask_hard_dice
from training.batches import RefineBatches, RegionBatches, SegBatches
from training.config import TrainConfig
from training.data import CaseArrays
from training.resume import ResumeState
from training.strategy import current as current_strategy, record as record_strategy, scaled

log = logging.getLogger(__name__)


class EpochLog(keras.callbacks.Callback):
    """One readable line per epoch with elapsed time and ETA."""

    def __init__(self, stage: str, epochs: int):
        super().__init__()
        self.stage, self.epochs = stage, epochs

    def on_train_begin(self, logs=None):
        self.start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        elapsed = time.time() - self.start
        done = epoch + 1
        eta = elapsed / max(done - getattr(self, "_first", 0), 1) * (self.epochs - done)
        items = " ".join(f"{k}={v:.4f}" for k, v in (logs or {}).items() if k != "learning_rate")
        log.info("%s epoch %d/%d %s elapsed=%.0fs eta=%.0fs", self.stage, done, self.epochs, items, elapsed, eta)

    def on_epoch_begin(self, epoch, logs=None):
        if not hasattr(self, "_first"):
            self._first = epoch


class StageClock(keras.callbacks.Callback):
    """Wall-clock minutes of a stage, summed over resumed runs (kept beside its checkpoints)."""

    def __init__(self, path: Path):
        super().__init__()
        self.path = path

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        spent = stage_minutes(self.path.parent) + (time.time() - self.start) / 60
        self.path.write_text(f"{spent:.3f}")


def stage_minutes(stage_dir: Path) -> float:
    path = stage_dir / "minutes.json"
    return float(path.read_text()) if path.exists() else 0.0


def _optimizer(lr: float, weight_decay: float, steps: int) -> keras.optimizers.Optimizer:
    schedule = keras.optimizers.schedules.CosineDecay(lr * 0.1, steps, alpha=0.02, warmup_target=lr, warmup_steps=max(steps // 20, 1))
    return keras.optimizers.AdamW(learning_rate=schedule, weight_decay=weight_decay, clipnorm=1.0)


def _load_init(model: keras.Model, path: str | None) -> None:
    """Transfer learning: copy weights layer by layer where shapes match."""
    if not path:
        return
    source = keras.saving.load_model(path, compile=False)
    copied = 0
    for dst, src in zip(model.layers, source.layers):
        sw, dw = src.get_weights(), dst.get_weights()
        if sw and len(sw) == len(dw) and all(a.shape == b.shape for a, b in zip(sw, dw)):
            dst.set_weights(sw)
            copied += 1
    log.info("initialised %d layers from %s", copied, path)


def _builder(build_model, stage_cfg):
    """`build()` for _fit_stage: the stage's model (`build_model(stage_cfg.model)`), started from the
    stage's `init_weights` when it has them."""

    def build() -> keras.Model:
        model = build_model(stage_cfg.model)
        _load_init(model, stage_cfg.init_weights)
        return model

    return build


def _build_state(model: keras.Model, batches) -> None:
    """Create the optimizer's and the metrics' variables now, outside any `tf.function`.

    Why: on one device Keras defers this to the first trace of the train step, and variables
    created while tracing make TensorFlow trace the whole step a second time: the tiny test
    config's first segmentation epoch took 28.5 s, 10.1 s with this (Keras does the same itself
    under a distribution strategy). The batch only gives shapes; a validation batch is used so
    the training batches' augmentation stream stays as it was.
    """
    if getattr(model, "_distribute_strategy", None) is None and hasattr(model, "_symbolic_build"):
        model._symbolic_build(data_batch=batches[0])


def _fit_stage(stage: str, run_dir: Path, build, train_batches, val_batches, *, loss, metric, monitor: str,
               epochs: int, lr: float, weight_decay: float, class_weight=None) -> keras.Model:
    """Compile, fit with per-epoch backup, keep the best epoch by `monitor`.

    A finished stage (final.keras) is loaded, not retrained; an interrupted
    one resumes from its backup at the last completed epoch.
    """
    stage_dir = run_dir / stage
    final = stage_dir / "final.keras"
    if final.exists():
        log.info("%s already trained: %s", stage, final)
        return keras.saving.load_model(final, compile=False)
    stage_dir.mkdir(parents=True, exist_ok=True)
    clock = StageClock(stage_dir / "minutes.json")
    record_strategy(stage_dir, train_batches.batch_size, lr)
    with current_strategy().scope():  # training.strategy: one device, or mirrored over several
        model = build()
        model.compile(optimizer=_optimizer(lr, weight_decay, epochs * len(train_batches)), loss=loss, metrics=[metric])
        _build_state(model, val_batches if len(val_batches) else train_batches)
    best = stage_dir / "best.keras"
    checkpoint = keras.callbacks.ModelCheckpoint(str(best), monitor=monitor, mode="max", save_best_only=True)
    model.fit(
        train_batches,
        validation_data=val_batches,
        epochs=epochs,
        verbose=0,
        class_weight=class_weight,
        callbacks=[
            # double: a worker killed while writing the backup resumes from the previous epoch's
            keras.callbacks.BackupAndRestore(str(stage_dir / "backup"), double_checkpoint=True),
            checkpoint,
            ResumeState(stage_dir / "backup", train_batches, checkpoint),  # after the backup: see training.resume
            EpochLog(stage, epochs),
            clock,
        ],
    )
    best_model = keras.saving.load_model(best, compile=False)
    best_model.save(final)
    return best_model


def fit_segmentation(train: list[CaseArrays], val: list[CaseArrays], cfg: TrainConfig, run_dir: Path) -> keras.Model:
    sc = scaled(cfg.seg)  # per-replica batch -> global batch (training.strategy)
    keras.utils.set_random_seed(cfg.seed)

    size = sc.model.input_size
    return _fit_stage(
        "seg", run_dir, _builder(build_unet, sc),
        SegBatches(train, size, sc.batch_size, sc.augment, seed=cfg.seed,
                   negative_fraction=sc.negative_fraction, positive_crop_prob=sc.positive_crop_prob),
        SegBatches(val, size, sc.batch_size, None, seed=cfg.seed),
        loss=make_seg_loss(sc.bce_weight, sc.focal), metric=hard_dice, monitor="val_hard_dice",
        epochs=sc.epochs, lr=sc.learning_rate, weight_decay=sc.weight_decay,
    )


def fit_refiner(train: list[CaseArrays], val: list[CaseArrays], val_windows, val_priors, cfg: TrainConfig,
                run_dir: Path) -> keras.Model:
    """The border stage, on detail-resolution arrays; selected on the coarse stage's own windows."""
    rc = scaled(cfg.refine)
    keras.utils.set_random_seed(cfg.seed + 2)

    size = rc.model.input_size
    return _fit_stage(
        "refine", run_dir, _builder(build_unet, rc),
        RefineBatches(train, size, rc.batch_size, rc.margin, rc.border_weight, rc.augment, seed=cfg.seed),
        RefineBatches(val, size, rc.batch_size, rc.margin, rc.border_weight, windows=val_windows, priors=val_priors),
        loss=make_boundary_loss(rc.bce_weight), metric=mask_hard_dice, monitor="val_mask_hard_dice",
        epochs=rc.epochs, lr=rc.learning_rate, weight_decay=rc.weight_decay,
    )


def fit_classifier(
    train: list[CaseArrays], val: list[CaseArrays], val_masks: list[np.ndarray], cfg: TrainConfig, run_dir: Path
) -> keras.Model:
    """Train on jittered expert masks; select on the segmenter's own masks."""
    cc = scaled(cfg.cls)
    keras.utils.set_random_seed(cfg.seed + 1)
    train = [t for t in train if t.case.label in ("benign", "malignant")]
    keep = [i for i, v in enumerate(val) if v.case.label in ("benign", "malignant")]
    val, val_masks = [val[i] for i in keep], [val_masks[i] for i in keep]
    positives = sum(t.malignant for t in train)
    weight = {0: len(train) / max(2 * (len(train) - positives), 1), 1: len(train) / max(2 * positives, 1)}

    size = cc.model.input_size
    # jitter_mask works in pixels: scale it with the classifier image's resolution (detail or work)
    jitter = cc.mask_jitter * (max(cfg.detail_max_side, cfg.work_max_side) / cfg.work_max_side if cfg.detail_max_side else 1.0)
    return _fit_stage(
        "cls", run_dir, _builder(build_classifier, cc),
        RegionBatches(train, size, cc.batch_size, cc.margin, cc.augment, jitter, seed=cfg.seed),
        RegionBatches(val, size, cc.batch_size, cc.margin, masks=val_masks),
        loss=keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.05),
        metric=keras.metrics.AUC(from_logits=True, name="auc"), monitor="val_auc",
        epochs=cc.epochs, lr=cc.learning_rate, weight_decay=cc.weight_decay, class_weight=weight,
    )
