"""training.fit builds the optimizer's and metrics' variables before `fit`, so no variable is created
while Keras traces the train step (which made TensorFlow trace every stage twice)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.src.backend.common import variables as keras_variables

from pipeline.models import build_unet
from pipeline.models.losses import hard_dice, make_seg_loss
from pipeline.models.specs import UNetSpec
from training.fit import _build_state, _optimizer


class _Batches(keras.utils.PyDataset):
    """Two batches of 4 random 32-px images (shapes are all that matters here)."""

    def __init__(self):
        super().__init__()
        rng = np.random.default_rng(0)
        self.x = rng.normal(size=(8, 32, 32, 1)).astype(np.float32)
        self.y = (rng.random((8, 32, 32, 1)) > 0.7).astype(np.float32)

    def __len__(self):
        return 2

    def __getitem__(self, index):
        return self.x[index * 4 : (index + 1) * 4], self.y[index * 4 : (index + 1) * 4]


def _variables_created_while_fitting(monkeypatch, prebuild: bool) -> list[str]:
    keras.utils.set_random_seed(0)
    model = build_unet(UNetSpec(input_size=32, base_filters=16, depth=2, norm="group", dropout=0.0))
    batches = _Batches()
    model.compile(optimizer=_optimizer(1e-3, 1e-4, 2), loss=make_seg_loss(1.0), metrics=[hard_dice])
    if prebuild:
        _build_state(model, batches)
    created: list[str] = []
    original = keras_variables.Variable.__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        if tf.inside_function():
            created.append(self.path)

    monkeypatch.setattr(keras_variables.Variable, "__init__", spy)
    model.fit(batches, epochs=1, verbose=0)
    return created


@pytest.mark.parametrize("prebuild", [False, True])
def test_no_variable_is_created_inside_the_traced_train_step(monkeypatch, prebuild):
    created = _variables_created_while_fitting(monkeypatch, prebuild)
    if prebuild:
        assert created == []
    else:  # the control: without it Keras creates them in the trace (so the assertion above can fail)
        assert any("adam" in path.lower() for path in created), created
