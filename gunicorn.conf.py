"""gunicorn settings read from the working directory (`gunicorn dashboard.app:server ...` in the Procfile).

Only a hook: the command line keeps binding, workers and threads. Each worker
warms its own model after the fork (`dashboard/warmup.py`); the master never
imports TensorFlow, so never add `preload_app = True`.
"""


def post_worker_init(worker):
    from dashboard import warmup

    warmup.start(worker.wsgi)
    # After this line the worker accepts connections: operators (and the slow-client test) can tell
    # a booting worker from a serving one.
    worker.log.info("worker %s ready (app loaded, warm-up started)", worker.pid)
