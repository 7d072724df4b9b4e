"""Jobs (`/jobs`): re-score a cohort with another model, or run a batch over a server folder / dataset spec.

The Start button runs a Dash background callback (`background=True`) on the
deployment's manager (`dashboard.jobs.manager`): locally a DiskcacheManager
child process, with CELERY_BROKER_URL a Celery worker. The callback creates
the job's row, starts a runner process and reports progress (a bar with
"done of total · failed") until the job ends. Cancel stops it two ways: Dash
terminates the callback's process (and so the runner), and the job's row
gets its cancel flag, which the runner checks between items. The table
below lists recent jobs from the database, so a job started by someone
else, or before a restart, is visible too. Each job records its owner (the
signed-in user whose session started it); only the owner or an admin may
cancel it, and both starting and cancelling are audited where they happen
(dashboard/jobs/owner.py), whatever the callback request looks like.
"""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html

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
RESULT = "jobs-result"
CANCEL_STATUS = "jobs-cancel-status"
TABLE = "jobs-table"
REFRESH = "jobs-refresh"
EXTENSION_KEY = "lesionlens_jobs"  # server.extensions: {"manager": ..., "key": background callback key}
STATUS_COLOR = {"done": "success", "running": "primary", "queued": "secondary", "cancelled": "warning",
                "failed": "danger", "interrupted": "danger"}


def progress_of(job: dict) -> tuple[int, str]:
    total, done = job.get("total") or 0, job.get("done") or 0
    if job.get("status") == "queued" or not total:
        return 0, "starting…"
    return round(100 * done / total), f"{done} of {total} · {job.get('failed') or 0} failed"


def result_block(job: dict) -> dbc.Alert:
    status = job.get("status", "failed")
    errors = (job.get("result") or {}).get("errors") or []
    body = [html.B(f"Job {job.get('id', '')}: {status}. "), job.get("message") or ""]
    if errors:
        body.append(html.Ul([html.Li(f"{label}: {message}") for label, message in errors], className="mb-0 small"))
    return dbc.Alert(body, color=STATUS_COLOR.get(status, "secondary"), className="mt-3 ll-job-result")


def jobs_table(jobs: list[dict]) -> dbc.Table | html.P:
    if not jobs:
        return html.P("No jobs yet.", className="text-muted")
    head = html.Thead(html.Tr([html.Th(h) for h in ("Job", "Kind", "Model", "Status", "Progress", "Started")]))
    rows = []
    for job in jobs:
        _percent, label = progress_of(job)
        rows.append(html.Tr([
            html.Td(job["id"]), html.Td(job["kind"]), html.Td(job.get("model") or ""),
            html.Td(dbc.Badge(job["status"], color=STATUS_COLOR.get(job["status"], "secondary"))),
            html.Td(label if job["status"] != "queued" else ""), html.Td(job.get("created") or ""),
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
                html.Div(id=RESULT),
                html.H5("Recent jobs", className="mt-4"),
                html.Div(jobs_table(services_jobs(services).recent()), id=TABLE),
            ], lg=7),
        ]),
        dcc.Store(id=CURRENT),
        dcc.Interval(id=REFRESH, interval=5000),
    ])


def services_jobs(services):
    from dashboard.jobs.store import JobStore

    return JobStore(services.store.sessions)


def register(app: dash.Dash) -> None:
    from dash.background_callback.managers import BaseBackgroundCallbackManager

    from dashboard.jobs.core import JobError, validate_spec
    from dashboard.jobs.manager import background_manager, follow, job_store

    dash.register_page(__name__, path="/jobs", name="Jobs", title="Jobs · Lesion Lens", order=5, layout=layout)
    services = app.server.extensions["lesionlens"]
    settings = services.settings
    manager = background_manager(settings)

    @app.callback(
        Output(RESULT, "children"),
        Input(START, "n_clicks"),
        State(KIND, "value"),
        State(MODEL, "value"),
        State(FILTER, "value"),
        State(SOURCE, "value"),
        State(LIMIT, "value"),
        background=True,
        manager=manager,
        running=[(Output(START, "disabled"), True, False), (Output(CANCEL, "disabled"), False, True)],
        progress=[Output(PROGRESS, "value"), Output(PROGRESS, "label"), Output(CURRENT, "data")],
        progress_default=[0, "", None],
        cancel=[Input(CANCEL, "n_clicks")],
        interval=1000,
        prevent_initial_call=True,
    )
    def _run(set_progress, n_clicks, kind, model, query, source, limit):
        """In a DiskcacheManager child or a Celery worker: validate, record, run, report."""
        if not n_clicks:
            raise dash.exceptions.PreventUpdate
        from dashboard.jobs.owner import audit_start, starter_from_callback
        from dashboard.services.registry import ModelRegistry
        from dashboard.store.cases import CaseStore

        starter = starter_from_callback(settings)
        if starter is None or starter.role not in ("clinician", "admin"):
            return dbc.Alert("Your session has ended: sign in again to start a job.", color="danger",
                             className="mt-3")
        store = CaseStore(settings.database_url, settings.files_dir, salt=settings.secret_key, schema="none")
        try:
            spec = validate_spec({"kind": kind, "model": model, "filter": query, "source": source, "limit": limit},
                                 settings, ModelRegistry(settings, store))
        except JobError as exc:
            return dbc.Alert(str(exc), color="danger", className="mt-3")
        finally:
            store.engine.dispose()
        job_id = job_store(settings).create(spec["kind"], spec, spec["model"], owner=starter.username)
        audit_start(settings, starter, job_id, spec)
        set_progress((0, "starting…", job_id))

        def report(job):
            value, label = progress_of(job)
            set_progress((value, label, job_id))

        return result_block(follow(settings, job_id, report))

    app.server.extensions[EXTENSION_KEY] = {"manager": manager, "key": BaseBackgroundCallbackManager.functions[-1][0],
                                            "function": _run}

    @app.callback(
        Output(CANCEL_STATUS, "children"),
        Input(CANCEL, "n_clicks"),
        State(CURRENT, "data"),
        prevent_initial_call=True,
    )
    def _cancel(n_clicks, job_id):
        from dashboard.auth import CLINICIAN, audit, require
        from dashboard.jobs.owner import may_cancel

        if not n_clicks or not job_id:
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
