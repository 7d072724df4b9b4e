"""Cross-validated fusion (training.fusion_*): out-of-fold only, denylist, missing values, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pipeline.errors import DatasetError
from pipeline.fusion import load_fusion
from pipeline.patient_features import METADATA_FEATURES
from training.fusion_cv import MODEL_SPECS, FusionConfig, cross_validate, fit_deployable, fold_assignment, out_of_fold
from training.fusion_data import check_out_of_sample, feature_groups
from training.fusion_stats import delong_paired, paired_test
from tests.cards import make_card


class MemoryModel:
    """Answers 1 for any row it was trained on, 0 otherwise: an in-sample score would show as 1."""

    def fit(self, x, y):
        self.seen = set(x["row_id"].astype(int))
        return self

    def predict_proba(self, x):
        hit = x["row_id"].astype(int).isin(self.seen).to_numpy(float)
        return np.column_stack([1 - hit, hit])


def synthetic_table(n=120, seed=0) -> pd.DataFrame:
    """Cases with an informative image probability, age (missing for some) and a palpable flag."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    age = np.where(rng.random(n) < 0.2, np.nan, 45 + 12 * y + rng.normal(0, 10, n))
    image_p = 1 / (1 + np.exp(-(1.5 * y - 0.75 + rng.normal(0, 1, n))))
    return pd.DataFrame({
        "case_id": [f"c{i}" for i in range(n)], "patient_id": [f"p{i // 2}" for i in range(n)], "y": y,
        "image_probability": image_p, "image_logit": np.log(image_p / (1 - image_p)),
        "lesion_missing": 0.0, "log_area_fraction": rng.normal(-3, 0.5, n), "aspect_ratio": rng.normal(1, 0.2, n),
        "solidity": rng.uniform(0.7, 1, n), "normalized_perimeter": rng.uniform(1, 1.6, n),
        "age": age, "age_missing": np.isnan(age).astype(float), "palpable": rng.integers(0, 2, n).astype(float),
        "sex_male": np.nan, "birads_major": 2 + 3 * y,  # a leak the models must never see
    })


def groups_of(table):
    return {"image": ["image_logit"], "lesion": ["log_area_fraction", "aspect_ratio", "solidity",
                                                "normalized_perimeter"], "metadata": ["age", "age_missing", "palpable"]}


def test_every_probability_comes_from_a_model_that_never_saw_the_case():
    table = synthetic_table()
    x = pd.DataFrame({"row_id": np.arange(len(table))})
    folds = fold_assignment(table["y"].to_numpy(), table["patient_id"].to_numpy(), 5, 0)
    oof = out_of_fold(x, table["y"].to_numpy(), folds, MemoryModel)
    assert not np.isnan(oof).any() and (oof == 0).all()
    assert set(folds) == {1, 2, 3, 4, 5}
    for patient, fold in table.assign(fold=folds).groupby("patient_id")["fold"]:
        assert fold.nunique() == 1, f"patient {patient} split across folds"


def test_cross_validate_gives_every_model_an_oof_column_and_handles_missing_age():
    table = synthetic_table()
    oof, folds = cross_validate(table, groups_of(table), FusionConfig(folds=3, seed=1, gbm_max_iter=10))
    for spec in MODEL_SPECS:
        assert oof[spec.name].between(0, 1).all(), spec.name
    assert (oof["fold"] == folds).all()
    assert oof["image only (as is)"].to_numpy() == pytest.approx(table["image_probability"].to_numpy())


def test_denylisted_columns_are_refused_as_inputs():
    table = synthetic_table()
    groups = groups_of(table)
    groups["metadata"] = groups["metadata"] + ["birads_major"]
    with pytest.raises(ValueError, match="birads_major"):
        cross_validate(table, groups, FusionConfig(folds=3))
    with pytest.raises(ValueError, match="birads_major"):
        fit_deployable(table, ["image_logit", "birads_major"], FusionConfig(), "m", 0.5, "x")


def test_constant_and_unrecorded_inputs_are_dropped():
    table = synthetic_table().assign(retraction=0.0, tissue_missing=np.nan)
    for name in METADATA_FEATURES:
        if name not in table:
            table[name] = np.nan
    groups = feature_groups(table)
    assert not {"sex_male", "retraction", "tissue_missing"} & set(groups["metadata"])
    assert "lesion_missing" not in groups["lesion"]
    assert {"age", "age_missing", "palpable"} <= set(groups["metadata"])


def test_deployable_model_matches_sklearn_and_explains_itself():
    table = synthetic_table()
    names = ["image_logit", "age", "age_missing", "palpable"]
    model = fit_deployable(table, names, FusionConfig(), "img", 0.4, "synthetic")
    row = table.iloc[3][names].to_dict()
    result = model.predict(row)
    assert sum(result.contributions.values()) == pytest.approx(result.logit - model.intercept)
    assert model.image_model == "img" and model.sklearn_version


