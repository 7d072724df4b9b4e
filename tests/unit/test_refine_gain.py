"""The refiner's paired gain: refined minus coarse per image, CIs over patients, HD95 where both masks exist."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from training.refine_gain import gain_of, markdown


def _frame(rng, n=40):
    coarse = rng.uniform(0.6, 0.9, n)
    return pd.DataFrame(
        {
            "case_id": [f"c{i}" for i in range(n)],
            "patient_id": [f"p{i // 2}" for i in range(n)],  # two images per patient
            "dice_coarse": coarse,
            "dice_refined": coarse + 0.02,
            "hd95_coarse": np.full(n, 20.0),
            "hd95_refined": np.full(n, 17.0),
        }
    )


def test_a_constant_improvement_is_reported_exactly_with_a_degenerate_interval():
    g = gain_of("fold 1", _frame(np.random.default_rng(0)), n_boot=200)
    assert g.images == 40
    assert g.dice_gain == pytest.approx(0.02) and g.dice_gain_ci == pytest.approx((0.02, 0.02))
    assert g.dice_better_share == 1.0
    assert g.hd95_gain == pytest.approx(-3.0) and g.hd95_coarse == pytest.approx(20.0)


def test_hd95_is_paired_only_where_both_masks_are_non_empty():
    df = _frame(np.random.default_rng(1))
    df.loc[0, "hd95_coarse"] = math.nan  # the coarse mask was empty: no distance to compare
    df.loc[1, "hd95_refined"] = 500.0
    g = gain_of("fold 2", df, n_boot=200)
    expected = (df["hd95_refined"] - df["hd95_coarse"]).iloc[1:].mean()
    assert g.hd95_gain == pytest.approx(expected)
    assert g.dice_gain == pytest.approx(0.02)  # Dice counts every lesion, empty masks as 0


def test_a_mixed_gain_has_an_interval_around_it_and_the_table_names_unmeasured_folds():
    df = _frame(np.random.default_rng(2))
    df["dice_refined"] = df["dice_coarse"] + np.random.default_rng(3).normal(0.0, 0.05, len(df))
    g = gain_of("pooled", df, n_boot=500)
    low, high = g.dice_gain_ci
    assert low < g.dice_gain < high and high - low > 0.01
    text = markdown([g], ["fold_3"])
    assert "| pooled | 40 |" in text and "fold_3" in text
