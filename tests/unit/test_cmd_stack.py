"""The stack stage's pooled summary: AUCs side by side and the descriptor AUC lost to predicted borders."""

import numpy as np
import pandas as pd

from training.cmd_stack import FIDELITY, markdown, summarise


def test_summary_reports_the_gap_between_expert_and_predicted_borders():
    rng = np.random.default_rng(0)
    n = 120
    label = np.where(np.arange(n) % 3 == 0, "malignant", "benign")
    y = (label == "malignant").astype(float)
    stacked = pd.DataFrame({"label": label, "patient_id": [f"p{i // 2}" for i in range(n)], "fold": 1 + np.arange(n) % 2,
                            "cnn_logit": y + rng.normal(0, 1.0, n), "stacked_logit": y + rng.normal(0, 0.5, n)})
    fidelity = pd.DataFrame({"label": label, "patient_id": stacked["patient_id"],
                             "descriptor_score_expert": y + rng.normal(0, 0.3, n),
                             "descriptor_score_predicted": y + rng.normal(0, 1.5, n)})
    for name in FIDELITY:
        fidelity[f"{name}_expert"] = 0.9
        fidelity[f"{name}_predicted"] = 0.95
        fidelity[f"{name}_difference"] = 0.05
    summary = summarise(stacked, fidelity, n_boot=50)
    aucs = summary["aucs"]
    assert aucs["descriptors, expert masks"]["auc"] > aucs["descriptors, predicted masks"]["auc"]
    assert summary["descriptor_auc_gap_expert_minus_predicted"] > 0.05
    assert aucs["stacked (cnn + descriptors)"]["auc"] > aucs["cnn"]["auc"]
    assert summary["folds"] == [1, 2]
    assert abs(summary["shape_differences_predicted_minus_expert"]["solidity"]["mean"] - 0.05) < 1e-9
    assert "| solidity |" in markdown(summary)
