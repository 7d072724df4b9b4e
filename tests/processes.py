"""Stopping the worker processes a test or bench started (Celery workers, training workers).

Each was started with `start_new_session=True`, so its process group holds its children: a worker that
ignores SIGTERM for `grace` seconds is killed with its whole group, and no stray process outlives the test.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterable


def stop_all(processes: Iterable[subprocess.Popen], grace: float = 30) -> None:
    """SIGTERM every process still running, then wait; SIGKILL the group of any that will not stop."""
    running = [p for p in processes if p.poll() is None]
    for process in running:
        process.send_signal(signal.SIGTERM)
    for process in running:
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