def test_paired_delong_agrees_with_the_bootstrap():
    table = synthetic_table(200)
    y, a = table["y"].to_numpy(), table["image_probability"].to_numpy()
    b = a + np.random.default_rng(3).normal(0, 0.3, len(a))
    delta, p = delong_paired(y, a, b)
    assert delta > 0 and 0 <= p <= 1
    assert delong_paired(y, a, a) == (0.0, 1.0)
    unique = paired_test(y, a, b, table["case_id"].to_numpy(), "a", "b", 300, 0)
    clustered = paired_test(y, a, b, table["patient_id"].to_numpy(), "a", "b", 300, 0)
    assert unique["method"].startswith("DeLong") and clustered["method"].startswith("paired bootstrap")
    assert unique["delta_auc_ci95"][0] < delta < unique["delta_auc_ci95"][1]


def test_a_model_trained_on_the_same_dataset_is_refused(tmp_path):
    card = make_card(name="m", training={"dataset": f"breast:{tmp_path}"})
    with pytest.raises(DatasetError, match="in-sample"):
        check_out_of_sample(card, f"breast-lesions-usg:{tmp_path}/.")
    check_out_of_sample(make_card(name="m", training={"dataset": "busbra:/elsewhere"}), f"breast:{tmp_path}")
    nested = make_card(name="ens", training={"members": [{"dataset": f"breast-lesions-usg:{tmp_path}"}]})
    with pytest.raises(DatasetError):
        check_out_of_sample(nested, f"breast-lesions-usg:{tmp_path}")


def test_cli_fuse_on_a_tiny_manifest_and_predictions_csv(tmp_path, capsys):
    from training.__main__ import main

    rng = np.random.default_rng(0)
    rows, preds = [], []
    for i in range(48):
        y = i % 2
        Image.fromarray(np.full((20, 30), 100, np.uint8)).save(tmp_path / f"im{i}.png")
        rows.append({"image": f"im{i}.png", "label": "malignant" if y else "benign", "case_id": f"im{i}",
                     "age": "" if i % 7 == 0 else int(40 + 15 * y + rng.normal(0, 8)),
                     "birads": "5" if y else "2", "radiologist_shape": "irregular" if y else "oval",
                     "signs": "palpable" if rng.random() < 0.3 + 0.3 * y else "no"})
        preds.append({"case_id": f"im{i}", "probability": 1 / (1 + np.exp(-(y - 0.5 + rng.normal(0, 1)))),
                      "area_px": int(rng.integers(20, 300)), "malignant": y})
    pd.DataFrame(rows).to_csv(tmp_path / "manifest.csv", index=False)
    pd.DataFrame(preds).to_csv(tmp_path / "predictions.csv", index=False)
    out = tmp_path / "fusion"
    rc = main(["fuse", "--dataset", f"manifest:{tmp_path / 'manifest.csv'}", "--image-predictions",
               str(tmp_path / "predictions.csv"), "--out", str(out), "--folds", "3", "--n-boot", "200"])
    assert rc == 0
    metrics = json.loads((out / "fusion_metrics.json").read_text())
    assert metrics["n"] == 48 and metrics["n_malignant"] == 24 and metrics["folds"] == 3
    assert metrics["deployed"] == "fused (logistic)"
    assert {"age", "age_missing", "palpable"} <= set(metrics["features"]["metadata"])
    inputs = [n for group in ("image", "lesion", "metadata") for n in metrics["features"][group]]
    assert not any("birads" in n or n.startswith("radiologist") for n in inputs)
    meta_only = next(r for r in metrics["rows"] if r["model"] == "metadata only (logistic)")
    assert meta_only["auc"] < 0.99  # BI-RADS would separate these cases perfectly
    assert {r["model"] for r in metrics["rows"]} == {s.name for s in MODEL_SPECS}
    assert all(set(r) >= {"model", "inputs", "auc", "auc_ci95", "brier", "ece"} for r in metrics["rows"])
    assert all(set(t) >= {"a", "b", "delta_auc", "p_value"} for t in metrics["paired_tests"])
    oof = pd.read_csv(out / "oof_fusion.csv")
    assert list(oof.columns[:3]) == ["case_id", "patient_id", "y"] and len(oof) == 48
    assert (out / "roc_fusion.png").stat().st_size > 1000
    assert "fused (logistic)" in (out / "fusion_table.md").read_text()
    model = load_fusion(out)
    assert model.image_model == "predictions:predictions.csv" and "age" in model.feature_names
    assert "| model |" in capsys.readouterr().out
