"""Issue 14, item 6: the Models page fits a screen, shows no raw dumps, and its bundle table has AUC and Dice."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from dashboard.components import model_card
from pipeline.card import BundleCard
from pipeline.paths import REPO_ROOT
from tests.cards import make_card

HOLDOUT_JSON = {
    "name": "demo", "version": "1", "created": "2026-12-04T03:51:34", "intended_use": "research use",
    "training": {"dataset": "synthetic:200:0", "n_train": 145, "n_val": 25, "seed": 0,
                 "split": {"kind": "train/val", "n_test": 30}, "epochs": {"segmentation": 15, "classifier": 15},
                 "minutes": {"this_run": 3.4}, "config": {"seg": {"model": {"depth": 4}}, "lr": 0.001}},
    "thresholds": {"malignant": 0.464, "segmentation": 0.5}, "calibration": {"method": "platt", "scale": 2.8},
    "metrics": {"holdout": {"n_images": 30,
                            "segmentation": {"dice": 0.8038, "dice_ci95": [0.67, 0.9]},
                            "classification": {"auc": 0.9111, "auc_ci95": [0.786, 1.0], "sensitivity": 0.75,
                                               "specificity": 0.733, "ece": 0.149},
                            "subgroups": [{"column": "all", "subgroup": "all", "n": 27, "n_positive": 12,
                                           "auc": 0.91, "dice_mean": 0.80},
                                          {"column": "device", "subgroup": "Aurora", "n": 7, "n_positive": 3,
                                           "auc": None, "dice_mean": 0.77}]}},
}
HOLDOUT_CARD = make_card(**HOLDOUT_JSON)
CV_CARD = make_card(**{"name": "cv5", "version": "2", "training": {"dataset": "busbra:/x"},
           "metrics": {"cross_validation": {"classification.auc": {"mean": 0.836, "folds": [0.8, 0.9, 0.8, 0.8, 0.9]},
                                            "segmentation.dice": {"mean": 0.864}},
                       "pooled_oof": {"n_images": 1592, "classification": {"auc": 0.832},
                                      "segmentation": {"dice": 0.8641}}}})


def test_bundle_table_reads_nested_metrics():
    rows = model_card.bundle_rows([HOLDOUT_CARD, CV_CARD, make_card(name="flat", metrics={"auc": 0.81, "dice": 0.7}),
                                    make_card(name="none")], "demo")
    assert [(r["auc"], r["dice"]) for r in rows] == [(0.911, 0.804), (0.832, 0.864), (0.81, 0.7), (None, None)]
    assert rows[0]["status"] == "active" and rows[0]["created"] == "2026-12-04"


def test_card_view_is_short_and_has_no_raw_dumps():
    text = str(model_card.card_view(replace(HOLDOUT_CARD, path=Path("/m/demo"))))
    assert "0.911 [0.79–1.00]" in text and "held-out test patients" in text and "Subgroups (2)" in text
    assert "Aurora" in text and "145 training, 25 validation, 30 held-out test" in text
    assert "{'" not in text and "[{" not in text  # no Python dict/list reprs
    assert "depth" not in text and "lr" not in text.split("Full card")[0] and "bundle.json\"" not in text
    assert "Full bundle.json" not in text  # the raw card stays in the bundle folder
    cv = str(model_card.card_view(CV_CARD))
    assert "cross-validation, mean of 5 folds" in cv and "cross-validation, pooled out-of-fold" in cv


def test_the_real_demo_card_renders(tmp_path):
    demo = REPO_ROOT / "models" / "demo" / "bundle.json"
    card = BundleCard.from_json(json.loads(demo.read_text())) if demo.is_file() else HOLDOUT_CARD
    text = str(model_card.card_view(card))
    assert "{'" not in text and "Evaluation" in text
