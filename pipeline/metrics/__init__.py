"""Evaluation metrics for Lesion Lens: pure numpy/scipy (sklearn for curves, on use).

One module per job, so callers import only what they need and neither
TensorFlow nor Dash is ever pulled in:

* `segmentation` - Dice, IoU, HD95 per image and cohort summaries;
* `classification` - thresholded rates, ROC/PR, calibration, thresholds,
  BI-RADS reader operating points;
* `bootstrap` - percentile confidence intervals, by image or by patient;
* `report` - JSON-ready dicts for the CLI and dashboard, subgroup tables;
* `jsonable` - numpy/NaN to plain JSON values.
"""

from pipeline.metrics.bootstrap import BootstrapResult, bootstrap, bootstrap_ci
from pipeline.metrics.classification import (
    ConfusionMatrix,
    OperatingPoint,
    PrCurve,
    ReliabilityCurve,
    RocCurve,
    ThresholdMetrics,
    average_precision,
    birads_to_ordinal,
    brier_score,
    confusion_matrix,
    expected_calibration_error,
    operating_points,
    pr_curve,
    reliability_curve,
    roc_auc,
    roc_curve,
    threshold_for_sensitivity,
    threshold_metrics,
    youden_threshold,
)
from pipeline.metrics.jsonable import to_jsonable
from pipeline.metrics.report import classification_report, segmentation_report
from pipeline.metrics.segmentation import (
    ImageSegmentation,
    SegmentationScores,
    dice,
    hd95,
    iou,
    score_image,
    segmentation_scores,
)
from pipeline.metrics.subgroups import age_band, subgroup_table

__all__ = [
    "BootstrapResult",
    "ConfusionMatrix",
    "ImageSegmentation",
    "OperatingPoint",
    "PrCurve",
    "ReliabilityCurve",
    "RocCurve",
    "SegmentationScores",
    "ThresholdMetrics",
    "age_band",
    "average_precision",
    "birads_to_ordinal",
    "bootstrap",
    "bootstrap_ci",
    "brier_score",
    "classification_report",
    "confusion_matrix",
    "dice",
    "expected_calibration_error",
    "hd95",
    "iou",
    "operating_points",
    "pr_curve",
    "reliability_curve",
    "roc_auc",
    "roc_curve",
    "score_image",
    "segmentation_report",
    "segmentation_scores",
    "subgroup_table",
    "threshold_for_sensitivity",
    "threshold_metrics",
    "to_jsonable",
    "youden_threshold",
]
