"""One complete training run: fit both models, calibrate, write a bundle.

Shared by `train` (all data but a validation split), `cv` (one call per fold)
and `tune` (one call per trial and fold), so every number the project reports
comes from the same procedure.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.bundle import training_sources, write_bundle_card
from pipeline.card import BundleCard, Member, Metrics, Preprocessing, Split, Thresholds, Training
from pipeline.predictor import InferenceSettings, Predictor
from pipeline.types import Case
from pipeline.calibration import Calibration, fit_platt
from pipeline.crops import crop_box, lesion_free_box
from pipeline.metrics.classification import CARD_THRESHOLD_LIMITS, youden_threshold
from pipeline.presence import PresenceModel, fit_presence, presence_features
from pipeline.refine import resize_map
from training.adapt import adapt_to_dataset
from training.config import TrainConfig
from training.data import load_arrays
from training.fit import fit_classifier, fit_refiner, fit_segmentation, stage_minutes

log = logging.getLogger(__name__)


@dataclass
class TrainedRun:
    predictor: Predictor
    bundle_dir: Path
    card: BundleCard


def preprocessing_for(cfg: TrainConfig) -> Preprocessing:
    """The preprocessing this recipe trains with, as the card records it (training/batches.py and
    training/data.py run the same steps: Lanczos downscale, per-image z-score, letterbox)."""
    return Preprocessing(
        work_max_side=cfg.work_max_side,
        seg_input_size=cfg.seg.model.input_size,
        cls_input_size=cfg.cls.model.input_size,
        margin=cfg.cls.margin,
        detail_max_side=cfg.detail_max_side,
        refine_input_size=cfg.refine.model.input_size if cfg.refine.enabled else 0,
        refine_margin=cfg.refine.margin,
    )


def inference_card(cfg: TrainConfig, has_normal: bool, threshold: float = 0.5,
                   calibration: Calibration = Calibration(), presence: PresenceModel | None = None) -> BundleCard:
    """The part of this run's card that the predictor reads (preprocessing, thresholds, calibration,
    test-time augmentation, presence); the run's bundle card is this one plus its name, members and record."""
    return BundleCard(
        name="",
        version="",
        preprocessing=preprocessing_for(cfg),
        has_normal=has_normal,
        thresholds=Thresholds(malignant=threshold, segmentation=0.5, min_lesion_fraction=cfg.min_lesion_fraction),
        calibration=calibration,
        tta_flip=cfg.tta_flip,
        tta_views=cfg.tta_views,
        presence=presence,
        members=(),
    )


def settings_for(cfg: TrainConfig, has_normal: bool, threshold: float = 0.5,
                 calibration: Calibration = Calibration(), presence: PresenceModel | None = None) -> InferenceSettings:
    """The predictor's settings while training: read from the card through `InferenceSettings.from_card`,
    as serving reads the bundle, so validation during training runs exactly what the bundle will run."""
    return InferenceSettings.from_card(inference_card(cfg, has_normal, threshold, calibration, presence))


def fit_presence_on(seg_only: Predictor, val, cfg: TrainConfig) -> PresenceModel | None:
    """Lesion presence from the validation patients: their scans (positives) and lesion-free strips
    of the same scans (negatives); None when the validation set has no lesion-free region at all."""
    positives, negatives = [], []
    threshold = seg_only.settings.thresholds.segmentation
    for v in val:
        features = presence_features(seg_only.segment_work(v.image), threshold)
        (positives if v.mask.any() else negatives).append(features)
        free = lesion_free_box(v.mask) if v.mask.any() else None
        if free is not None:
            negatives.append(presence_features(seg_only.segment_work(crop_box(v.image, free)), threshold))
    if not negatives or not positives:
        return None
    model = fit_presence(positives, negatives, cfg.presence_max_missed,
                         fitted_on=f"validation patients: {len(positives)} lesion images, {len(negatives)} lesion-free inputs")
    found = np.mean([model.probability(f) >= model.threshold for f in negatives])
    log.info("lesion presence: threshold %.3f, %.1f%% of %d validation lesion-free inputs answered 'no lesion'",
             model.threshold, 100 * (1 - found), len(negatives))
    return model


