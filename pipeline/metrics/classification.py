"""Benign-vs-malignant classification metrics.

Everything takes `y_true` (1 = malignant, 0 = benign; bools accepted) and a
score, usually the calibrated P(malignant). A case is called malignant when
`score >= threshold`, the same rule the predictor uses.

Undefined values are NaN, never exceptions: a subgroup with no malignant
cases has no sensitivity, and a dashboard filter must not crash because of it.
Input mistakes (mismatched lengths, labels other than 0/1, NaN scores) do
raise `ValueError`, because they are bugs upstream, not facts about the data.

AUC is computed from ranks (Mann-Whitney U) with numpy alone, so the bootstrap
can call it a thousand times; it equals sklearn's `roc_auc_score`, ties
included. The curves themselves come from sklearn, imported on first use so
that importing this module stays cheap.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "BIRADS_ORDINAL",
    "CARD_THRESHOLD_LIMITS",
    "ConfusionMatrix",
    "OperatingPoint",
    "PrCurve",
    "ReliabilityCurve",
    "RocCurve",
    "ThresholdMetrics",
    "average_precision",
    "birads_to_ordinal",
    "brier_score",
    "confusion_matrix",
    "expected_calibration_error",
    "operating_points",
    "pr_curve",
    "reliability_curve",
    "roc_auc",
    "roc_curve",
    "threshold_for_sensitivity",
    "threshold_metrics",
    "youden_threshold",
]

# a model card's probability threshold stays strictly inside (0, 1) (see youden_threshold)
CARD_THRESHOLD_LIMITS = (1e-4, 1 - 1e-4)


# ---------------------------------------------------------------- validation


def as_labels(y_true: Sequence | np.ndarray) -> np.ndarray:
    """`y_true` as a 1-D bool array; raises if any label is not 0/1."""
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise ValueError(f"y_true must be 1-D, got shape {y.shape}")
    if y.dtype == bool:
        return y
    if y.dtype.kind not in "iuf":
        raise ValueError(f"y_true must hold 0/1 (1 = malignant), got dtype {y.dtype}")
    bad = ~np.isin(y, (0, 1))
    if bad.any():
        raise ValueError(f"y_true must hold only 0 and 1 (1 = malignant); found {y[bad][0]!r}")
    return y.astype(bool)


def as_scores(score: Sequence | np.ndarray, n: int, *, probability: bool = False) -> np.ndarray:
    """`score` as a finite 1-D float array of length `n` (in [0, 1] if `probability`)."""
    s = np.asarray(score, dtype=float)
    if s.ndim != 1 or s.shape[0] != n:
        raise ValueError(f"expected {n} scores to match y_true, got shape {s.shape}")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite numbers (found NaN or infinity)")
    if probability and s.size and (s.min() < 0.0 or s.max() > 1.0):
        raise ValueError("probabilities must lie in [0, 1]")
    return s


def labels_and_scores(y_true, score, *, probability: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """`as_labels(y_true)` and `as_scores(score, len(y_true), probability=...)`: the checked inputs of every metric."""
    y = as_labels(y_true)
    return y, as_scores(score, y.shape[0], probability=probability)


def _safe_div(num: float, den: float) -> float:
    return num / den if den else math.nan


# ---------------------------------------------------------------- thresholded


@dataclass(frozen=True)
class ConfusionMatrix:
    """Counts at one threshold; positive = malignant."""

    tn: int
    fp: int
    fn: int
    tp: int

    @property
    def n(self) -> int:
        return self.tn + self.fp + self.fn + self.tp

    @property
    def n_positive(self) -> int:
        return self.tp + self.fn

    @property
    def n_negative(self) -> int:
        return self.tn + self.fp


def confusion_matrix(y_true, prob, threshold: float = 0.5) -> ConfusionMatrix:
    """(tn, fp, fn, tp) with `prob >= threshold` called malignant."""
    y = as_labels(y_true)
    called = as_scores(prob, y.shape[0]) >= threshold
    return ConfusionMatrix(
        tn=int(np.sum(~y & ~called)),
        fp=int(np.sum(~y & called)),
        fn=int(np.sum(y & ~called)),
        tp=int(np.sum(y & called)),
    )


@dataclass(frozen=True)
class ThresholdMetrics:
    """Rates at one operating threshold; NaN where a denominator is zero."""

    threshold: float
    tn: int
    fp: int
    fn: int
    tp: int
    accuracy: float
    sensitivity: float  # recall, TPR: tp / (tp + fn)
    specificity: float  # TNR: tn / (tn + fp)
    precision: float  # PPV: tp / (tp + fp)
    npv: float  # tn / (tn + fn)
    f1: float  # 2tp / (2tp + fp + fn)

    @classmethod
    def from_confusion(cls, cm: ConfusionMatrix, threshold: float) -> ThresholdMetrics:
        return cls(
            threshold=float(threshold),
            tn=cm.tn,
            fp=cm.fp,
            fn=cm.fn,
            tp=cm.tp,
            accuracy=_safe_div(cm.tp + cm.tn, cm.n),
            sensitivity=_safe_div(cm.tp, cm.tp + cm.fn),
            specificity=_safe_div(cm.tn, cm.tn + cm.fp),
            precision=_safe_div(cm.tp, cm.tp + cm.fp),
            npv=_safe_div(cm.tn, cm.tn + cm.fn),
            f1=_safe_div(2 * cm.tp, 2 * cm.tp + cm.fp + cm.fn),
        )


def threshold_metrics(y_true, prob, threshold: float = 0.5) -> ThresholdMetrics:
    """Confusion counts and every rate derived from them at `threshold`."""
    return ThresholdMetrics.from_confusion(confusion_matrix(y_true, prob, threshold), threshold)


# ---------------------------------------------------------------- ranking


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given their average rank (scipy's 'average')."""
    n = values.shape[0]
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    new = np.empty(n, dtype=bool)
    new[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], n)  # exclusive
    tie_rank = (starts + 1 + ends) / 2.0  # mean of positions starts+1 .. ends
    ranks = np.empty(n, dtype=float)
    ranks[order] = tie_rank[np.cumsum(new) - 1]
    return ranks


