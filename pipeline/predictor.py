"""The Predictor: one image in, mask + diagnosis + confidence out.

Models load once per process (a gunicorn worker builds its Predictor lazily
after fork) and run one call per stage with every member and TTA flip in one
batch (`pipeline.runtimes`): the bundle's exported TFLite artefacts on XNNPACK
when it carries them (made by `python -m pipeline.runtime_export BUNDLE`, sha256 in the
card), else the Keras models in a `tf.function` with a fixed input signature —
per-image `model.predict` is several times slower on CPU. `LESIONLENS_RUNTIME`
(or `runtime=`) forces one ("tf.function", "tflite", "xla"). Training evaluation
uses this very class (`Predictor.from_models`), so reported metrics come from
the same code path the clinic uses.
"""

from __future__ import annotations

import copy
import logging
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.bundle import read_bundle_card
from pipeline.calibration import Calibration
from pipeline.card import BundleCard, Preprocessing, Thresholds
from pipeline.errors import BundleError
from pipeline.crops import refine_window
from pipeline.preprocess import crop_region, largest_component, mask_box, steps_for
from pipeline.presence import PresenceModel, presence_features
from pipeline.refine import refine_input, resize_map
from pipeline.types import ImageRecord, Prediction

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InferenceSettings:
    """What the predictor runs: the card's preprocessing and thresholds as they are, its calibration
    (identity when the card has none), test-time augmentation and lesion-presence model."""

    preprocessing: Preprocessing  # executed as recorded (tokens through pipeline.preprocess.steps_for)
    thresholds: Thresholds
    calibration: Calibration = Calibration()
    tta_flip: bool = True
    tta_views: bool = False  # mask dilated / eroded / wider context as extra classifier views
    has_normal: bool = False
    presence: PresenceModel | None = None  # None: a lesion is reported whenever the mask is big enough

    @classmethod
    def from_card(cls, card: BundleCard) -> "InferenceSettings":
        return cls(
            preprocessing=card.preprocessing,
            thresholds=card.thresholds,
            calibration=card.calibration or Calibration(),
            tta_flip=card.tta_flip,
            tta_views=card.tta_views,
            has_normal=card.has_normal,
            presence=card.presence,
        )

    @property
    def refine_size(self) -> int:
        """The refiner's input size; 0: no refinement stage (the bundle has none, or it is switched off)."""
        return self.preprocessing.refine_input_size

    def without_refinement(self) -> "InferenceSettings":
        """The same settings with the refinement stage off: the coarse map, upsampled to the detail image."""
        return replace(self, preprocessing=replace(self.preprocessing, refine_input_size=0))


@dataclass
class Analysis:
    """Segmentation of one image at the resolution the classifier reads (`image`)."""

    image: np.ndarray  # uint8 gray: the detail image (or the work image without a detail stage)
    prob: np.ndarray  # lesion probability map on `image`'s grid
    mask: np.ndarray  # largest region, or the best-guess region when no lesion was found
    found: bool
    lesion_probability: float | None
    coarse_prob: np.ndarray  # the whole-image stage's map at work resolution


def _matching_fusion(bundle_dir: str | Path, image_model: str):
    """The bundle's fusion model if it was fitted on this image model's probabilities, else None."""
    from pipeline.fusion import load_fusion

    fusion = load_fusion(bundle_dir)
    if fusion is not None and fusion.image_model != image_model:
        log.warning("fusion.json in %s expects image model %r, bundle is %r: fusion disabled",
                    Path(bundle_dir).name, fusion.image_model, image_model)
        return None
    return fusion


def describe_mask(gray: np.ndarray, mask: np.ndarray, spacing_mm):
    """`LesionDescriptors` of the drawn mask, or None for a degenerate outline (never fatal: words are an aid)."""
    from pipeline.descriptors import describe_lesion

    try:
        return describe_lesion(gray, mask, spacing_mm)
    except (ValueError, FloatingPointError) as exc:  # a degenerate outline: say so rather than fail the prediction
        log.warning("lexicon descriptors failed: %s", type(exc).__name__)
        return None


def describe_in_words(gray: np.ndarray, mask: np.ndarray, spacing_mm) -> dict[str, Any]:
    """The BI-RADS lexicon words and one sentence for the drawn mask ({} when not describable)."""
    descriptors = describe_mask(gray, mask, spacing_mm)
    return {} if descriptors is None else {**descriptors.words(), "sentence": descriptors.sentence()}