def train_bundle(
    train_cases: list[Case],
    val_cases: list[Case],
    cfg: TrainConfig,
    out_dir: Path,
    *,
    name: str,
    dataset_spec: str,
    split: dict[str, Any],
) -> TrainedRun:
    """Fit, calibrate on validation (predicted masks), save bundle to out_dir."""
    out_dir = Path(out_dir)
    work_dir = out_dir / "work"
    started = time.time()
    cfg, adaptation = adapt_to_dataset(cfg, len(train_cases))
    if adaptation.get("changes"):
        log.info("recipe adapted to %d training images: %s", len(train_cases), adaptation["changes"])
    arrays = load_arrays(train_cases + val_cases, cfg.work_max_side)
    train, val = arrays[: len(train_cases)], arrays[len(train_cases) :]
    detail = load_arrays(train_cases + val_cases, cfg.detail_max_side) if cfg.detail_max_side else arrays
    train_d, val_d = detail[: len(train_cases)], detail[len(train_cases) :]
    log.info("training on %d images, validating on %d", len(train), len(val))
    seg = fit_segmentation(train, val, cfg, work_dir)
    from training.ood import fit_fingerprint_on

    fingerprint = fit_fingerprint_on(train, seg, seg_size=cfg.seg.model.input_size, work_max_side=cfg.work_max_side,
                                     dataset_spec=dataset_spec)  # the OOD guard's picture of the training images
    has_normal = any(c.label == "normal" for c in train_cases)

    from pipeline.models import build_classifier

    placeholder = build_classifier(cfg.cls.model)
    coarse = Predictor.from_models([seg], [placeholder], settings_for(cfg, has_normal).without_refinement())
    refiners = []
    if cfg.refine.enabled and cfg.detail_max_side:
        coarse_maps = [coarse.segment_work(v.image) for v in val]
        windows = [coarse.window_for(d.image.shape, coarse.lesion_mask(m)[0]) for d, m in zip(val_d, coarse_maps)]
        priors = [resize_map(m, d.image.shape) for d, m in zip(val_d, coarse_maps)]
        refiners = [fit_refiner(train_d, val_d, windows, priors, cfg, work_dir)]
    seg_only = Predictor.from_models([seg], [placeholder], settings_for(cfg, has_normal), refine_models=refiners)
    presence = fit_presence_on(seg_only, val, cfg)
    analyses = [seg_only.analyse_arrays(v.image, d.image if cfg.detail_max_side else None) for v, d in zip(val, val_d)]
    val_masks = [a.mask for a in analyses]
    cls = fit_classifier(train_d, val_d, val_masks, cfg, work_dir)

    raw = Predictor.from_models([seg], [cls], settings_for(cfg, has_normal), refine_models=refiners)
    labelled = [i for i, v in enumerate(val) if v.case.label in ("benign", "malignant")]
    logits = np.array([raw.region_logits(analyses[i].image, val_masks[i]).mean() for i in labelled])
    y = np.array([val[i].malignant for i in labelled])
    calibration = fit_platt(logits, y, fitted_on="validation patients, predicted masks")
    calibrated = calibration.probability(logits)
    threshold = youden_threshold(y, calibrated, fallback=0.5, limits=CARD_THRESHOLD_LIMITS)
    log.info("calibration: scale=%.3f bias=%.3f, threshold=%.3f (Youden on validation)",
             calibration.scale, calibration.bias, threshold)

    member_dir = out_dir / "members" / "0"
    member_dir.mkdir(parents=True, exist_ok=True)
    seg.save(member_dir / "seg.keras")
    cls.save(member_dir / "cls.keras")
    member = Member(seg="members/0/seg.keras", cls="members/0/cls.keras")
    if refiners:
        refiners[0].save(member_dir / "refine.keras")
        member = replace(member, refine="members/0/refine.keras")
    card = replace(
        inference_card(cfg, has_normal, threshold, calibration, presence),
        name=name,
        version=time.strftime("%Y%m%d-%H%M%S"),
        label_map={"0": "benign", "1": "malignant"},
        ood=fingerprint.to_card(),
        members=(member,),
        models={"segmentation": cfg.seg.model.to_dict(), "classifier": cfg.cls.model.to_dict(),
                **({"refinement": cfg.refine.model.to_dict()} if refiners else {})},
        training=Training(
            dataset=dataset_spec,
            split=Split.from_json(split),
            n_train=len(train_cases),
            n_val=len(val_cases),
            config=cfg.to_dict(),
            adaptation=adaptation,
            seed=cfg.seed,
            epochs={"segmentation": cfg.seg.epochs, "refinement": cfg.refine.epochs if refiners else 0,
                    "classifier": cfg.cls.epochs},
            minutes={
                "segmentation": round(stage_minutes(work_dir / "seg"), 1),
                "refinement": round(stage_minutes(work_dir / "refine"), 1),
                "classifier": round(stage_minutes(work_dir / "cls"), 1),
                "this_run": round((time.time() - started) / 60, 1),
            },
        ),
        metrics=Metrics(),
        data_sources=training_sources(dataset_spec, (cfg.seg.init_weights, cfg.refine.init_weights,
                                                     cfg.cls.init_weights)),
    )
    card = write_bundle_card(out_dir, card)
    (out_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    predictor = Predictor.from_models([seg], [cls], settings_for(cfg, has_normal, threshold, calibration, presence), card,
                                      refine_models=refiners)
    return TrainedRun(predictor, out_dir, card)
