"""Long jobs: re-score a cohort with another model, batch inference of a server folder or dataset spec.

    store.py       `JobStore`: the ll_jobs rows every process agrees on (progress, cancel flag, result)
    ledger.py      `JobItems`: the ll_job_items ledger, each item counted once (a lost chunk runs again)
    core.py        `validate_spec`, `plan`: what a job is and its items
    work.py        the item loop of one chunk, the summary of all chunks (images/s per worker)
    tasks.py       the task function of each kind, run by Celery or by the local executor; no Dash
    executor.py    `submit`: to Celery when CELERY_BROKER_URL is set, else a local runner process
    runner.py      `python -m dashboard.jobs.runner JOB_ID`: the local executor, one process per job
    celery_app.py  `celery -A dashboard.jobs.celery_app worker`: the Celery app, task names
    owner.py       who may cancel a job

The page (`dashboard/pages/jobs.py`) validates the form, creates the job's
row, submits it and follows the row (progress bar, result). Cancel sets the
row's flag, which every running chunk reads between items, wherever it runs.
"""
