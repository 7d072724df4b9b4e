"""Wall clock of a small CV on 1 vs 2 Celery training workers (`cv --backend celery`).

Why this exists: the README's "Training on several workers" quotes the
speed-up of 2 workers over 1 measured here. For each worker count it starts
that many `python -m training worker` processes on Redis DB 8 (flushed
before and after; the app's tests use 0, 9, 11, 12, 14), runs
`python -m training cv --backend celery` on a fresh folder, times it from
submission to the written summary, and stops only the workers it started.
On one machine the workers share its cores (each TensorFlow process would
use them all), so the figure here is a floor for N workers on N machines.
Writes bench/results/cv_workers-<UTC time>.json and prints a table.

    .venv/bin/python bench/bench_cv_workers.py [--cases 48] [--folds 4] [--workers 1,2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.processes import stop_all  # noqa: E402

BROKER = "redis://127.0.0.1:6379/8"


def flush() -> None:
    import redis

    redis.Redis.from_url(BROKER).flushdb()


def run(n_workers: int, args: argparse.Namespace, work: Path) -> dict:
    env = {
        **os.environ,
        "LESIONLENS_BROKER_URL": BROKER,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "LESIONLENS_HOME": str(work / "home"),
        "PYTHONPATH": str(ROOT),
    }
    flush()
    workers = []
    for i in range(n_workers):
        log = work / f"w{n_workers}-{i}.log"
        workers.append(
            (
                subprocess.Popen(
                    [sys.executable, "-m", "training", "worker", "--name", f"bench{i}@%h"],
                    cwd=ROOT,
                    env=env,
                    stdout=log.open("w"),
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                ),
                log,
            )
        )
    try:
        for process, log in workers:
            while "ready" not in log.read_text():
                if process.poll() is not None:
                    raise RuntimeError(log.read_text()[-2000:])
                time.sleep(0.2)
        out = work / f"cv-{n_workers}"
        load_before = os.getloadavg()[0]  # other work on the machine shares its cores with the workers
        started = time.time()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "training",
                "cv",
                "--dataset",
                f"synthetic:{args.cases}:0",
                "--folds",
                str(args.folds),
                "--config",
                args.config,
                "--out",
                str(out),
                "--n-boot",
                "20",
                "--backend",
                "celery",
            ],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=(work / f"cli-{n_workers}.log").open("w"),
            stderr=subprocess.STDOUT,
        )
        seconds = time.time() - started
        summary = json.loads((out / "cv_summary.json").read_text())
        return {
            "workers": n_workers,
            "seconds": round(seconds, 1),
            "folds_done": summary["folds_done"],
            "auc_folds": summary["table"].get("classification.auc", {}).get("folds"),
            "load_1min_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        }
    finally:
        stop_all([process for process, _ in workers], grace=60)
        flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=48)
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--config", default=str(ROOT / "training" / "configs" / "tiny.yaml"))
    args = parser.parse_args()
    busy = subprocess.run(
        ["pgrep", "-af", "--", "-m training (train|cv|tune) "], capture_output=True, text=True
    ).stdout.strip()
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-cv-workers-") as tmp:
        for n in [int(x) for x in args.workers.split(",")]:
            runs.append(run(n, args, Path(tmp)))
            print(f"{n} worker(s): {runs[-1]['seconds']:.1f} s", flush=True)
    base = runs[0]["seconds"]
    for r in runs:
        r["speedup"] = round(base / r["seconds"], 2)
    result = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpu_count": os.cpu_count(),
        "dataset": f"synthetic:{args.cases}:0",
        "folds": args.folds,
        "config": Path(args.config).name,
        "machine_busy_with": busy or None,
        "runs": runs,
    }
    path = ROOT / "bench" / "results" / f"cv_workers-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print("| workers | seconds | speed-up |\n|---:|---:|---:|")
    for r in runs:
        print(f"| {r['workers']} | {r['seconds']:.1f} | {r['speedup']:.2f}x |")
    print(f"written {path}")


if __name__ == "__main__":
    main()
