"""How the predictor runs its networks: one call per stage, every ensemble member and TTA flip in one batch.

Why several runtimes: on a small CPU the same weights cost very different times depending on who
executes them (bench/bench_predictor.py measures them side by side against the FLOP floor):

- "tf.function": the Keras models inside one `tf.function` per stage with a fixed signature (the
  reference, and the fallback: it needs nothing but the Keras weights);
- "xla": the same function with `jit_compile=True`;
- "tflite" / "tflite:N": a TFLite flatbuffer of the stage (all members stacked into one model) run by
  the TFLite interpreter with its default XNNPACK delegate on N threads (default: the usable cores);
- "onnx": the stage exported by tf2onnx, run by ONNX Runtime (only where both packages are installed).

Every runner takes a float32 batch (B, H, W, C) and returns a numpy array members x B x ... ; the
segmentation stages return probabilities (sigmoid applied), the classifier raw logits.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

StageFn = Callable[[np.ndarray], np.ndarray]
RUNTIMES = ("tf.function", "xla", "tflite", "onnx")


class RuntimeUnavailable(RuntimeError):
    """This runtime cannot run here (a package is missing, or the export failed); the message says why."""


@dataclass
class Runners:
    """The three stages as run by one runtime (`refine` is None for bundles without the refinement stage)."""

    name: str
    seg: StageFn
    cls: StageFn
    refine: StageFn | None


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def parse_runtime(spec: str) -> tuple[str, int | None]:
    """ "tflite:1" -> ("tflite", 1); "xla" -> ("xla", None). Unknown names raise ValueError."""
    name, _, threads = spec.partition(":")
    if name not in RUNTIMES:
        raise ValueError(f"unknown runtime {spec!r}; choose from {', '.join(RUNTIMES)} (tflite:N for N threads)")
    return name, int(threads) if threads else None


def stage_model(models: Sequence[Any], sigmoid: bool) -> Any:
    """One Keras model running every member on the same batch; output B x members x ... (one call per stage)."""
    import keras

    inputs = keras.Input(tuple(models[0].input_shape[1:]))
    if len(models) > 1:  # members loaded from files share one name ("unet"): a functional model needs unique ones
        models = [keras.Model(m.input, m.output, name=f"member_{i}") for i, m in enumerate(models)]
    outputs = [m(inputs, training=False) for m in models]
    if sigmoid:
        outputs = [keras.activations.sigmoid(o) for o in outputs]
    return keras.Model(inputs, keras.ops.stack(outputs, axis=1))


def keras_stage(models: Sequence[Any], size: int, channels: int, sigmoid: bool, jit: bool = False) -> StageFn:
    """The stage as a `tf.function` (XLA-compiled with `jit`), members stacked first."""
    import tensorflow as tf

    @tf.function(
        input_signature=[tf.TensorSpec([None, size, size, channels], tf.float32)],
        reduce_retracing=True,
        jit_compile=jit,
    )
    def stage(batch: Any) -> Any:
        outs = [m(batch, training=False) for m in models]
        return tf.stack([tf.sigmoid(o) for o in outs] if sigmoid else outs)

    return lambda batch: stage(batch).numpy()


def tflite_bytes(models: Sequence[Any], sigmoid: bool) -> bytes:
    """The stage (members stacked) as a float32 TFLite flatbuffer (no quantisation: outputs must not move)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(stage_model(models, sigmoid))
    return bytes(converter.convert())


def _interpreter_class() -> Any:
    """LiteRT's interpreter when installed, else the one inside TensorFlow (same flatbuffers, same XNNPACK)."""
    try:
        from ai_edge_litert.interpreter import Interpreter  # type: ignore[import-not-found]

        return Interpreter
    except ImportError:
        import tensorflow as tf

        return tf.lite.Interpreter


def tflite_stage(content: bytes, threads: int | None = None) -> StageFn:
    """A TFLite runner: one interpreter per batch size (the predictor uses two or three fixed sizes),
    serialised by a lock because an interpreter is not safe to invoke from two threads at once."""
    interpreter_class = _interpreter_class()
    threads = threads or usable_cores()
    by_batch: dict[int, Any] = {}
    lock = threading.Lock()

    def interpreter(batch: int) -> Any:
        if batch not in by_batch:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice, once per process
                it = interpreter_class(model_content=content, num_threads=threads)
            it.resize_tensor_input(it.get_input_details()[0]["index"], [batch, *it.get_input_details()[0]["shape"][1:]])
            it.allocate_tensors()
            by_batch[batch] = it
        return by_batch[batch]

    def stage(batch: np.ndarray) -> np.ndarray:
        with lock:
            it = interpreter(batch.shape[0])
            it.set_tensor(it.get_input_details()[0]["index"], np.ascontiguousarray(batch, np.float32))
            it.invoke()
            out = it.get_tensor(it.get_output_details()[0]["index"])
        return np.moveaxis(out, 1, 0)

    return stage


def onnx_stage(models: Sequence[Any], size: int, channels: int, sigmoid: bool, threads: int | None = None) -> StageFn:
    """The stage exported by tf2onnx (from a tf.function: its Keras path does not take Keras 3) on ONNX Runtime."""
    try:
        import onnxruntime as ort
        import tf2onnx
    except ImportError as exc:
        raise RuntimeUnavailable(f"{exc.name} is not installed (pip install onnxruntime tf2onnx)") from None
    import tensorflow as tf

    spec = [tf.TensorSpec([None, size, size, channels], tf.float32, name="x")]
    model = stage_model(models, sigmoid)
    function = tf.function(lambda x: model(x, training=False), input_signature=spec)
    try:
        proto, _ = tf2onnx.convert.from_function(function, input_signature=spec, opset=17)
    except Exception as exc:  # tf2onnx raises many types for unsupported ops
        raise RuntimeUnavailable(f"tf2onnx could not convert the stage ({type(exc).__name__}: {exc})") from exc
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or usable_cores()
    session = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda batch: np.moveaxis(session.run(None, {name: np.ascontiguousarray(batch, np.float32)})[0], 1, 0)


def build_runners(
    runtime: str,
    seg_models: Sequence[Any],
    cls_models: Sequence[Any],
    refine_models: Sequence[Any],
    sizes: tuple[int, int, int],
    artefacts: dict[str, bytes] | None = None,
) -> Runners:
    """The stages run by `runtime` (see the module docstring); `sizes` = (seg, cls, refine) input sides.
    "tflite" uses `artefacts` (stage -> flatbuffer, e.g. from the bundle) and converts what is missing."""
    name, threads = parse_runtime(runtime)
    s, c, r = sizes
    stages = {"seg": (seg_models, s, 1, True), "cls": (cls_models, c, 2, False), "refine": (refine_models, r, 2, True)}
    built: dict[str, StageFn | None] = {}
    for stage, (models, size, channels, sigmoid) in stages.items():
        if not models:
            built[stage] = None
        elif name in ("tf.function", "xla"):
            built[stage] = keras_stage(models, size, channels, sigmoid, jit=name == "xla")
        elif name == "tflite":
            content = (artefacts or {}).get(stage) or tflite_bytes(models, sigmoid)
            built[stage] = tflite_stage(content, threads)
        else:
            built[stage] = onnx_stage(models, size, channels, sigmoid, threads)
    seg, cls = built["seg"], built["cls"]
    if seg is None or cls is None:
        raise ValueError("a predictor needs at least one segmentation and one classification model")
    return Runners(runtime, seg, cls, built["refine"])
