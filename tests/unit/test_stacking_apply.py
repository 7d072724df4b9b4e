"""Issue 13.2-3: the bundle's declared stacked model at inference, and "what pushed the decision" in words."""

from __future__ import annotations

import hashlib
import math
from dataclasses import replace

import numpy as np
import pytest

from dashboard.components.reasons import reason_lines, reasons_text
from pipeline.errors import BundleError
from pipeline.stacking import StackingError, logit
from pipeline.stacking_apply import CATEGORY_OF, apply_stacking, load_stacking, reasons_by_category, stacking_card
from pipeline.stacking_train import fit_stacked
from tests.unit.test_stacking import NAMES, _cohort


@pytest.fixture(scope="module")
def model():
    x, y, _ = _cohort(600, 0)
    xv, yv, cnn = _cohort(150, 1)
    fitted = fit_stacked(x, y, cnn, [dict(zip(NAMES, r)) for r in xv], yv, feature_names=NAMES, fitted_on="synthetic")
    return replace(fitted, threshold=0.42)


def _bundle_with(tmp_path, model, **declared):
    text = model.to_json().encode()
    (tmp_path / "stacking.json").write_bytes(text)
    return {"name": "b", "stacking": {**stacking_card(model, text), **declared}}


def test_only_a_declared_model_is_applied(tmp_path, model):
    (tmp_path / "stacking.json").write_text(model.to_json())  # e.g. left by `stack --cv` in a fold folder
    assert load_stacking(tmp_path, None) is None
    card = _bundle_with(tmp_path, model)
    loaded = load_stacking(tmp_path, card["stacking"])
    assert loaded is not None and loaded.threshold == pytest.approx(0.42)
    assert card["stacking"]["sha256"] == hashlib.sha256((tmp_path / "stacking.json").read_bytes()).hexdigest()
    assert set(card["stacking"]["aucs"]) >= {"cnn_val", "descriptor_val"}


def test_a_declared_but_missing_or_altered_model_refuses_the_bundle(tmp_path, model):
    card = _bundle_with(tmp_path, model)
    (tmp_path / "stacking.json").write_text(model.to_json().replace("0.42", "0.43"))
    with pytest.raises(BundleError, match="changed after the card was written"):
        load_stacking(tmp_path, card["stacking"])
    (tmp_path / "stacking.json").unlink()
    with pytest.raises(BundleError, match="missing"):
        load_stacking(tmp_path, card["stacking"])
    (tmp_path / "stacking.json").write_text("{}")
    with pytest.raises(BundleError, match="not a stacked model"):
        load_stacking(tmp_path, {"file": "stacking.json"})


def test_threshold_must_be_a_probability(model):
    with pytest.raises(StackingError, match="threshold"):
        replace(model, threshold=1.5)


def test_apply_gives_the_views_spread_and_exact_reasons(model):
    features = {"log_hull_deficit": -1.5, "log_depth_width_ratio": 0.1, "posterior_contrast": -0.3}
    views = [0.2, 0.9, 1.4, 0.5]
    result = apply_stacking(model, views, features)
    assert result.probability == pytest.approx(model.probability(float(np.mean(views)), features))
    assert result.uncertainty > 0 and result.threshold == pytest.approx(0.42)
    assert apply_stacking(model, [0.75] * 4, features).uncertainty == pytest.approx(0.0, abs=1e-12)
    total = model.baseline_logit + sum(result.contributions.values())
    assert total == pytest.approx(logit(result.probability), abs=1e-6)


def test_reasons_are_summed_per_lexicon_category():
    contributions = {"cnn": -0.4, "log_margin_roughness": 0.5, "log_spiculation": 0.45, "log_hull_deficit": 0.02,
                     "posterior_contrast": math.nan, "something_new": 0.1}
    assert reasons_by_category(contributions) == [
        ("margin", pytest.approx(0.95)), ("image pattern (CNN)", -0.4), ("other descriptors", 0.1),
        ("shape", 0.02)]
    lines = reason_lines({"reasons": contributions})
    assert lines == ["margin: towards malignant (+0.95 log-odds)", "image pattern (CNN): towards benign (-0.40 log-odds)",
                     "other descriptors: towards malignant (+0.10 log-odds)"]
    assert reasons_text({"reasons": {}}) is None and reason_lines(None) == []
    assert all(name in CATEGORY_OF for name in NAMES)


def test_a_model_whose_descriptors_point_the_wrong_way_must_not_explain(model):
    from pipeline.stacking_apply import explanation_problem

    assert model.final.coef[1] > 0 and explanation_problem(model) is None
    flipped = replace(model, final=replace(model.final, coef=(model.final.coef[0], -0.14)))
    problem = explanation_problem(flipped)
    assert problem is not None and "-0.140" in problem and "CNN alone" in problem
    assert explanation_problem(replace(model, final=replace(model.final, coef=(model.final.coef[0], 0.0))))
