"""Who may cancel a job.

A job records its owner (the signed-in user whose Start click created its
row); the page's Start and Cancel callbacks are ordinary callbacks, so they
check the role and write the `job.start` / `job.cancel` audit rows where the
state changes, with the request's user, however the request is phrased.
"""

from __future__ import annotations


def may_cancel(user, job: dict | None) -> bool:
    """Only the job's owner or an admin cancels it (a job without a recorded owner: admins only)."""
    if user is None or job is None:
        return False
    return user.role == "admin" or (job.get("owner") is not None and job.get("owner") == user.username)
