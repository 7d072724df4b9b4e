"""Jobs (`/jobs`): re-score a cohort with another model, or run a batch over a server folder / dataset spec.

Start is an ordinary callback: it checks the role, validates the form,
creates the job's row (its owner: the signed-in user), audits `job.start`
and submits the job (`dashboard.jobs.executor`: Celery workers when
CELERY_BROKER_URL is set, else a local runner process). The page then
follows the row once a second (the bar: "done of total · failed"; the
result, with images per second per worker, when it ends), so any web node
can answer and a reload keeps following (the job id is kept in the tab's
session storage). Cancel sets the row's cancel flag, which every running
part of the job reads between items; only the owner or an admin may cancel,
and the cancel is audited where the flag is set. The table lists recent jobs
from the database, so a job started by someone else, or before a restart, is
visible too. Below it, every fold of the recent cross-validation runs
(`components/cv_runs.py`), as `python -m training cv-status` prints them.
"""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html

from dashboard.components.cv_runs import cv_panel
from dashboard.pages.clicks import on_click
from dashboard.services import current_services

KIND = "jobs-kind"
MODEL = "jobs-model"
FILTER = "jobs-filter"
SOURCE = "jobs-source"
LIMIT = "jobs-limit"
START = "jobs-start"
CANCEL = "jobs-cancel"
PROGRESS = "jobs-progress"
CURRENT = "jobs-current"
NOTICE = "jobs-notice"
CV = "jobs-cv"
POLL = "jobs-poll"
RESULT = "jobs-result"
CANCEL_STATUS = "jobs-cancel-status"
TABLE = "jobs-table"
REFRESH = "jobs-refresh"
STATUS_COLOR = {"done": "success", "running": "primary", "queued": "secondary", "cancelled": "warning",
                "failed": "danger", "interrupted": "danger"}


def progress_of(job: dict) -> tuple[int, str]:
    total, done = job.get("total") or 0, job.get("done") or 0
    if job.get("status") in ("queued", "running") and not total:
        return 0, "starting…"
    if not total:
        return 100, "no items"
    return round(100 * done / total), f"{done} of {total} · {job.get('failed') or 0} failed"


def throughput(job: dict) -> str:
    """"worker: N images/s" per worker of a finished job (its result's `workers`), or ""."""
    workers = (job.get("result") or {}).get("workers") or []
    return " · ".join(f"{w['worker']}: {w['images_per_s']:g}/s" for w in workers)


def workers_table(job: dict) -> dbc.Table | None:
    workers = (job.get("result") or {}).get("workers") or []
    if not workers:
        return None
    head = html.Thead(html.Tr([html.Th(h) for h in ("Worker", "Chunks", "Images", "Seconds", "Images/s")]))
    rows = [html.Tr([html.Td(w["worker"]), html.Td(w["chunks"]), html.Td(w["images"]), html.Td(f"{w['seconds']:g}"),
                     html.Td(f"{w['images_per_s']:g}")]) for w in workers]
    return dbc.Table([head, html.Tbody(rows)], size="sm", className="mt-2 mb-0 ll-job-workers")


def result_block(job: dict) -> dbc.Alert:
    status = job.get("status", "failed")
    errors = (job.get("result") or {}).get("errors") or []
    body = [html.B(f"Job {job.get('id', '')}: {status}. "), job.get("message") or ""]
    if errors:
        body.append(html.Ul([html.Li(f"{label}: {message}") for label, message in errors], className="mb-0 small"))
    table = workers_table(job)
    if table is not None:
        body.append(table)
    return dbc.Alert(body, color=STATUS_COLOR.get(status, "secondary"), className="mt-3 ll-job-result")


def jobs_table(jobs: list[dict]) -> dbc.Table | html.P:
    if not jobs:
        return html.P("No jobs yet.", className="text-muted")
    head = html.Thead(html.Tr([html.Th(h) for h in ("Job", "Kind", "Model", "Status", "Progress", "Images/s per worker",
                                                   "Started")]))
    rows = []
    for job in jobs:
        _percent, label = progress_of(job)
        rows.append(html.Tr([
            html.Td(job["id"]), html.Td(job["kind"]), html.Td(job.get("model") or ""),
            html.Td(dbc.Badge(job["status"], color=STATUS_COLOR.get(job["status"], "secondary"))),
            html.Td(label if job["status"] != "queued" else ""), html.Td(throughput(job), className="small"),
            html.Td(job.get("created") or ""),
        ]))
    return dbc.Table([head, html.Tbody(rows)], size="sm", hover=True, className="ll-jobs-table")


