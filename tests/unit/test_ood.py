"""Out-of-distribution guard: statistics, the Gaussian, the fingerprint, the encoder features."""

import json

import numpy as np
import pytest

from pipeline.ood import Fingerprint, image_stats, ood_message, source_of
from pipeline.ood.gauss import Gaussian, ledoit_wolf
from pipeline.ood.stats import STAT_NAMES, box_mean, shrink
from pipeline.synthetic import render, sample_cohort


@pytest.fixture(scope="module")
def ultrasound():
    """40 synthetic ultrasound-like scans (the demo cohort's renderer)."""
    return [render(case, seed=i)[0] for i, case in enumerate(sample_cohort(40, seed=3))]


@pytest.fixture(scope="module")
def fingerprint(ultrasound):
    return Fingerprint.fit(ultrasound[:30], trained_on="synthetic ultrasound")


def test_ledoit_wolf_matches_sklearn():
    sklearn_cov = pytest.importorskip("sklearn.covariance")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6)) @ rng.normal(size=(6, 6))
    x -= x.mean(axis=0)
    ours, shrink_ours = ledoit_wolf(x)
    theirs, shrink_theirs = sklearn_cov.ledoit_wolf(x, assume_centered=True)
    np.testing.assert_allclose(ours, theirs, atol=1e-10)
    assert shrink_ours == pytest.approx(shrink_theirs)


def test_gaussian_distance_typical_vs_far_and_off_subspace():
    rng = np.random.default_rng(1)
    latent = rng.normal(size=(300, 3))
    x = latent @ rng.normal(size=(3, 20)) + 0.05 * rng.normal(size=(300, 20))
    g = Gaussian.fit(x, n_components=3)
    d = g.distance(x)
    assert 0.5 < np.median(d) < 1.5
    far = x.mean(axis=0) + 10 * x.std(axis=0)
    assert g.distance(far)[0] > 5 * np.quantile(d, 0.99)
    # at the mean along the subspace but off it: only the residual term can see it
    off = x.mean(axis=0) + 1.0 * np.linalg.svd((x - x.mean(0)) / x.std(0))[2][-1] * x.std(axis=0)
    assert g.distance(off)[0] > 3 * np.quantile(d, 0.99)


def test_gaussian_card_round_trip_is_plain_json():
    x = np.random.default_rng(2).normal(size=(50, 12))
    g = Gaussian.fit(x, n_components=4)
    back = Gaussian.from_card(json.loads(json.dumps(g.to_card())))
    np.testing.assert_allclose(back.distance(x[:5] * 3), g.distance(x[:5] * 3), rtol=1e-4)
    full = Gaussian.fit(x)
    assert full.to_card()["components"] is None  # identity is not stored
    np.testing.assert_allclose(Gaussian.from_card(full.to_card()).distance(x[:3]), full.distance(x[:3]), rtol=1e-4)


def test_box_mean_equals_naive_window_mean():
    a = np.arange(49, dtype=float).reshape(7, 7) ** 1.5
    padded = np.pad(a, 1, mode="edge")
    naive = np.array([[padded[i:i + 3, j:j + 3].mean() for j in range(7)] for i in range(7)])
    np.testing.assert_allclose(box_mean(a, 1), naive)


def test_image_stats_see_speckle_black_and_flat_areas(ultrasound):
    scan = image_stats(ultrasound[0])
    assert scan.shape == (len(STAT_NAMES),)
    smooth = np.tile(np.linspace(40, 200, 300), (200, 1)).astype(np.uint8)
    s = dict(zip(STAT_NAMES, image_stats(smooth)))
    u = dict(zip(STAT_NAMES, scan))
    assert s["flat"] > 0.9 > u["flat"]
    assert s["speckle"] < u["speckle"] / 5
    black = np.zeros((200, 300), np.uint8)
    black[:, :60] = 120
    assert dict(zip(STAT_NAMES, image_stats(black)))["black"] == pytest.approx(0.8, abs=0.01)


def test_image_stats_same_for_original_and_work_resolution(ultrasound):
    big = np.kron(ultrasound[1], np.ones((2, 2), np.uint8))  # twice the size
    np.testing.assert_allclose(image_stats(big, 128), image_stats(shrink(big, 128), 128))


def test_fingerprint_passes_similar_scans(fingerprint, ultrasound):
    held_out = [fingerprint.score(im) for im in ultrasound[30:]]
    assert sum(r.flagged for r in held_out) <= 2
    assert all(0 <= r.score < 3 for r in held_out)


