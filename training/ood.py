"""Fit a bundle's out-of-distribution fingerprint and measure how often the guard fires.

`fit_fingerprint_on` is what `training.run.train_bundle` calls (training images
at work resolution + the trained U-Net's encoder features); `training_cases`
rebuilds a finished bundle's training / held-out split from its card so older
bundles can get a fingerprint afterwards (`python -m training ood`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from pipeline.ood import Fingerprint, encoder_features, encoder_input, source_of
from pipeline.types import Case

if TYPE_CHECKING:
    from pipeline.card import BundleCard

log = logging.getLogger(__name__)


def describe_training_data(dataset_spec: str, cases: Sequence[Case]) -> str:
    """'breast ultrasound from 4 scanners (BUS-BRA)': the words the warning starts with."""
    scheme = dataset_spec.split(":", 1)[0]
    name = {"busbra": "BUS-BRA", "breast-lesions-usg": "BrEaST-Lesions-USG", "busi": "BUSI",
            "synthetic": "the synthetic demo cohort", "manifest": "a local manifest"}.get(scheme, scheme)
    devices = {str(c.metadata.get("device")) for c in cases if c.metadata.get("device")}
    kind = "synthetic breast ultrasound" if scheme == "synthetic" else "breast ultrasound"
    if len(devices) > 1 and scheme != "synthetic":
        return f"{kind} from {len(devices)} scanners ({name})"
    return f"{kind} ({name})"


def features_of(unet, works: Sequence[np.ndarray], seg_size: int, batch: int = 32) -> np.ndarray:
    """Encoder features of work-resolution grey images, in batches."""
    out = []
    for i in range(0, len(works), batch):
        out.append(encoder_features(unet, np.stack([encoder_input(w, seg_size) for w in works[i:i + batch]])))
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def fit_fingerprint_on(train_arrays, unet, *, seg_size: int, work_max_side: int, dataset_spec: str,
                       member: int = 0) -> Fingerprint:
    """The fingerprint of the training images (`training.data.CaseArrays` at work resolution)."""
    works = [a.image for a in train_arrays]
    shapes = [(round(a.image.shape[0] / a.scale), round(a.image.shape[1] / a.scale)) for a in train_arrays]
    sources = [{"spacing_mm": a.case.metadata.get("spacing_mm")} for a in train_arrays]
    fingerprint = Fingerprint.fit(
        works, shapes=shapes, sources=sources, features=features_of(unet, works, seg_size),
        trained_on=describe_training_data(dataset_spec, [a.case for a in train_arrays]),
        max_side=work_max_side, feature_source=f"segmentation U-Net of member {member}, pooled bottleneck")
    log.info("OOD fingerprint: %d training images, statistics threshold %.2f, feature threshold %.2f",
             fingerprint.n_images, fingerprint.stats_threshold, fingerprint.features_threshold)
    return fingerprint


def training_cases(card: BundleCard, bundle_dir: Path) -> tuple[list[Case], list[Case], list[Case]]:
    """(train, validation, test) cases of a bundle, rebuilt from its card as `train` / `cv` split them."""
    from pipeline import splits
    from pipeline.datasets import load_cases
    from pipeline.splits import case_lists, inner_split

    training = card.training
    cfg, split = training.config, training.split
    seed, val_fraction = int(cfg.get("seed", 0)), float(cfg.get("val_fraction", 0.15))
    if not training.dataset:
        raise ValueError(f"bundle {card.name} does not record its training data (bundle.json 'training.dataset')")
    cases = load_cases(training.dataset)
    test: list[Case] = []
    if split.kind == "cv-ensemble":
        raise ValueError("an ensemble's card does not say which patients each fold trained on: run "
                         "`python -m training ood --write-card` on its first fold's bundle, then rebuild the ensemble")
    if split.kind == "cv":
        folds_file = Path(bundle_dir).parent / "folds.json"
        if not folds_file.exists():
            raise FileNotFoundError(f"{folds_file}: the CV run's fold assignment is needed to rebuild fold {split.fold}")
        folds = json.loads(folds_file.read_text())
        test = [c for c in cases if folds.get(c.case_id) == split.fold]
        rest = [c for c in cases if folds.get(c.case_id) != split.fold]
        train, val = inner_split(rest, val_fraction, seed)
        return train, val, test
    holdout_fold, test_fraction = split.extra.get("holdout_fold"), float(split.extra.get("test_fraction") or 0)
    if holdout_fold:
        test = [c for c in cases if c.fold == holdout_fold]
        cases = [c for c in cases if c.fold != holdout_fold]
    elif test_fraction > 0:
        s = splits.train_val_test_split(cases, val_fraction=0.0, test_fraction=test_fraction, seed=seed)
        cases, test = case_lists(cases, (s.train, s.test))
    s = splits.train_val_test_split(cases, val_fraction=val_fraction, test_fraction=0.0, seed=seed)
    train, val = case_lists(cases, s)
    if training.n_train is not None and len(train) != training.n_train:
        log.warning("rebuilt training split has %d cases, the card says %d", len(train), training.n_train)
    return train, val, test


def score_record(fingerprint: Fingerprint, unet, record, *, work_max_side: int, seg_size: int):
    """Score one `ImageRecord` exactly as the predictor will (work image + its encoder features)."""
    from pipeline.ood.stats import shrink

    work = shrink(record.display, work_max_side)
    features = features_of(unet, [work], seg_size)[0] if fingerprint.features is not None else None
    return fingerprint.score(work, features, source_of(record), shape=record.display.shape)
