"""End-to-end predictor latency beside its physical floor on this CPU (run by hand).

    nice -n 19 .venv/bin/python bench/bench_predictor.py [BUNDLE] [--runs 30] [--runtimes tf.function,tflite,...]

Prints a markdown table per runtime (see bench/bench_runtimes.py): p50/p95 of the network calls and of
the model stages, their ratio to the FLOP floor and to naive per-image `model.predict`, and whether
the outputs match the Keras reference; JSON in bench/results/predictor-<bundle>-runtimes.json.

Why: "is 300 ms per image good?" has no answer without a floor. The floor is
the arithmetic a prediction needs (model FLOPs x members x TTA flips) divided
by what this CPU sustains on the friendliest float32 workload there is, a
large square matmul. Real convolutions with 16-128 channels on 160x160 maps
run far below matmul peak, so the ratio measured/floor says how much of the
time is kernel efficiency and Python/preprocessing overhead, not model size.

Measured: `load_image(png bytes)` + `Predictor.predict(record)` on a 500 x 400
(W x H) synthetic ultrasound image (pipeline.synthetic) or `--image FILE`, every
runtime once per run, interleaved, N runs after warm-up.

FLOPs, two independent counts per model at batch 1:
- `graph`: TensorFlow's op-statistics profiler (tf.compat.v1.profiler,
  float_operation) on the frozen graph of `model(x, training=False)`; counts
  2 FLOPs per multiply-accumulate in Conv2D / DepthwiseConv2dNative / MatMul
  plus the registered element-wise ops (BiasAdd, Add, Mul, ...). Resizes and
  pooling are not registered and so not counted (small).
- `layers`: 2 x multiply-accumulates of Conv/Depthwise/Separable/Dense layers,
  from kernel shapes and output sizes by walking the Keras layers.
The floor uses the `graph` count (the larger, more complete one), times every
input a prediction runs: 2 flips for seg and refine, and for the classifier
2 flips x 4 views when the card has `tta_views` (reports before 2026-12-04
counted the classifier at 2 inputs, so their floor was 1.9x too low).

The CPU is shared (e.g. with a training run): the load average before and
after is recorded, and contended numbers are upper bounds on latency.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def ultrasound_png(width: int = 500, height: int = 400, seed: int = 0) -> bytes:
    """A synthetic ultrasound image with a lesion, resized to exactly width x height, as PNG bytes."""
    from PIL import Image

    from pipeline.io import to_png_bytes
    from pipeline.synthetic import render, sample_cohort

    case = next(c for c in sample_cohort(10, seed) if c.lesion is not None)
    image, _ = render(case, seed)
    return to_png_bytes(np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR)))


def graph_flops(model) -> int:
    """FLOPs of one forward pass at batch 1, by TensorFlow's graph profiler."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    tf.get_logger().setLevel("ERROR")  # the v1 profiler warns about its own deprecated helpers
    spec = tf.TensorSpec([1, *model.input_shape[1:]], tf.float32)
    concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    frozen = convert_variables_to_constants_v2(concrete)
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return int(tf.compat.v1.profiler.profile(graph=frozen.graph, options=options).total_float_ops)


def layer_flops(model) -> int:
    """2 x multiply-accumulates of the conv and dense layers (recursing into nested models)."""
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += layer_flops(layer)
            continue
        try:
            out = layer.output.shape
        except (AttributeError, ValueError):  # a layer used more than once has no single output
            continue
        positions = int(np.prod([d for d in out[1:-1] if d]))
        if isinstance(layer, keras.layers.SeparableConv2D):
            total += positions * (int(np.prod(layer.depthwise_kernel.shape)) + int(np.prod(layer.pointwise_kernel.shape)))
        elif isinstance(layer, keras.layers.Conv2DTranspose):
            total += int(np.prod([d for d in layer.input.shape[1:-1]])) * int(np.prod(layer.kernel.shape))
        elif isinstance(layer, keras.layers.DepthwiseConv2D):
            total += positions * int(np.prod(layer.kernel.shape))
        elif isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            total += positions * int(np.prod(layer.kernel.shape))
    return 2 * total


def matmul_rate(n: int = 2048, repeats: int = 10) -> dict[str, float]:
    """Sustained float32 FLOP/s of an n x n matmul (2 n^3 FLOPs), best and median of `repeats`."""
    import tensorflow as tf

    a = tf.random.normal([n, n], seed=1)
    b = tf.random.normal([n, n], seed=2)
    step = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))  # the sum forces completion, costs n^2
    step().numpy()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step().numpy()
        times.append(time.perf_counter() - t0)
    flops = 2 * n**3
    return {"n": n, "repeats": repeats, "best_gflops": flops / min(times) / 1e9, "median_gflops": flops / float(np.median(times)) / 1e9}


