"""The records that flow through the pipeline: image in, case, prediction out."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

LABELS = ("benign", "malignant", "normal")


@dataclass
class ImageRecord:
    """One decoded image, independent of its file format.

    `pixels` keep the modality's own units (e.g. Hounsfield units after the
    modality LUT) so models can normalise consistently; `display` is what a
    browser shows after windowing. `metadata` holds only non-identifying fields
    (age, sex, manufacturer, study_date, body_part, view).
    """

    pixels: np.ndarray  # float32, H x W
    display: np.ndarray  # uint8, H x W
    spacing_mm: tuple[float, float] | None = None  # (row, col)
    modality: str | None = None
    source_format: str = "png"
    frames: int = 1
    metadata: dict[str, Any] = field(default_factory=dict)
    sha256: str = ""

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.pixels.shape[0]), int(self.pixels.shape[1])


@dataclass
class Case:
    """One image of one patient with its ground truth, as a dataset describes it.

    `mask_paths` may hold several files for one image (merged by union when
    loaded); it is empty for normal images. `patient_id` drives every split so
    two views of one lesion never land on both sides of a split.
    """

    case_id: str
    patient_id: str
    image_path: Path
    label: str  # one of LABELS
    mask_paths: tuple[Path, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    dataset: str = ""
    fold: int | None = None  # official fold where the source defines one (1-based)

    @property
    def mask_path(self) -> Path | None:
        return self.mask_paths[0] if self.mask_paths else None


@dataclass
class Prediction:
    """What the model says about one image, at the image's own resolution."""

    label: str
    probability: float  # calibrated P(malignant)
    uncertainty: float  # spread of ensemble members / test-time flips, 0..0.5
    mask: np.ndarray  # bool, H x W of the original image
    probability_map: np.ndarray  # float32, H x W of the original image
    box: tuple[int, int, int, int] | None  # (row0, col0, row1, col1), exclusive end
    area_px: int
    area_mm2: float | None
    lesion_found: bool
    model_name: str
    model_version: str
    timings_ms: dict[str, float] = field(default_factory=dict)
    fused: bool = False
    contributions: dict[str, float] = field(default_factory=dict)  # log-odds per input when fused
    image_probability: float | None = None  # the image model's own P(malignant) when `probability` is fused
    lesion_probability: float | None = None  # P(a lesion is present); below the bundle's threshold: "no lesion found"
    cnn_logit: float | None = None  # the classifier's raw mean logit (before calibration): input of stacked models
    lexicon: dict[str, Any] = field(default_factory=dict)  # BI-RADS words + sentence of the mask (pipeline.descriptors)
    # with a stacked CNN + descriptor model (pipeline.stacking_apply): the CNN's own calibrated probability, and
    # the exact log-odds each input ("cnn", each descriptor feature) added to `probability`; empty without one
    cnn_probability: float | None = None
    reasons: dict[str, float] = field(default_factory=dict)
    out_of_distribution: bool = False  # the image is unlike the bundle's training images (pipeline.ood)
    ood_score: float | None = None  # >= 1 flagged (1 = 99th percentile of the training images); None: no fingerprint
    ood_reasons: tuple[str, ...] = ()  # plain words, e.g. "colour image (40% of pixels coloured)"
    ood_trained_on: str | None = None  # e.g. "breast ultrasound from 4 scanners (BUS-BRA)": the warning's first words

    def summary(self) -> dict[str, Any]:
        """JSON-ready fields (no arrays): used by the API, the CLI and the case store."""
        return {
            "label": self.label,
            "probability": round(float(self.probability), 4),
            "uncertainty": round(float(self.uncertainty), 4),
            "lesion_found": bool(self.lesion_found),
            "box": list(self.box) if self.box else None,
            "area_px": int(self.area_px),
            "area_mm2": None if self.area_mm2 is None else round(float(self.area_mm2), 2),
            "model": {"name": self.model_name, "version": self.model_version},
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
            "fused": self.fused,
            "contributions": {k: round(float(v), 4) for k, v in self.contributions.items()},
            "contributions_unit": "log-odds" if self.fused else None,
            "image_probability": None if self.image_probability is None else round(float(self.image_probability), 4),
            "lesion_probability": None if self.lesion_probability is None else round(float(self.lesion_probability), 4),
            "lexicon": dict(self.lexicon),
            "cnn_logit": None if self.cnn_logit is None else round(float(self.cnn_logit), 4),
            "stacked": bool(self.reasons),
            "cnn_probability": None if self.cnn_probability is None else round(float(self.cnn_probability), 4),
            "reasons": {k: round(float(v), 4) for k, v in self.reasons.items()},
            "reasons_unit": "log-odds" if self.reasons else None,
            "out_of_distribution": bool(self.out_of_distribution),
            "ood_score": None if self.ood_score is None else round(float(self.ood_score), 3),
            "ood_reasons": list(self.ood_reasons),
            "ood_trained_on": self.ood_trained_on,
        }