def test_fingerprint_flags_other_images_with_plain_reasons(fingerprint, ultrasound):
    smooth = np.tile(np.linspace(40, 200, 400), (300, 1)).astype(np.uint8)
    result = fingerprint.score(smooth)
    assert result.flagged and result.score >= 1
    assert any("speckle" in r for r in result.reasons)
    ct = fingerprint.score(ultrasound[31], source={"modality": "CT"})
    assert ct.flagged and ct.score >= 1.0 and ct.reasons[0] == "CT image, not ultrasound"
    xray = fingerprint.score(ultrasound[31], source={"modality": "DX"})
    assert "X-ray image, not ultrasound" in xray.reasons
    assert not fingerprint.score(ultrasound[31], source={"modality": "US"}).flagged
    colour = fingerprint.score(ultrasound[31], source={"colour_fraction": 0.4})
    assert colour.flagged and colour.reasons == ("colour image (40% of pixels coloured)",)
    tiny = fingerprint.score(ultrasound[31][:40, :40])
    assert tiny.flagged and "image size" in tiny.reasons[0]
    # the original size decides, not the downscaled array the predictor may pass
    assert not fingerprint.score(shrink(ultrasound[31], 64), shape=ultrasound[31].shape).reasons[:1] == tiny.reasons[:1]


def test_fingerprint_spacing_and_card_round_trip(ultrasound):
    sources = [{"modality": None, "spacing_mm": (0.1, 0.1), "colour_fraction": 0.0}] * 30
    feats = np.random.default_rng(4).normal(size=(30, 32))
    fp = Fingerprint.fit(ultrasound[:30], sources=sources, features=feats, n_components=4)
    assert fp.spacing_mm == (0.1, 0.1)
    far = fp.score(ultrasound[30], source={"spacing_mm": (0.5, 0.5)})
    assert far.flagged and "pixel spacing" in far.reasons[0]
    card = json.loads(json.dumps(fp.to_card()))
    back = Fingerprint.from_card(card)
    for im, f in zip(ultrasound[30:34], feats[:4] * 4):
        a, b = fp.score(im, features=f), back.score(im, features=f)
        assert a.flagged == b.flagged and a.score == pytest.approx(b.score, rel=1e-3)
    strange = fp.score(ultrasound[30], features=np.full(32, 8.0))
    assert strange.flagged and "internal view" in strange.reasons[-1]
    assert strange.components["features"] > 1 > strange.components["stats"] or strange.components["stats"] >= 1
    assert Fingerprint.from_card(None) is None
    assert Fingerprint.from_card({**card, "format": 99}) is None


def test_fingerprint_needs_images_and_matching_features(ultrasound):
    with pytest.raises(ValueError):
        Fingerprint.fit(ultrasound[:2])
    with pytest.raises(ValueError, match="one feature vector"):
        Fingerprint.fit(ultrasound[:5], features=np.zeros((4, 3)))


def test_source_of_and_message():
    class Record:
        modality = "MR"
        spacing_mm = (0.5, 0.5)
        metadata = {"colour_fraction": 0.25}

    assert source_of(Record()) == {"modality": "MR", "spacing_mm": (0.5, 0.5), "colour_fraction": 0.25}
    text = ood_message(["colour image"], "breast ultrasound from 4 scanners")
    assert text.startswith("This model was trained on breast ultrasound from 4 scanners; this image looks different")
    assert "(colour image)" in text and text.endswith("treat the result as unreliable.")
    assert "(a; b; c):" in ood_message(["a", "b", "c", "d"])  # the first three reasons only


def test_encoder_features_from_a_fresh_unet():
    pytest.importorskip("keras")
    from pipeline.models import UNetSpec, build_unet
    from pipeline.ood import encoder_features, encoder_input
    from pipeline.ood.encoder import _runner

    unet = build_unet(UNetSpec(input_size=64, depth=3, base_filters=16))
    rng = np.random.default_rng(0)
    batch = np.stack([encoder_input(rng.integers(0, 255, (90, 120)).astype(np.uint8), 64) for _ in range(3)])
    assert batch.shape == (3, 64, 64, 1)
    feats = encoder_features(unet, batch)
    assert feats.shape == (3, 16 * 2 ** 3) and np.isfinite(feats).all()
    assert _runner(unet) is _runner(unet)  # built once per model
    np.testing.assert_allclose(encoder_features(unet, batch[:1]), feats[:1], rtol=1e-4, atol=1e-5)
    assert not np.allclose(feats[0], feats[1])
