"""From descriptor numbers to BI-RADS lexicon words, by fixed and documented thresholds.

Why rules and not a fitted classifier: the words are the readable summary of
the numbers, so anyone must be able to say why a lesion was called
"irregular" (its solidity was 0.87 < 0.92). The thresholds were set from the
geometry of ideal shapes (a disc or ellipse has solidity ~0.99, no lobes
beyond the ellipse's two, no convexity defect) and from the spread of each
number across the BI-RADS categories of BUS-BRA and the readers' own words
on BrEaST-Lesions-USG (quartiles in the `training descriptors` report); they
were not optimised for agreement, which is measured, not tuned.

The malignancy model (`pipeline.stacking`) uses the numbers, never the words.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

UNKNOWN = "not assessable"

# shape
ROUND_AXIS_RATIO = 0.75  # minor/major (physical) at or above this: round, else oval
IRREGULAR_SOLIDITY = 0.92  # area / hull area below this: irregular
IRREGULAR_MISMATCH = 0.22  # |mask xor moment ellipse| / area above this: irregular
IRREGULAR_DEFECT = 0.20  # deepest convexity defect / equivalent radius above this: irregular
# margin
ROUGH_MARGIN = 0.06  # perimeter / 16-harmonic perimeter - 1 above this: not smooth
MICROLOBES = 5  # local maxima of the radial profile (an ellipse has 2)
ANGULAR_TURN = 1.4  # radians turned within 1/16 lap beyond the ellipse: a corner
DEEP_DEFECT = 0.20  # as IRREGULAR_DEFECT: a cleft between lobes or spicules
SPICULATED = 0.06  # RMS of the radial profile's harmonics >= 8 ...
SPICULE_DEFECT = 0.25  # ... with clefts this deep between the projections
INDISTINCT_DEFINED = 0.35  # share of the border with a grey step above the speckle below this
# echo pattern (interior vs surrounding ring)
ANECHOIC_RATIO = 0.40  # mean ratio below this ...
ANECHOIC_DARK = 0.50  # ... with more than half the interior near black
HYPOECHOIC_RATIO = 0.70
HYPERECHOIC_RATIO = 1.10  # an interior as bright as its ring (ratio 1) is isoechoic by definition
HETEROGENEOUS = 0.32  # std of the speckle-smoothed interior / ring mean above this ...
HETEROGENEOUS_PARTS = 0.15  # ... with both dark and bright parts above this share
# posterior features (below vs beside, relative)
POSTERIOR_ENHANCEMENT = 0.25
POSTERIOR_SHADOWING = -0.25

MARGIN_SUBTYPES = ("spiculated", "angular", "microlobulated", "indistinct")  # BrEaST's order


def _finite(*values: float) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)


def shape_word(n: Mapping[str, float]) -> str:
    """oval | round | irregular."""
    if not _finite(n["solidity"], n["axis_ratio"]):
        return UNKNOWN
    if (n["solidity"] < IRREGULAR_SOLIDITY or n["ellipse_mismatch"] > IRREGULAR_MISMATCH
            or n["defect_depth"] > IRREGULAR_DEFECT):
        return "irregular"
    return "round" if n["axis_ratio"] >= ROUND_AXIS_RATIO else "oval"


def orientation_word(n: Mapping[str, float]) -> str:
    """not parallel when the lesion is taller (deeper) than wide, as BI-RADS defines it."""
    if not _finite(n["depth_width_ratio"]):
        return UNKNOWN
    return "not parallel" if n["depth_width_ratio"] > 1.0 else "parallel"


def margin_words(n: Mapping[str, float]) -> tuple[str, tuple[str, ...]]:
    """("circumscribed", ()) or ("not circumscribed", subtypes in BrEaST's order).

    A margin is circumscribed when it is smooth (low roughness, no lobes
    beyond an ellipse's, no corner, no deep cleft) AND well defined (the
    grey level steps across most of it). Each failed test names a subtype:
    spiculated (many thin projections with clefts between), angular
    (corners), microlobulated (many small undulations), indistinct (no clear
    interface). A margin that is merely rough without matching any subtype
    pattern is called microlobulated (undulating) or angular (with a cleft).
    """
    if not _finite(n["margin_roughness"], n["lobulation"], n["angularity"], n["defect_depth"]):
        return UNKNOWN, ()
    spiculated = n["spiculation"] > SPICULATED and n["defect_depth"] > SPICULE_DEFECT
    angular = not spiculated and n["angularity"] > ANGULAR_TURN and n["lobulation"] < MICROLOBES + 2
    micro = not spiculated and n["lobulation"] >= MICROLOBES and n["margin_roughness"] > ROUGH_MARGIN / 2
    defined = n["edge_defined_fraction"]
    indistinct = _finite(defined) and defined < INDISTINCT_DEFINED
    rough = (n["margin_roughness"] > ROUGH_MARGIN or n["lobulation"] >= MICROLOBES
             or n["angularity"] > ANGULAR_TURN or n["defect_depth"] > DEEP_DEFECT)
    if rough and not (spiculated or angular or micro):
        if n["defect_depth"] > DEEP_DEFECT or n["angularity"] > ANGULAR_TURN:
            angular = True
        else:
            micro = True
    flags = dict(zip(MARGIN_SUBTYPES, (spiculated, angular, micro, indistinct)))
    subtypes = tuple(name for name in MARGIN_SUBTYPES if flags[name])
    return ("not circumscribed", subtypes) if subtypes else ("circumscribed", ())


def echo_word(n: Mapping[str, float]) -> str:
    """anechoic | hypoechoic | isoechoic | hyperechoic | heterogeneous (complex)."""
    ratio, het = n["echo_ratio"], n["echo_heterogeneity"]
    dark, bright = n["dark_fraction"], n["bright_fraction"]
    if not _finite(ratio, het, dark, bright):
        return UNKNOWN
    if ratio < ANECHOIC_RATIO and dark > ANECHOIC_DARK:
        return "anechoic"
    if het > HETEROGENEOUS and dark > HETEROGENEOUS_PARTS and bright > HETEROGENEOUS_PARTS:
        return "heterogeneous"
    if ratio < HYPOECHOIC_RATIO:
        return "hypoechoic"
    return "hyperechoic" if ratio >= HYPERECHOIC_RATIO else "isoechoic"


def posterior_word(contrast: float, left: float, right: float) -> str:
    """enhancement | shadowing | none | combined (one half brighter, the other darker)."""
    if not _finite(contrast):
        return UNKNOWN
    if _finite(left, right) and min(left, right) < POSTERIOR_SHADOWING and max(left, right) > POSTERIOR_ENHANCEMENT:
        return "combined"
    if contrast > POSTERIOR_ENHANCEMENT:
        return "enhancement"
    return "shadowing" if contrast < POSTERIOR_SHADOWING else "none"


def suspicion_count(shape: str, orientation: str, margin: str, posterior: str) -> int:
    """How many of the four strongest BI-RADS signs of malignancy are present (0-4).

    Irregular shape, not parallel orientation, not circumscribed margin and
    posterior shadowing are the features the lexicon ties most to
    malignancy; counting them is how a reader's suspicion grows.
    """
    return int(shape == "irregular") + int(orientation == "not parallel") + \
        int(margin == "not circumscribed") + int(posterior == "shadowing")
