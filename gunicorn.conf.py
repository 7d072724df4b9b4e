"""gunicorn settings read from the working directory (`gunicorn dashboard.app:server ...` in the Procfile).

Only hooks: the command line keeps binding, workers and threads. Each worker
warms its own model after the fork (`dashboard/warmup.py`); the master never
imports TensorFlow, so never add `preload_app = True`. The master also
prepares the folder where every worker's Prometheus samples are summed
(`dashboard/monitoring/multiproc.py`) before the first fork.
"""

import os
from pathlib import Path

# gunicorn's own default, ~/.gunicorn/gunicorn.ctl, is one path for every instance on the host: `gunicornc`
# would reach whichever master started last, and the first to stop removes the other's socket. One per
# LESIONLENS_HOME (as pipeline.paths.home(), not imported: `pipeline` pulls numpy into the master).
control_socket = str(
    Path(os.environ.get("LESIONLENS_HOME") or Path(__file__).resolve().parent / "var") / "run" / "gunicorn.ctl"
)


def on_starting(server):
    from dashboard.monitoring import multiproc

    folder = multiproc.prepare()  # sets PROMETHEUS_MULTIPROC_DIR for the workers it forks
    server.log.info("prometheus samples of all workers in %s", folder)


def post_worker_init(worker):
    from dashboard import warmup

    warmup.start(worker.wsgi)
    # After this line the worker accepts connections: operators (and the slow-client test) can tell
    # a booting worker from a serving one.
    worker.log.info("worker %s ready (app loaded, warm-up started)", worker.pid)


def child_exit(server, worker):
    from dashboard.monitoring import multiproc

    multiproc.worker_exited(worker.pid)


def on_exit(server):
    from dashboard.monitoring import multiproc

    multiproc.cleanup()
