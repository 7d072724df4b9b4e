"""The gunicorn master's part of multiprocess metrics (called from gunicorn.conf.py's hooks).

Why: prometheus_client decides at import whether samples live in process
memory or in files under PROMETHEUS_MULTIPROC_DIR, and workers inherit the
master's environment. So the master sets the folder before forking: the
operator's PROMETHEUS_MULTIPROC_DIR (its old sample files removed, or the
counters of the last run would be summed in), else a fresh private temporary
folder per master, so two masters on one machine or on a shared home never
mix their samples. Nothing here imports prometheus_client before the
variable is set.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_created: list[str] = []  # folders this process made (removed at exit)


def prepare() -> str:
    """Choose and clean the samples folder; returns it. Call in the master before any worker starts."""
    folder = os.environ.get(MULTIPROC_ENV)
    if folder:
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):  # only prometheus_client's sample files, whatever else is there
            stale.unlink(missing_ok=True)
    else:
        folder = tempfile.mkdtemp(prefix="lesionlens-prometheus-")
        _created.append(folder)
        os.environ[MULTIPROC_ENV] = folder
    return folder


def worker_exited(pid: int) -> None:
    """A worker is gone: let its live gauges go (its counters and histograms keep counting in the sums)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def cleanup() -> None:
    """Remove the temporary folder made by `prepare` (the operator's own folder is left in place)."""
    while _created:
        shutil.rmtree(_created.pop(), ignore_errors=True)
