"""Refinement windows, lesion-free crops and the lesion-presence model (pure numpy, no TensorFlow)."""

import json
import math

import numpy as np
import pytest

from pipeline.crops import (Window, cut, jitter_window, lesion_free_box, paste, random_containing_box,
                            random_lesion_free_box, refine_window)
from pipeline.card_parts import presence_from_json, presence_to_json
from pipeline.presence import fit_presence, presence_features
from pipeline.refine import downscale_gray, refine_input
from training.config import load_config


def _lesion(shape=(200, 300), box=(60, 120, 120, 180)):
    mask = np.zeros(shape, bool)
    r0, c0, r1, c1 = box
    mask[r0:r1, c0:c1] = True
    return mask


def test_refine_window_is_square_and_holds_the_box_with_margin():
    window = refine_window((60, 120, 120, 200), margin=0.25)
    assert window.side == 120  # longest side 80 * 1.5
    assert window.top <= 60 - 19 and window.left <= 120 - 19
    assert window.top + window.side >= 120 and window.left + window.side >= 200


def test_cut_then_paste_returns_the_content_in_place():
    image = np.zeros((100, 80), np.float32)
    image[40:60, 30:50] = 1.0
    window = Window(20, 10, 60)
    crop = cut(image, window, 120)
    back = paste(crop, window, image.shape)
    assert abs(back[40:60, 30:50].mean() - 1.0) < 0.1
    assert back[:15].sum() == 0  # outside the window stays empty


def test_cut_outside_the_image_uses_fill():
    crop = cut(np.ones((10, 10), np.float32), Window(-10, -10, 20), 20, fill=np.nan)
    assert np.isnan(crop[0, 0]) and crop[-1, -1] == 1.0


def test_refine_input_standardises_inside_only_and_keeps_prior():
    gray = np.full((50, 50), 100, np.uint8)
    gray[20:30, 20:30] = 200
    prior = np.zeros((50, 50), np.float32)
    prior[20:30, 20:30] = 0.9
    x = refine_input(gray, prior, Window(-10, -10, 70), 64)
    assert x.shape == (64, 64, 2) and x.dtype == np.float32
    assert x[0, 0, 0] == 0.0  # padding
    assert x[..., 1].max() == pytest.approx(0.9, abs=0.05) and x[..., 1].min() >= 0.0


def test_jitter_window_stays_near_the_original():
    rng = np.random.default_rng(0)
    base = Window(50, 50, 100)
    for _ in range(50):
        w = jitter_window(base, rng)
        assert 85 <= w.side <= 125
        assert abs((w.top + w.side / 2) - 100) <= 11 and abs((w.left + w.side / 2) - 100) <= 11


def test_lesion_free_box_never_touches_the_lesion():
    mask = _lesion()
    box = lesion_free_box(mask)
    assert box is not None
    r0, c0, r1, c1 = box
    assert not mask[r0:r1, c0:c1].any()
    assert min(r1 - r0, c1 - c0) >= 0.25 * 200


def test_lesion_free_box_none_when_the_lesion_fills_the_scan():
    assert lesion_free_box(_lesion((100, 100), (5, 5, 95, 95))) is None


def test_random_boxes_respect_the_lesion():
    rng = np.random.default_rng(3)
    mask = _lesion()
    for _ in range(30):
        r0, c0, r1, c1 = random_lesion_free_box(mask, rng)
        assert not mask[r0:r1, c0:c1].any() and r1 > r0 and c1 > c0
        r0, c0, r1, c1 = random_containing_box(mask, rng)
        assert mask[r0:r1, c0:c1].sum() == mask.sum()


def test_presence_features_separate_a_confident_blob_from_noise():
    blob = np.zeros((64, 64), np.float32)
    blob[20:40, 20:40] = 0.95
    weak = np.full((64, 64), 0.05, np.float32)
    on, off = presence_features(blob), presence_features(weak)
    assert on["peak_logit"] > off["peak_logit"] and on["log_area_fraction"] > off["log_area_fraction"]
    assert off["mean_inside"] == 0.0 and all(math.isfinite(v) for v in off.values())


def test_fit_presence_keeps_the_missed_share_and_round_trips():
    rng = np.random.default_rng(0)
    positives = [{"peak_logit": rng.normal(3, 1), "log_area_fraction": rng.normal(-3, 0.5), "mean_inside": 0.8}
                 for _ in range(200)]
    negatives = [{"peak_logit": rng.normal(-3, 1), "log_area_fraction": -9.2, "mean_inside": 0.0} for _ in range(200)]
    model = fit_presence(positives, negatives, max_missed=0.01)
    missed = np.mean([model.probability(f) < model.threshold for f in positives])
    assert missed <= 0.01
    assert np.mean([model.probability(f) < model.threshold for f in negatives]) > 0.9
    again = presence_from_json(json.loads(json.dumps(presence_to_json(model))))
    assert again == model


def test_fit_presence_without_negatives_always_reports_a_lesion():
    model = fit_presence([{"peak_logit": 1.0, "log_area_fraction": -3.0, "mean_inside": 0.7}], [])
    assert model.probability({"peak_logit": -5.0, "log_area_fraction": -9.0, "mean_inside": 0.0}) >= model.threshold


def test_downscale_gray_only_shrinks():
    gray = np.zeros((300, 600), np.uint8)
    small, scale = downscale_gray(gray, 512)
    assert small.shape == (256, 512) and scale == pytest.approx(512 / 600)
    assert downscale_gray(gray, 0)[0] is gray and downscale_gray(gray, 1000)[1] == 1.0


def test_border_weights_peak_at_the_border():
    from training.batches import border_weights

    mask = _lesion((64, 64), (20, 20, 44, 44))
    w = border_weights(mask, extra=4.0)
    assert w[20, 32] > 4.0 and w[32, 32] == pytest.approx(1.0, abs=1e-3) and w[0, 0] == pytest.approx(1.0, abs=1e-3)
    assert np.all(border_weights(mask, extra=0.0) == 1.0)


def test_pinned_configs_keep_the_recipe_before_refinement():
    """fast.yaml reproduces results/cv-busbra-fast: one resolution, no refiner, no negatives, 96-px classifier."""
    cfg = load_config("training/configs/fast.yaml")
    assert cfg.detail_max_side == 0 and not cfg.refine.enabled
    assert cfg.seg.negative_fraction == 0.0 and cfg.seg.epochs == 15 and cfg.cls.model.input_size == 96
    default = load_config(None)
    assert default.refine.enabled and default.detail_max_side > default.work_max_side
    assert default.refine.model.in_channels == 2 and default.seg.negative_fraction > 0


def test_prediction_words_describe_the_drawn_mask():
    from pipeline.predictor import describe_in_words

    rng = np.random.default_rng(0)
    gray = np.clip(rng.normal(120, 20, (200, 300)), 0, 255).astype(np.uint8)
    rows, cols = np.ogrid[:200, :300]
    mask = ((rows - 100) / 25) ** 2 + ((cols - 150) / 50) ** 2 <= 1  # wider than tall
    gray[mask] = 40
    words = describe_in_words(gray, mask, None)
    assert words["orientation"] == "parallel" and words["shape"] in ("oval", "round")
    assert words["sentence"].endswith(".")
