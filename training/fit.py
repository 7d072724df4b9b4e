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

from pipeline.models import ClassifierSpec, UNetSpec, build_classifier, build_unet
from pipeline.models.losses import hard_dice, make_seg_loss
from training.batches import RegionBatches, SegBatches
from training.config import TrainConfig
from training.data import CaseArrays

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


def fit_segmentation(train: list[CaseArrays], val: list[CaseArrays], cfg: TrainConfig, run_dir: Path) -> keras.Model:
    stage_dir = run_dir / "seg"
    final = stage_dir / "final.keras"
    if final.exists():
        log.info("segmentation already trained: %s", final)
        return keras.saving.load_model(final, compile=False)
    stage_dir.mkdir(parents=True, exist_ok=True)
    sc = cfg.seg
    keras.utils.set_random_seed(cfg.seed)
    model = build_unet(UNetSpec(**vars(sc.model)))
    _load_init(model, sc.init_weights)
    size = sc.model.input_size
    train_batches = SegBatches(train, size, sc.batch_size, sc.augment, seed=cfg.seed)
    val_batches = SegBatches(val, size, sc.batch_size, None, seed=cfg.seed)
    model.compile(
        optimizer=_optimizer(sc.learning_rate, sc.weight_decay, sc.epochs * len(train_batches)),
        loss=make_seg_loss(sc.bce_weight, sc.focal),
        metrics=[hard_dice],
    )
    best = stage_dir / "best.keras"
    model.fit(
        train_batches,
        validation_data=val_batches,
        epochs=sc.epochs,
        verbose=0,
        callbacks=[
            keras.callbacks.BackupAndRestore(str(stage_dir / "backup")),
            keras.callbacks.ModelCheckpoint(str(best), monitor="val_hard_dice", mode="max", save_best_only=True),
            EpochLog("segmentation", sc.epochs),
        ],
    )
    best_model = keras.saving.load_model(best, compile=False)
    best_model.save(final)
    return best_model


def fit_classifier(
    train: list[CaseArrays], val: list[CaseArrays], val_masks: list[np.ndarray], cfg: TrainConfig, run_dir: Path
) -> keras.Model:
    """Train on jittered expert masks; select on the segmenter's own masks."""
    stage_dir = run_dir / "cls"
    final = stage_dir / "final.keras"
    if final.exists():
        log.info("classifier already trained: %s", final)
        return keras.saving.load_model(final, compile=False)
    stage_dir.mkdir(parents=True, exist_ok=True)
    cc = cfg.cls
    keras.utils.set_random_seed(cfg.seed + 1)
    model = build_classifier(ClassifierSpec(**vars(cc.model)))
    _load_init(model, cc.init_weights)
    train = [t for t in train if t.case.label in ("benign", "malignant")]
    keep = [i for i, v in enumerate(val) if v.case.label in ("benign", "malignant")]
    val, val_masks = [val[i] for i in keep], [val_masks[i] for i in keep]
    size = cc.model.input_size
    train_batches = RegionBatches(train, size, cc.batch_size, cc.margin, cc.augment, cc.mask_jitter, seed=cfg.seed)
    val_batches = RegionBatches(val, size, cc.batch_size, cc.margin, masks=val_masks)
    positives = sum(t.malignant for t in train)
    weight = {0: len(train) / max(2 * (len(train) - positives), 1), 1: len(train) / max(2 * positives, 1)}
    model.compile(
        optimizer=_optimizer(cc.learning_rate, cc.weight_decay, cc.epochs * len(train_batches)),
        loss=keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.05),
        metrics=[keras.metrics.AUC(from_logits=True, name="auc")],
    )
    best = stage_dir / "best.keras"
    model.fit(
        train_batches,
        validation_data=val_batches,
        epochs=cc.epochs,
        verbose=0,
        class_weight=weight,
        callbacks=[
            keras.callbacks.BackupAndRestore(str(stage_dir / "backup")),
            keras.callbacks.ModelCheckpoint(str(best), monitor="val_auc", mode="max", save_best_only=True),
            EpochLog("classifier", cc.epochs),
        ],
    )
    best_model = keras.saving.load_model(best, compile=False)
    best_model.save(final)
    return best_model
