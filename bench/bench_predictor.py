"""End-to-end predictor latency beside its physical floor on this CPU (run by hand).

    .venv/bin/python bench/bench_predictor.py [BUNDLE] [--runs 50] [--out bench/results/predictor.json]

Why: "is 300 ms per image good?" has no answer without a floor. The floor is
the arithmetic a prediction needs (model FLOPs x members x TTA flips) divided
by what this CPU sustains on the friendliest float32 workload there is, a
large square matmul. Real convolutions with 16-128 channels on 160x160 maps
run far below matmul peak, so the ratio measured/floor says how much of the
time is kernel efficiency and Python/preprocessing overhead, not model size.

Measured: `load_image(png bytes)` + `Predictor.predict(record)` on a 500 x 400
(W x H) synthetic ultrasound image (pipeline.synthetic), N runs after warm-up:
p50, p95 and per-stage medians (the Predictor's own `timings_ms`).

FLOPs, two independent counts per model at batch 1:
- `graph`: TensorFlow's op-statistics profiler (tf.compat.v1.profiler,
  float_operation) on the frozen graph of `model(x, training=False)`; counts
  2 FLOPs per multiply-accumulate in Conv2D / DepthwiseConv2dNative / MatMul
  plus the registered element-wise ops (BiasAdd, Add, Mul, ...). Resizes and
  pooling are not registered and so not counted (small).
- `layers`: 2 x multiply-accumulates of Conv/Depthwise/Separable/Dense layers,
  from kernel shapes and output sizes by walking the Keras layers.
The floor uses the `graph` count (the larger, more complete one).

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
    """Per-model counts and the total per image (all members, all TTA flips) of a `BundleCard`."""
    import keras

    flips = 2 if card.tta_flip else 1
    per_model, total_graph, total_layers = [], 0, 0
    for i, member in enumerate(card.members):
        for role, rel in member.weight_files.items():
            model = keras.saving.load_model(bundle / rel, compile=False)
            g, lw = graph_flops(model), layer_flops(model)
            per_model.append({"member": i, "model": role, "input": list(model.input_shape[1:]),
                              "graph_flops": g, "layer_flops": lw, "params": int(model.count_params())})
            total_graph += g * flips
            total_layers += lw * flips
    return {"tta_flips": flips, "members": len(card.members), "per_model": per_model,
            "per_image_graph_flops": total_graph, "per_image_layer_flops": total_layers}


def measure(bundle: Path, png: bytes, runs: int, warmup: int) -> dict[str, object]:
    from pipeline.io import load_image
    from pipeline.predictor import Predictor

    t0 = time.perf_counter()
    predictor = Predictor(bundle)
    load_s = time.perf_counter() - t0
    samples: dict[str, list[float]] = {}
    for i in range(warmup + runs):
        t0 = time.perf_counter()
        record = load_image(png)
        t1 = time.perf_counter()
        pred = predictor.predict(record)
        t2 = time.perf_counter()
        if i < warmup:
            continue
        stages = {"load_image": (t1 - t0) * 1000, **{k: v for k, v in pred.timings_ms.items() if k != "total"},
                  "predict": (t2 - t1) * 1000, "end_to_end": (t2 - t0) * 1000}
        for key, value in stages.items():
            samples.setdefault(key, []).append(value)
    e2e = np.array(samples["end_to_end"])
    return {"bundle_load_s": round(load_s, 2), "runs": runs, "warmup": warmup,
            "p50_ms": float(np.percentile(e2e, 50)), "p95_ms": float(np.percentile(e2e, 95)),
            "mean_ms": float(e2e.mean()), "stage_median_ms": {k: float(np.median(v)) for k, v in samples.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", nargs="?", default=str(ROOT / "shipped" / "busbra"))  # what `make run` serves
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--size", default="500x400", help="W x H of the test image")
    parser.add_argument("--matmul", type=int, default=2048)
    parser.add_argument("--matmul-repeats", type=int, default=10)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "predictor.json"))
    args = parser.parse_args(argv)

    import tensorflow as tf

    from pipeline.bundle import read_bundle_card

    bundle = Path(args.bundle)
    card = read_bundle_card(bundle)
    width, height = (int(v) for v in args.size.lower().split("x"))
    png = ultrasound_png(width, height)
    load_before = os.getloadavg()
    latency = measure(bundle, png, args.runs, args.warmup)
    rate = matmul_rate(args.matmul, args.matmul_repeats)
    flops = model_flops(bundle, card)
    load_after = os.getloadavg()
    floor_ms = flops["per_image_graph_flops"] / (rate["best_gflops"] * 1e9) * 1000
    model_ms = latency["stage_median_ms"].get("segment", 0) + latency["stage_median_ms"].get("classify", 0)
    result = {
        "bundle": str(bundle), "bundle_name": card.name, "image": {"width": width, "height": height, "png_bytes": len(png)},
        "latency": latency, "flops": flops, "matmul": rate,
        "floor_ms": floor_ms, "model_stages_ms": model_ms, "model_stages_over_floor": model_ms / floor_ms if floor_ms else None,
        "machine": {"cpus": os.cpu_count(), "processor": _cpu_name(), "python": platform.python_version(),
                    "tensorflow": tf.__version__, "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads()},
        "load_average_before": load_before, "load_average_after": load_after,
        "contended": max(load_before[0], load_after[0]) > 0.5 * (os.cpu_count() or 1),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    _print_table(result)
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


def _print_table(r: dict) -> None:
    lat, fl, mm = r["latency"], r["flops"], r["matmul"]
    print(f"bundle {r['bundle_name']} ({fl['members']} member(s), TTA flips x{fl['tta_flips']}), "
          f"image {r['image']['width']}x{r['image']['height']}, {lat['runs']} runs after {lat['warmup']} warm-up")
    print(f"{'stage':<14}{'median ms':>11}")
    for key, value in lat["stage_median_ms"].items():
        print(f"{key:<14}{value:>11.1f}")
    print(f"end-to-end p50 {lat['p50_ms']:.1f} ms, p95 {lat['p95_ms']:.1f} ms")
    print(f"\n{'model':<10}{'input':>14}{'params':>10}{'graph MFLOPs':>14}{'layer MFLOPs':>14}")
    for m in fl["per_model"]:
        print(f"{m['member']}:{m['model']:<8}{'x'.join(map(str, m['input'])):>14}{m['params']:>10,}"
              f"{m['graph_flops'] / 1e6:>14.1f}{m['layer_flops'] / 1e6:>14.1f}")
    print(f"per image (all members and flips): {fl['per_image_graph_flops'] / 1e9:.3f} GFLOPs (graph), "
          f"{fl['per_image_layer_flops'] / 1e9:.3f} GFLOPs (layers)")
    print(f"float32 matmul {mm['n']}x{mm['n']}: best {mm['best_gflops']:.1f} GFLOP/s, median {mm['median_gflops']:.1f}")
    print(f"floor (FLOPs / best matmul rate): {r['floor_ms']:.2f} ms; measured segment+classify {r['model_stages_ms']:.1f} ms "
          f"= {r['model_stages_over_floor']:.1f}x the floor")
    if r["contended"]:
        print(f"NOTE: CPU contended (load average {r['load_average_before'][0]:.1f} -> {r['load_average_after'][0]:.1f} "
              f"on {r['machine']['cpus']} cores): latencies are upper bounds, the matmul rate a lower bound.")


if __name__ == "__main__":
    sys.exit(main())
