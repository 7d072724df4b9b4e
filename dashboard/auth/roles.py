"""Roles and the access policy: which role each route, page and callback needs.

Three roles, each including the one before it:

* viewer    — cohorts, cases, metrics, models (read-only)
* clinician — also uploads (New case, `POST /api/v1/predict`), reviews, re-analysis, batch jobs
* admin     — also users, switching the active model, the audit log

The tables below are the single source of truth for the request guard
(`guards.py`), the navbar and the tests. Anything not listed is refused to
everyone but admins (fail closed): a new route or callback has to be given a
role here on purpose, and the route/callback enumeration tests say so.
"""

from __future__ import annotations

import json

VIEWER, CLINICIAN, ADMIN = "viewer", "clinician", "admin"
ROLES = (VIEWER, CLINICIAN, ADMIN)
RANK = {role: rank for rank, role in enumerate(ROLES)}

# Routes anyone may request. Static bundles and assets carry no data; the
# login page must be reachable; /healthz is for load balancers; /prometheus checks
# its own scrape token or loopback peer (dashboard/monitoring/routes.py).
OPEN_ENDPOINTS = {
    "_dash_assets.static",  # /assets/<path>
    "/_dash-component-suites/<string:package_name>/<path:fingerprinted_path>",
    "/_favicon.ico",
    "health.healthz",
    "login.login",
    "monitoring.prometheus",
}
OPEN_PATHS_DOC = ("/assets/…", "/_dash-component-suites/…", "/_favicon.ico", "/healthz", "/login", "/prometheus")

PAGE = "page"  # Dash index routes: the role comes from PAGE_ROLES by path
CALLBACK = "callback"  # /_dash-update-component: the role comes from the callback's outputs

# Flask endpoint -> role (or PAGE / CALLBACK). Endpoints of Dash routes are their rule strings.
ENDPOINT_ROLES = {
    "/": PAGE,
    "/<path:path>": PAGE,
    "/new": CLINICIAN,  # the New case page's old address (a redirect, pages/new_case.py)
    "/_dash-layout": VIEWER,
    "/_dash-dependencies": VIEWER,
    "/_dash-update-component": CALLBACK,
    "/_reload-hash": VIEWER,
    "files.case_file": VIEWER,
    "api.predict": CLINICIAN,
    "api.get_case": VIEWER,
    "api.unknown": VIEWER,
    "login.logout": VIEWER,
    "admin_export.audit_csv": ADMIN,
    # downloads (dashboard/exports): whoever may open a case or the cohort pages may export them
    "exports.case_pdf": VIEWER,
    "exports.case_png": VIEWER,
    "exports.case_json": VIEWER,
    "exports.case_seg": VIEWER,
    "exports.case_seg_zip": VIEWER,
    "exports.cohort_csv": VIEWER,
    "exports.cohort_figure_png": VIEWER,
    "exports.cohort_figure_svg": VIEWER,
    "exports.cohort_figures_zip": VIEWER,
}
EXPORT_ENDPOINTS = {e for e in ENDPOINT_ROLES if e.startswith("exports.")}
# GET requests to these answer an anonymous visitor with a redirect to the login page (HTML);
# every other protected route answers 401 JSON.
BROWSER_ENDPOINTS = {"/", "/<path:path>", "/new", "login.logout", "admin_export.audit_csv", *EXPORT_ENDPOINTS}

# Dash page path -> role (paths not listed: viewer). Checked on the HTML GET and again when the
# pages router renders the layout, so in-app navigation cannot reach a page either.
PAGE_ROLES = {"/": CLINICIAN, "/new": CLINICIAN, "/jobs": CLINICIAN, "/admin": ADMIN}

# Callback output component id -> role. Exact ids first, then the longest matching prefix;
# a callback needs the highest role among its outputs.
CALLBACK_EXACT = {
    "case-analyse-out": CLINICIAN,  # "Analyse now" runs the model
    "ll-reviewer-name": CLINICIAN,
}
CALLBACK_PREFIXES = (
    ("_pages_", VIEWER),  # the pages router; the page's own role is checked in its layout
    ("ll-", VIEWER),
    ("nav-", VIEWER),
    ("cohort-", VIEWER),
    ("metrics-", VIEWER),
    ("case-", VIEWER),
    ("case-delete-", ADMIN),  # deleting a case (pages/case_delete.py)
    ("review-", CLINICIAN),
    ("new-", CLINICIAN),
    ("jobs-", CLINICIAN),  # batch inference / cohort re-scoring: bulk uploads, in effect
    ("models-", ADMIN),  # the Models page's only callback switches the active model
    ("admin-", ADMIN),
)
FAIL_CLOSED = ADMIN

def allows(role: str | None, needed: str) -> bool:
    """True when `role` includes `needed` (viewer < clinician < admin)."""
    return role in RANK and RANK[role] >= RANK[needed]


def highest(roles) -> str:
    roles = list(roles) or [FAIL_CLOSED]
    return max(roles, key=lambda r: RANK[r])


def landing_path(role: str) -> str:
    """Where a user lands after login: viewers cannot upload, so they start at the cohort."""
    return "/" if allows(role, CLINICIAN) else "/cohort"


def normalize_page_path(path: str) -> str:
    return "/" + (path or "").strip("/")


def page_role(path: str) -> str:
    return PAGE_ROLES.get(normalize_page_path(path), VIEWER)


def component_key(component_id) -> str:
    """Policy key of a component id: the string id, or the `type` of a pattern-matching (dict) id."""
    if isinstance(component_id, dict):
        return str(component_id.get("type", ""))
    text = str(component_id)
    if text.startswith("{"):
        try:
            return str(json.loads(text).get("type", ""))
        except (ValueError, AttributeError):
            return ""
    return text


def output_role(component_id, explicit_only: bool = False) -> str | None:
    key = component_key(component_id)
    if key in CALLBACK_EXACT:
        return CALLBACK_EXACT[key]
    matches = [(len(prefix), role) for prefix, role in CALLBACK_PREFIXES if key.startswith(prefix)]
    if matches:
        return max(matches)[1]
    return None if explicit_only else FAIL_CLOSED


def callback_output_ids(output_key: str) -> list[str]:
    """Component ids named by a Dash callback key ("id.prop", or "..a.p...b.q.." for several outputs).

    Parsed here from the key format the renderer sends (Dash's own parser is
    private API that an upgrade may move); tests/unit/test_import_layers.py
    compares the two.
    """
    keys = output_key[2:-2].split("...") if output_key.startswith("..") else [output_key]
    return [key.rsplit(".", 1)[0] for key in keys]


def callback_role(output_key: str) -> str:
    return highest(output_role(i) for i in callback_output_ids(output_key))
