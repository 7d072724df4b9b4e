"""Long jobs: re-score a cohort with another model, batch inference of a server folder or dataset spec.

    store.py       `JobStore`: the ll_jobs rows every process agrees on (progress, cancel flag, result)
    core.py        `validate_spec`, `run_job`: the work itself, pure (a Services container in, a summary out)
    runner.py      `python -m dashboard.jobs.runner JOB_ID`: one process per job, loads the model once
    manager.py     the Dash background-callback manager (DiskcacheManager on one machine, CeleryManager
                   when CELERY_BROKER_URL is set) and `follow`, which starts the runner and reports progress
    celery_app.py  `celery -A dashboard.jobs.celery_app worker`: the Celery side of the same callbacks

The page (`dashboard/pages/jobs.py`) starts a job with a Dash background
callback. The callback runs in a DiskcacheManager child process (one
machine) or in a Celery worker (several machines) and starts the runner as
a fresh interpreter: TensorFlow is never used in a process forked from a
web worker that may have loaded it, and the model loads once per job, not
per item. Progress is written to the job's row after every item and shown
in the page; cancel both stops the callback (Dash terminates its process
tree) and sets the row's flag, which the runner checks between items (so a
Celery worker with --pool=solo, where terminate does nothing, stops too).
"""