def layout(**_query) -> html.Div:
    services = current_services()
    models = [c.name for c in services.models.valid_bundles()]
    active = services.models.active_name()
    from dashboard.jobs.core import KINDS

    form = dbc.Card(dbc.CardBody([
        dbc.Label("Job", html_for=KIND),
        dbc.RadioItems(id=KIND, value="rescore", options=[{"label": text, "value": key} for key, text in KINDS.items()],
                       className="mb-2"),
        dbc.Label("Model", html_for=MODEL),
        dcc.Dropdown(id=MODEL, options=models, value=active, clearable=False, className="mb-2"),
        dbc.Label("Cohort filter (re-score): the Cohort page's URL query, empty = every case", html_for=FILTER),
        dbc.Input(id=FILTER, placeholder="?dataset=upload&age=40-70", className="mb-2"),
        dbc.Label("Source (batch): folder:DIR or a dataset spec, under the allowed folders", html_for=SOURCE),
        dbc.Input(id=SOURCE, placeholder="folder:2026-11-clinic-a   or   busi:busi", className="mb-1"),
        html.Small("Allowed folders: " + ", ".join(str(p) for p in services.settings.job_roots),
                   className="text-muted d-block mb-2"),
        dbc.Label("At most (items, optional)", html_for=LIMIT),
        dbc.Input(id=LIMIT, type="number", min=1, step=1, className="mb-3"),
        dbc.Button("Start", id=START, color="primary", className="me-2"),
        dbc.Button("Cancel", id=CANCEL, color="outline-danger", disabled=True),
    ]), className="mb-3")
    return html.Div([
        html.H2("Jobs", className="mb-3"),
        dbc.Row([
            dbc.Col(form, lg=5),
            dbc.Col([
                dbc.Progress(id=PROGRESS, value=0, label="", striped=True, animated=True, style={"height": "1.6rem"}),
                html.Div(id=CANCEL_STATUS, className="small text-muted mt-1"),
                html.Div(id=NOTICE),
                html.Div(id=RESULT),
                html.H5("Recent jobs", className="mt-4"),
                html.Div(jobs_table(services_jobs(services).recent()), id=TABLE),
                html.H5("Cross-validation runs", className="mt-4"),
                html.Div(cv_panel(services.settings.cv_roots), id=CV),
            ], lg=7),
        ]),
        dcc.Store(id=CURRENT, storage_type="session"),  # a reload keeps following the job
        dcc.Interval(id=POLL, interval=1000, disabled=True),
        dcc.Interval(id=REFRESH, interval=5000),
    ])


def services_jobs(services):
    from dashboard.jobs.store import JobStore

    return JobStore(services.store.sessions)


def register(app: dash.Dash) -> None:
    dash.register_page(__name__, path="/jobs", name="Jobs", title="Jobs · Lesion Lens", order=5, layout=layout)

    @on_click(app, START, Output(CURRENT, "data"), Output(NOTICE, "children"),
              *[State(field, "value") for field in (KIND, MODEL, FILTER, SOURCE, LIMIT)])
    def _start(kind, model, query, source, limit):
        """Validate, record (owner, audit row), submit; the follow callback shows the rest."""
        from dashboard.auth import CLINICIAN, audit, require
        from dashboard.jobs.core import JobError, validate_spec
        from dashboard.jobs.executor import submit

        user = require(CLINICIAN)
        services = current_services()
        try:
            spec = validate_spec({"kind": kind, "model": model, "filter": query, "source": source, "limit": limit},
                                 services.settings, services.models)
        except JobError as exc:
            return dash.no_update, dbc.Alert(str(exc), color="danger", className="mt-3")
        jobs = services_jobs(services)
        job_id = jobs.create(spec["kind"], spec, spec["model"], owner=user.username)
        audit("job.start", target=job_id, kind=spec["kind"], model=spec["model"])  # paths left out: may name people
        try:
            submit(services.settings, job_id, spec["kind"])
        except Exception as exc:  # noqa: BLE001 - broker down, no process slots: say so, keep the row honest
            jobs.finish(job_id, "failed", f"could not start the job ({type(exc).__name__})")
        return job_id, ""

    @app.callback(
        Output(PROGRESS, "value"),
        Output(PROGRESS, "label"),
        Output(START, "disabled"),
        Output(CANCEL, "disabled"),
        Output(RESULT, "children"),
        Output(POLL, "disabled"),
        Input(POLL, "n_intervals"),
        Input(CURRENT, "data"),
    )
    def _follow(_ticks, job_id):
        """The current job's bar while it runs (polling on), its result when it ends (polling off)."""
        job = services_jobs(current_services()).get(job_id) if job_id else None
        if job is None:
            return 0, "", False, True, None, True
        value, label = progress_of(job)
        if job["status"] in ("queued", "running"):
            return value, label, True, False, None, False
        return value, label, False, True, result_block(job), True

    @on_click(app, CANCEL, Output(CANCEL_STATUS, "children"), State(CURRENT, "data"))
    def _cancel(job_id):
        from dashboard.auth import CLINICIAN, audit, require
        from dashboard.jobs.owner import may_cancel

        if not job_id:
            raise dash.exceptions.PreventUpdate
        user = require(CLINICIAN)
        jobs = services_jobs(current_services())
        job = jobs.get(job_id)
        if job is None:
            return f"There is no job {job_id}."
        if not may_cancel(user, job):
            audit("access.denied", target=job_id, needed="job owner or admin", method="job.cancel")
            return f"Job {job_id} was started by someone else: only they or an admin can cancel it."
        asked = jobs.request_cancel(job_id)
        if asked:
            audit("job.cancel", target=job_id, owner=job.get("owner"))
        return f"Cancel requested for job {job_id}." if asked else f"Job {job_id} had already ended."

    @app.callback(
        Output(TABLE, "children"),
        Input(REFRESH, "n_intervals"),
        Input(RESULT, "children"),
        prevent_initial_call=True,
    )
    def _refresh(_ticks, _result):
        return jobs_table(services_jobs(current_services()).recent())

    @app.callback(Output(CV, "children"), Input(REFRESH, "n_intervals"), prevent_initial_call=True)
    def _cv(_ticks):
        """Every fold of the recent CV runs (pipeline.cv_progress: what `training cv-status` prints)."""
        return cv_panel(current_services().settings.cv_roots)
