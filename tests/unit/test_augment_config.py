"""Augmentation keeps image/mask aligned; configs load from YAML strictly."""

import numpy as np
import pytest

from pipeline.augment import AugmentConfig, augment_pair, jitter_mask
from pipeline.errors import LesionLensError
from training.config import TrainConfig, config_from_dict, load_config


def test_augment_pair_shapes_and_alignment():
    rng = np.random.default_rng(0)
    img = np.zeros((64, 64), np.float32)
    mask = np.zeros((64, 64), bool)
    mask[20:40, 20:40] = True
    img[mask] = 5.0
    for _ in range(20):
        a, m = augment_pair(img, mask, rng, AugmentConfig(speckle_prob=0, blur_prob=0, contrast_range=(1, 1), brightness=0, gamma_range=(1, 1)))
        assert a.shape == img.shape and m.shape == mask.shape and m.dtype == bool
        # the bright square moves with the mask
        assert a[m].mean() > a[~m].mean() + 2


def test_augment_strength_zero_is_identity():
    rng = np.random.default_rng(0)
    img, mask = np.random.rand(16, 16).astype(np.float32), np.ones((16, 16), bool)
    a, m = augment_pair(img, mask, rng, AugmentConfig(strength=0))
    assert a is img and m is mask


def test_jitter_mask_changes_border_not_location():
    rng = np.random.default_rng(1)
    mask = np.zeros((100, 100), bool)
    mask[30:70, 30:70] = True
    changed = 0
    for _ in range(10):
        j = jitter_mask(mask, rng)
        assert j.any()
        inter = (j & mask).sum() / (j | mask).sum()
        assert inter > 0.5
        changed += int((j != mask).any())
    assert changed > 0


def test_config_defaults_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("seg:\n  epochs: 3\n  model: {input_size: 64}\ncls:\n  augment: {scale_range: [0.9, 1.1]}\n")
    cfg = load_config(path, {"seed": 5})
    assert cfg.seg.epochs == 3 and cfg.seg.model.input_size == 64 and cfg.seed == 5
    assert cfg.cls.augment.scale_range == (0.9, 1.1)
    assert cfg.seg.model.base_filters == TrainConfig().seg.model.base_filters
    assert config_from_dict(cfg.to_dict()) == cfg


def test_config_rejects_unknown_keys(tmp_path):
    with pytest.raises(LesionLensError, match="unknown config keys in seg: epoch"):
        config_from_dict({"seg": {"epoch": 3}})
    with pytest.raises(LesionLensError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_partial_section_keeps_the_fields_own_default():
    """A YAML that changes one key of a nested section must not reset its siblings to class defaults."""
    from dataclasses import dataclass, field

    from training.config import _build

    @dataclass(frozen=True)
    class Inner:
        size: int = 1
        width: int = 2

    @dataclass(frozen=True)
    class Outer:
        inner: Inner = field(default_factory=lambda: Inner(size=128, width=6))

    assert _build(Outer, {"inner": {"width": 7}}, "") == Outer(Inner(size=128, width=7))
    assert _build(Outer, {}, "") == Outer()
