"""Stacked CNN + descriptor model (pipeline.stacking): fitting, exact explanations, JSON round trip, validation."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest

from pipeline.stacking import FINAL_FEATURES, LogisticPart, StackedModel, StackingError, logit, sigmoid
from pipeline.stacking_train import fit_logistic, fit_stacked

NAMES = ("log_hull_deficit", "log_depth_width_ratio", "posterior_contrast")


def _cohort(n: int, seed: int):
    """Malignant images: less solid, taller, more shadowing; the CNN knows something else too."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    x = np.column_stack([
        -3.0 + 1.0 * y + rng.normal(0, 0.7, n),
        -0.5 + 0.4 * y + rng.normal(0, 0.3, n),
        0.1 - 0.2 * y + rng.normal(0, 0.2, n),
    ])
    cnn = -1.0 + 2.0 * y + rng.normal(0, 1.2, n)
    return x, y, cnn


@pytest.fixture(scope="module")
def model() -> StackedModel:
    x, y, _ = _cohort(600, 0)
    xv, yv, cnn = _cohort(150, 1)
    xv[:5, 2] = np.nan  # a few validation images without a posterior region
    rows = [dict(zip(NAMES, r)) for r in xv]
    return fit_stacked(x, y, cnn, rows, yv, feature_names=NAMES, fitted_on="synthetic")


def test_fitted_model_uses_both_parts_and_records_aucs(model):
    assert model.feature_names == NAMES and model.final.feature_names == FINAL_FEATURES
    assert model.n_descriptor == 600 and model.n_final == 150
    w_cnn, w_score = model.final.coef
    assert w_cnn > 0 and w_score > 0  # both carry independent evidence
    assert model.aucs["stacked_val_in_sample"] > max(model.aucs["cnn_val"], model.aucs["descriptor_val"])
    assert model.descriptor.coef[0] > 0 and model.descriptor.coef[2] < 0  # signs as simulated


def test_contributions_sum_exactly_to_the_logit(model):
    features = {"log_hull_deficit": -1.5, "log_depth_width_ratio": 0.2, "posterior_contrast": -0.4}
    parts = model.contributions(0.7, features)
    assert list(parts) == ["cnn", *NAMES]
    total = model.baseline_logit + sum(parts.values())
    assert total == pytest.approx(model.logit(0.7, features), abs=1e-9)
    assert model.probability(0.7, features) == pytest.approx(sigmoid(total))
    assert parts["log_hull_deficit"] > 0 and parts["posterior_contrast"] > 0  # suspicious values push up


def test_missing_descriptor_is_imputed_not_fatal(model):
    full = {"log_hull_deficit": -3.0, "log_depth_width_ratio": -0.5}
    p = model.probability(0.0, {**full, "posterior_contrast": math.nan})
    assert p == pytest.approx(model.probability(0.0, full))
    assert 0.0 < p < 1.0
    with pytest.raises(StackingError, match="cnn_logit"):
        model.probability(math.nan, full)


def test_json_round_trip_is_plain_numbers_and_needs_no_sklearn(model, tmp_path):
    text = model.to_json()
    data = json.loads(text)
    assert data["schema_version"] == 1 and data["fitted_on"] == "synthetic"
    assert all(isinstance(v, float) for v in data["descriptor"]["coef"])
    path = model.save(tmp_path / "stacking.json")
    again = StackedModel.load(path)
    features = {"log_hull_deficit": -2.0, "log_depth_width_ratio": 0.0, "posterior_contrast": 0.0}
    assert again.probability(1.0, features) == model.probability(1.0, features)
    assert again.aucs == pytest.approx(model.aucs)
    # reading needs no scikit-learn: the inference module never imports it
    import pipeline.stacking as inference

    assert "sklearn" not in inference.__dict__ and "sklearn" not in sys.modules.get("pipeline.stacking").__dict__


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d.update(schema="other"), "not a stacked model"),
    (lambda d: d.update(schema_version=99), "schema_version 99"),
    (lambda d: d.pop("final"), "missing 'final'"),
    (lambda d: d["descriptor"]["coef"].pop(), "descriptor.coef has 2 values for 3 features"),
    (lambda d: d["descriptor"].update(scale=[1.0, 0.0, 1.0]), "scale must be positive"),
    (lambda d: d["descriptor"]["mean"].__setitem__(0, "x"), "finite number"),
    (lambda d: d["final"].update(feature_names=["a", "b"]), "final model inputs"),
    (lambda d: d.update(n_final=1.5), "n_final must be an integer"),
])
def test_damaged_json_is_refused_in_words(model, edit, message):
    data = json.loads(model.to_json())
    edit(data)
    with pytest.raises(StackingError, match=message):
        StackedModel.from_dict(data)


def test_not_json_and_missing_file(tmp_path):
    with pytest.raises(StackingError, match="not valid JSON"):
        StackedModel.from_json("{nope")
    with pytest.raises(StackingError, match="not found"):
        StackedModel.load(tmp_path / "absent.json")


def test_fit_logistic_refuses_one_class_and_survives_a_constant_or_empty_column():
    x = np.column_stack([np.arange(10.0), np.ones(10), np.full(10, np.nan)])
    y = np.array([0, 1] * 5)
    part = fit_logistic(x, y, ("a", "b", "c"))
    assert part.scale[1] == 1.0 and part.impute[2] == 0.0 and part.coef[1] == pytest.approx(0.0)
    with pytest.raises(StackingError, match="both benign and malignant"):
        fit_logistic(x, np.zeros(10, int), ("a", "b", "c"))
    with pytest.raises(StackingError, match="distinct"):
        LogisticPart(("a", "a"), (0, 0), (0, 0), (1, 1), (0, 0), 0.0)


def test_logit_is_clipped():
    assert math.isfinite(logit(0.0)) and math.isfinite(logit(1.0))
    assert logit(0.5) == 0.0 and sigmoid(logit(0.8)) == pytest.approx(0.8)
