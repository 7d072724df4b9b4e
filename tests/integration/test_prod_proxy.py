"""Issue 15.1: `make prod` (deploy/prod.py: nginx with TLS in front of gunicorn on a unix socket) keeps
/healthz answering in under 1 s while 50 clients hold connections open sending headers one byte at a time;
the same 50 clients against bare gunicorn (the old Procfile) stall it, so the check can fail."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
import urllib3

from pipeline.paths import REPO_ROOT
from tests.browser.support import Gunicorn, free_port, server_env

pytestmark = pytest.mark.services
SLOW_CLIENTS = 50


def nginx() -> str:
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(found).exists():
        pytest.skip("nginx is not installed (apt-get install -y nginx)")
    return found


def slow_clients(host: str, port: int, tls: bool, stop: threading.Event) -> list[threading.Thread]:
    """Each: connect, start a request, then send one header byte every 2 s until told to stop.

    Returns once every client has connected and sent its first bytes (on a loaded machine starting 50
    threads takes a while, and a probe sent before them would be served first)."""
    connected = threading.Semaphore(0)

    def run():
        try:
            raw = socket.create_connection((host, port), timeout=10)
            sock = ssl._create_unverified_context().wrap_socket(raw) if tls else raw
            sock.sendall(b"GET /cohort HTTP/1.1\r\nHost: x\r\n")
            connected.release()
            while not stop.is_set():
                sock.sendall(b"X")
                stop.wait(2)
            sock.close()
        except OSError:
            connected.release()
            pass  # the server gave up on us (or never took us): that is the point

    threads = [threading.Thread(target=run, daemon=True) for _ in range(SLOW_CLIENTS)]
    for thread in threads:
        thread.start()
    for _ in threads:
        connected.acquire(timeout=30)
    return threads


def probe(url: str, count: int = 8, failures: list[str] | None = None) -> list[float | None]:
    """Seconds per /healthz answer (fresh connection each), None when it failed or took over 1 s.

    `failures` (when given) collects what each failed probe saw (status code or exception type), so a
    failing run says whether the proxy refused, the upstream failed or the answer was late."""
    times: list[float | None] = []
    for _ in range(count):
        started = time.perf_counter()
        try:
            response = requests.get(url, timeout=1.0, verify=False)
            ok = response.status_code == 200
            times.append(time.perf_counter() - started if ok else None)
            if not ok and failures is not None:
                failures.append(f"HTTP {response.status_code} after {time.perf_counter() - started:.2f} s")
        except requests.RequestException as exc:
            times.append(None)
            if failures is not None:
                failures.append(f"{type(exc).__name__} after {time.perf_counter() - started:.2f} s")
        time.sleep(0.5)
    return times


def tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else f"({path.name} missing)"


def wait_workers_serving(log: Path, workers: int = 2, timeout: float = 180) -> bool:
    """Wait until gunicorn.conf.py's post_worker_init has logged every worker as serving; False on timeout."""
    deadline = time.monotonic() + timeout
    while log.read_text().count(" ready (app loaded") < workers and time.monotonic() < deadline:
        time.sleep(0.3)
    return log.read_text().count(" ready (app loaded") >= workers


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "deploy/prod.py exited"
        try:
            if requests.get(url, timeout=2, verify=False).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise TimeoutError(url)


def test_slow_header_clients_do_not_stall_the_app_behind_nginx(tmp_path):
    nginx()
    urllib3.disable_warnings()
    port = free_port()
    env = server_env(tmp_path / "home", tmp_path / "models")
    (tmp_path / "models").mkdir()
    prod = subprocess.Popen([sys.executable, "deploy/prod.py", "--port", str(port)], cwd=REPO_ROOT, env=env,
                            stdout=open(tmp_path / "prod.log", "w"), stderr=subprocess.STDOUT, start_new_session=True)
    url = f"https://127.0.0.1:{port}/healthz"
    try:
        wait_ready(url, prod)
        log = tmp_path / "prod.log"
        # Both workers serving before the attack (as in the control below): the test is about slow clients,
        # not about a worker still booting on a loaded machine.
        wait_workers_serving(log)
        assert requests.get(url, verify=False).json() == {"status": "ok"}
        # gunicorn's control socket is this instance's own (gunicorn.conf.py), not the host-wide default
        assert (tmp_path / "home" / "run" / "gunicorn.ctl").is_socket(), tail(log)
        assert requests.head(f"https://127.0.0.1:{port}/login", verify=False).status_code == 200
        with ssl._create_unverified_context().wrap_socket(socket.create_connection(("127.0.0.1", port))) as sock:
            sock.sendall(b"POST /api/v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 400000000\r\n\r\n")
            assert sock.recv(64).startswith(b"HTTP/1.1 413")  # refused by nginx before gunicorn sees a byte
        stop = threading.Event()
        clients = slow_clients("127.0.0.1", port, True, stop)
        time.sleep(3)
        try:
            failures: list[str] = []
            times = probe(url, failures=failures)
        finally:
            stop.set()
        assert all(t is not None and t < 1.0 for t in times), (
            f"{times}\nfailed probes: {failures}\n--- prod.log ---\n{tail(log)}"
            f"\n--- nginx error.log ---\n{tail(tmp_path / 'home' / 'nginx' / 'error.log')}")
        for thread in clients:
            thread.join(timeout=5)
    finally:
        os.killpg(prod.pid, signal.SIGTERM)
        prod.wait(timeout=60)


def test_bare_gunicorn_is_stalled_by_the_same_clients(tmp_path):
    """The control: without the proxy the same attack takes /healthz down (so the test above can fail)."""
    (tmp_path / "models").mkdir()
    log = tmp_path / "gunicorn.log"
    server = Gunicorn(server_env(tmp_path / "home", tmp_path / "models"), workers=2, threads=4, log=log)
    try:
        server.wait_ready(timeout=180)
        # Both workers must be serving before the attack: a worker still loading the app when the 50 clients
        # connect takes none of them and then answers every probe (CI saw exactly that on a loaded machine).
        assert wait_workers_serving(log), log.read_text()[-2000:]
        stop = threading.Event()
        slow_clients("127.0.0.1", server.port, False, stop)
        time.sleep(3)
        try:
            times = probe(server.url + "/healthz", count=4)
        finally:
            stop.set()
        assert sum(t is None for t in times) >= 3, times
    finally:
        server.stop()
