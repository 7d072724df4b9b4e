"""Issue 17.3 and 18.3: a job worker imports only what jobs need, and a re-scoring reports images/s per worker.

The Celery worker (`celery -A dashboard.jobs.celery_app worker` imports
`dashboard.jobs.tasks`) and the local executor (`python -m
dashboard.jobs.runner`) must never build or import the Dash app: checked in
a fresh interpreter, and through the import graph (function-level imports
included). The chunking and the per-worker figures are checked here without
a broker; tests/integration/test_jobs_celery.py runs a re-scoring on two
Celery workers.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from dashboard.jobs.tasks import chunks
from dashboard.jobs.work import ChunkReport, worker_rates
from pipeline.paths import REPO_ROOT
from tests.unit.test_import_layers import import_graph, package_modules

WORKER_MODULES = ("dashboard.jobs.tasks", "dashboard.jobs.runner", "dashboard.jobs.celery_app")
NEVER = ("dash", "dash_bootstrap_components", "dashboard.factory", "dashboard.app", "dashboard.pages")


def test_the_worker_modules_do_not_import_dash():
    code = ("import sys, dashboard.jobs.celery_app, dashboard.jobs.tasks, dashboard.jobs.runner; "
            f"bad = [m for m in sys.modules if m in {NEVER!r} or m.startswith('dashboard.pages.')]; "
            "assert not bad, bad; assert 'tensorflow' not in sys.modules")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_nothing_the_worker_reaches_imports_the_app():
    graph = import_graph(package_modules())
    seen, todo = set(), list(WORKER_MODULES)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(graph.get(name, ()))
    assert not {m for m in seen if m.startswith(NEVER[2:])}, sorted(m for m in seen if m.startswith(NEVER[2:]))


@pytest.mark.parametrize("n,workers,expected", [(1, 3, 1), (5, 1, 2), (16, 2, 4), (3, 4, 3), (0, 2, 0)])
def test_chunks_cover_the_cohort_once_in_order(n, workers, expected):
    ids = [f"c{i}" for i in range(n)]
    parts = chunks(ids, workers)
    assert len(parts) == expected
    assert [i for _first, part in parts for i in part] == ids
    assert [first for first, _part in parts] == [sum(len(p) for _f, p in parts[:k]) for k in range(len(parts))]


def test_worker_rates_add_up_per_worker():
    reports = [ChunkReport("w1", images=4, seconds=2.0), ChunkReport("w2", images=3, seconds=1.0),
               ChunkReport("w1", images=2, seconds=1.0)]
    rates = {r.worker: r for r in worker_rates(reports)}
    assert (rates["w1"].images, rates["w1"].seconds, rates["w1"].chunks, rates["w1"].images_per_s) == (6, 3.0, 2, 2.0)
    assert rates["w2"].images_per_s == 3.0 and sum(r.images for r in rates.values()) == 9
    assert ChunkReport.from_dict(ChunkReport("w", errors=[("a", "b")]).as_dict()).errors == [("a", "b")]