class Predictor:
    """Segment (whole image, then the lesion window) + classify one image with a bundle's members."""

    def __init__(self, bundle_dir: str | Path, runtime: str | None = None):
        """`runtime`: None/"auto" runs the bundle's exported artefacts when present and fresh, else Keras."""
        import keras

        card = read_bundle_card(bundle_dir)  # validated, weights checked against their sha256
        seg_models, cls_models, refine_models = [], [], []
        for member in card.members:
            try:
                seg_models.append(keras.saving.load_model(Path(bundle_dir) / member.seg, compile=False))
                cls_models.append(keras.saving.load_model(Path(bundle_dir) / member.cls, compile=False))
                if member.refine:
                    refine_models.append(keras.saving.load_model(Path(bundle_dir) / member.refine, compile=False))
            except Exception as exc:  # keras raises many types for damaged files
                raise BundleError(f"bundle {Path(bundle_dir).name}: cannot load weights ({type(exc).__name__})") from exc
        runtime = runtime or os.environ.get("LESIONLENS_RUNTIME") or "auto"
        artefacts = None
        if runtime in ("auto", "tflite") or runtime.startswith("tflite:"):
            from pipeline.runtime_export import bundle_artefacts

            artefacts = bundle_artefacts(bundle_dir, card)
            if runtime == "auto":
                runtime = "tflite" if artefacts else "tf.function"
        self._setup(seg_models, cls_models, InferenceSettings.from_card(card), card, refine_models, runtime, artefacts)
        self.fusion = _matching_fusion(bundle_dir, self.name)
        from pipeline.stacking_apply import load_stacking

        self.stacking = load_stacking(bundle_dir, card.stacking)

    @classmethod
    def from_models(cls, seg_models, cls_models, settings: InferenceSettings, card: BundleCard | None = None,
                    refine_models=(), runtime: str = "tf.function") -> "Predictor":
        self = cls.__new__(cls)
        self._setup(list(seg_models), list(cls_models), settings, card, list(refine_models), runtime)
        return self

    def _setup(self, seg_models, cls_models, settings: InferenceSettings, card: BundleCard | None,
               refine_models=(), runtime: str = "tf.function", artefacts: dict[str, bytes] | None = None) -> None:
        from pipeline.runtimes import build_runners

        refine_models = list(refine_models)
        if settings.refine_size and not refine_models:
            settings = settings.without_refinement()
        self.settings, self.card = settings, card
        pre = settings.preprocessing
        self._steps = steps_for(pre.downscale, pre.normalisation, pre.resize)
        from pipeline.ood import Fingerprint

        # None: a bundle from before the OOD guard (or a model still in training)
        self.fingerprint = Fingerprint.from_card(card.ood if card else None)
        self._ood_unet = seg_models[0] if seg_models else None  # the fingerprint's features come from member 0
        self.fusion = None  # a FusionModel when the bundle folder holds a matching fusion.json
        self.stacking = None  # a StackedModel (CNN + descriptors) when the bundle folder holds stacking.json
        self.name, self.version = card.identity if card else ("in-training", "0")
        sizes = (pre.seg_input_size, pre.cls_input_size, max(pre.refine_input_size, 8))
        try:
            runners = build_runners(runtime, seg_models, cls_models, refine_models, sizes, artefacts)
        except Exception as exc:  # an artefact the interpreter refuses, a converter failure: Keras still works
            if runtime == "tf.function":
                raise
            log.warning("runtime %s unavailable (%s: %s): running the Keras models", runtime, type(exc).__name__, exc)
            runners = build_runners("tf.function", seg_models, cls_models, refine_models, sizes)
            self.runtime_fallback = f"{runtime}: {type(exc).__name__}: {exc}"
        else:
            self.runtime_fallback = None  # why the asked-for runtime is not the one running (bench, logs)
        self.runtime = runners.name  # members x batch out of every stage, numpy
        self._segment, self._classify, self._refine = runners.seg, runners.cls, runners.refine

    def without_refinement(self) -> "Predictor":
        """The same loaded models with the border stage off (the coarse map, upsampled): the refiner's gain is
        then measured on one set of weights and one code path (`python -m training refine-gain`)."""
        twin = copy.copy(self)
        twin.settings, twin._refine = self.settings.without_refinement(), None  # the card's ablation, models kept
        return twin

    # -- stages on work-resolution arrays (shared with training evaluation) --
    def segment_work(self, work: np.ndarray) -> np.ndarray:
        """Lesion probability map at work resolution (ensemble + flip mean)."""
        box = self._steps.resize(work.shape, self.settings.preprocessing.seg_input_size)
        x = box.forward(self._steps.normalise(work))
        batch = np.stack([x, x[:, ::-1]]) if self.settings.tta_flip else x[None]
        probs = self._segment(batch[..., None].astype(np.float32))[..., 0]  # members x B x S x S
        maps = [probs[:, 0]]
        if self.settings.tta_flip:
            maps.append(probs[:, 1, :, ::-1])
        mean = np.concatenate(maps).mean(axis=0)
        return box.inverse(mean)

    def lesion_mask(self, prob_map: np.ndarray) -> tuple[np.ndarray, bool]:
        """Largest region above threshold; if too small, the best guess region
        (for classification only) and `found=False`."""
        mask = largest_component(prob_map >= self.settings.thresholds.segmentation)
        found = mask.sum() >= self.settings.thresholds.min_lesion_fraction * mask.size
        if not found:
            peak = float(prob_map.max())
            mask = largest_component(prob_map >= peak * 0.5) if peak > 0 else np.ones_like(mask)
        return mask, bool(found)

    def window_for(self, detail_shape: tuple[int, int], coarse_mask: np.ndarray):
        """The refinement window (detail pixels) around the coarse mask's box, or None if empty."""
        box = mask_box(coarse_mask)
        if box is None:
            return None
        fy, fx = detail_shape[0] / coarse_mask.shape[0], detail_shape[1] / coarse_mask.shape[1]
        r0, c0, r1, c1 = box
        return refine_window((int(r0 * fy), int(c0 * fx), int(np.ceil(r1 * fy)), int(np.ceil(c1 * fx))),
                             self.settings.preprocessing.refine_margin)

    def refine_detail(self, detail: np.ndarray, prior: np.ndarray, coarse_mask: np.ndarray) -> np.ndarray:
        """The detail-resolution map: the coarse prior everywhere, the refiner's map in the window."""
        window = self.window_for(detail.shape, coarse_mask)
        if self._refine is None or window is None:
            return prior
        x = refine_input(detail, prior, window, self.settings.preprocessing.refine_input_size)
        batch = np.stack([x, x[:, ::-1]]) if self.settings.tta_flip else x[None]
        probs = self._refine(batch.astype(np.float32))[..., 0]  # members x B x R x R
        maps = [probs[:, 0]] + ([probs[:, 1, :, ::-1]] if self.settings.tta_flip else [])
        crop = np.concatenate(maps).mean(axis=0)
        from pipeline.crops import paste

        refined = paste(crop, window, detail.shape)
        inside = paste(np.ones_like(crop), window, detail.shape) > 0.5
        return np.where(inside, refined, prior).astype(np.float32)

    def analyse_arrays(self, work: np.ndarray, detail: np.ndarray | None) -> Analysis:
        """Coarse map -> lesion presence -> refined map and mask on the classifier's grid."""
        prob_work = self.segment_work(work)
        mask_work, found = self.lesion_mask(prob_work)
        lesion_probability = None
        presence, threshold = self.settings.presence, self.settings.thresholds.segmentation
        if presence is not None:
            lesion_probability = presence.probability(presence_features(prob_work, threshold))
            found = found and lesion_probability >= presence.threshold
        if detail is None:
            return Analysis(work, prob_work, mask_work, found, lesion_probability, prob_work)
        prior = resize_map(prob_work, detail.shape)
        prob = self.refine_detail(detail, prior, mask_work)
        mask = largest_component(prob >= threshold)
        if not mask.any():  # refiner erased everything: keep the coarse region (best guess)
            mask = resize_map(mask_work.astype(np.float32), detail.shape) >= 0.5
        return Analysis(detail, prob, mask, found, lesion_probability, prob_work)

    def region_views(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The classifier's test-time views: the mask as drawn, dilated and eroded by ~3% of the lesion
        size, and a 1.5x wider context, each also flipped. Their spread is the uncertainty: it
        grows exactly when the answer hinges on where the border was drawn or how much context
        is seen, which is what a reader should double-check."""
        from scipy import ndimage

        size, margin = self.settings.preprocessing.cls_input_size, self.settings.preprocessing.margin
        box = mask_box(mask)
        step = max(1, int(round(0.03 * max(box[2] - box[0], box[3] - box[1])))) if box else 1
        grown = ndimage.binary_dilation(mask, iterations=step)
        shrunk = ndimage.binary_erosion(mask, iterations=step)
        normalise = self._steps.normalise
        views = [crop_region(image, mask, size, margin=margin, normalise=normalise)]
        if self.settings.tta_views:
            views += [crop_region(image, grown, size, margin=margin, box=box, normalise=normalise),
                      crop_region(image, shrunk if shrunk.any() else mask, size, margin=margin, box=box,
                                  normalise=normalise),
                      crop_region(image, mask, size, margin=margin * 1.5, normalise=normalise)]
        if self.settings.tta_flip:
            views += [v[:, ::-1] for v in views]
        return np.stack(views)

    def region_logits(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Raw logits of every member x view (their mean is what calibration is fitted on)."""
        return self._classify(self.region_views(image, mask).astype(np.float32)).reshape(-1)

    def classify_work(self, work: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
        """Calibrated P(malignant) (of the mean logit, as calibration was fitted) and the spread of
        the views' calibrated probabilities."""
        logits = self.region_logits(work, mask)
        return (float(self.settings.calibration.probability(np.mean(logits))),
                float(self.settings.calibration.probability(logits).std()))

    # -- public API --
    def predict(self, record: ImageRecord, metadata: dict[str, Any] | None = None) -> Prediction:
        """Image-only prediction; fused with `metadata` (patient data) when the bundle has a fusion model."""
        from pipeline.ood import source_of

        prediction = self.predict_gray(record.display, spacing_mm=record.spacing_mm, source=source_of(record))
        if self.fusion is None or metadata is None:
            return prediction
        from pipeline.fusion import apply_fusion

        return apply_fusion(prediction, self.fusion, metadata, record.spacing_mm)

    def check_distribution(self, work: np.ndarray, shape: tuple[int, int], source: dict[str, Any] | None = None):
        """The out-of-distribution guard's `OODResult` for one work image (None without a fingerprint)."""
        if self.fingerprint is None:
            return None
        features = None
        if self.fingerprint.features is not None and self._ood_unet is not None:
            from pipeline.ood import encoder_features, encoder_input

            x = encoder_input(work, self.settings.preprocessing.seg_input_size)
            features = encoder_features(self._ood_unet, x[None])[0]
        return self.fingerprint.score(work, features, source, shape=shape)

    def predict_gray(self, gray: np.ndarray, spacing_mm: tuple[float, float] | None = None,
                     source: dict[str, Any] | None = None) -> Prediction:
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        gray = np.asarray(gray)
        if gray.dtype != np.uint8:
            gray = np.clip(gray, 0, 255).astype(np.uint8)
        pre = self.settings.preprocessing
        work = self._steps.downscale(gray, pre.work_max_side)
        detail = self._steps.downscale(gray, pre.detail_max_side) if pre.detail_max_side else None
        timings["preprocess"] = (time.perf_counter() - t0) * 1000
        t_ood = time.perf_counter()
        ood = self.check_distribution(work, gray.shape, source)
        timings["ood"] = (time.perf_counter() - t_ood) * 1000
        t1 = time.perf_counter()
        analysis = self.analyse_arrays(work, detail)
        timings["segment"] = (time.perf_counter() - t1) * 1000
        t2 = time.perf_counter()
        logits = self.region_logits(analysis.image, analysis.mask)
        probability = float(self.settings.calibration.probability(np.mean(logits)))
        spread = float(self.settings.calibration.probability(logits).std())
        timings["classify"] = (time.perf_counter() - t2) * 1000
        t3 = time.perf_counter()
        found = analysis.found
        prob_full = resize_map(analysis.prob, gray.shape)
        seg_threshold = self.settings.thresholds.segmentation
        mask_full = largest_component(prob_full >= seg_threshold) if found else np.zeros(gray.shape, bool)
        found = found and bool(mask_full.any())
        area_px = int(mask_full.sum())
        area_mm2 = area_px * spacing_mm[0] * spacing_mm[1] if (spacing_mm and found) else None
        descriptors = describe_mask(gray, mask_full, spacing_mm) if found else None
        lexicon = {} if descriptors is None else {**descriptors.words(), "sentence": descriptors.sentence()}
        cnn_probability, threshold, reasons = probability, self.settings.thresholds.malignant, {}
        if self.stacking is not None and descriptors is not None:
            from pipeline.descriptors import descriptor_features
            from pipeline.stacking_apply import apply_stacking

            stacked = apply_stacking(self.stacking, logits, descriptor_features(descriptors))
            probability, spread, threshold = stacked.probability, stacked.uncertainty, stacked.threshold
            reasons = stacked.contributions
        if not found and (self.settings.has_normal or self.settings.presence is not None):
            label = "normal"  # shown as "No lesion found": an empty mask never carries a diagnosis
        else:
            label = "malignant" if probability >= threshold else "benign"
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
            lesion_probability=analysis.lesion_probability,
            cnn_logit=float(np.mean(logits)),
            cnn_probability=cnn_probability if reasons else None,
            reasons=reasons,
            lexicon=lexicon,
            out_of_distribution=bool(ood is not None and ood.flagged),
            ood_score=None if ood is None else float(ood.score),
            ood_reasons=() if ood is None else tuple(ood.reasons),
            ood_trained_on=None if ood is None else self.fingerprint.trained_on,
        )
