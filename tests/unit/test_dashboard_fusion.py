"""The case viewer's "what moved the probability" block (dashboard.components.fusion)."""

from __future__ import annotations

import math

import pytest

from dashboard.components.fusion import fusion_block, fusion_factors
from pipeline.fusion import logit, sigmoid

CONTRIBUTIONS = {"image_logit": 0.9, "age": 0.5, "age_missing": -0.1, "palpable": -0.3, "breast_scar": 0.004,
                 "lactating": 0.002}


def fused_summary(probability=0.7):
    return {"fused": True, "probability": probability, "image_probability": 0.55, "contributions": CONTRIBUTIONS,
            "contributions_unit": "log-odds"}


def test_factors_are_summed_per_clinical_factor_and_sorted():
    rows = fusion_factors(fused_summary())
    names = [r.factor for r in rows]
    assert names[:3] == ["image model", "age", "palpable lump"]
    age = rows[1]
    assert age.log_odds == pytest.approx(0.4)  # age + its missing indicator
    assert age.probability_change == pytest.approx(0.7 - sigmoid(logit(0.7) - 0.4))
    assert names[-1] == "other factors" and rows[-1].log_odds == pytest.approx(0.006)
    palpable = next(r for r in rows if r.factor == "palpable lump")
    assert palpable.probability_change < 0


def test_image_only_predictions_show_nothing():
    assert fusion_factors({"fused": False, "probability": 0.4, "contributions": {}}) == []
    assert fusion_block({"fused": False, "probability": 0.4}) is None
    assert fusion_block({"probability": 0.4}) is None  # summaries stored before fusion existed


def test_block_names_the_image_probability_and_each_factor():
    text = str(fusion_block(fused_summary()))
    assert "Image model alone 55%" in text and "With patient data 70%" in text
    assert "age" in text and "+0.40" in text and "never BI-RADS" in text


def test_non_finite_contributions_are_ignored():
    rows = fusion_factors({**fused_summary(), "contributions": {"age": math.nan, "image_logit": 1.0}})
    assert [r.factor for r in rows] == ["image model"]
