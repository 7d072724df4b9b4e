"""`train` ends with validation figures and plain-language warnings (issue 19.2)."""

import pandas as pd

from training.validation_report import format_summary, quality_warnings, validation_summary


def _metrics(n=200, n_pos=80, auc=0.9, ci=(0.85, 0.95), dice=0.85):
    return {"n_images": n, "segmentation": {"dice": dice, "dice_ci95": [dice - 0.02, dice + 0.02]},
            "classification": {"n": n, "n_positive": n_pos, "auc": auc, "auc_ci95": list(ci), "threshold": 0.5,
                               "sensitivity": 0.8, "specificity": 0.8}}


def test_a_good_result_has_no_warnings():
    assert quality_warnings(_metrics(), train_dice=0.9) == []


def test_small_chance_level_overfit_results_are_flagged():
    warnings = quality_warnings(_metrics(n=20, n_pos=5, auc=0.58, ci=(0.31, 0.84), dice=0.49), train_dice=0.91)
    text = " ".join(warnings)
    assert "too small" in text and "chance" in text and "memorised" in text and "weak" in text


def test_summary_carries_patient_bootstrap_cis():
    df = pd.DataFrame({"patient_id": [f"p{i // 2}" for i in range(40)], "malignant": [i % 2 for i in range(40)],
                       "probability": [0.9 if i % 2 else 0.1 for i in range(40)], "iou": [0.8] * 40})
    summary = validation_summary(_metrics(n=40, n_pos=20), df, train_dice=0.88, n_boot=200)
    assert summary["n_patients"] == 20 and summary["sensitivity_ci95"] == [1.0, 1.0]
    assert summary["iou_ci95"][0] == summary["iou_ci95"][1] == 0.8
    assert "AUC" in format_summary(summary) and "No warnings." in format_summary(summary)
