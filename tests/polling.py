"""Waiting in tests for something another process or thread does (a worker, a job, a server)."""

from __future__ import annotations

import time


def wait_for(condition, timeout: float = 60.0, step: float = 0.2, what: str = "condition"):
    """`condition()`'s first truthy value, polled every `step` s; TimeoutError naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise TimeoutError(f"timed out waiting for {what}")
