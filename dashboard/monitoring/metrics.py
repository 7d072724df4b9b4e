"""The Prometheus metrics: what is measured, and how several worker processes add up.

Three things hospital IT asked to watch: how long requests take, how long the
model takes per image, and how many jobs wait. None of them carries patient
data: requests are labelled by their route *template* (`/case/<case_id>` is
the Dash catch-all `/<path:path>`, never a path with an id), method and
status; predictions by outcome only; jobs by state only.

Several gunicorn workers: each is its own process with its own counters, and a
scrape reaches one of them at random. So when `PROMETHEUS_MULTIPROC_DIR` is
set (gunicorn.conf.py sets it in the master before forking; see
`multiproc.py`), prometheus_client's multiprocess mode keeps every process's
samples in memory-mapped files there and the scrape sums them over all
workers (and the job runners they start). Without it (tests, `python -m
dashboard serve`) the process's own registry is exposed. The queue depth is
read from the `ll_jobs` table at scrape time, so it is the same whichever
worker answers and needs no per-process state at all.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path
from typing import Iterator

from prometheus_client import REGISTRY, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from dashboard.jobs.store import STALE_AFTER
from dashboard.sandbox import FileTimeLimit
from dashboard.store.tables import JobRow, utcnow

log = logging.getLogger(__name__)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
JOB_STATES = ("queued", "running", "stale")  # stale: "running" but its runner has not reported for 90 s


def _ensure_multiproc_dir() -> None:
    """Multiprocess mode writes its files into the folder at the first sample: it must exist."""
    folder = os.environ.get(MULTIPROC_ENV)
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)


_ensure_multiproc_dir()  # before the first metric is created (prometheus_client picks its mode then)

REQUEST_SECONDS = Histogram(
    "lesionlens_http_request_duration_seconds",
    "Time from the start of the request to the response, by route template, method and status.",
    ("route", "method", "status"),
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
)
PREDICTION_SECONDS = Histogram(
    "lesionlens_prediction_duration_seconds",
    "Model time of one image (cache and store hits excluded), by outcome: ok, timeout, error.",
    ("outcome",),
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0),
)


def _observe(histogram: Histogram, labels: tuple[str, ...], seconds: float) -> None:
    """Record a sample; a metrics failure (samples folder removed under a job runner) never fails the work."""
    try:
        histogram.labels(*labels).observe(max(0.0, seconds))
    except Exception:  # noqa: BLE001 - monitoring is best effort
        log.debug("could not record a %s sample", histogram._name, exc_info=True)


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    _observe(REQUEST_SECONDS, (route, method, str(status)), seconds)


@contextlib.contextmanager
def timed_prediction() -> Iterator[None]:
    """Time one model call; its outcome label says whether it answered, ran out of time or failed."""
    started = time.perf_counter()
    outcome = "error"
    try:
        yield
        outcome = "ok"
    except FileTimeLimit:
        outcome = "timeout"
        raise
    finally:
        _observe(PREDICTION_SECONDS, (outcome,), time.perf_counter() - started)


class JobQueueCollector:
    """`lesionlens_job_queue_depth{state}`: jobs queued, running and stale, counted in ll_jobs at scrape time."""

    def __init__(self, sessions) -> None:
        self.sessions = sessions

    def collect(self):
        cutoff = utcnow() - STALE_AFTER
        counts = dict.fromkeys(JOB_STATES, 0)
        with self.sessions() as session:
            counts["queued"] = (
                session.scalar(select(func.count()).select_from(JobRow).where(JobRow.status == "queued")) or 0
            )
            running = select(func.count()).select_from(JobRow).where(JobRow.status == "running")
            counts["stale"] = session.scalar(running.where(JobRow.heartbeat < cutoff)) or 0
            counts["running"] = (session.scalar(running) or 0) - counts["stale"]
        family = GaugeMetricFamily(
            "lesionlens_job_queue_depth",
            "Background jobs by state (all workers and nodes: read from ll_jobs).",
            labels=["state"],
        )
        for state in JOB_STATES:
            family.add_metric([state], float(counts[state]))
        yield family


def exposition(sessions) -> bytes:
    """The text exposition format: every process's samples (multiprocess mode) or this one's, plus the queue."""
    queue = CollectorRegistry(auto_describe=False)
    queue.register(JobQueueCollector(sessions))
    folder = os.environ.get(MULTIPROC_ENV)
    if folder:
        from prometheus_client import multiprocess

        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged, path=folder)
        return generate_latest(merged) + generate_latest(queue)
    return generate_latest(REGISTRY) + generate_latest(queue)