def roc_auc(y_true, score) -> float:
    """Area under the ROC curve via Mann-Whitney U; NaN unless both classes occur.

    Equals P(score of a random malignant > score of a random benign) with ties
    counted as one half, which is exactly the trapezoidal ROC area.
    """
    y, s = labels_and_scores(y_true, score)
    n_pos = int(y.sum())
    n_neg = y.shape[0] - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    rank_sum = float(average_ranks(s)[y].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


@dataclass(frozen=True, eq=False)
class RocCurve:
    """ROC points ordered by decreasing threshold (first threshold is +inf)."""

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    auc: float


@dataclass(frozen=True, eq=False)
class PrCurve:
    """Precision-recall points (sklearn order: recall decreasing) and average precision."""

    precision: np.ndarray
    recall: np.ndarray
    thresholds: np.ndarray
    average_precision: float


def roc_curve(y_true, score) -> RocCurve:
    """ROC curve (sklearn) and AUC; empty arrays and NaN AUC when a class is missing."""
    y, s = labels_and_scores(y_true, score)
    if y.all() or not y.any():
        empty = np.empty(0)
        return RocCurve(empty, empty.copy(), empty.copy(), math.nan)
    from sklearn.metrics import roc_curve as _sk_roc_curve

    fpr, tpr, thresholds = _sk_roc_curve(y, s)
    return RocCurve(fpr=fpr, tpr=tpr, thresholds=thresholds, auc=roc_auc(y, s))


def average_precision(y_true, score) -> float:
    """Average precision (sklearn, step-wise area under PR); NaN with no malignant cases."""
    y, s = labels_and_scores(y_true, score)
    if not y.any():
        return math.nan
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y, s))


def pr_curve(y_true, score) -> PrCurve:
    """Precision-recall curve; empty arrays and NaN AP with no malignant cases."""
    y, s = labels_and_scores(y_true, score)
    if not y.any():
        empty = np.empty(0)
        return PrCurve(empty, empty.copy(), empty.copy(), math.nan)
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(y, s)
    return PrCurve(precision, recall, thresholds, average_precision(y, s))


