"""Shape features of a (predicted) lesion mask: size, taller-than-wide, irregularity.

Why these: the BI-RADS lexicon calls a lesion suspicious when it is
irregular, not circumscribed, and "taller than wide" (not parallel to the
skin). The image classifier sees the mask too, but handing these numbers to
the fusion model explicitly makes their weight visible and auditable.

Everything is measured on the mask at the image's own resolution with
numpy/scipy only, so training (masks predicted by the Predictor) and the
clinic (the same Predictor) compute identical values:

* `area_fraction` - lesion pixels / image pixels (always known; `area_mm2`
  only when the pixel spacing is);
* `aspect_ratio` - vertical / horizontal extent of the bounding box, in mm
  when the spacing is known (> 1 = taller than wide; ultrasound depth is the
  image's vertical axis);
* `solidity` - area / convex-hull area (1 = convex, lower = lobulated or
  spiculated);
* `normalized_perimeter` - perimeter / circumference of the disc of equal
  area (1 = disc, higher = irregular border). The perimeter is the pixel
  "crack" length times pi/4, the Cauchy-Crofton correction that makes the
  count unbiased for curves of random orientation on a square grid.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

# Names the fusion model uses (all finite when a lesion was found; NaN otherwise).
LESION_FEATURES = ("lesion_missing", "log_area_fraction", "aspect_ratio", "solidity", "normalized_perimeter")


@dataclass(frozen=True)
class LesionShape:
    """Measured shape of one mask; NaN fields when the mask is empty."""

    found: bool
    area_px: int
    area_fraction: float
    area_mm2: float | None
    aspect_ratio: float
    solidity: float
    normalized_perimeter: float

    def to_dict(self) -> dict[str, float | int | bool | None]:
        return asdict(self)


def _crack_length(mask: np.ndarray) -> int:
    """Number of pixel edges between the mask and the background (image border counts)."""
    padded = np.pad(mask, 1)
    vertical = np.count_nonzero(padded[1:, :] != padded[:-1, :])
    horizontal = np.count_nonzero(padded[:, 1:] != padded[:, :-1])
    return int(vertical + horizontal)


def _hull_area(mask: np.ndarray) -> float:
    """Area of the convex hull of the mask's pixel squares (so a single pixel has area 1)."""
    from scipy.spatial import ConvexHull, QhullError

    padded = np.pad(mask, 1)
    interior = padded[1:-1, 1:-1] & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    rows, cols = np.nonzero(mask & ~interior)  # boundary pixels carry every hull vertex
    corners = np.concatenate([np.stack([rows + dr, cols + dc], axis=1) for dr in (0, 1) for dc in (0, 1)])
    try:
        return float(ConvexHull(corners.astype(float)).volume)  # 2-D "volume" is the area
    except (QhullError, ValueError):  # degenerate (a line of pixels): the hull is the pixels
        return float(mask.sum())


def lesion_shape(mask: np.ndarray, spacing_mm: tuple[float, float] | None = None) -> LesionShape:
    """Shape features of the largest-region mask the Predictor returns (bool H x W)."""
    mask = np.asarray(mask, dtype=bool)
    area = int(mask.sum())
    if area == 0:
        nan = math.nan
        return LesionShape(False, 0, 0.0, None, nan, nan, nan)
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    height_px, width_px = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    row_mm, col_mm = spacing_mm if spacing_mm else (1.0, 1.0)
    aspect = (height_px * row_mm) / (width_px * col_mm)
    solidity = min(1.0, area / max(_hull_area(mask), 1.0))
    perimeter = _crack_length(mask) * math.pi / 4.0
    normalized_perimeter = perimeter / (2.0 * math.sqrt(math.pi * area))
    area_mm2 = area * row_mm * col_mm if spacing_mm else None
    return LesionShape(True, area, area / mask.size, area_mm2, float(aspect), float(solidity),
                       float(normalized_perimeter))


def shape_features(shape: LesionShape) -> dict[str, float]:
    """The `LESION_FEATURES` of one shape (NaN where unknown, imputed by the fusion model)."""
    if not shape.found:
        return {name: (1.0 if name == "lesion_missing" else math.nan) for name in LESION_FEATURES}
    return {
        "lesion_missing": 0.0,
        "log_area_fraction": math.log(max(shape.area_fraction, 1e-6)),
        "aspect_ratio": shape.aspect_ratio,
        "solidity": shape.solidity,
        "normalized_perimeter": shape.normalized_perimeter,
    }


def lesion_features(mask: np.ndarray, spacing_mm: tuple[float, float] | None = None) -> dict[str, float]:
    """`shape_features(lesion_shape(mask, spacing_mm))`: the fusion model's lesion inputs."""
    return shape_features(lesion_shape(mask, spacing_mm))
