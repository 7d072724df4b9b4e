"""Monitoring for hospital IT: Prometheus metrics at `/prometheus` (the app's own `/metrics` is the Metrics page).

    metrics.py    the metrics (request latency, prediction latency, job queue depth) and the exposition
    routes.py     `install(server, settings)`: request timing hooks and the access-checked `/prometheus` route
    multiproc.py  gunicorn master hooks: one samples folder per master, wiped at start, removed at exit

Importing this package imports nothing else: gunicorn.conf.py loads `multiproc`
in the master, which must set PROMETHEUS_MULTIPROC_DIR before prometheus_client
is imported anywhere (it picks single- or multi-process mode at import).
"""