def model_flops(bundle: Path, card) -> dict[str, object]:
    """Per-model counts and the total per image (all members, TTA flips and classifier views) of a `BundleCard`."""
    import keras

    flips = 2 if card.tta_flip else 1
    views = 4 if card.tta_views else 1
    per_model, total_graph, total_layers = [], 0, 0
    for i, member in enumerate(card.members):
        for role, rel in member.weight_files.items():
            model = keras.saving.load_model(bundle / rel, compile=False)
            g, lw = graph_flops(model), layer_flops(model)
            per_model.append({"member": i, "model": role, "input": list(model.input_shape[1:]),
                              "graph_flops": g, "layer_flops": lw, "params": int(model.count_params())})
            inputs = flips * (views if role == "cls" else 1)
            total_graph += g * inputs
            total_layers += lw * inputs
    return {"tta_flips": flips, "cls_views": views, "members": len(card.members), "per_model": per_model,
            "per_image_graph_flops": total_graph, "per_image_layer_flops": total_layers}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", nargs="?", default=str(ROOT / "shipped" / "busbra"))  # what `make run` serves
    parser.add_argument("--runtimes", default="tf.function,xla,tflite,tflite:1,onnx",
                        help="comma-separated (pipeline.runtimes); tflite:N = N threads")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--size", default="500x400", help="W x H of the synthetic test image")
    parser.add_argument("--image", help="an image file instead of the synthetic one (e.g. a BUS-BRA PNG)")
    parser.add_argument("--matmul", type=int, default=2048)
    parser.add_argument("--matmul-repeats", type=int, default=10)
    parser.add_argument("--out", help="JSON path (default bench/results/predictor-<bundle>-runtimes.json)")
    args = parser.parse_args(argv)

    import tensorflow as tf

    from bench_runtimes import compare, markdown_table
    from pipeline.bundle import read_bundle_card

    bundle = Path(args.bundle)
    card = read_bundle_card(bundle)
    width, height = (int(v) for v in args.size.lower().split("x"))
    png = Path(args.image).read_bytes() if args.image else ultrasound_png(width, height)
    load_before = os.getloadavg()
    rate = matmul_rate(args.matmul, args.matmul_repeats)
    comparison = compare(bundle, png, [r.strip() for r in args.runtimes.split(",") if r.strip()], args.runs, args.warmup)
    rate_after = matmul_rate(args.matmul, args.matmul_repeats)
    if rate_after["best_gflops"] > rate["best_gflops"]:
        rate = rate_after
    flops = model_flops(bundle, card)
    load_after = os.getloadavg()
    floor_ms = flops["per_image_graph_flops"] / (rate["best_gflops"] * 1e9) * 1000
    result = {
        "bundle": str(bundle), "bundle_name": card.name, "bundle_version": card.version,
        "image": args.image or {"width": width, "height": height, "png_bytes": len(png)},
        "comparison": comparison, "flops": flops, "matmul": rate, "floor_ms": floor_ms,
        "machine": {"cpus": os.cpu_count(), "processor": _cpu_name(), "python": platform.python_version(),
                    "tensorflow": tf.__version__, "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads()},
        "load_average_before": load_before, "load_average_after": load_after,
        "contended": max(load_before[0], load_after[0], comparison["load_average_per_run"]["max"]) > 0.5 * (os.cpu_count() or 1),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    out = Path(args.out or ROOT / "bench" / "results" / f"predictor-{card.name}-runtimes.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    _print_summary(result)
    print()
    print(markdown_table(comparison, floor_ms))
    print(f"\nwritten: {out}")
    return 0


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _print_summary(r: dict) -> None:
    fl, mm, cmp = r["flops"], r["matmul"], r["comparison"]
    print(f"bundle {r['bundle_name']} {r['bundle_version']} ({fl['members']} member(s), flips x{fl['tta_flips']}, "
          f"classifier views x{fl['cls_views']}), {cmp['runs']} interleaved runs after {cmp['warmup']} warm-up")
    for m in fl["per_model"]:
        print(f"  {m['member']}:{m['model']:<7} input {'x'.join(map(str, m['input']))}, {m['params']:,} params, "
              f"{m['graph_flops'] / 1e6:.1f} MFLOPs (graph), {m['layer_flops'] / 1e6:.1f} (layers)")
    print(f"per image: {fl['per_image_graph_flops'] / 1e9:.3f} GFLOPs; float32 matmul {mm['n']}: best "
          f"{mm['best_gflops']:.1f} GFLOP/s -> floor {r['floor_ms']:.2f} ms")
    la = cmp["load_average_per_run"]
    if r["contended"]:
        print(f"NOTE: CPU contended (load average {la['min']:.1f}-{la['max']:.1f} on {r['machine']['cpus']} cores): "
              "every time is an upper bound and the floor too (the matmul rate is a lower bound); the runtimes "
              "shared the same load, so their ratios compare.")


if __name__ == "__main__":
    sys.exit(main())
