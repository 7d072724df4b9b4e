"""Overlap and boundary scores for lesion masks.

Dice and IoU reward overlap; HD95 says how far the outline strays, which Dice
hides for large lesions. All three work on boolean masks of one image (2-D, or
any N-D) and never need TensorFlow, so the training CLI and the dashboard can
score predictions cheaply.

Conventions (kept identical everywhere so cohort numbers are comparable):

* Empty masks: both empty -> Dice = IoU = 1.0 (the model correctly found
  nothing); exactly one empty -> 0.0 (a miss or a false detection).
* HD95 is NaN when either mask is empty: a distance to nothing is undefined,
  and reporting 0 or the image diagonal would silently bias the mean.
  Summaries therefore count misses separately (`n_missed`).
* Boundaries are the mask pixels that touch the background along an axis
  (4-connectivity in 2-D); pixels on the image edge count as boundary.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = [
    "ImageSegmentation",
    "SegmentationScores",
    "boundary",
    "dice",
    "hd95",
    "iou",
    "score_image",
    "segmentation_scores",
]

Spacing = Sequence[float] | None


def _as_masks(pred: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both masks as bool arrays of one shape.

    Float arrays are refused rather than cast, because casting a probability
    map to bool calls every non-zero pixel lesion: threshold it first.
    """
    pred = np.asarray(pred)
    truth = np.asarray(truth)
    for name, arr in (("pred", pred), ("truth", truth)):
        if arr.dtype != bool and not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(
                f"{name} mask must be boolean (or integer 0/1), got {arr.dtype}; "
                "threshold probability maps before scoring"
            )
    if pred.shape != truth.shape:
        raise ValueError(f"mask shapes differ: pred {pred.shape} vs truth {truth.shape}")
    return pred.astype(bool, copy=False), truth.astype(bool, copy=False)


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    """Dice coefficient 2|A∩B| / (|A|+|B|); 1.0 when both masks are empty."""
    p, t = _as_masks(pred, truth)
    total = int(p.sum()) + int(t.sum())
    if total == 0:
        return 1.0
    return 2.0 * int(np.logical_and(p, t).sum()) / total


def iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union |A∩B| / |A∪B|; 1.0 when both masks are empty."""
    p, t = _as_masks(pred, truth)
    union = int(np.logical_or(p, t).sum())
    if union == 0:
        return 1.0
    return int(np.logical_and(p, t).sum()) / union


def boundary(mask: np.ndarray) -> np.ndarray:
    """Pixels of `mask` with a background neighbour along some axis (or on the edge)."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return mask.copy()
    structure = ndimage.generate_binary_structure(mask.ndim, 1)
    eroded = ndimage.binary_erosion(mask, structure=structure, border_value=0)
    return mask & ~eroded


def _spacing(spacing: Spacing, ndim: int) -> tuple[float, ...]:
    if spacing is None:
        return (1.0,) * ndim
    values = tuple(float(s) for s in spacing)
    if len(values) != ndim or not all(math.isfinite(s) and s > 0 for s in values):
        raise ValueError(f"spacing must be {ndim} positive numbers, got {spacing!r}")
    return values


def hd95(pred: np.ndarray, truth: np.ndarray, spacing: Spacing = None) -> float:
    """95th percentile of the symmetric boundary-to-boundary distances.

    The distances from every pred boundary pixel to the nearest truth boundary
    pixel and vice versa are pooled, and their 95th percentile returned (the
    MedPy definition), in pixels, or in mm when `spacing` gives the pixel size
    per axis (row, col). Distances come from one Euclidean distance transform
    per direction over the bounding box of both masks, so the cost is linear
    in that box, not quadratic in the boundary length. NaN if either mask is
    empty.
    """
    p, t = _as_masks(pred, truth)
    sampling = _spacing(spacing, p.ndim)
    if not p.any() or not t.any():
        return math.nan
    # Crop to the union's bounding box plus a one-pixel margin of background
    # (or the image edge, which erosion also treats as background): boundaries
    # and the distances between them are unchanged, and the erosion and
    # distance transforms run on a small array even for large images.
    coords = np.nonzero(p | t)
    box = tuple(
        slice(max(int(c.min()) - 1, 0), int(c.max()) + 2) for c in coords
    )
    p_edge = boundary(p[box])
    t_edge = boundary(t[box])
    to_truth = ndimage.distance_transform_edt(~t_edge, sampling=sampling)
    to_pred = ndimage.distance_transform_edt(~p_edge, sampling=sampling)
    distances = np.concatenate([to_truth[p_edge], to_pred[t_edge]])
    return float(np.percentile(distances, 95))