# ---------------------------------------------------------------- calibration


def brier_score(y_true, prob) -> float:
    """Mean squared error of the probabilities (0 = perfect); NaN when empty."""
    y, p = labels_and_scores(y_true, prob, probability=True)
    if p.size == 0:
        return math.nan
    return float(np.mean((p - y) ** 2))


@dataclass(frozen=True, eq=False)
class ReliabilityCurve:
    """Per equal-width bin [lower, upper): mean predicted probability, observed
    malignant frequency and count. Every bin is listed; empty bins have NaN
    means and count 0 so arrays from different models line up."""

    bin_lower: np.ndarray
    bin_upper: np.ndarray
    mean_predicted: np.ndarray
    observed_frequency: np.ndarray
    count: np.ndarray

    @property
    def ece(self) -> float:
        """Count-weighted mean |mean_predicted - observed_frequency|."""
        total = int(self.count.sum())
        if total == 0:
            return math.nan
        filled = self.count > 0
        gaps = np.abs(self.mean_predicted[filled] - self.observed_frequency[filled])
        return float(np.sum(gaps * self.count[filled]) / total)


def reliability_curve(y_true, prob, n_bins: int = 10) -> ReliabilityCurve:
    """Bin probabilities into `n_bins` equal-width bins; 1.0 falls in the last bin."""
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    y, p = labels_and_scores(y_true, prob, probability=True)
    idx = np.minimum((p * n_bins).astype(int), n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    sum_p = np.bincount(idx, weights=p, minlength=n_bins)
    sum_y = np.bincount(idx, weights=y.astype(float), minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.where(count > 0, sum_p / np.maximum(count, 1), np.nan)
        freq = np.where(count > 0, sum_y / np.maximum(count, 1), np.nan)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return ReliabilityCurve(edges[:-1], edges[1:], mean_p, freq, count)


def expected_calibration_error(y_true, prob, n_bins: int = 10) -> float:
    """ECE over equal-width bins (default 10); 0 = calibrated, NaN when empty."""
    return reliability_curve(y_true, prob, n_bins).ece


# ---------------------------------------------------------------- thresholds


def youden_threshold(y_true, score, *, fallback: float = math.nan, limits: tuple[float, float] | None = None) -> float:
    """Threshold maximising Youden's J = sensitivity + specificity - 1.

    Candidates are the observed scores (so `score >= t` reproduces the ROC
    point); on ties the highest threshold wins, i.e. the more specific one.
    `fallback` (NaN by default) unless both classes occur.

    `limits=(low, high)` is for a model card's operating threshold on a
    probability: the result is clipped into [low, high], and "call nothing
    malignant" (a threshold above every score, J = 0) is a candidate too, so a
    model no better than chance gets `high` rather than one of its scores.
    Training writes its cards with `fallback=0.5, limits=CARD_THRESHOLD_LIMITS`.
    """
    y, s = labels_and_scores(y_true, score)
    if y.all() or not y.any():
        return fallback
    from sklearn.metrics import roc_curve as _sk_roc_curve

    if limits is not None:
        # sklearn's default curve (corner points only; thresholds[0] lies above every score): the curve every
        # bundle's threshold was chosen on, kept so that retraining gives the same card (J ties within float
        # rounding can fall differently on the full curve)
        fpr, tpr, thresholds = _sk_roc_curve(y, s)
        return float(np.clip(thresholds[int(np.argmax(tpr - fpr))], *limits))
    fpr, tpr, thresholds = _sk_roc_curve(y, s, drop_intermediate=False)
    j = tpr - fpr
    finite = np.isfinite(thresholds)
    return float(thresholds[finite][int(np.argmax(j[finite]))])


def threshold_for_sensitivity(y_true, score, target: float) -> float:
    """Highest threshold whose sensitivity (score >= t) is at least `target`.

    The highest such threshold keeps specificity as high as possible for the
    requested sensitivity, the usual way to set a screening operating point.
    NaN with no malignant cases.
    """
    if not 0.0 < target <= 1.0:
        raise ValueError(f"target sensitivity must be in (0, 1], got {target}")
    y, s = labels_and_scores(y_true, score)
    positives = np.sort(s[y])[::-1]
    if positives.size == 0:
        return math.nan
    # Smallest count k of malignant cases with k / n_pos >= target; the small
    # tolerance stops 0.9 * 10 = 9.000000000000002 from demanding 10.
    k = max(1, math.ceil(target * positives.size - 1e-9))
    return float(positives[k - 1])


# ---------------------------------------------------------------- BI-RADS


BIRADS_ORDINAL: dict[str, int] = {
    "1": 1,
    "2": 2,
    "3": 3,
    "4": 4,  # unsubdivided 4 sorts with 4a, the lowest suspicious category
    "4a": 4,
    "4b": 5,
    "4c": 6,
    "5": 7,
    "6": 8,
}


def _birads_key(value: object) -> str:
    if isinstance(value, (int, np.integer)) or (
        isinstance(value, (float, np.floating)) and float(value).is_integer()
    ):
        return str(int(value))
    text = str(value).strip().lower()
    text = re.sub(r"^(bi-?rads|birads)\s*", "", text)
    return text.replace(" ", "")


def birads_to_ordinal(categories: Sequence) -> np.ndarray:
    """Map BI-RADS categories (1-6, with 4a/4b/4c; strings or numbers) to ordinals.

    Ordinals: 1, 2, 3, 4 = 4a (or plain 4), 5 = 4b, 6 = 4c, 7 = 5, 8 = 6.
    BI-RADS 0 (incomplete) and anything unknown raise `ValueError`: they carry
    no suspicion level and must be filtered out before computing operating points.
    """
    out = np.empty(len(categories), dtype=int)
    for i, value in enumerate(categories):
        key = _birads_key(value)
        if key not in BIRADS_ORDINAL:
            raise ValueError(
                f"unknown BI-RADS category {value!r}; expected one of "
                f"{', '.join(BIRADS_ORDINAL)} (drop BI-RADS 0 / missing first)"
            )
        out[i] = BIRADS_ORDINAL[key]
    return out


@dataclass(frozen=True)
class OperatingPoint:
    """Reader performance when `score >= cut` is called malignant."""

    cut: float
    label: str  # e.g. "4b" for BI-RADS input, else the cut as text
    fpr: float
    tpr: float
    n_called_positive: int


def operating_points(y_true, ordinal_scores) -> list[OperatingPoint]:
    """One (fpr, tpr) point per observed category, cut as "category >= k".

    `ordinal_scores` may be BI-RADS strings ("4a", "BI-RADS 5", 3, ...), which
    are mapped with `birads_to_ordinal`, or any numeric ordinal scale. The
    points are ordered by increasing cut, i.e. from (1, 1) towards (0, 0),
    ready to overlay on the model's ROC curve. FPR/TPR are NaN when a class is
    missing.
    """
    y = as_labels(y_true)
    raw = np.asarray(ordinal_scores)
    if raw.ndim != 1:
        raise ValueError(f"reader scores must be 1-D, got shape {raw.shape}")
    labels: dict[float, str] = {}
    if raw.dtype.kind in "iuf":
        scores = as_scores(raw, y.shape[0])
    else:
        # BI-RADS text: label each cut the way the data spelled that level.
        scores = birads_to_ordinal(raw).astype(float)
        spelled: dict[float, set[str]] = {}
        for value, ordinal in zip(raw, scores):
            spelled.setdefault(float(ordinal), set()).add(_birads_key(value))
        labels = {k: "/".join(sorted(v)) for k, v in spelled.items()}
    if scores.shape[0] != y.shape[0]:
        raise ValueError(f"expected {y.shape[0]} reader scores, got {scores.shape[0]}")
    n_pos = int(y.sum())
    n_neg = y.shape[0] - n_pos
    points = []
    for cut in np.unique(scores):
        called = scores >= cut
        label = labels.get(float(cut), f"{cut:g}")
        points.append(
            OperatingPoint(
                cut=float(cut),
                label=label,
                fpr=_safe_div(int(np.sum(called & ~y)), n_neg),
                tpr=_safe_div(int(np.sum(called & y)), n_pos),
                n_called_positive=int(called.sum()),
            )
        )
    return points
