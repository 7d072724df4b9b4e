"""Transfer-learning plumbing: `--init-from BUNDLE` on `train` and `cv` (tiny config)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.bundle import read_bundle_card
from training.__main__ import main

pytestmark = pytest.mark.slow
TINY = str(Path(__file__).resolve().parents[2] / "training" / "configs" / "tiny.yaml")


def _layer_weights(model) -> list[tuple[str, list[np.ndarray]]]:
    return [(layer.name, [np.array(w) for w in layer.get_weights()]) for layer in model.layers]


def test_train_init_from_starts_every_layer_at_the_source_weights(tiny_bundle, tmp_path, monkeypatch):
    import keras

    import training.fit as fit

    started: list[tuple[str | None, list]] = []  # (init path, weights right after init) per stage: seg, refine, cls
    original = fit._load_init

    def spy(model, path):
        original(model, path)
        started.append((path, _layer_weights(model)))

    monkeypatch.setattr(fit, "_load_init", spy)
    out = tmp_path / "finetuned"
    assert main(["train", "--dataset", "synthetic:24:5", "--out", str(out), "--config", TINY, "--epochs", "1",
                 "--init-from", str(tiny_bundle)]) == 0

    source_card, card = read_bundle_card(tiny_bundle), read_bundle_card(out)
    assert len(started) == 3
    for (path, weights), stage in zip(started, ("seg", "refine", "cls")):
        source_path = (tiny_bundle / source_card.members[0].weight_files[stage]).resolve()
        assert path == str(source_path) == card.training.config[stage]["init_weights"]
        source = keras.saving.load_model(source_path, compile=False)
        compared = 0
        for (name, got), src_layer in zip(weights, source.layers):
            expected = src_layer.get_weights()
            if expected and [w.shape for w in expected] == [w.shape for w in got]:
                assert all(np.array_equal(a, b) for a, b in zip(got, expected)), f"{stage} layer {name} not copied"
                compared += 1
        assert compared == sum(1 for layer in source.layers if layer.get_weights())  # same architecture: all layers

    # and training then moved away from the starting point
    tuned = keras.saving.load_model(out / card.members[0].seg, compile=False)
    source = keras.saving.load_model(tiny_bundle / source_card.members[0].seg, compile=False)
    assert any(not np.array_equal(a, b) for a, b in zip(tuned.get_weights(), source.get_weights()))
    # the fine-tuned bundle names the data of the bundle it started from among its sources
    assert [s.name for s in card.data_sources] == ["synthetic cohort"]
    assert card.provenance.command.endswith(f"--init-from {tiny_bundle}")


def test_init_copies_only_matching_layers_across_input_sizes_and_widths(tiny_bundle):
    """Conv kernels do not depend on the input size (fine-tuning at another resolution keeps them);
    a wider model keeps only the layers whose shapes still match."""
    import keras

    from pipeline.models import UNetSpec, build_unet
    from training.fit import _load_init

    seg_path = str(tiny_bundle / read_bundle_card(tiny_bundle).members[0].seg)
    source = keras.saving.load_model(seg_path, compile=False)
    bigger = build_unet(UNetSpec(input_size=96, base_filters=16, depth=3))
    _load_init(bigger, seg_path)
    assert all(np.array_equal(a, b) for a, b in zip(bigger.get_weights(), source.get_weights()))
    wider = build_unet(UNetSpec(input_size=64, base_filters=24, depth=3))
    _load_init(wider, seg_path)
    copied = skipped = 0
    for dst, src in zip(wider.layers, source.layers):
        got, expected = dst.get_weights(), src.get_weights()
        if not expected:
            continue
        if [w.shape for w in got] == [w.shape for w in expected]:
            assert all(np.array_equal(a, b) for a, b in zip(got, expected)), dst.name
            copied += 1
        else:
            skipped += 1
    assert skipped > 0 and copied + skipped == sum(1 for layer in source.layers if layer.get_weights())


def test_cv_init_from_sets_both_stages_and_bad_bundles_are_refused(tiny_bundle, tmp_path, monkeypatch, capsys):
    import training.cv

    seen = {}

    def fake_run_cv(cases, folds, cfg, out, spec, only=None, n_boot=1000, **_options):
        seen["cfg"] = cfg
        return {"table": {}}

    monkeypatch.setattr(training.cv, "run_cv", fake_run_cv)
    assert main(["cv", "--dataset", "synthetic:24:5", "--folds", "2", "--config", TINY, "--out", str(tmp_path / "cv"),
                 "--init-from", str(tiny_bundle)]) == 0
    card = read_bundle_card(tiny_bundle)
    assert seen["cfg"].seg.init_weights == str((tiny_bundle / card.members[0].seg).resolve())
    assert seen["cfg"].cls.init_weights == str((tiny_bundle / card.members[0].cls).resolve())
    assert main(["cv", "--dataset", "synthetic:24:5", "--folds", "2", "--out", str(tmp_path / "cv2"),
                 "--init-from", str(tmp_path / "no-such-bundle")]) == 2
    assert "not found" in capsys.readouterr().err
