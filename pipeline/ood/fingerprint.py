"""The training images' fingerprint and the out-of-distribution score of one input.

A bundle stores a `Fingerprint` of the images its models were trained on; the
predictor scores every input against it. Two kinds of evidence:

* hard facts about the source: DICOM modality, colour, image size, pixel spacing;
* distances: image statistics (`stats.image_stats`) and the segmenter's encoder
  features, each under a Gaussian fitted on the training images (`gauss`). A
  distance's threshold is the `quantile` (99th percentile) of the training
  images' own distances, measured out of sample (five-fold cross-fitting), so
  about 1% of images like the training data are flagged by construction.

`OODResult.score` is the largest distance / threshold ratio (at least 1 when a
hard fact fails): a score >= 1 means "flagged". Everything is stored as plain
JSON numbers in the bundle card (`to_card` / `from_card`), never pickled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from pipeline.ood.gauss import Gaussian
from pipeline.ood.stats import STAT_NAMES, STAT_WORDS, image_stats

FORMAT = 1
SIZE_MARGIN = 2.0  # sizes, aspect ratios and spacings up to 2x outside the training range pass
COLOUR_LIMIT = 0.02  # fraction of clearly coloured pixels above which an input is "a colour image"
MODALITY_WORDS = {"CT": "CT", "MR": "MR", "CR": "X-ray", "DX": "X-ray", "DR": "X-ray", "RF": "X-ray",
                  "XA": "X-ray angiography", "MG": "mammography", "NM": "nuclear medicine", "PT": "PET",
                  "OT": "non-imaging (OT)", "SC": "secondary capture", "US": "ultrasound"}


@dataclass(frozen=True)
class OODResult:
    score: float  # >= 1.0: flagged; 1.0 = the threshold (99th percentile of the training images)
    flagged: bool
    reasons: tuple[str, ...] = ()
    components: dict[str, float] = field(default_factory=dict)  # per-check ratio to its threshold

    def summary(self) -> dict[str, Any]:
        return {"out_of_distribution": bool(self.flagged), "ood_score": round(float(self.score), 3),
                "ood_reasons": list(self.reasons)}


def ood_message(reasons: Sequence[str], trained_on: str | None = None, most: int = 3) -> str:
    """The plain-language warning shown beside a flagged result (its `most` first reasons)."""
    what = trained_on or "breast ultrasound"
    why = f" ({'; '.join(reasons[:most])})" if reasons else ""
    return (f"This model was trained on {what}; this image looks different{why}: "
            "treat the result as unreliable.")


def source_of(record: Any) -> dict[str, Any]:
    """The source facts the guard checks, from a `pipeline.types.ImageRecord`."""
    meta = getattr(record, "metadata", None) or {}
    return {"modality": getattr(record, "modality", None), "spacing_mm": getattr(record, "spacing_mm", None),
            "colour_fraction": float(meta.get("colour_fraction", 0.0) or 0.0)}


def _cross_fit_distances(x: np.ndarray, n_components: int | None, folds: int = 5) -> np.ndarray:
    """Out-of-sample distances: Gaussians fitted on 4/5 of the images (with the full sample's
    number of components) score the remaining fifth."""
    n = len(x)
    if n < 2 * folds:
        return Gaussian.fit(x, n_components).distance(x)
    k = Gaussian.n_components_for(n, x.shape[1], n_components) if n_components is not None else None
    parts = np.array_split(np.random.default_rng(0).permutation(n), folds)
    out = np.empty(n)
    for i, test_idx in enumerate(parts):
        fit_idx = np.concatenate([p for j, p in enumerate(parts) if j != i])
        out[test_idx] = Gaussian.fit(x[fit_idx], k, exact=True).distance(x[test_idx])
    return out


def _range(values: Sequence[float]) -> list[float]:
    return [float(np.min(values)), float(np.max(values))]


@dataclass(frozen=True)
class Fingerprint:
    trained_on: str
    n_images: int
    max_side: int
    modalities: tuple[str, ...]
    colour_limit: float
    long_side: tuple[float, float]
    short_side: tuple[float, float]
    aspect: tuple[float, float]  # width / height
    spacing_mm: tuple[float, float] | None
    stats: Gaussian
    stats_threshold: float
    stats_median: np.ndarray
    stats_spread: np.ndarray
    features: Gaussian | None = None
    features_threshold: float = 0.0
    feature_source: str = ""
    quantile: float = 0.99

    @classmethod
    def fit(cls, images: Sequence[np.ndarray], *, shapes: Sequence[tuple[int, int]] | None = None,
            features: np.ndarray | None = None, sources: Sequence[dict[str, Any]] | None = None,
            trained_on: str = "breast ultrasound", modalities: Sequence[str] = ("US",), max_side: int = 256,
            quantile: float = 0.99, n_components: int = 16, feature_source: str = "") -> "Fingerprint":
        """From the training images (uint8 grey, any resolution), their original `shapes` when the
        images were downscaled, encoder `features` (N x D), and per-image `sources` (`source_of`)."""
        if len(images) < 3:
            raise ValueError("a fingerprint needs at least 3 training images")
        shapes = [tuple(int(v) for v in (s if s is not None else im.shape[:2]))
                  for s, im in zip(shapes or [None] * len(images), images)]
        sources = list(sources or [{}] * len(images))
        stats = np.stack([image_stats(im, max_side) for im in images])
        med = np.median(stats, axis=0)
        spread = np.maximum(1.4826 * np.median(np.abs(stats - med), axis=0), 1e-3 * (np.abs(med) + 1e-3))
        spacings = [float(np.mean(s["spacing_mm"])) for s in sources if s.get("spacing_mm")]
        colours = [float(s.get("colour_fraction") or 0.0) for s in sources]
        seen = {str(s["modality"]).upper() for s in sources if s.get("modality")}
        feature_model, feature_threshold = None, 0.0
        if features is not None:
            features = np.asarray(features, dtype=np.float64)
            if len(features) != len(images):
                raise ValueError("one feature vector per training image")
            feature_model = Gaussian.fit(features, n_components)
            feature_threshold = float(np.quantile(_cross_fit_distances(features, n_components), quantile))
        return cls(
            trained_on=trained_on,
            n_images=len(images),
            max_side=int(max_side),
            modalities=tuple(sorted({m.upper() for m in modalities} | seen)),
            colour_limit=max(COLOUR_LIMIT, 2.0 * max(colours, default=0.0)),
            long_side=tuple(_range([max(s) for s in shapes])),
            short_side=tuple(_range([min(s) for s in shapes])),
            aspect=tuple(_range([s[1] / s[0] for s in shapes])),
            spacing_mm=tuple(_range(spacings)) if spacings else None,
            stats=Gaussian.fit(stats),
            stats_threshold=float(np.quantile(_cross_fit_distances(stats, None), quantile)),
            stats_median=med,
            stats_spread=spread,
            features=feature_model,
            features_threshold=feature_threshold,
            feature_source=feature_source,
            quantile=float(quantile),
        )

    # -- scoring --
    def _source_reasons(self, shape: tuple[int, int], source: dict[str, Any]) -> list[str]:
        reasons = []
        modality = str(source.get("modality") or "").upper()
        if modality and modality not in self.modalities:
            reasons.append(f"{MODALITY_WORDS.get(modality, modality)} image, not ultrasound")
        colour = float(source.get("colour_fraction") or 0.0)
        if colour > self.colour_limit:
            reasons.append(f"colour image ({colour:.0%} of pixels coloured)")
        h, w = shape
        if not (self.long_side[0] / SIZE_MARGIN <= max(h, w) <= self.long_side[1] * SIZE_MARGIN
                and min(h, w) >= self.short_side[0] / SIZE_MARGIN
                and self.aspect[0] / SIZE_MARGIN <= w / h <= self.aspect[1] * SIZE_MARGIN):
            reasons.append(f"image size {w}x{h} px unlike the training images "
                           f"({self.long_side[0]:.0f}-{self.long_side[1]:.0f} px on the long side)")
        spacing = source.get("spacing_mm")
        if spacing and self.spacing_mm:
            mm = float(np.mean(spacing))
            if not self.spacing_mm[0] / SIZE_MARGIN <= mm <= self.spacing_mm[1] * SIZE_MARGIN:
                reasons.append(f"pixel spacing {mm:.2g} mm unlike the training images "
                               f"({self.spacing_mm[0]:.2g}-{self.spacing_mm[1]:.2g} mm)")
        return reasons

    def _stats_reasons(self, stats: np.ndarray) -> list[str]:
        z = np.abs(stats - self.stats_median) / self.stats_spread
        words: list[str] = []
        for i in np.argsort(-z):
            if z[i] < 4.0:
                break
            if STAT_WORDS[STAT_NAMES[i]] not in words:
                words.append(STAT_WORDS[STAT_NAMES[i]])
        return words[:2] or ["image statistics unlike the training images"]

    def score(self, gray: np.ndarray, features: np.ndarray | None = None, source: dict[str, Any] | None = None,
              *, shape: tuple[int, int] | None = None) -> OODResult:
        """Score one uint8 grey image (original or work resolution; `shape` = the original's size
        when `gray` was downscaled). `features`: its encoder feature vector, if the fingerprint has them."""
        gray = np.asarray(gray)
        shape = tuple(int(v) for v in (shape or gray.shape[:2]))
        reasons = self._source_reasons(shape, source or {})
        hard = bool(reasons)
        stats = image_stats(gray, self.max_side)
        components = {"stats": float(self.stats.distance(stats)[0] / self.stats_threshold)}
        if components["stats"] >= 1.0:
            reasons += self._stats_reasons(stats)
        if self.features is not None and features is not None:
            ratio = float(self.features.distance(np.ravel(features))[0] / self.features_threshold)
            components["features"] = ratio
            if ratio >= 1.0:
                reasons.append("the model's internal view of this image is unlike any training image")
        score = max(components.values())
        flagged = hard or score >= 1.0
        return OODResult(max(score, 1.0) if hard else score, flagged, tuple(reasons), components)

    # -- storage --
    def to_card(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "trained_on": self.trained_on,
            "n_images": self.n_images,
            "max_side": self.max_side,
            "modalities": list(self.modalities),
            "colour_limit": self.colour_limit,
            "long_side": list(self.long_side),
            "short_side": list(self.short_side),
            "aspect": [round(v, 4) for v in self.aspect],
            "spacing_mm": None if self.spacing_mm is None else list(self.spacing_mm),
            "stat_names": list(STAT_NAMES),
            "stats": self.stats.to_card(),
            "stats_threshold": self.stats_threshold,
            "stats_median": [float(v) for v in self.stats_median],
            "stats_spread": [float(v) for v in self.stats_spread],
            "features": None if self.features is None else self.features.to_card(),
            "features_threshold": self.features_threshold,
            "feature_source": self.feature_source,
            "quantile": self.quantile,
        }

    @classmethod
    def from_card(cls, card: dict[str, Any] | None) -> "Fingerprint | None":
        """None for bundles without a fingerprint (or one of another format / statistic set)."""
        if not card or card.get("format") != FORMAT or tuple(card.get("stat_names", ())) != STAT_NAMES:
            return None
        return cls(
            trained_on=str(card["trained_on"]),
            n_images=int(card["n_images"]),
            max_side=int(card["max_side"]),
            modalities=tuple(card["modalities"]),
            colour_limit=float(card["colour_limit"]),
            long_side=tuple(card["long_side"]),
            short_side=tuple(card["short_side"]),
            aspect=tuple(card["aspect"]),
            spacing_mm=None if card.get("spacing_mm") is None else tuple(card["spacing_mm"]),
            stats=Gaussian.from_card(card["stats"]),
            stats_threshold=float(card["stats_threshold"]),
            stats_median=np.asarray(card["stats_median"], dtype=np.float64),
            stats_spread=np.asarray(card["stats_spread"], dtype=np.float64),
            features=None if card.get("features") is None else Gaussian.from_card(card["features"]),
            features_threshold=float(card.get("features_threshold", 0.0)),
            feature_source=str(card.get("feature_source", "")),
            quantile=float(card.get("quantile", 0.99)),
        )
