"""One complete training run: fit both models, calibrate, write a bundle.

Shared by `train` (all data but a validation split), `cv` (one call per fold)
and `tune` (one call per trial and fold), so every number the project reports
comes from the same procedure.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.bundle import write_bundle_card
from pipeline.predictor import InferenceSettings, Predictor
from pipeline.types import Case
from pipeline.calibration import Calibration, fit_platt
from training.calibration import youden_threshold
from training.config import TrainConfig
from training.data import load_arrays
from training.fit import fit_classifier, fit_segmentation, stage_minutes

log = logging.getLogger(__name__)


@dataclass
class TrainedRun:
    predictor: Predictor
    bundle_dir: Path
    card: dict[str, Any]


def settings_for(cfg: TrainConfig, has_normal: bool, threshold: float = 0.5,
                 calibration: Calibration = Calibration()) -> InferenceSettings:
    return InferenceSettings(
        work_max_side=cfg.work_max_side,
        seg_size=cfg.seg.model.input_size,
        cls_size=cfg.cls.model.input_size,
        margin=cfg.cls.margin,
        malignant_threshold=threshold,
        calibration=calibration,
        min_lesion_fraction=cfg.min_lesion_fraction,
        tta_flip=cfg.tta_flip,
        has_normal=has_normal,
    )


def preprocessing_card(cfg: TrainConfig) -> dict[str, Any]:
    return {
        "input": "display image (uint8 grayscale after DICOM windowing)",
        "work_max_side": cfg.work_max_side,
        "seg_input_size": cfg.seg.model.input_size,
        "cls_input_size": cfg.cls.model.input_size,
        "margin": cfg.cls.margin,
        "normalisation": "per-image standardisation (zero mean, unit variance)",
        "resize": "letterbox: keep aspect, pad bottom/right with 0 after standardisation",
    }


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
    arrays = load_arrays(train_cases + val_cases, cfg.work_max_side)
    train, val = arrays[: len(train_cases)], arrays[len(train_cases) :]
    log.info("training on %d images, validating on %d", len(train), len(val))
    seg = fit_segmentation(train, val, cfg, work_dir)
    has_normal = any(c.label == "normal" for c in train_cases)

    from pipeline.models import build_classifier

    placeholder = build_classifier(cfg.cls.model)
    seg_only = Predictor.from_models([seg], [placeholder], settings_for(cfg, has_normal))
    val_masks = [seg_only.lesion_mask(seg_only.segment_work(v.image))[0] for v in val]
    cls = fit_classifier(train, val, val_masks, cfg, work_dir)

    raw = Predictor.from_models([seg], [cls], settings_for(cfg, has_normal))
    labelled = [i for i, v in enumerate(val) if v.case.label in ("benign", "malignant")]
    logits = np.array([raw.region_logits(val[i].image, val_masks[i]).mean() for i in labelled])
    y = np.array([val[i].malignant for i in labelled])
    calibration = fit_platt(logits, y, fitted_on="validation patients, predicted masks")
    calibrated = calibration.probability(logits)
    threshold = youden_threshold(calibrated, y)
    log.info("calibration: scale=%.3f bias=%.3f, threshold=%.3f (Youden on validation)",
             calibration.scale, calibration.bias, threshold)

    member_dir = out_dir / "members" / "0"
    member_dir.mkdir(parents=True, exist_ok=True)
    seg.save(member_dir / "seg.keras")
    cls.save(member_dir / "cls.keras")
    card = {
        "name": name,
        "version": time.strftime("%Y%m%d-%H%M%S"),
        "preprocessing": preprocessing_card(cfg),
        "label_map": {"0": "benign", "1": "malignant"},
        "has_normal": has_normal,
        "thresholds": {"segmentation": 0.5, "malignant": threshold, "min_lesion_fraction": cfg.min_lesion_fraction},
        "calibration": calibration.to_card(),
        "tta_flip": cfg.tta_flip,
        "members": [{"seg": "members/0/seg.keras", "cls": "members/0/cls.keras"}],
        "models": {"segmentation": cfg.seg.model.to_dict(), "classifier": cfg.cls.model.to_dict()},
        "training": {
            "dataset": dataset_spec,
            "split": split,
            "n_train": len(train_cases),
            "n_val": len(val_cases),
            "config": cfg.to_dict(),
            "seed": cfg.seed,
            "epochs": {"segmentation": cfg.seg.epochs, "classifier": cfg.cls.epochs},
            "minutes": {
                "segmentation": round(stage_minutes(work_dir / "seg"), 1),
                "classifier": round(stage_minutes(work_dir / "cls"), 1),
                "this_run": round((time.time() - started) / 60, 1),
            },
        },
        "metrics": {},
    }
    write_bundle_card(out_dir, card)
    (out_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    predictor = Predictor.from_models([seg], [cls], settings_for(cfg, has_normal, threshold, calibration), card)
    return TrainedRun(predictor, out_dir, card)
