"""Platt calibration recovers a known scale and bias and round-trips."""

import numpy as np
import pytest

from pipeline.calibration import Calibration, fit_platt
from pipeline.card_parts import calibration_from_json


def test_fit_platt_recovers_shift_and_scale():
    rng = np.random.default_rng(0)
    true_z = rng.normal(0, 2, 20000)
    labels = (rng.random(true_z.size) < 1 / (1 + np.exp(-true_z))).astype(int)
    raw_logits = (true_z - 1.5) / 0.5  # an over-confident, biased model: z = 0.5 * raw + 1.5
    cal = fit_platt(raw_logits, labels, "test")
    assert cal.scale == pytest.approx(0.5, abs=0.05)
    assert cal.bias == pytest.approx(1.5, abs=0.1)


def test_round_trip_and_legacy_temperature_cards():
    cal = Calibration(0.7, -1.2, "x")
    logits = np.array([-3.0, 0.0, 2.5])
    np.testing.assert_allclose(cal.logit_from_probability(cal.probability(logits)), logits, atol=1e-6)
    assert calibration_from_json(cal.to_card()) == cal
    legacy = calibration_from_json({"method": "temperature", "temperature": 4.0})
    assert legacy.scale == pytest.approx(0.25) and legacy.bias == 0


def test_degenerate_inputs_give_identity():
    assert fit_platt(np.array([1.0, 2.0, 3.0]), np.array([1, 1, 1]), "x").scale == 1.0
