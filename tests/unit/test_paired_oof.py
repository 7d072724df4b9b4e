"""Pooled paired out-of-fold differences between two CV runs (`training.paired_oof`)."""

import numpy as np
import pandas as pd
import pytest

from training.paired_oof import oof_beside, paired_oof


def _oof(rng, n=120, dice_shift=0.0, separation=1.0, seed_offset=0):
    y = np.arange(n) % 2
    noise = np.random.default_rng(seed_offset).normal(size=n)
    return pd.DataFrame({
        "case_id": [f"c{i}" for i in range(n)], "patient_id": [i // 2 for i in range(n)],
        "malignant": y, "probability": 1 / (1 + np.exp(-(separation * (y - 0.5) * 2 + noise))),
        "dice": np.clip(0.8 + dice_shift + 0.05 * rng.normal(size=n), 0, 1),
        "hd95_px": 15 - 10 * dice_shift + rng.normal(size=n),
    })


def test_better_run_has_positive_dice_and_auc_differences_with_cis_excluding_zero():
    ref = _oof(np.random.default_rng(0))
    better = _oof(np.random.default_rng(0), dice_shift=0.05, separation=3.0)
    deltas = {d.metric: d for d in paired_oof(ref, better, n_boot=300)}
    assert deltas["dice"].delta == pytest.approx(0.05, abs=0.01)
    assert deltas["dice"].ci95[0] > 0
    assert deltas["hd95_px"].delta < 0 and deltas["hd95_px"].ci95[1] < 0
    assert deltas["auc"].delta > 0 and deltas["auc"].ci95[0] > 0
    assert all(d.n == 120 for d in deltas.values())


def test_same_run_gives_zero_difference_and_only_shared_images_count():
    ref = _oof(np.random.default_rng(1))
    other = ref.iloc[:80].copy()
    deltas = {d.metric: d for d in paired_oof(ref, other, n_boot=100)}
    assert deltas["dice"].delta == 0 and deltas["dice"].ci95 == (0.0, 0.0)
    assert deltas["auc"].delta == 0
    assert deltas["dice"].n == 80


def test_oof_beside_finds_the_csv_next_to_the_summary(tmp_path):
    (tmp_path / "cv_summary.json").write_text("{}")
    assert oof_beside(tmp_path / "cv_summary.json") is None
    (tmp_path / "oof_predictions.csv").write_text("case_id\n")
    assert oof_beside(tmp_path / "cv_summary.json") == tmp_path / "oof_predictions.csv"
    assert oof_beside(tmp_path) == tmp_path / "oof_predictions.csv"