@dataclass(frozen=True)
class ImageSegmentation:
    """Scores of one image; `hd95` is NaN when either mask is empty."""

    dice: float
    iou: float
    hd95: float
    truth_empty: bool
    pred_empty: bool

    @property
    def false_positive(self) -> bool:
        """A lesion predicted on an image whose truth has none."""
        return self.truth_empty and not self.pred_empty

    @property
    def missed(self) -> bool:
        """A lesion in the truth with nothing predicted."""
        return not self.truth_empty and self.pred_empty


def score_image(pred: np.ndarray, truth: np.ndarray, spacing: Spacing = None) -> ImageSegmentation:
    """Dice, IoU and HD95 of one image, plus whether each mask was empty."""
    p, t = _as_masks(pred, truth)
    return ImageSegmentation(
        dice=dice(p, t),
        iou=iou(p, t),
        hd95=hd95(p, t, spacing),
        truth_empty=not t.any(),
        pred_empty=not p.any(),
    )


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else math.nan


def _median(values: list[float]) -> float:
    return float(np.median(values)) if values else math.nan


@dataclass(frozen=True)
class SegmentationScores:
    """Cohort summary of per-image segmentation scores.

    Dice/IoU averages cover only images whose truth has a lesion: on normal
    images Dice is 0 or 1 by convention, and mixing those in would make the
    average depend on the share of normal images rather than on outline
    quality. Normal images are judged by `n_false_positive` instead. HD95 is
    averaged over images where it is defined (both masks non-empty); misses are
    counted in `n_missed`, so read the two together.
    """

    n_images: int
    n_with_lesion: int
    n_empty_truth: int
    n_false_positive: int  # empty truth, non-empty prediction
    n_missed: int  # lesion in truth, empty prediction
    dice_mean: float
    dice_median: float
    iou_mean: float
    iou_median: float
    hd95_mean: float  # NaN-ignoring mean; pixels, or mm when spacings were given
    hd95_n: int  # images contributing to hd95_mean

    @classmethod
    def from_images(cls, images: Sequence[ImageSegmentation]) -> SegmentationScores:
        lesion = [s for s in images if not s.truth_empty]
        dices = [s.dice for s in lesion]
        ious = [s.iou for s in lesion]
        hds = [s.hd95 for s in lesion if not math.isnan(s.hd95)]
        return cls(
            n_images=len(images),
            n_with_lesion=len(lesion),
            n_empty_truth=len(images) - len(lesion),
            n_false_positive=sum(s.false_positive for s in images),
            n_missed=sum(s.missed for s in images),
            dice_mean=_mean(dices),
            dice_median=_median(dices),
            iou_mean=_mean(ious),
            iou_median=_median(ious),
            hd95_mean=_mean(hds),
            hd95_n=len(hds),
        )


def segmentation_scores(
    preds: Sequence[np.ndarray],
    truths: Sequence[np.ndarray],
    spacings: Sequence[Spacing] | None = None,
) -> SegmentationScores:
    """Score each (pred, truth) pair and summarise; `spacings` is per image (or None)."""
    if len(preds) != len(truths):
        raise ValueError(f"{len(preds)} predictions but {len(truths)} ground-truth masks")
    if spacings is not None and len(spacings) != len(preds):
        raise ValueError(f"{len(spacings)} spacings for {len(preds)} images")
    per_image = [
        score_image(p, t, None if spacings is None else spacings[i])
        for i, (p, t) in enumerate(zip(preds, truths))
    ]
    return SegmentationScores.from_images(per_image)
