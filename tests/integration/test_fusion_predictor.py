"""`training fuse` with a real (tiny) bundle, `--install`, and the Predictor fusing patient data."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from pipeline.fusion import FUSION_FILE, load_fusion, logit
from pipeline.types import ImageRecord
from training.__main__ import main

pytestmark = pytest.mark.slow


def test_fuse_installs_and_the_predictor_fuses_only_with_patient_data(tiny_bundle, tmp_path, capsys):
    from pipeline.predictor import Predictor

    bundle = tmp_path / "tiny"
    shutil.copytree(tiny_bundle, bundle)  # never write into the shared session fixture
    # the bundle was trained on synthetic:40:1, so that cohort's probabilities would be in-sample
    assert main(["fuse", "--dataset", "synthetic:40:1", "--image-model", str(bundle), "--out",
                 str(tmp_path / "refused")]) == 2
    assert "in-sample" in capsys.readouterr().err

    out = tmp_path / "fusion"
    assert main(["fuse", "--dataset", "synthetic:40:5", "--image-model", str(bundle), "--out", str(out),
                 "--folds", "3", "--n-boot", "100", "--install"]) == 0
    assert (out / "image_features.csv").is_file() and (bundle / FUSION_FILE).is_file()
    metrics = json.loads((out / "fusion_metrics.json").read_text())
    assert metrics["image_model"] == "tiny" and "age" in metrics["features"]["metadata"]
    assert {"aspect_ratio", "solidity"} <= set(metrics["features"]["lesion"]) | set(metrics["features"]["dropped_constant"])
    model = load_fusion(bundle)

    predictor = Predictor(bundle)
    assert predictor.fusion == model
    gray = (np.random.default_rng(0).random((90, 120)) * 255).astype(np.uint8)
    record = ImageRecord(pixels=gray.astype(np.float32), display=gray)
    plain = predictor.predict(record)
    assert not plain.fused and plain.contributions == {}
    empty = predictor.predict(record, {"birads": "5"})  # nothing a fusion model may read
    assert not empty.fused and empty.probability == pytest.approx(plain.probability)
    fused = predictor.predict(record, {"age": 70, "history": True})
    assert fused.fused and fused.image_probability == pytest.approx(plain.probability)
    assert set(fused.contributions) == set(model.feature_names)
    assert sum(fused.contributions.values()) == pytest.approx(logit(fused.probability) - model.intercept)
    json.dumps(fused.summary())

    # a fusion model fitted for another image model is not used
    data = json.loads((bundle / FUSION_FILE).read_text())
    (bundle / FUSION_FILE).write_text(json.dumps({**data, "image_model": "other"}))
    assert Predictor(bundle).fusion is None
