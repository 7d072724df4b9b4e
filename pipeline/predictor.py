"""The Predictor: one image in, mask + diagnosis + confidence out.

Models load once per process (a gunicorn worker builds its Predictor lazily
after fork) and run through `tf.function`s with a fixed input signature —
per-image `model.predict` is several times slower on CPU. Training evaluation
uses this very class (`Predictor.from_models`), so reported metrics come from
the same code path the clinic uses.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.bundle import read_bundle_card
from pipeline.calibration import Calibration
from pipeline.errors import BundleError
from pipeline.preprocess import Letterbox, crop_region, largest_component, mask_box, standardize
from pipeline.types import ImageRecord, Prediction

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InferenceSettings:
    work_max_side: int = 256
    seg_size: int = 160
    cls_size: int = 96
    margin: float = 0.3
    seg_threshold: float = 0.5
    malignant_threshold: float = 0.5
    calibration: Calibration = Calibration()
    min_lesion_fraction: float = 0.0005
    tta_flip: bool = True
    has_normal: bool = False

    @classmethod
    def from_card(cls, card: dict[str, Any]) -> "InferenceSettings":
        pre, thr = card["preprocessing"], card["thresholds"]
        return cls(
            work_max_side=int(pre["work_max_side"]),
            seg_size=int(pre["seg_input_size"]),
            cls_size=int(pre["cls_input_size"]),
            margin=float(pre["margin"]),
            seg_threshold=float(thr.get("segmentation", 0.5)),
            malignant_threshold=float(thr["malignant"]),
            calibration=Calibration.from_card(card.get("calibration")),
            min_lesion_fraction=float(thr.get("min_lesion_fraction", 0.0005)),
            tta_flip=bool(card.get("tta_flip", True)),
            has_normal=bool(card.get("has_normal", False)),
        )


def _work_image(gray: np.ndarray, max_side: int) -> np.ndarray:
    from PIL import Image

    h, w = gray.shape
    scale = min(1.0, max_side / max(h, w))
    if scale >= 1.0:
        return gray
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(gray).resize(size, Image.LANCZOS))


def _resize_float(array: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(array.astype(np.float32), mode="F").resize(shape[::-1], Image.BILINEAR))


def _matching_fusion(bundle_dir: str | Path, image_model: str):
    """The bundle's fusion model if it was fitted on this image model's probabilities, else None."""
    from pipeline.fusion import load_fusion

    fusion = load_fusion(bundle_dir)
    if fusion is not None and fusion.image_model != image_model:
        log.warning("fusion.json in %s expects image model %r, bundle is %r: fusion disabled",
                    Path(bundle_dir).name, fusion.image_model, image_model)
        return None
    return fusion


class Predictor:
    """Segment + classify one image with a bundle's ensemble of members."""

    def __init__(self, bundle_dir: str | Path):
        import keras

        card = read_bundle_card(bundle_dir)
        seg_models, cls_models = [], []
        for member in card["members"]:
            try:
                seg_models.append(keras.saving.load_model(Path(bundle_dir) / member["seg"], compile=False))
                cls_models.append(keras.saving.load_model(Path(bundle_dir) / member["cls"], compile=False))
            except Exception as exc:  # keras raises many types for damaged files
                raise BundleError(f"bundle {Path(bundle_dir).name}: cannot load weights ({type(exc).__name__})") from exc
        self._setup(seg_models, cls_models, InferenceSettings.from_card(card), card)
        self.fusion = _matching_fusion(bundle_dir, self.name)

    @classmethod
    def from_models(cls, seg_models, cls_models, settings: InferenceSettings, card: dict | None = None) -> "Predictor":
        self = cls.__new__(cls)
        self._setup(list(seg_models), list(cls_models), settings, card or {"name": "in-training", "version": "0"})
        return self

    def _setup(self, seg_models, cls_models, settings: InferenceSettings, card: dict) -> None:
        import tensorflow as tf

        self.settings, self.card = settings, card
        self.fusion = None  # a FusionModel when the bundle folder holds a matching fusion.json
        self.name = str(card.get("name", "unnamed"))
        self.version = str(card.get("version", "0"))
        s, c = settings.seg_size, settings.cls_size

        @tf.function(input_signature=[tf.TensorSpec([None, s, s, 1], tf.float32)], reduce_retracing=True)
        def segment(batch):
            return tf.stack([tf.sigmoid(m(batch, training=False)) for m in seg_models])

        @tf.function(input_signature=[tf.TensorSpec([None, c, c, 2], tf.float32)], reduce_retracing=True)
        def classify(batch):
            return tf.stack([m(batch, training=False) for m in cls_models])

        self._segment, self._classify = segment, classify

    # -- stages on work-resolution arrays (shared with training evaluation) --
    def segment_work(self, work: np.ndarray) -> np.ndarray:
        """Lesion probability map at work resolution (ensemble + flip mean)."""
        box = Letterbox(work.shape, self.settings.seg_size)
        x = box.forward(standardize(work))
        batch = np.stack([x, x[:, ::-1]]) if self.settings.tta_flip else x[None]
        probs = self._segment(batch[..., None].astype(np.float32)).numpy()[..., 0]  # members x B x S x S
        maps = [probs[:, 0]]
        if self.settings.tta_flip:
            maps.append(probs[:, 1, :, ::-1])
        mean = np.concatenate(maps).mean(axis=0)
        return box.inverse(mean)

    def lesion_mask(self, prob_map: np.ndarray) -> tuple[np.ndarray, bool]:
        """Largest region above threshold; if too small, the best guess region
        (for classification only) and `found=False`."""
        mask = largest_component(prob_map >= self.settings.seg_threshold)
        found = mask.sum() >= self.settings.min_lesion_fraction * mask.size
        if not found:
            peak = float(prob_map.max())
            mask = largest_component(prob_map >= peak * 0.5) if peak > 0 else np.ones_like(mask)
        return mask, bool(found)

    def region_logits(self, work: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Raw logits of every member x flip (used for calibration fitting)."""
        region = crop_region(work, mask, self.settings.cls_size, margin=self.settings.margin)
        batch = np.stack([region, region[:, ::-1]]) if self.settings.tta_flip else region[None]
        return self._classify(batch.astype(np.float32)).numpy().reshape(-1)

    def classify_work(self, work: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
        """Calibrated P(malignant) and its spread across members and flips."""
        logits = self.region_logits(work, mask)
        probs = self.settings.calibration.probability(logits)
        return float(probs.mean()), float(probs.std())

    # -- public API --
    def predict(self, record: ImageRecord, metadata: dict[str, Any] | None = None) -> Prediction:
        """Image-only prediction; fused with `metadata` (patient data) when the bundle has a fusion model."""
        prediction = self.predict_gray(record.display, spacing_mm=record.spacing_mm)
        if self.fusion is None or metadata is None:
            return prediction
        from pipeline.fusion import apply_fusion

        return apply_fusion(prediction, self.fusion, metadata, record.spacing_mm)

    def predict_gray(self, gray: np.ndarray, spacing_mm: tuple[float, float] | None = None) -> Prediction:
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        gray = np.asarray(gray)
        if gray.dtype != np.uint8:
            gray = np.clip(gray, 0, 255).astype(np.uint8)
        work = _work_image(gray, self.settings.work_max_side)
        timings["preprocess"] = (time.perf_counter() - t0) * 1000
        t1 = time.perf_counter()
        prob_work = self.segment_work(work)
        timings["segment"] = (time.perf_counter() - t1) * 1000
        t2 = time.perf_counter()
        mask_work, found = self.lesion_mask(prob_work)
        probability, spread = self.classify_work(work, mask_work)
        timings["classify"] = (time.perf_counter() - t2) * 1000
        t3 = time.perf_counter()
        prob_full = _resize_float(prob_work, gray.shape)
        mask_full = largest_component(prob_full >= self.settings.seg_threshold) if found else np.zeros(gray.shape, bool)
        found = found and bool(mask_full.any())
        area_px = int(mask_full.sum())
        area_mm2 = area_px * spacing_mm[0] * spacing_mm[1] if (spacing_mm and found) else None
        if not found and self.settings.has_normal:
            label = "normal"
        else:
            label = "malignant" if probability >= self.settings.malignant_threshold else "benign"
        timings["postprocess"] = (time.perf_counter() - t3) * 1000
        timings["total"] = (time.perf_counter() - t0) * 1000
        return Prediction(
            label=label,
            probability=probability,
            uncertainty=spread,
            mask=mask_full,
            probability_map=prob_full.astype(np.float32),
            box=mask_box(mask_full) if found else None,
            area_px=area_px,
            area_mm2=area_mm2,
            lesion_found=found,
            model_name=self.name,
            model_version=self.version,
            timings_ms=timings,
        )
