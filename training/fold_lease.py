"""Who is training a fold right now: `fold_K/worker.json`, a lease with a heartbeat.

Why a file and not the broker's own redelivery: when a whole Celery worker
dies (machine lost, SIGKILL), Redis gives its unacknowledged task back only
after the visibility timeout (an hour by default), and a shorter timeout would
hand a fold that is still training to a second worker. The lease lives in
the fold's folder on the shared volume, so the submitting CLI sees at once
that a fold lost its worker (heartbeat older than LESIONLENS_LEASE_SECONDS,
default 60, or, on the same host, a dead pid) and submits the fold again; a
duplicate delivery finds a live lease and leaves the fold alone. The same
file carries the fold's last progress line, which the CLI prints. Reading a lease
(`read_lease`, `is_live`) lives in pipeline/cv_progress.py, shared with the
Jobs page; the local backend holds leases too (`holding`).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from pipeline.cv_progress import LEASE_FILE as FILE, is_live, read_lease, stale_after

__all__ = ["FILE", "FoldLease", "LeaseStatus", "holding", "is_live", "read_lease", "stale_after"]


class FoldLease:
    """Held while a worker trains a fold; a daemon thread beats every stale_after()/6 seconds."""

    def __init__(self, fold_dir: Path):
        self.fold_dir = Path(fold_dir)
        self.path = self.fold_dir / FILE
        self.info: dict[str, Any] = {
            "owner": uuid.uuid4().hex,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "since": time.time(),
            "beat": time.time(),
            "status": "starting",
        }
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _write(self) -> None:
        with self._lock:
            self.info["beat"] = time.time()
            tmp = self.path.with_name(f".{FILE}.{self.info['owner']}")
            tmp.write_text(json.dumps(self.info))
            tmp.replace(self.path)

    def acquire(self) -> bool:
        """Take the fold unless another live holder has it (a dead or stale holder is replaced)."""
        self.fold_dir.mkdir(parents=True, exist_ok=True)
        holder = read_lease(self.fold_dir)
        if is_live(holder) and holder and holder.get("owner") != self.info["owner"]:
            return False
        self._write()
        time.sleep(0.2)  # two takers racing: the later rename wins, the other sees it and backs off
        holder = read_lease(self.fold_dir)
        if not holder or holder.get("owner") != self.info["owner"]:
            return False
        self._thread = threading.Thread(target=self._beat, name=f"lease-{self.fold_dir.name}", daemon=True)
        self._thread.start()
        return True

    def _beat(self) -> None:
        while not self._stop.wait(max(stale_after() / 6, 0.5)):
            self._write()

    def status(self, text: str) -> None:
        self.info["status"] = text[:300]
        self._write()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        holder = read_lease(self.fold_dir)
        if holder and holder.get("owner") == self.info["owner"]:
            self.path.unlink(missing_ok=True)


class LeaseStatus(logging.Handler):
    """Copies the training's INFO lines (epochs, stages) into the lease as the fold's progress."""

    def __init__(self, lease: FoldLease):
        super().__init__(logging.INFO)
        self.lease = lease

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lease.status(record.getMessage())
        except OSError:
            pass


@contextmanager
def holding(fold_dir: Path) -> Iterator[FoldLease | None]:
    """Hold the fold's lease and copy the training's progress lines into it while the block runs (the local
    backend, so `cv-status` and the Jobs page show its running fold as they show a worker's); None when another
    live holder has the fold."""
    lease = FoldLease(fold_dir)
    if not lease.acquire():
        yield None
        return
    handler = LeaseStatus(lease)
    logger = logging.getLogger("training")
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield lease
    finally:
        logger.removeHandler(handler)
        lease.release()
