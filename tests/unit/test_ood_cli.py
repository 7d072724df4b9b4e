"""`python -m training ood` helpers: the bundle's split rebuilt from its card, words, colour sets."""

import json

import numpy as np
import pytest

from training.ood import describe_training_data, training_cases
from tests.cards import make_card


def test_describe_training_data_counts_scanners():
    from pipeline.types import Case

    cases = [Case(str(i), str(i), "x.png", "benign", metadata={"device": f"D{i % 4}"}) for i in range(8)]
    assert describe_training_data("busbra:/data", cases) == "breast ultrasound from 4 scanners (BUS-BRA)"
    assert describe_training_data("synthetic:40:0", cases) == "synthetic breast ultrasound (the synthetic demo cohort)"
    assert describe_training_data("busi:/x", []) == "breast ultrasound (BUSI)"


def test_training_cases_rebuilds_train_and_cv_splits(tmp_path, monkeypatch):
    from pipeline.types import Case
    import pipeline.datasets

    cases = [Case(f"c{i}", f"p{i // 2}", "x.png", "benign" if i % 3 else "malignant") for i in range(40)]
    monkeypatch.setattr(pipeline.datasets, "load_cases", lambda spec: list(cases))
    training = {"dataset": "fake:1", "n_train": 34, "config": {"seed": 0, "val_fraction": 0.15},
                "split": {"kind": "train/val", "seed": 0, "test_fraction": 0.0}}
    train, val, test = training_cases(make_card(training=training), tmp_path)
    assert len(train) + len(val) == 40 and not test
    assert not {c.patient_id for c in train} & {c.patient_id for c in val}
    cv_dir = tmp_path / "cv"
    (cv_dir / "fold_2").mkdir(parents=True)
    (cv_dir / "folds.json").write_text(json.dumps({f"c{i}": 1 + (i // 2) % 4 for i in range(40)}))
    card = make_card(training={**training, "split": {"kind": "cv", "fold": 2}})
    train, val, test = training_cases(card, cv_dir / "fold_2")
    assert {c.case_id for c in test} == {f"c{i}" for i in range(40) if 1 + (i // 2) % 4 == 2}
    assert len(train) + len(val) + len(test) == 40
    with pytest.raises(FileNotFoundError):
        training_cases(card, tmp_path / "elsewhere" / "fold_2")


def test_colour_set_is_all_colour_and_loads():
    from training.cmd_ood import _colour_records

    records = list(_colour_records())
    assert len(records) >= 40
    assert all(r.metadata.get("colour_fraction", 0) > 0.02 for _, _, r in records)
    assert {g for g, _, _ in records} >= {"generated colour picture", "ultrasound + colour Doppler"}


def test_fit_on_training_arrays_and_score_records_like_the_predictor():
    pytest.importorskip("keras")
    from pipeline.io import load_image, to_png_bytes
    from pipeline.models import UNetSpec, build_unet
    from pipeline.synthetic import render, sample_cohort
    from pipeline.types import Case
    from training.data import CaseArrays
    from training.ood import fit_fingerprint_on, score_record

    unet = build_unet(UNetSpec(input_size=64, depth=3, base_filters=16))
    images = [render(c, seed=i)[0] for i, c in enumerate(sample_cohort(48, seed=5))]
    from pipeline.ood.stats import shrink

    works = [shrink(im, 128) for im in images[:40]]  # as training.data.load_arrays downscales
    arrays = [CaseArrays(Case(str(i), str(i), "x.png", "benign"), w, np.zeros(w.shape, bool), max(w.shape) / max(im.shape))
              for i, (w, im) in enumerate(zip(works, images))]
    fp = fit_fingerprint_on(arrays, unet, seg_size=64, work_max_side=128, dataset_spec="synthetic:24:5")
    assert fp.features is not None and fp.features.mean.shape == (128,)
    assert fp.long_side[1] == max(max(im.shape) for im in images[:40])  # original size, not the downscaled one
    assert fp.trained_on.startswith("synthetic breast ultrasound")
    kept = [score_record(fp, unet, load_image(to_png_bytes(im)), work_max_side=128, seg_size=64) for im in images[40:]]
    assert sum(r.flagged for r in kept) <= 2 and all("features" in r.components for r in kept)
    photo = np.clip(np.random.default_rng(0).normal(128, 60, images[0].shape + (3,)), 0, 255).astype(np.uint8)
    flagged = score_record(fp, unet, load_image(to_png_bytes(photo)), work_max_side=128, seg_size=64)
    assert flagged.flagged and flagged.reasons[0].startswith("colour image")


def test_an_ensemble_card_cannot_be_rebuilt_and_says_what_to_do(tmp_path, monkeypatch):
    import pipeline.datasets
    from pipeline.types import Case

    monkeypatch.setattr(pipeline.datasets, "load_cases", lambda spec: [Case("c", "p", "x.png", "benign")])
    card = make_card(training={"dataset": "fake:1", "split": {"kind": "cv-ensemble", "folds": ["fold_1"]}})
    with pytest.raises(ValueError, match="first fold's bundle"):
        training_cases(card, tmp_path)
