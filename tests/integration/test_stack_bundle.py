"""Issue 13.3: `python -m training stack --bundle` adds a declared stacked model to a trained bundle, and the
predictor then answers with the stacked probability, its own threshold and exact reasons."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest

from pipeline.bundle import read_bundle_card
from pipeline.errors import BundleError
from pipeline.stacking import logit
from training.__main__ import main

pytestmark = pytest.mark.slow


def test_stack_bundle_declares_the_model_and_the_predictor_explains(tiny_bundle, tmp_path, capsys, monkeypatch):
    from pipeline.datasets import load_cases, read_gray
    from pipeline.predictor import Predictor

    bundle = tmp_path / "tiny"
    shutil.copytree(tiny_bundle, bundle)
    before = read_bundle_card(bundle)
    # the tiny model's descriptor weight comes out of either sign; the refusal rule has its own tests (below and
    # tests/unit/test_stacking_apply.py), here the declared path is under test
    monkeypatch.setattr("pipeline.stacking_apply.explanation_problem", lambda model: None)
    assert main(["stack", "--bundle", str(bundle), "--dataset", "synthetic:40:1"]) == 0
    record = json.loads(capsys.readouterr().out)
    card = read_bundle_card(bundle)
    assert card.stacking == record and record["file"] == "stacking.json"
    assert {"cnn_val", "descriptor_val", "stacked_val_in_sample"} <= set(record["aucs"])
    assert card.version != before.version  # the answer changed, so the version did
    assert card.provenance.git_commit == before.provenance.git_commit and card.created == before.created
    assert card.thresholds.extra["malignant_cnn_only"] == before.thresholds.malignant
    assert card.thresholds.malignant == pytest.approx(record["threshold"])

    predictor = Predictor(bundle)
    assert predictor.stacking is not None
    # the tiny model rarely outlines a lesion: give it one (an ellipse on the classifier's grid), so the
    # stacked path, from descriptors of the drawn outline to the decision, runs on its real classifier
    original = predictor.analyse_arrays

    def with_a_lesion(work, detail):
        analysis = original(work, detail)
        h, w = analysis.image.shape
        yy, xx = np.mgrid[:h, :w]
        ellipse = ((yy - h / 2) / (h / 4)) ** 2 + ((xx - w / 2) / (w / 5)) ** 2 < 1
        return replace(analysis, prob=ellipse.astype(np.float32), mask=ellipse, found=True, lesion_probability=1.0)

    predictor.analyse_arrays = with_a_lesion
    found = predictor.predict_gray(read_gray(load_cases("synthetic:40:1")[0].image_path))
    assert found.lesion_found and found.reasons and found.lexicon
    assert found.label == ("malignant" if found.probability >= record["threshold"] else "benign")
    total = predictor.stacking.baseline_logit + sum(found.reasons.values())
    assert total == pytest.approx(logit(found.probability), abs=1e-5)
    assert found.cnn_probability is not None and found.summary()["stacked"] is True
    assert 0 <= found.uncertainty <= 0.5 and np.isfinite(found.uncertainty)

    (bundle / "stacking.json").write_text((bundle / "stacking.json").read_text().replace('"n_final"', '"n_final" '))
    with pytest.raises(BundleError, match="changed after the card was written"):
        Predictor(bundle)


def test_stack_bundle_needs_the_validation_table(tiny_bundle, tmp_path, capsys):
    bundle = tmp_path / "tiny"
    shutil.copytree(tiny_bundle, bundle)
    (bundle / "validation_predictions.csv").unlink()
    assert main(["stack", "--bundle", str(bundle), "--dataset", "synthetic:40:1"]) == 2
    assert "validation_predictions.csv" in capsys.readouterr().err
    assert "stacking" not in (bundle / "bundle.json").read_text()


def test_stack_bundle_refuses_reasons_that_point_the_wrong_way(tiny_bundle, tmp_path, capsys, monkeypatch):
    bundle = tmp_path / "tiny"
    shutil.copytree(tiny_bundle, bundle)
    card_before = (bundle / "bundle.json").read_text()
    monkeypatch.setattr("pipeline.stacking_apply.explanation_problem", lambda model: "weight -0.1: no stacked model")
    assert main(["stack", "--bundle", str(bundle), "--dataset", "synthetic:40:1"]) == 2
    assert "no stacked model" in capsys.readouterr().err
    assert (bundle / "bundle.json").read_text() == card_before and not (bundle / "stacking.json").exists()
