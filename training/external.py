"""External validation: which data a bundle saw, and its in-domain figures.

An "external" figure is only external if the model never saw any of that
dataset, including through `--init-from` (transfer learning copies another
bundle's weights, so that bundle's training data counts too). Datasets are
compared by source, not by spelling: `busbra:../x` and `bus-bra:/abs/x` are
the same public dataset wherever the copy lives; for `manifest:` and `busi:`
(anyone's data in a generic layout) the resolved path decides.

In-domain numbers come, in order of preference, from an explicit file
(`--in-domain` metrics.json / fold_metrics.json / cv_summary.json), the
bundle card's cross-validated metrics (ensembles), or the held-out fold
metrics written next to a CV fold bundle (`fold_K/fold_metrics.json`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.bundle import training_specs
from pipeline.card import BundleCard
from pipeline.datasets import LOADERS, parse_spec
from pipeline.errors import LesionLensError
from pipeline.metrics.jsonable import to_jsonable

log = logging.getLogger(__name__)
SUMMARY_KEYS = ("dice", "auc", "auc_ci95", "sensitivity", "specificity", "ece", "brier",
                "calibration_slope", "calibration_intercept", "n")


class ExternalValidationError(LesionLensError):
    """The requested 'external' evaluation would not be external, or lacks inputs."""


@dataclass(frozen=True)
class DatasetIdentity:
    """What makes two specs the same data: the loader, plus the path for generic layouts."""

    source: str
    location: str | None

    def describe(self) -> str:
        return self.source + (f" at {self.location}" if self.location else "")


def dataset_identity(spec: str) -> DatasetIdentity:
    scheme, rest = parse_spec(spec)
    source = LOADERS[scheme].__module__.rsplit(".", 1)[-1]  # aliases share a loader module
    if source in ("manifest", "busi"):
        return DatasetIdentity(source, str(Path(rest).expanduser().resolve()))
    return DatasetIdentity(source, None)


def refuse_if_seen(card: BundleCard, spec: str) -> None:
    """Raise ExternalValidationError when `spec` is (part of) the bundle's training data
    (its own dataset or that of any --init-from source)."""
    target = dataset_identity(spec)
    seen = training_specs(card.training)
    if not seen:
        raise ExternalValidationError(
            f"bundle {card.name!r} does not record its training data (bundle.json 'training.dataset'); "
            "cannot tell whether this evaluation is external")
    for trained in seen:
        try:
            identity = dataset_identity(trained)
        except LesionLensError:
            continue  # a scheme this build no longer knows cannot be the target
        if identity == target:
            raise ExternalValidationError(
                f"bundle {card.name!r} was trained on {trained!r}, the same dataset as {spec!r} "
                f"({target.describe()}): that is an in-domain evaluation, use `python -m training evaluate` "
                "(or cv) instead")


def calibration_stats(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from pipeline.metrics.calibration_fit import calibration_slope_intercept

    fit = calibration_slope_intercept(y, p)
    return {"calibration_slope": fit.slope, "calibration_intercept": fit.intercept}


def summary_from_metrics(metrics: dict[str, Any], predictions: pd.DataFrame | None = None) -> dict[str, Any]:
    """The headline keys from a metrics.json-shaped dict (+ calibration fit when predictions exist)."""
    cls, seg = metrics.get("classification") or {}, metrics.get("segmentation") or {}
    out = {"dice": seg.get("dice"), **{k: cls.get(k) for k in ("auc", "auc_ci95", "sensitivity", "specificity",
                                                                "ece", "brier", "n")}}
    if predictions is not None:
        rows = predictions[predictions["malignant"].notna()]
        if rows["malignant"].nunique() == 2:
            out.update(calibration_stats(rows["malignant"].to_numpy(int), rows["probability"].to_numpy(float)))
    return to_jsonable(out)


def _predictions_beside(path: Path) -> pd.DataFrame | None:
    for name in ("predictions.csv", "oof_predictions.csv"):
        if (path.parent / name).is_file():
            return pd.read_csv(path.parent / name)
    return None


def in_domain_summary(bundle_dir: Path, card: BundleCard | None, explicit: str | None = None) -> dict[str, Any] | None:
    """In-domain headline figures and where they came from; None when none are recorded."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ExternalValidationError(f"--in-domain {explicit}: file not found")
        data = json.loads(path.read_text())
        metrics = data.get("pooled") if "pooled" in data else data  # cv_summary.json vs metrics.json
        if not metrics or "classification" not in metrics:
            raise ExternalValidationError(f"--in-domain {explicit}: no classification metrics in it")
        return {"source": str(path), **summary_from_metrics(metrics, _predictions_beside(path))}
    pooled = card.metrics.pooled_oof if card else None
    if pooled and "classification" in pooled:
        return {"source": "bundle cross-validation", **summary_from_metrics(pooled)}
    fold_metrics = bundle_dir / "fold_metrics.json"
    if fold_metrics.is_file():  # a CV fold bundle: its own held-out fold is its in-domain test
        return {"source": str(fold_metrics),
                **summary_from_metrics(json.loads(fold_metrics.read_text()), _predictions_beside(fold_metrics))}
    return None


def external_markdown(result: dict[str, Any]) -> str:
    inside, outside = result.get("in_domain") or {}, result["external"]

    def cell(section: dict[str, Any], key: str) -> str:
        value = section.get(key)
        if value is None:
            return "n/a"
        if key == "n":
            return str(value)
        ci = section.get(f"{key}_ci95")
        return f"{value:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci and None not in ci else "")

    lines = [
        f"Model `{result['model']}`: in-domain ({inside.get('source', 'not recorded')}) vs external "
        f"(`{outside['dataset']}`, never seen in training).",
        "",
        "| metric | in-domain | external |",
        "|---|---|---|",
    ]
    names = {"n": "images (benign/malignant)", "dice": "Dice", "auc": "AUC [95% CI]", "ece": "ECE",
             "calibration_slope": "calibration slope (1 = ideal)",
             "calibration_intercept": "calibration intercept (0 = ideal)", "brier": "Brier score"}
    for key in ("n", "dice", "auc", "sensitivity", "specificity", "ece", "brier", "calibration_slope",
                "calibration_intercept"):
        lines.append(f"| {names.get(key, key)} | {cell(inside, key)} | {cell(outside, key)} |")
    return "\n".join(lines) + "\n"
