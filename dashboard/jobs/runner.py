"""`python -m dashboard.jobs.runner JOB_ID`: the local executor, one fresh process per job.

Started by `executor.submit` when no Celery broker is configured, with the
web app's storage settings in its environment. It runs the task function of
the job's kind (`tasks.run`), the same one a Celery worker runs, in a fresh
interpreter: TensorFlow is never used in a process forked from a web worker
that may have loaded it, and the model loads once for the whole job. Exits
0 (done or cancelled) or 1 (failed).

LESIONLENS_PREDICTOR_FACTORY=module:callable (`settings.predictor_factory`)
replaces pipeline.predictor.Predictor (tests use the fake predictor); it is
used by job processes only, never by the web app.
"""

from __future__ import annotations

import logging
import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m dashboard.jobs.runner JOB_ID", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from dashboard.jobs.tasks import run

    summary = run(argv[0])
    if summary["status"] == "failed":
        print(f"job {argv[0]} failed: {summary.get('message', '')}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
