"""Reviewing a case from its page: the Review card, its callbacks, and storing a review once.

A module of its own, next to `case_delete.py`, because the form, its guards and its callbacks
change together, and the image, prediction and metadata parts of the page never touch them. Why two guards against a second copy
(issue 14.6): a review meeting clicks fast, and a double click, two threads of one worker or a
resubmitted form would each store the same review again, listed twice in the case's history.
The browser disables "Save review" the moment it is clicked (until the form changes), and
`save_review` refuses a review identical to the reviewer's latest one on the case, under a lock.
Viewers read the reviews; only clinicians get the form, and the save callback checks the role
again (`auth.require`).
"""

from __future__ import annotations

import threading

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html

from dashboard import ids
from dashboard.auth import CLINICIAN, allows, audit, current_user, require
from dashboard.pages.clicks import on_click
from dashboard.services import current_services

# the review form: a change to any of these re-enables "Save review"
REVIEW_FORM = (ids.REVIEW_AGREE, ids.REVIEW_LABEL, ids.REVIEW_NOTE)
ALREADY_SAVED = "Already saved: this review is the same as your latest one on this case."


def card(stored):
    """The Review card of the case page: the form for clinicians, the reviews only for everyone else."""
    reviews = stored.reviews
    user = current_user()
    if user is None or not allows(user.role, CLINICIAN):  # viewers read the reviews, clinicians write them
        return dbc.Card([dbc.CardHeader("Reviews"),
                         dbc.CardBody(html.Div(review_history(reviews), id=ids.REVIEW_HISTORY))], className="mb-3")
    return dbc.Card(
        [
            dbc.CardHeader("Review"),
            dbc.CardBody(
                [
                    dbc.RadioItems(id=ids.REVIEW_AGREE, inline=True, value=None,
                                   options=[{"label": "Agree with model", "value": "agree"},
                                            {"label": "Disagree", "value": "disagree"}]),
                    dbc.Label("Corrected label", html_for=ids.REVIEW_LABEL, className="mt-2"),
                    dcc.Dropdown(id=ids.REVIEW_LABEL, clearable=True, placeholder="(unchanged)",
                                 options=[{"label": v.capitalize(), "value": v}
                                          for v in ("benign", "malignant", "normal")]),
                    dbc.Label("Note", html_for=ids.REVIEW_NOTE, className="mt-2"),
                    dbc.Textarea(id=ids.REVIEW_NOTE, rows=3, placeholder="What did you see?"),
                    dbc.Label("Reviewer", html_for=ids.REVIEW_USER, className="mt-2"),
                    dbc.Input(id=ids.REVIEW_USER, value=user.username, disabled=True, maxLength=80),
                    dbc.Button("Save review", id=ids.REVIEW_SAVE, color="primary", className="mt-3"),
                    html.Div(id=ids.REVIEW_STATUS, className="mt-2"),
                    html.Div(review_history(reviews), id=ids.REVIEW_HISTORY, className="mt-3"),
                ]
            ),
        ],
        className="mb-3",
    )


def review_history(reviews) -> html.Div:
    if not reviews:
        return html.Small("No reviews yet.", className="text-muted")
    items = []
    for r in reviews:
        verdict = {True: "agrees", False: "disagrees", None: "notes"}[r.agree]
        text = [html.B(r.user), f" {verdict}"]
        if r.corrected_label:
            text += [" · corrected to ", html.B(r.corrected_label)]
        text.append(html.Small(f" · {r.created:%Y-%m-%d %H:%M} UTC", className="text-muted"))
        if r.note:
            text += [html.Br(), html.Span(r.note)]
        items.append(dbc.ListGroupItem(text))
    return dbc.ListGroup(items, flush=True)


def is_repeat(reviews, user: str, agree: bool | None, label: str | None, note: str) -> bool:
    """True when `user`'s latest review of the case says exactly this (a second click, a resubmitted form)."""
    mine = [r for r in reviews if r.user == user.strip()[:80]]
    if not mine:
        return False
    latest = max(mine, key=lambda r: (r.created, r.id))
    return (latest.agree, latest.corrected_label or None, (latest.note or "").strip()) == (
        agree, label or None, note.strip()[:4000])


_REVIEW_LOCK = threading.Lock()


def save_review(store, case_id: str, agree: str | None, label: str | None, note: str | None, user: str | None):
    """Validate and store a review; returns (ok, message). The same review twice is stored once."""
    if not agree and not label and not (note or "").strip():
        return False, "Choose agree or disagree, a corrected label, or write a note."
    if not (user or "").strip():
        return False, "Enter your initials so the meeting knows who reviewed."
    verdict = {"agree": True, "disagree": False}.get(agree)
    with _REVIEW_LOCK:  # two clicks answered by two threads of this worker
        stored = store.get(case_id)
        if stored is not None and is_repeat(stored.reviews, user, verdict, label, note or ""):
            return False, ALREADY_SAVED
        store.add_review(case_id, user, verdict, label, note or "")
    return True, "Review saved."


def register(app: dash.Dash) -> None:
    # "Save review" is disabled in the browser the moment it is clicked (no second request can leave
    # while the first is on its way), stays disabled once saved, and comes back when the form changes.
    app.clientside_callback(
        "function(clicks) { return clicks ? true : window.dash_clientside.no_update; }",
        Output(ids.REVIEW_SAVE, "disabled", allow_duplicate=True),
        Input(ids.REVIEW_SAVE, "n_clicks"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        "function() { return false; }",
        Output(ids.REVIEW_SAVE, "disabled", allow_duplicate=True),
        *[Input(field, "value") for field in REVIEW_FORM],
        prevent_initial_call=True,
    )

    @on_click(
        app,
        ids.REVIEW_SAVE,
        Output(ids.REVIEW_STATUS, "children"),
        Output(ids.REVIEW_HISTORY, "children"),
        Output(ids.REVIEWER_NAME, "data"),
        Output(ids.REVIEW_SAVE, "disabled", allow_duplicate=True),
        State(ids.CASE_ID, "data"),
        *[State(field, "value") for field in REVIEW_FORM],
        State(ids.REVIEW_USER, "value"),
    )
    def _save(case_id, agree, label, note, user):
        user = require(CLINICIAN).username  # the signed-in user is the reviewer, whatever the form says
        store = current_services().store
        ok, message = save_review(store, case_id, agree, label, note, user)
        if ok:
            audit("case.review", target=case_id, agree={"agree": True, "disagree": False}.get(agree),
                  corrected_label=label)
        alert = dbc.Alert(message, color="success" if ok else "warning", duration=4000 if ok else None,
                          className="py-2 mb-0")
        if not ok:  # a repeat stays disabled; an incomplete form can be fixed and sent again
            return alert, dash.no_update, dash.no_update, message == ALREADY_SAVED
        return alert, review_history(store.get(case_id).reviews), (user or "").strip(), True

    @app.callback(Output(ids.REVIEW_USER, "value"), Input(ids.CASE_ID, "data"), State(ids.REVIEWER_NAME, "data"))
    def _remember_reviewer(_case_id, _name):
        user = current_user()
        return user.username if user else ""
