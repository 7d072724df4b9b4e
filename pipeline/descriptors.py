"""BI-RADS ultrasound lexicon descriptors of one lesion, in the radiologist's words.

Why: a diagnosis has to be explained the way a radiologist would read the
image (ACR BI-RADS Atlas, 5th ed., ultrasound lexicon for masses): shape,
orientation, margin, echo pattern, posterior features. `describe_lesion`
measures each from the lesion mask (at the image's own resolution) and the
8-bit grey image, and returns both the numbers a model needs and the words a
report shows. Pure numpy/scipy (see `descriptor_geometry` and
`descriptor_intensity` for how each number is measured). Cost grows with
the lesion's area: median 6 ms of CPU per BUS-BRA image (p95 11 ms), 16 ms
for its largest lesion (84,000 px); tests/unit/test_descriptors.py holds a
600 x 500 image to < 20 ms.

The words come from fixed, documented thresholds on the numbers below,
chosen on the geometry of ideal shapes and checked against the readers of
BrEaST-Lesions-USG (`python -m training descriptors`); they are a readable
summary. The model (`pipeline.stacking`) uses the numbers, not the words.

An empty mask gives `found=False`, NaN numbers and the word "no lesion":
never an exception, because "nothing was found" is a legitimate answer.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np

from pipeline import descriptor_geometry as geo
from pipeline import descriptor_words as words
from pipeline.descriptor_intensity import border_measures, echo_measures, posterior_measures
from pipeline.descriptor_words import UNKNOWN

NO_LESION = "no lesion"
MIN_AREA_PX = 9  # below this a mask is a speck, not a shape (a 3 x 3 square)
TURN_WINDOW = 16  # the turning angle (angularity) is measured over 1/16 of a lap
ROUGHNESS_HARMONICS = 16  # margin roughness: perimeter relative to the 16-harmonic outline's
LOG_EPS = 1e-3


@dataclass(frozen=True)
class LesionDescriptors:
    """Numbers (NaN when unknown) and words of one lesion; `found` is False for an empty mask."""

    found: bool
    # size and shape
    area_px: float
    equivalent_diameter_mm: float  # NaN without a pixel spacing
    axis_ratio: float  # minor / major of the moment ellipse (1 = round)
    solidity: float  # area / convex hull area
    circularity: float  # 4 pi area / perimeter^2 (1 = disc)
    convexity: float  # hull perimeter / perimeter (1 = convex)
    ellipse_mismatch: float  # |mask xor moment ellipse| / area (0 = ellipse)
    # orientation
    depth_width_ratio: float  # vertical / horizontal extent (mm when spacing given); > 1 taller than wide
    major_axis_angle: float  # degrees between major axis and the skin line (0-90)
    # margin
    radial_std: float  # std of centroid-to-boundary distance / its mean
    ellipse_residual: float  # RMS (outline - ellipse) / equivalent radius
    margin_roughness: float  # perimeter / perimeter of the 16-harmonic outline - 1 (0 = smooth)
    lobulation: float  # local maxima of the normalised radial profile
    spiculation: float  # RMS amplitude of its harmonics >= 8
    angularity: float  # max turning of the outline over 1/16 lap beyond the ellipse's (radians)
    concave_fraction: float  # share of the outline curving inwards
    defect_depth: float  # deepest convexity defect / equivalent radius
    defect_count: float  # defects deeper than 8 % of r_eq
    edge_contrast: float  # (outside - inside) across the border / speckle spread
    edge_sharpness: float  # near / far grey step across the border
    edge_defined_fraction: float  # share of the border with a step above the speckle
    # echo pattern
    echo_ratio: float  # interior / surrounding ring mean grey
    echo_heterogeneity: float
    dark_fraction: float
    bright_fraction: float
    # posterior features
    posterior_contrast: float  # (below - beside) / beside
    posterior_asymmetry: float  # |left half - right half| of the region below
    # words
    shape: str  # oval | round | irregular
    orientation: str  # parallel | not parallel
    margin: str  # circumscribed | not circumscribed
    margin_subtypes: tuple[str, ...]  # of: angular, spiculated, microlobulated, indistinct
    echo_pattern: str  # anechoic | hypoechoic | isoechoic | hyperechoic | heterogeneous
    posterior: str  # enhancement | shadowing | none | combined

    def words(self) -> dict[str, str]:
        """The lexicon words, margin written as BrEaST-Lesions-USG writes it ('not circumscribed - a&b')."""
        margin = self.margin
        if self.margin_subtypes:
            margin = f"{margin} - {'&'.join(self.margin_subtypes)}"
        return {"shape": self.shape, "orientation": self.orientation, "margin": margin,
                "echo_pattern": self.echo_pattern, "posterior": self.posterior}

    def sentence(self) -> str:
        """One line a report can show, e.g. 'Irregular, not parallel mass; margin not circumscribed ...'."""
        if not self.found:
            return "No lesion found."
        w = self.words()
        posterior = "no posterior features" if self.posterior == "none" else f"posterior {self.posterior}"
        return (f"{self.shape.capitalize()}, {self.orientation} mass; margin {w['margin'].replace('&', ', ')}; "
                f"{self.echo_pattern}; {posterior}.")

    def to_dict(self) -> dict:
        return asdict(self)


NUMERIC_FIELDS = tuple(f.name for f in fields(LesionDescriptors) if f.type in ("float", float))

# The model's inputs: (name, descriptor field, transform). Transforms put each
# number on a scale where a logistic model is near-linear: ratios and
# energies that span decades get a log, solidity and convexity the log of
# what they lack (1 - x), counts log1p. Chosen a priori, one to three per
# lexicon category; all are measurable without a pixel spacing.
MODEL_FEATURES: tuple[tuple[str, str, str], ...] = (
    ("log_hull_deficit", "solidity", "log1m"),
    ("log_convexity_deficit", "convexity", "log1m"),
    ("log_ellipse_mismatch", "ellipse_mismatch", "log"),
    ("log_depth_width_ratio", "depth_width_ratio", "log"),
    ("major_axis_angle", "major_axis_angle", "identity"),
    ("log_margin_roughness", "margin_roughness", "log"),
    ("log_lobulation", "lobulation", "log1p"),
    ("log_spiculation", "spiculation", "log"),
    ("log_angularity", "angularity", "log"),
    ("log_defect_depth", "defect_depth", "log"),
    ("edge_contrast", "edge_contrast", "identity"),
    ("edge_sharpness", "edge_sharpness", "identity"),
    ("edge_defined_fraction", "edge_defined_fraction", "identity"),
    ("echo_ratio", "echo_ratio", "identity"),
    ("log_echo_heterogeneity", "echo_heterogeneity", "log"),
    ("posterior_contrast", "posterior_contrast", "identity"),
    ("posterior_asymmetry", "posterior_asymmetry", "identity"),
)
DESCRIPTOR_FEATURES: tuple[str, ...] = tuple(name for name, _, _ in MODEL_FEATURES)

# What each model feature means to a reader (for explanations: "which pushed the decision").
FEATURE_MEANING: dict[str, str] = {
    "log_hull_deficit": "irregular shape (solidity)",
    "log_convexity_deficit": "irregular outline (convexity)",
    "log_ellipse_mismatch": "departure from an oval",
    "log_depth_width_ratio": "taller than wide (orientation)",
    "major_axis_angle": "tilt of the long axis",
    "log_margin_roughness": "rough margin",
    "log_lobulation": "lobulated margin",
    "log_spiculation": "spiculated margin",
    "log_angularity": "angular margin",
    "log_defect_depth": "deep clefts in the margin",
    "edge_contrast": "border contrast",
    "edge_sharpness": "border sharpness",
    "edge_defined_fraction": "well-defined border (vs indistinct)",
    "echo_ratio": "echogenicity vs surrounding tissue",
    "log_echo_heterogeneity": "heterogeneous echo pattern",
    "posterior_contrast": "posterior enhancement (+) or shadowing (-)",
    "posterior_asymmetry": "uneven posterior pattern",
}


def _transform(value: float, kind: str) -> float:
    if not math.isfinite(value):
        return math.nan
    if kind == "log":
        return math.log(max(value, 0.0) + LOG_EPS)
    if kind == "log1m":
        return math.log(max(1.0 - value, 0.0) + LOG_EPS)
    if kind == "log1p":
        return math.log1p(max(value, 0.0))
    return value


def _empty(area_px: int, word: str) -> LesionDescriptors:
    """All numbers NaN; `found` only when some lesion pixels were marked (too few to describe)."""
    values = {name: math.nan for name in NUMERIC_FIELDS}
    values["area_px"] = float(area_px)
    return LesionDescriptors(found=area_px > 0, **values, shape=word, orientation=word, margin=word,
                             margin_subtypes=(), echo_pattern=word, posterior=word)


def describe_lesion(image: np.ndarray, mask: np.ndarray,
                    spacing_mm: float | tuple[float, float] | None = None) -> LesionDescriptors:
    """BI-RADS descriptors of the largest lesion in `mask` (bool H x W) on `image` (uint8 H x W).

    `spacing_mm` (row, col) or one isotropic value makes orientation physical
    and adds the diameter in mm; without it pixels are taken as square.
    """
    mask = np.asarray(mask, dtype=bool)
    image = np.asarray(image)
    if image.ndim != 2 or mask.shape != image.shape:
        raise ValueError(f"image {image.shape} and mask {mask.shape} must be the same 2-D shape")
    if isinstance(spacing_mm, (int, float)):
        spacing_mm = (float(spacing_mm), float(spacing_mm))
    found = geo.lesion_crop(mask)
    if found is None:
        return _empty(0, NO_LESION)
    crop, offset = found
    area = int(crop.sum())
    if area < MIN_AREA_PX:  # a speck: a lesion was marked, but it has no shape to describe
        return _empty(area, UNKNOWN)
    outline = geo.radial_outline(crop, offset)
    ellipse_px = geo.moment_ellipse(crop)
    ellipse = geo.moment_ellipse(crop, spacing_mm) if spacing_mm else ellipse_px
    r_eq = outline.equivalent_radius
    k_max = geo.resolvable_harmonics(r_eq)
    rho = outline.radius / max(outline.radius.mean(), 1e-9)
    points = outline.points()
    defect, n_defects, hull_area, hull_perimeter = geo.convexity_defects(points, r_eq)
    contour = geo.perimeter(points)
    smooth_contour = geo.perimeter(geo.lowpass_points(outline.theta, outline.radius, ROUGHNESS_HARMONICS))
    r_ellipse = geo.ellipse_radius(ellipse_px, outline.theta)
    k_curv = min(geo.CURVATURE_HARMONICS, k_max)
    curvature = geo.polar_curvature(outline.radius, k_curv)
    window = outline.theta.size // TURN_WINDOW
    excess = (geo.turning(geo.lowpass_points(outline.theta, outline.radius, k_curv), window)
              - geo.turning(geo.lowpass_points(outline.theta, r_ellipse, k_curv), window))
    row_mm, col_mm = spacing_mm if spacing_mm else (1.0, 1.0)
    depth_width = crop.shape[0] * row_mm / (crop.shape[1] * col_mm)
    echo = echo_measures(image, crop, offset, outline)
    border = border_measures(image, outline, echo.ring_spread)
    post = posterior_measures(image, crop.shape, offset)
    n = {
        "area_px": float(area),
        "equivalent_diameter_mm": 2 * math.sqrt(outline.area_px * row_mm * col_mm / math.pi) if spacing_mm else math.nan,
        "axis_ratio": ellipse.minor / max(ellipse.major, 1e-9),
        "solidity": min(1.0, outline.area_px / hull_area) if hull_area > 0 else 1.0,
        "circularity": min(1.0, 4 * math.pi * outline.area_px / contour ** 2) if contour > 0 else 1.0,
        "convexity": min(1.0, hull_perimeter / contour) if contour > 0 else 1.0,
        "ellipse_mismatch": geo.ellipse_mismatch(crop, ellipse_px),
        "depth_width_ratio": float(depth_width),
        "major_axis_angle": abs(math.degrees(ellipse.angle)),
        "radial_std": float(rho.std()),
        "ellipse_residual": float(np.sqrt(np.mean((outline.radius - r_ellipse) ** 2)) / r_eq),
        "margin_roughness": max(contour / smooth_contour - 1.0, 0.0) if smooth_contour > 0 else 0.0,
        "lobulation": float(geo.count_lobes(rho, min(geo.LOBE_HARMONICS, k_max))),
        "spiculation": geo.harmonic_energy(rho, geo.HF_FROM, k_max),
        "angularity": float(excess.max()),
        "concave_fraction": float(np.mean(curvature < 0)),
        "defect_depth": defect,
        "defect_count": float(n_defects),
        "edge_contrast": border.edge_contrast,
        "edge_sharpness": border.edge_sharpness,
        "edge_defined_fraction": border.defined_fraction,
        "echo_ratio": echo.echo_ratio,
        "echo_heterogeneity": echo.echo_heterogeneity,
        "dark_fraction": echo.dark_fraction,
        "bright_fraction": echo.bright_fraction,
        "posterior_contrast": post.posterior_contrast,
        "posterior_asymmetry": abs(post.posterior_left - post.posterior_right),
    }
    n = {k: float(v) for k, v in n.items()}
    margin, subtypes = words.margin_words(n)
    return LesionDescriptors(
        found=True, **n, shape=words.shape_word(n), orientation=words.orientation_word(n),
        margin=margin, margin_subtypes=subtypes, echo_pattern=words.echo_word(n),
        posterior=words.posterior_word(post.posterior_contrast, post.posterior_left, post.posterior_right),
    )


def descriptor_features(descriptors: LesionDescriptors) -> dict[str, float]:
    """The model inputs `DESCRIPTOR_FEATURES` of one lesion, in order (NaN where unknown: the model imputes)."""
    return {name: _transform(float(getattr(descriptors, field)), kind) for name, field, kind in MODEL_FEATURES}


def lesion_descriptor_features(image: np.ndarray, mask: np.ndarray,
                               spacing_mm: float | tuple[float, float] | None = None) -> dict[str, float]:
    """`descriptor_features(describe_lesion(image, mask, spacing_mm))`."""
    return descriptor_features(describe_lesion(image, mask, spacing_mm))
