"""`python -m training stack --bundle DIR --dataset SPEC`: add the stacked CNN + descriptor model to one bundle.

The CV form of `stack` scores held-out folds; this form makes a servable bundle explain itself. It
reuses what `train` left: `validation_predictions.csv` names the validation patients (never trained
on), `test_predictions.csv` the held-out ones (never used here). Then, without retraining:

* the bundle predicts its validation images again with the CNN alone, keeping the predicted masks;
* level (a), the descriptor model, is fitted on the training patients' expert masks, level (b) on the
  validation images' CNN logits and predicted-mask descriptors (`training.stacking_fit.fit_stacker`);
* a model whose final level weighs the descriptors zero or negatively is refused (its reasons would point
  the wrong way: `pipeline.stacking_apply.explanation_problem`), and nothing is written;
* the decision threshold for the stacked probability is Youden's on those validation images;
* `stacking.json` is written and declared in the card (file, sha256, each part's AUC, threshold), and
  the card's `thresholds.malignant` becomes the stacked one: the content hash, hence the bundle's
  version, changes, so no cache serves an answer of the CNN-only model under the new name.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.errors import LesionLensError

log = logging.getLogger(__name__)


def _ids(path: Path) -> set[str]:
    return set(pd.read_csv(path, usecols=["case_id"])["case_id"].astype(str)) if path.is_file() else set()


def stack_bundle(bundle_dir: str | Path, dataset_spec: str) -> dict[str, Any]:
    """Fit, write and declare the bundle's stacked model; returns the card's new `stacking` record."""
    from pipeline.bundle import current_command, read_bundle_card, write_bundle_card
    from pipeline.datasets import load_cases
    from pipeline.metrics.classification import youden_threshold
    from pipeline.predictor import Predictor
    from pipeline.stacking_apply import explanation_problem, stacking_card
    from training.evaluation import predict_cases
    from training.stacking_fit import case_image_reader, fit_stacker, score_stacker

    bundle = Path(bundle_dir)
    card = read_bundle_card(bundle)
    val_ids = _ids(bundle / "validation_predictions.csv")
    if not val_ids:
        raise LesionLensError(f"{bundle}: no validation_predictions.csv (a bundle written by `python -m training "
                              "train` has one): the stacked model needs the validation patients")
    if card.training.dataset not in (None, dataset_spec):
        log.warning("the bundle was trained on %s, stacking with %s", card.training.dataset, dataset_spec)
    cases = load_cases(dataset_spec)
    val_cases = [c for c in cases if c.case_id in val_ids]
    if len(val_cases) != len(val_ids):
        raise LesionLensError(f"{len(val_ids) - len(val_cases)} validation cases of {bundle.name} are not in "
                              f"{dataset_spec}: stack with the dataset the bundle was trained on")
    held_out = val_ids | _ids(bundle / "test_predictions.csv")
    train_cases = [c for c in cases if c.case_id not in held_out]
    predictor = Predictor(bundle)
    predictor.stacking = None  # level (b) is fitted on the CNN's own logits
    reader = case_image_reader(cases)
    with tempfile.TemporaryDirectory(prefix="stack-") as tmp:
        masks = Path(tmp) / "val"
        df = predict_cases(predictor, val_cases, desc="validation (CNN alone)", mask_dir=masks)
        val = df[df["true_label"].isin(["benign", "malignant"])].rename(columns={"true_label": "label"})
        model = fit_stacker(train_cases, val, masks, reader)
        scored = score_stacker(model, val, masks, reader)
    problem = explanation_problem(model)
    if problem:
        log.info("validation AUC cnn %.3f, descriptors %.3f, stacked (in sample) %.3f", model.aucs["cnn_val"],
                 model.aucs["descriptor_val"], model.aucs["stacked_val_in_sample"])
        raise LesionLensError(f"{bundle.name}: {problem}")
    y = (scored["label"] == "malignant").to_numpy(dtype=int)
    threshold = float(np.clip(youden_threshold(y, scored["stacked_probability"].to_numpy()), 1e-4, 1 - 1e-4))
    model = replace(model, threshold=threshold)
    text = model.to_json().encode()
    path = bundle / "stacking.json"
    path.write_bytes(text)
    record = {**stacking_card(model, text), "command": current_command()}
    cnn_only = card.thresholds.extra.get("malignant_cnn_only", card.thresholds.malignant)  # stacking twice keeps it
    thresholds = replace(card.thresholds, malignant=threshold, extra={**card.thresholds.extra,
                                                                       "malignant_cnn_only": cnn_only})
    write_bundle_card(bundle, replace(card, stacking=record, thresholds=thresholds))
    log.info("stacked model added to %s: validation AUC cnn %.3f, descriptors %.3f, stacked (in sample) %.3f; "
             "threshold %.3f", bundle.name, model.aucs["cnn_val"], model.aucs["descriptor_val"],
             model.aucs["stacked_val_in_sample"], threshold)
    return record
