"""Many users at once against gunicorn on loopback (run by hand, not in CI).

    .venv/bin/python bench/bench_load.py [--users 50] [--seconds 120] [--upload-fraction 0.1]
                                         [--workers 2] [--threads 4] [--cohort 2000] [--models DIR]

Builds a fresh home (schema via `python -m dashboard ensure-admin`, a
synthetic cohort of --cohort rows inserted straight into the tables, a few
real uploads so case files exist), creates accounts with the users CLI when
the build has sign-in (each simulated user signs in with its own session;
uploads use an API token made with `users token create`), starts gunicorn
with the Procfile flags and lets --users threads act like people for
--seconds:

* browse  — the Cohort page's table callback (POST /_dash-update-component) with a random filter
* metrics — the Metrics page for a random filter, as in-app navigation asks for it: the pages
            router's callback, whose layout carries every figure (before 2026-12-04: the page's fill
            callback, which the layout no longer needs)
* page    — GET /cohort, /metrics or /case/<id> (the HTML shell)
* case    — GET /api/v1/cases/<id> and the case's display + thumbnail PNGs
* upload  — POST /api/v1/predict with a new image (--upload-fraction of the actions)

Each user waits 0.2-1 s between actions (think time). Reported: requests
served, p50/p95 latency per kind, errors (non-2xx or failed requests; target
none), and the RSS of every gunicorn worker (peak over the run and at the
end). Writes bench/results/load-<UTC time>.json and prints a short table.
Loopback only; every loop is bounded by --seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from dash_calls import callback_body  # noqa: E402

PASSWORD = "load-bench-password-31"
DEVICES = ["Aurora LX-10", "Borealis UX-7", "Cetus LinearPro", "Delphi HD-12"]


def cli(args: list[str], env: dict, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dashboard", *args], cwd=REPO, env=env, input=stdin,
                          capture_output=True, text=True, timeout=300)


def make_accounts(env: dict, n: int, app) -> tuple[list[str], str | None]:
    """n clinician accounts via the users CLI and one API token; ([] , None) when the build has no sign-in."""
    if "lesionlens_auth" not in app.server.extensions:
        return [], None
    names = []
    for i in range(n):
        name = f"loaduser{i}"
        result = cli(["users", "add", name, "--role", "clinician", "--password-stdin"], env, PASSWORD + "\n")
        if result.returncode != 0:
            raise RuntimeError(f"users add failed: {result.stdout}{result.stderr}")
        names.append(name)
    result = cli(["users", "token", "create", names[0], "--label", "load bench"], env)
    if result.returncode != 0:
        raise RuntimeError(f"token create failed: {result.stdout}{result.stderr}")
    token = next(word for line in result.stdout.splitlines() for word in line.split() if word.startswith("ll"))
    return names, token


class User:
    def __init__(self, url: str, account: str | None, token: str | None, app, keys: dict, case_ids: list[str],
                 file_cases: list[str], images: list[bytes]) -> None:
        self.url, self.account, self.app, self.keys = url, account, app, keys
        self.session = requests.Session()
        self.api_headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.case_ids, self.file_cases, self.images = case_ids, file_cases, images

    def login(self) -> None:
        if not self.account:
            return
        self.session.get(self.url + "/login", timeout=30)
        token = self.session.cookies.get("ll_csrf", "")
        response = self.session.post(self.url + "/login", data={"username": self.account, "password": PASSWORD,
                                                                "csrf_token": token, "next": ""},
                                     allow_redirects=False, timeout=30)
        if response.status_code not in (302, 303):
            raise RuntimeError(f"login failed: {response.status_code}")
        self.session.headers["X-CSRFToken"] = self.session.cookies.get("ll_csrf", "")

    def callback(self, key: str, values: dict) -> requests.Response:
        body = callback_body(self.app, key, values)
        return self.session.post(self.url + "/_dash-update-component", json=body, timeout=120)

    def act(self, kind: str, rng: random.Random) -> list[requests.Response]:
        from dashboard import ids

        low = rng.choice([0, 30, 40, 50])
        if kind == "browse":
            devices = rng.sample(DEVICES, rng.randint(0, 2))
            return [self.callback(self.keys["table"], {
                (ids.COHORT_AGE, "value"): [low, low + rng.choice([20, 40, 100])], (ids.COHORT_DEVICE, "value"): devices,
                (ids.COHORT_TABLE, "page_current"): rng.randint(0, 5), (ids.COHORT_TABLE, "sort_by"): [],
                (ids.COHORT_TABLE, "page_size"): 25})]
        if kind == "metrics":
            from dashboard.pages import metrics as metrics_page

            query = f"?age={low}-{low + rng.choice([20, 40, 100])}"
            if rng.random() < 0.5:
                query += "&device=" + requests.utils.quote(rng.choice(DEVICES))
            if self.keys["metrics"] is not None:  # builds with a fill callback
                return [self.callback(self.keys["metrics"], {(metrics_page.METRICS_FILTER, "data"): query,
                                                             (ids.METRICS_THRESHOLD, "value"): 0.5})]
            return [self.callback(self.keys["router"], {("_pages_location", "pathname"): "/metrics",
                                                        ("_pages_location", "search"): query})]
        if kind == "page":
            path = rng.choice(["/cohort", "/metrics", f"/case/{rng.choice(self.file_cases)}"])
            return [self.session.get(self.url + path, timeout=60)]
        if kind == "case":
            case_id = rng.choice(self.file_cases if rng.random() < 0.5 else self.case_ids)
            out = [self.session.get(f"{self.url}/api/v1/cases/{case_id}", headers=self.api_headers, timeout=60)]
            if case_id in self.file_cases:
                out += [self.session.get(f"{self.url}/files/{case_id}/{name}", timeout=60)
                        for name in ("display.png", "thumb.png")]
            return out
        if kind == "upload":
            data = self.images[rng.randrange(len(self.images))]
            return [self.session.post(f"{self.url}/api/v1/predict", files={"file": ("scan.png", data)},
                                      data={"age": str(rng.randint(30, 80))}, headers=self.api_headers, timeout=180)]
        raise ValueError(kind)


def run_users(url, app, keys, accounts, token, case_ids, file_cases, images, users: int, seconds: float,
              upload_fraction: float) -> dict:
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, list[str]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    others = ["browse", "browse", "metrics", "page", "case", "case"]

    def one(index: int) -> None:
        rng = random.Random(index)
        user = User(url, accounts[index % len(accounts)] if accounts else None, token, app, keys, case_ids,
                    file_cases, images)
        try:
            user.login()
        except Exception as exc:  # noqa: BLE001 - counted below
            with lock:
                errors["login"].append(str(exc)[:200])
            return
        time.sleep(rng.random())  # users do not all start in the same millisecond
        while time.monotonic() < stop_at:
            kind = "upload" if rng.random() < upload_fraction else rng.choice(others)
            started = time.perf_counter()
            try:
                responses = user.act(kind, rng)
                elapsed = time.perf_counter() - started
                bad = [r for r in responses if not r.ok]
                with lock:
                    counts[kind] += len(responses)
                    latencies[kind].append(elapsed)
                    errors[kind] += [f"{r.status_code} {r.request.method} {r.url[len(url):][:60]}" for r in bad]
            except Exception as exc:  # noqa: BLE001 - a failed request is an error, not a crash of the bench
                with lock:
                    errors[kind].append(f"{type(exc).__name__}: {str(exc)[:120]}")
            time.sleep(0.2 + 0.8 * rng.random())

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(users)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 300)
    wall = time.perf_counter() - started
    kinds = {}
    for kind, values in sorted(latencies.items()):
        ms = np.asarray(values) * 1000
        kinds[kind] = {"actions": len(values), "requests": counts[kind], "p50_ms": round(float(np.percentile(ms, 50)), 1),
                       "p95_ms": round(float(np.percentile(ms, 95)), 1), "max_ms": round(float(ms.max()), 1),
                       "errors": len(errors.get(kind, []))}
    return {"wall_s": round(wall, 1), "kinds": kinds, "requests": sum(counts.values()),
            "errors": sum(len(v) for v in errors.values()),
            "error_samples": {k: sorted(set(v))[:10] for k, v in errors.items() if v}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--upload-fraction", type=float, default=0.1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--cohort", type=int, default=2000, help="synthetic cases inserted into the tables")
    parser.add_argument("--accounts", type=int, default=5, help="accounts made with the users CLI (users share them)")
    parser.add_argument("--models", help="folder of bundles (default: models/ with demo, else the tiny test bundle)")
    parser.add_argument("--note", default="", help="free text stored in the result (e.g. 'CPU shared with training')")
    args = parser.parse_args()

    import psutil

    from bench_dashboard import choose_models, insert_cohort, key_for
    from dashboard import ids
    from dashboard.factory import create_app
    from dashboard.settings import Settings
    from tests.browser.support import Gunicorn, server_env
    from tests.fakes_predictor import lesion_png

    models = choose_models(args.models)
    home = Path(tempfile.mkdtemp(prefix="lesionlens-load-"))
    env = server_env(home, models)
    setup = cli(["ensure-admin"], env)
    if setup.returncode != 0:
        print(setup.stdout, setup.stderr, file=sys.stderr)
        return 1
    app = create_app(Settings(home=home, models_dir=models))
    services = app.server.extensions["lesionlens"]
    insert_cohort(services.store, args.cohort, services.models.active_identity())
    case_ids = sorted(services.store.case_ids())
    accounts, token = make_accounts(env, args.accounts, app)
    fill = [k for k in app.callback_map if k.startswith(f"..{ids.METRICS_SUMMARY}.children")]
    keys = {"table": key_for(app, f"{ids.COHORT_TABLE}.data"), "metrics": fill[0] if fill else None,
            "router": key_for(app, "_pages_content.children")}
    images = [lesion_png(500, 400, seed=5000 + i) for i in range(40)]

    server = Gunicorn(env, workers=args.workers, threads=args.threads, log=home / "gunicorn.log")
    rss_peak: dict[int, float] = {}
    sampling = threading.Event()

    def sample():
        while not sampling.is_set():
            for pid in server.worker_pids():
                try:
                    rss_peak[pid] = max(rss_peak.get(pid, 0.0), psutil.Process(pid).memory_info().rss / 2**20)
                except psutil.NoSuchProcess:
                    pass
            sampling.wait(1.0)

    try:
        server.wait_ready(180)
        pids_before = sorted(server.worker_pids())
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        file_cases = []
        for i in range(8):  # real cases with files; also loads the model in the workers
            response = requests.post(f"{server.url}/api/v1/predict", files={"file": ("seed.png", lesion_png(
                500, 400, seed=100 + i))}, headers=headers, timeout=300)
            response.raise_for_status()
            file_cases.append(response.json()["case_id"])
        threading.Thread(target=sample, daemon=True).start()
        print(f"{args.users} users for {args.seconds:g} s against {server.url} "
              f"({args.workers} workers x {args.threads} threads, {len(case_ids)} cohort rows)...", flush=True)
        result = run_users(server.url, app, keys, accounts, token, case_ids, file_cases, images, args.users,
                           args.seconds, args.upload_fraction)
        sampling.set()
        workers = {}
        for pid in server.worker_pids():
            info = psutil.Process(pid).memory_full_info()
            workers[str(pid)] = {"rss_mb": round(info.rss / 2**20, 1), "uss_mb": round(info.uss / 2**20, 1),
                                 "peak_rss_mb": round(rss_peak.get(pid, info.rss / 2**20), 1)}
        result["workers"] = workers
        result["workers_unchanged"] = sorted(server.worker_pids()) == pids_before
    finally:
        sampling.set()
        server.stop()

    result.update({"when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "users": args.users,
                   "seconds": args.seconds, "upload_fraction": args.upload_fraction, "gunicorn_workers": args.workers,
                   "threads": args.threads, "cohort_rows": len(case_ids), "accounts": len(accounts),
                   "models": str(models), "cpu_count": os.cpu_count(), "note": args.note,
                   "load_average_after": os.getloadavg()})
    out_dir = REPO / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"load-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"\n{'kind':8s} {'actions':>8s} {'requests':>9s} {'p50 ms':>8s} {'p95 ms':>8s} {'max ms':>8s} {'errors':>7s}")
    for kind, row in result["kinds"].items():
        print(f"{kind:8s} {row['actions']:8d} {row['requests']:9d} {row['p50_ms']:8.1f} {row['p95_ms']:8.1f} "
              f"{row['max_ms']:8.1f} {row['errors']:7d}")
    print(f"requests served: {result['requests']} in {result['wall_s']} s "
          f"({result['requests'] / max(result['wall_s'], 1e-9):.1f}/s); errors: {result['errors']}")
    for pid, row in result["workers"].items():
        print(f"worker {pid}: RSS {row['rss_mb']} MB (peak {row['peak_rss_mb']} MB, USS {row['uss_mb']} MB)")
    print(f"workers unchanged: {result['workers_unchanged']}; load average after: "
          f"{', '.join(f'{x:.1f}' for x in result['load_average_after'])}")
    if result["error_samples"]:
        print("error samples:", json.dumps(result["error_samples"], indent=1))
    print(f"wrote {out.relative_to(REPO)}")
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
