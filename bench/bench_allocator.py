"""Training-step throughput of the default U-Net under glibc malloc vs jemalloc.

Why this exists: see pipeline/allocator.py. Each variant runs in a fresh
process (the allocator is chosen at exec time); the child fits the default
160 x 160 U-Net on 20 synthetic batches of 16 through a Keras PyDataset (the
same path as training) and reports images/s, minor page faults and user/system
CPU seconds. Writes bench/results/allocator.json and prints a table.

    .venv/bin/python bench/bench_allocator.py [--steps 20]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.allocator import MALLOC_CONF, find_jemalloc  # noqa: E402


def child(steps: int) -> None:
    import keras
    import numpy as np

    from pipeline.models.losses import hard_dice, make_seg_loss
    from pipeline.models.specs import UNetSpec
    from pipeline.models.unet import build_unet

    class Batches(keras.utils.PyDataset):
        def __init__(self, n):
            super().__init__()
            rng = np.random.default_rng(0)
            self.n = n
            self.x = rng.standard_normal((16, 160, 160, 1)).astype(np.float32)
            self.y = (rng.random((16, 160, 160, 1)) > 0.7).astype(np.float32)

        def __len__(self):
            return self.n

        def __getitem__(self, i):
            return self.x.copy(), self.y.copy()

    model = build_unet(UNetSpec())
    model.compile(optimizer=keras.optimizers.AdamW(1e-3), loss=make_seg_loss(1.0, False), metrics=[hard_dice])
    model.fit(Batches(3), epochs=1, verbose=0)  # trace + warm up
    stat0 = open(f"/proc/{os.getpid()}/stat").read().split()
    started = time.perf_counter()
    model.fit(Batches(steps), epochs=1, verbose=0)
    seconds = time.perf_counter() - started
    stat1 = open(f"/proc/{os.getpid()}/stat").read().split()
    tick = os.sysconf("SC_CLK_TCK")
    print(json.dumps({
        "images_per_s": round(steps * 16 / seconds, 2),
        "minor_faults": int(stat1[9]) - int(stat0[9]),
        "user_s": round((int(stat1[13]) - int(stat0[13])) / tick, 1),
        "system_s": round((int(stat1[14]) - int(stat0[14])) / tick, 1),
    }))


def run_variant(name: str, env: dict[str, str], steps: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", "--steps", str(steps)], env=env,
                         capture_output=True, text=True, check=True)
    return {"allocator": name, **json.loads(out.stdout.strip().splitlines()[-1])}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--child", action="store_true")
    args = parser.parse_args()
    if args.child:
        child(args.steps)
        return 0
    base = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "MALLOC_CONF")}
    base["TF_CPP_MIN_LOG_LEVEL"] = "2"
    rows = [run_variant("glibc (default)", base, args.steps)]
    library = find_jemalloc()
    if library:
        rows.append(run_variant("jemalloc, no purging", {**base, "LD_PRELOAD": library, "MALLOC_CONF": MALLOC_CONF}, args.steps))
    result = {"steps": args.steps, "batch": 16, "input": "160x160", "load_avg": os.getloadavg(), "rows": rows}
    out = ROOT / "bench" / "results" / "allocator.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print("| allocator | images/s | minor faults | user s | system s |\n|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['allocator']} | {r['images_per_s']} | {r['minor_faults']:,} | {r['user_s']} | {r['system_s']} |")
    print(f"(load average at the end: {result['load_avg'][0]:.1f}; written to {out.relative_to(ROOT)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
