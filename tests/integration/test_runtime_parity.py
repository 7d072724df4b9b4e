"""Issue 16.4: the served runtime (TFLite on XNNPACK, `pipeline.runtimes`) gives the Keras models' answers.

On real BUS-BRA images through the shipped bundle: the calibrated P(malignant) within `P_TOL`
(absolute), the probability map within `MAP_TOL` and the drawn mask with Dice >= `DICE_MIN`, against
the same bundle run by Keras (`tf.function`). Skipped when the dataset is not under ../shared/data.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.paths import REPO_ROOT

SHIPPED = REPO_ROOT / "shipped" / "busbra"
P_TOL = 1e-3
MAP_TOL = 1e-3
DICE_MIN = 0.99
N_IMAGES = 12

pytestmark = [pytest.mark.slow, pytest.mark.realdata]


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    total = int(a.sum() + b.sum())
    return 1.0 if total == 0 else 2.0 * float((a & b).sum()) / total


def test_tflite_matches_keras_on_real_busbra_images(shared_data):
    from pipeline.datasets import load_cases
    from pipeline.io import load_image
    from pipeline.predictor import Predictor

    cases = load_cases(f"busbra:{shared_data / 'bus-bra'}")
    picked = cases[:: max(1, len(cases) // N_IMAGES)][:N_IMAGES]  # spread over the dataset, both labels
    keras_predictor = Predictor(SHIPPED, runtime="tf.function")
    lite = Predictor(SHIPPED, runtime="tflite")
    assert (keras_predictor.runtime, lite.runtime) == ("tf.function", "tflite")
    for case in picked:
        record = load_image(case.image_path)
        want, got = keras_predictor.predict(record), lite.predict(record)
        assert abs(got.probability - want.probability) <= P_TOL, case.case_id
        assert float(np.abs(got.probability_map - want.probability_map).max()) <= MAP_TOL, case.case_id
        assert _dice(got.mask, want.mask) >= DICE_MIN, case.case_id
        assert (got.label, got.lesion_found) == (want.label, want.lesion_found), case.case_id


def test_the_shipped_bundle_serves_its_exported_artefacts():
    from pipeline.bundle import read_bundle_card
    from pipeline.predictor import Predictor

    card = read_bundle_card(SHIPPED)  # checks the artefacts' sha256 too
    assert card.runtime is not None and card.runtime.kind == "tflite"
    assert set(card.runtime.files) == {"seg", "refine", "cls"}
    assert Predictor(SHIPPED).runtime == "tflite"
