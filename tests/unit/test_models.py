"""Model builders: shapes for every block type, encoders, local pretrained weights."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from pipeline.models import ClassifierSpec, UNetSpec, build_classifier, build_unet  # noqa: E402


@pytest.mark.parametrize("block", ["plain", "residual", "separable"])
@pytest.mark.parametrize("attention", [False, True])
def test_unet_shapes(block, attention):
    model = build_unet(UNetSpec(input_size=64, base_filters=16, depth=3, block=block, attention=attention, norm="group"))
    out = model(np.zeros((2, 64, 64, 1), np.float32))
    assert tuple(out.shape) == (2, 64, 64, 1)


def test_unet_rejects_bad_sizes_and_blocks():
    with pytest.raises(ValueError, match="divisible"):
        build_unet(UNetSpec(input_size=100, depth=4))
    with pytest.raises(ValueError, match="block type"):
        build_unet(UNetSpec(input_size=64, depth=3, block="fancy"))


def test_unet_with_applications_encoder_reads_local_weights(tmp_path):
    source = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(64, 64, 3))
    rng = np.random.default_rng(0)
    source.set_weights([rng.standard_normal(w.shape).astype("float32") for w in source.get_weights()])
    path = tmp_path / "mobilenet.weights.h5"
    source.save_weights(path)
    model = build_unet(UNetSpec(input_size=64, base_filters=16, encoder="MobileNetV2", pretrained_weights=str(path)))
    assert tuple(model(np.zeros((1, 64, 64, 1), np.float32)).shape) == (1, 64, 64, 1)
    encoder = next(layer for layer in model.layers if layer.name == "MobileNetV2_encoder")
    kernel = encoder.get_layer("Conv1").get_weights()[0]
    np.testing.assert_allclose(kernel, source.get_layer("Conv1").get_weights()[0])


def test_classifier_small_resnet_and_backbone():
    small = build_classifier(ClassifierSpec(input_size=48, base_filters=16, stages=3))
    assert tuple(small(np.zeros((3, 48, 48, 2), np.float32)).shape) == (3, 1)
    mobile = build_classifier(ClassifierSpec(input_size=64, backbone="MobileNetV2"))
    assert tuple(mobile(np.zeros((1, 64, 64, 2), np.float32)).shape) == (1, 1)
    with pytest.raises(ValueError, match="keras.applications"):
        build_classifier(ClassifierSpec(input_size=48, backbone="NoSuchNet"))
