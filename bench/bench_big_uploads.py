"""Worker memory while 8 maximal images are analysed at once (issue 15.2; run by hand, not in CI).

    .venv/bin/python bench/bench_big_uploads.py [--models models] [--model demo] [--images 8] [--side 7000]

Starts gunicorn as the Procfile does (2 workers x 4 threads, decoding in sandbox children) on a fresh home
with a real bundle, warms both workers up (model loaded), then posts --images different --side x --side
RGBA PNGs (49 megapixels each, within the 50 MP limit, about 3 MB each) to POST /api/v1/predict all at
once, sampling every 0.1 s the RSS of each worker (the decoding children apart: they are capped processes
of their own) and of the whole server group. Writes bench/results/big_uploads-<UTC>.json and prints it.
Target: every worker's peak RSS < 1.2 GB.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser.support import Gunicorn, add_user, api_token, run_cli, server_env  # noqa: E402
from tests.fakes_predictor import lesion_png  # noqa: E402
from tests.unit.test_storage_bounds import big_sparse_png  # noqa: E402


def rss_mb(process: psutil.Process) -> float:
    try:
        return process.memory_info().rss / 2 ** 20
    except psutil.Error:
        return 0.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=str(ROOT / "models"))
    parser.add_argument("--model", default="demo")
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--side", type=int, default=7000)
    parser.add_argument("--max-side", type=int, default=None, help="LESIONLENS_MAX_IMAGE_SIDE (default: the app's)")
    args = parser.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="bench-big-"))
    extra = {"LESIONLENS_MAX_IMAGE_SIDE": str(args.max_side)} if args.max_side else {}
    env = server_env(home, Path(args.models), LESIONLENS_MODEL=args.model, LESIONLENS_PREDICT_RATE="1000/minute",
                     **extra)
    assert run_cli(["ensure-admin"], env, timeout=600).returncode == 0
    add_user(env, "bench", "clinician", "bench-password-big-uploads")
    headers = {"Authorization": f"Bearer {api_token(env, 'bench')}"}
    server = Gunicorn(env, workers=2, threads=4, log=home / "gunicorn.log")
    try:
        server.wait_ready(timeout=300)
        master = psutil.Process(server.process.pid)
        workers = [psutil.Process(pid) for pid in server.worker_pids()]
        with ThreadPoolExecutor(8) as pool:  # warm up: both workers load the model and start their children
            list(pool.map(lambda i: requests.post(f"{server.url}/api/v1/predict", headers=headers, timeout=600,
                                                  files={"file": ("w.png", lesion_png(300, 240, seed=i))}),
                          range(8)))
        baseline = {w.pid: round(rss_mb(w)) for w in workers}
        images = [big_sparse_png(args.side) if i == 0 else None for i in range(args.images)]
        import numpy as np  # noqa: F401 - each image differs (no cache hit): a different seed per file
        from io import BytesIO

        from PIL import Image

        base = Image.open(BytesIO(images[0]))
        for i in range(1, args.images):
            variant = base.copy()
            variant.putpixel((i, i), (i, i, i, 255))
            buffer = BytesIO()
            variant.save(buffer, format="PNG", compress_level=9)
            images[i] = buffer.getvalue()
        peaks = dict(baseline)
        group_peak = 0.0
        done = threading.Event()

        def sample():
            nonlocal group_peak
            while not done.is_set():
                for w in workers:
                    peaks[w.pid] = max(peaks[w.pid], round(rss_mb(w)))
                group = [master] + master.children(recursive=True)
                group_peak = max(group_peak, sum(rss_mb(p) for p in group))
                time.sleep(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.perf_counter()
        with ThreadPoolExecutor(args.images) as pool:
            answers = list(pool.map(lambda data: requests.post(f"{server.url}/api/v1/predict", headers=headers,
                                                               files={"file": ("big.png", data)}, timeout=900),
                                    images))
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
        result = {
            "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "model": args.model, "images": args.images, "side": args.side,
            "max_image_side": args.max_side or "default",
            "file_kb": [round(len(d) / 1024) for d in images],
            "statuses": [a.status_code for a in answers],
            "stored_size": [a.json().get("prediction", {}).get("area_px") is not None for a in answers],
            "seconds": round(seconds, 1),
            "worker_rss_mb_before": baseline, "worker_rss_mb_peak": peaks,
            "server_group_rss_mb_peak": round(group_peak),
            "target_worker_peak_mb": 1200, "met": all(v < 1200 for v in peaks.values()),
        }
        out = ROOT / "bench" / "results" / f"big_uploads-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
        return 0 if result["met"] else 1
    finally:
        server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
