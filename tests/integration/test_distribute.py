"""tf.distribute: one epoch of a real stage fit under MirroredStrategy over two CPU devices = the default strategy.

Each run is a fresh Python process whose CPU is split into two logical
devices before TensorFlow starts (the split cannot be undone in a process).
Both runs go through `training.fit._fit_stage` (strategy scope, compile,
callbacks, checkpoint) with the project's U-Net at the same global batch and
learning rate; group normalisation and no dropout, because batch
normalisation and dropout are per replica by design (training/strategy.py),
so only they may differ. Keras shuffles the batch order with Python's
`random`, and under MirroredStrategy it builds one more (prefetching)
iterator that draws once more, so the two runs would see the 4 batches in
another order; the script keeps the order fixed to compare like with like.
The build is checked to happen under a 2-replica MirroredStrategy, so an
unused scope cannot pass.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json, logging, re, sys
from pathlib import Path
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
import numpy as np
from pipeline.datasets import load_cases
from pipeline.models import build_unet
from pipeline.models.losses import hard_dice, make_seg_loss
from pipeline.models.specs import UNetSpec
from training import strategy
from training.batches import SegBatches
from training.data import load_arrays
from training.fit import _fit_stage

import random
random.shuffle = lambda items: None  # Keras's batch-order shuffle: see the module docstring
name, out = sys.argv[1], Path(sys.argv[2])
strategy.set_strategy(name)
losses, seen = [], {}

class Capture(logging.Handler):
    def emit(self, record):
        found = dict(re.findall(r" (loss|val_loss)=([0-9.]+)", record.getMessage()))
        if found:
            losses.append({k: float(v) for k, v in found.items()})

logging.getLogger("training.fit").addHandler(Capture())
logging.getLogger("training.fit").setLevel(logging.INFO)
arrays = load_arrays(load_cases("synthetic:36:3"), 96)
train, val = arrays[:32], arrays[32:]  # 4 steps of 8 images: 4 per replica

def build():
    current = tf.distribute.get_strategy()
    seen.update(kind=type(current).__name__, replicas=int(current.num_replicas_in_sync))
    keras.utils.set_random_seed(7)
    model = build_unet(UNetSpec(input_size=32, base_filters=16, depth=2, norm="group", dropout=0.0))
    np.savez(out / "initial.npz", *model.get_weights())
    return model

model = _fit_stage("seg", out, build, SegBatches(train, 32, 8, None, seed=0), SegBatches(val, 32, 8, None, seed=0),
                   loss=make_seg_loss(1.0), metric=hard_dice, monitor="val_hard_dice", epochs=1, lr=1e-3,
                   weight_decay=1e-4)
np.savez(out / "weights.npz", *model.get_weights())
print("RESULT " + json.dumps({"loss": losses, "build": seen, "devices": len(tf.config.list_logical_devices("CPU"))}))
"""


def _run(name: str, out: Path) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT), "LESIONLENS_HOME": str(out / "home")}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, name, str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-4000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line[len("RESULT ") :])
    for name in ("weights", "initial"):
        with np.load(out / f"{name}.npz") as data:
            result[name] = [data[k] for k in sorted(data.files, key=lambda s: int(s.split("_")[1]))]
    return result


def test_mirrored_over_two_cpu_devices_matches_default(tmp_path):
    default = _run("default", tmp_path / "default")
    mirrored = _run("mirrored", tmp_path / "mirrored")
    assert default["devices"] == mirrored["devices"] == 2
    assert default["build"] == {"kind": "_DefaultDistributionStrategy", "replicas": 1}
    assert mirrored["build"] == {"kind": "MirroredStrategy", "replicas": 2}
    assert json.loads((tmp_path / "mirrored" / "seg" / "strategy.json").read_text())["replicas"] == 2
    assert len(default["loss"]) == len(mirrored["loss"]) == 1
    for key in ("loss", "val_loss"):  # the epoch's training loss, and the loss of its weights on validation
        a, b = default["loss"][0][key], mirrored["loss"][0][key]
        assert abs(a - b) <= 1e-3 * abs(a), (key, a, b)
    # same start, and the two runs moved the weights the same way: their difference is a small share of
    # the update (Adam amplifies last-digit gradient differences near zero, so not bitwise)
    assert all(np.array_equal(a, b) for a, b in zip(default["initial"], mirrored["initial"]))
    update = np.concatenate([(w - w0).ravel() for w, w0 in zip(default["weights"], default["initial"])])
    apart = np.concatenate([(a - b).ravel() for a, b in zip(default["weights"], mirrored["weights"])])
    assert np.abs(update).mean() > 1e-4  # it did train
    assert np.abs(apart).mean() <= 0.01 * np.abs(update).mean(), (np.abs(apart).mean(), np.abs(update).mean())
