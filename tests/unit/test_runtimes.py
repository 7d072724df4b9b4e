"""Issue 16.4: the predictor's runtimes (pipeline.runtimes), the card's `runtime` record and the
exported TFLite artefacts (pipeline.runtime_export): same outputs as Keras, hashes checked, Keras
as the fallback whenever an artefact is missing or stale."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from pipeline.card import CardError  # noqa: E402
from pipeline.card_runtime import RuntimeArtefacts  # noqa: E402
from pipeline.errors import BundleError  # noqa: E402
from tests.cards import make_card, minimal_card_json  # noqa: E402

SIZE = 32
HEX = "a" * 64


def _runtime_json(**overrides):
    record = {
        "kind": "tflite",
        "files": {"seg": "runtime/seg.tflite"},
        "sha256": {"runtime/seg.tflite": HEX},
        "source_sha256": {"seg": HEX},
        "tensorflow": "2.21.0",
        "tolerance": {"max_abs_diff": 1e-3},
    }
    record.update(overrides)
    return record


def test_the_runtime_record_round_trips_and_is_validated():
    card = make_card(runtime=_runtime_json())
    assert isinstance(card.runtime, RuntimeArtefacts) and card.runtime.files == {"seg": "runtime/seg.tflite"}
    assert card.to_json()["runtime"] == _runtime_json()
    assert make_card().runtime is None and "runtime" not in make_card().to_json()
    with pytest.raises(CardError, match="runtime.kind"):
        make_card(runtime=_runtime_json(kind="tensorrt"))
    with pytest.raises(CardError, match="inside the bundle"):
        make_card(runtime=_runtime_json(files={"seg": "../seg.tflite"}))
    with pytest.raises(CardError, match="runtime.sha256"):
        make_card(runtime=_runtime_json(sha256={}))


def _models(members: int = 1):
    from pipeline.models import ClassifierSpec, UNetSpec, build_classifier, build_unet

    seg = [build_unet(UNetSpec(input_size=SIZE, base_filters=16, depth=2)) for _ in range(members)]
    cls = [build_classifier(ClassifierSpec(input_size=SIZE, base_filters=16, stages=2)) for _ in range(members)]
    return seg, cls


def test_tflite_runs_every_member_in_one_call_with_the_keras_outputs():
    from pipeline.runtimes import build_runners

    seg, cls = _models(members=2)
    sizes = (SIZE, SIZE, SIZE)
    reference = build_runners("tf.function", seg, cls, [], sizes)
    lite = build_runners("tflite:1", seg, cls, [], sizes)
    rng = np.random.default_rng(0)
    for stage, channels, batch in (("seg", 1, 2), ("cls", 2, 8)):
        x = rng.standard_normal((batch, SIZE, SIZE, channels)).astype(np.float32)
        want, got = getattr(reference, stage)(x), getattr(lite, stage)(x)
        assert got.shape == want.shape and got.shape[:2] == (2, batch)  # members x batch
        np.testing.assert_allclose(got, want, atol=1e-4)
    assert lite.refine is None


def test_unknown_runtimes_are_refused():
    from pipeline.runtimes import parse_runtime

    assert parse_runtime("tflite:3") == ("tflite", 3) and parse_runtime("xla") == ("xla", None)
    with pytest.raises(ValueError, match="unknown runtime"):
        parse_runtime("tensorrt")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """A one-member bundle of untrained 32-px models, written by the card writer."""
    from pipeline.bundle import write_bundle_card

    folder = tmp_path_factory.mktemp("bundle") / "b"
    (folder / "members" / "0").mkdir(parents=True)
    seg, cls = _models()
    seg[0].save(folder / "members/0/seg.keras")
    cls[0].save(folder / "members/0/cls.keras")
    pre = {"work_max_side": 64, "seg_input_size": SIZE, "cls_input_size": SIZE, "margin": 0.3}
    write_bundle_card(folder, make_card(**{k: v for k, v in minimal_card_json(preprocessing=pre).items()}))
    return folder


def test_export_writes_hashed_artefacts_and_the_predictor_runs_them(bundle):
    from pipeline.bundle import read_bundle_card
    from pipeline.predictor import Predictor
    from pipeline.runtime_export import export_tflite

    before = read_bundle_card(bundle)
    card = export_tflite(bundle)
    assert card.runtime is not None and set(card.runtime.files) == {"seg", "cls"}
    assert card.version != before.version  # what is served changed: predictions are cached under a new version
    assert read_bundle_card(bundle).runtime == card.runtime
    lite, keras_run = Predictor(bundle), Predictor(bundle, runtime="tf.function")
    assert (lite.runtime, keras_run.runtime) == ("tflite", "tf.function")
    gray = (np.random.default_rng(1).random((80, 100)) * 255).astype(np.uint8)
    want, got = keras_run.predict_gray(gray), lite.predict_gray(gray)
    assert abs(got.probability - want.probability) <= 1e-3
    assert float(np.abs(got.probability_map - want.probability_map).max()) <= 1e-3


def test_a_missing_artefact_falls_back_to_keras_and_a_changed_one_is_refused(bundle):
    from pipeline.bundle import read_bundle_card
    from pipeline.predictor import Predictor
    from pipeline.runtime_export import export_tflite

    card = read_bundle_card(bundle)
    if card.runtime is None:
        card = export_tflite(bundle)
    artefact = bundle / card.runtime.files["seg"]
    content = artefact.read_bytes()
    try:
        artefact.unlink()
        assert Predictor(bundle).runtime == "tf.function"
        artefact.write_bytes(content[:-1] + bytes([content[-1] ^ 1]))
        with pytest.raises(BundleError, match="runtime artefact"):
            read_bundle_card(bundle)
    finally:
        artefact.write_bytes(content)
    assert Predictor(bundle).runtime == "tflite"
