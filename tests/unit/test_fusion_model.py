"""Patient features, the denylist, the JSON fusion model and how a prediction is fused."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from pipeline.errors import BundleError
from pipeline.fusion import FUSION_FILE, FusionModel, apply_fusion, features_from, load_fusion, logit
from pipeline.patient_features import METADATA_FEATURES, assert_allowed, has_patient_data, metadata_features
from pipeline.types import Prediction

BREAST_ROW = {"age": 61, "sex": None, "history": True, "symptoms": "family history of breast/ovarian cancer",
              "signs": "skin retraction&palpable", "tissue_composition": "heterogeneous: predominantly fat"}
DENIED = {"birads": "5", "birads_major": 5, "radiologist_shape": "irregular", "radiologist_margin": "spiculated",
          "histology": "IDC", "verification": "confirmed by biopsy"}


def model(names=("image_logit", "age", "age_missing", "palpable"), **kw) -> FusionModel:
    n = len(names)
    values = dict(feature_names=tuple(names), impute=(0.0, 55.0, 0.0, 0.0)[:n], mean=(0.0, 50.0, 0.2, 0.3)[:n],
                  scale=(1.5, 15.0, 0.4, 0.45)[:n], coef=(1.2, 0.8, -0.3, 0.5)[:n], intercept=-0.4,
                  image_model="tiny", threshold=0.4)
    values.update(kw)
    return FusionModel(**values)


def prediction(probability=0.3, found=True) -> Prediction:
    mask = np.zeros((40, 50), bool)
    if found:
        mask[10:30, 15:30] = True
    return Prediction(label="benign", probability=probability, uncertainty=0.05, mask=mask,
                      probability_map=mask.astype(np.float32), box=None, area_px=int(mask.sum()), area_mm2=None,
                      lesion_found=found, model_name="tiny", model_version="1")


def test_breast_metadata_is_encoded_by_keyword():
    f = metadata_features(BREAST_ROW)
    assert list(f) == list(METADATA_FEATURES)
    assert f["age"] == 61 and f["age_missing"] == 0
    assert f["family_history"] == 1 and f["symptoms_missing"] == 0 and f["hormonal_therapy"] == 0
    assert f["palpable"] == 1 and f["retraction"] == 1 and f["signs_missing"] == 0
    assert f["tissue_fibroglandular"] == 0 and f["tissue_heterogeneous"] == 1 and f["tissue_missing"] == 0
    assert math.isnan(f["sex_male"]) and f["sex_missing"] == 1


def test_missing_age_and_groups_are_nan_with_an_indicator():
    f = metadata_features({"age": None, "symptoms": "not available", "signs": "no"})
    assert math.isnan(f["age"]) and f["age_missing"] == 1
    assert math.isnan(f["family_history"]) and f["symptoms_missing"] == 1
    assert f["palpable"] == 0 and f["signs_missing"] == 0  # "no" is a recorded no, not a missing value
    assert f["tissue_missing"] == 1 and math.isnan(f["tissue_fibroglandular"])
    assert not has_patient_data({"age": None, "symptoms": "not available", "birads": "5"})
    assert has_patient_data({"history": False})


def test_radiologist_read_and_outcome_never_reach_the_features():
    assert metadata_features({**BREAST_ROW, **DENIED}) == pytest.approx(metadata_features(BREAST_ROW), nan_ok=True)
    for name in DENIED:
        with pytest.raises(ValueError, match="must not include"):
            assert_allowed(["age", name])
    with pytest.raises(ValueError, match="radiologist_shape"):
        model(names=("image_logit", "radiologist_shape"))


def test_contributions_sum_to_logit_minus_intercept_and_missing_age_is_imputed():
    m = model()
    result = m.predict({"image_logit": logit(0.7), "age": math.nan, "age_missing": 1.0, "palpable": 1.0})
    assert sum(result.contributions.values()) == pytest.approx(logit(result.probability) - m.intercept)
    assert result.contributions["age"] == pytest.approx(0.8 * (55.0 - 50.0) / 15.0)  # the imputed median
    assert result.logit == pytest.approx(logit(result.probability))


def test_json_round_trip_is_exact(tmp_path):
    m = model(metrics={"oof_auc": 0.8})
    m.save(tmp_path / FUSION_FILE)
    again = load_fusion(tmp_path)
    assert again == m
    features = {"image_logit": 0.3, "age": 70.0, "age_missing": 0.0, "palpable": 0.0}
    assert again.predict(features) == m.predict(features)
    data = json.loads((tmp_path / FUSION_FILE).read_text())
    assert data["format_version"] == 1 and isinstance(data["coef"][0], float)  # plain numbers, no pickle


def test_damaged_or_missing_fusion_file(tmp_path):
    assert load_fusion(tmp_path) is None
    (tmp_path / FUSION_FILE).write_text('{"format_version": 1, "feature_names": ["birads"]}')
    with pytest.raises(BundleError, match="damaged"):
        load_fusion(tmp_path)


def test_apply_fusion_keeps_the_image_probability_and_fills_contributions():
    m = model(names=("image_logit", "age", "age_missing", "log_area_fraction"),
              impute=(0.0, 55.0, 0.0, -3.0), mean=(0.0, 50.0, 0.2, -3.0), scale=(1.5, 15.0, 0.4, 1.0))
    fused = apply_fusion(prediction(0.3), m, {"age": 75, "birads": "5"})
    assert fused.fused and fused.image_probability == pytest.approx(0.3)
    assert set(fused.contributions) == set(m.feature_names)
    assert sum(fused.contributions.values()) == pytest.approx(logit(fused.probability) - m.intercept)
    assert fused.label == ("malignant" if fused.probability >= m.threshold else "benign")
    summary = fused.summary()
    assert summary["fused"] and summary["contributions_unit"] == "log-odds"
    assert summary["image_probability"] == pytest.approx(0.3)
    expected = m.predict(features_from({"age": 75}, {"log_area_fraction": math.log(300 / 2000)}, 0.3))
    assert fused.probability == pytest.approx(expected.probability)


def test_no_patient_data_means_no_fusion():
    plain = apply_fusion(prediction(0.3), model(), {"birads": "5", "age": None})
    assert not plain.fused and plain.contributions == {} and plain.probability == pytest.approx(0.3)
    assert plain.image_probability == pytest.approx(0.3)


def test_no_lesion_found_uses_the_missing_lesion_inputs():
    m = model(names=("image_logit", "lesion_missing"), impute=(0.0, 0.0), mean=(0.0, 0.1), scale=(1.0, 0.3),
              coef=(1.0, 2.0))
    fused = apply_fusion(prediction(0.5, found=False), m, {"age": 40})
    assert fused.contributions["lesion_missing"] == pytest.approx(2.0 * (1.0 - 0.1) / 0.3)


def test_groups_the_caller_never_asked_about_contribute_nothing():
    m = model(names=("image_logit", "age", "palpable", "signs_missing"), impute=(0.0, 55.0, 0.0, 0.0),
              mean=(0.0, 50.0, 0.3, 0.4), scale=(1.5, 15.0, 0.45, 0.5), coef=(1.2, 0.8, 0.5, 1.5))
    form = apply_fusion(prediction(0.3), m, {"age": 70, "history": True})  # a form without signs or symptoms
    assert form.contributions["signs_missing"] == 0.0 and form.contributions["palpable"] == 0.0
    assert form.contributions["age"] == pytest.approx(0.8 * (70 - 50) / 15)
    asked = apply_fusion(prediction(0.3), m, {"age": 70, "signs": None})  # asked, not recorded
    assert asked.contributions["signs_missing"] == pytest.approx(1.5 * (1 - 0.4) / 0.5)
    assert asked.probability > form.probability
    assert sum(form.contributions.values()) == pytest.approx(logit(form.probability) - m.intercept)


def test_one_free_text_box_feeds_the_sign_keywords_when_there_is_no_signs_field():
    form = metadata_features({"age": 50, "symptoms": "palpable lump, 3 weeks"})
    assert form["palpable"] == 1.0 and form["signs_missing"] == 0.0
    dataset_row = metadata_features({"symptoms": "palpable lump", "signs": None})  # a signs column, empty
    assert math.isnan(dataset_row["palpable"]) and dataset_row["signs_missing"] == 1.0
