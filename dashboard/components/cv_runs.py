"""The Jobs page's "Cross-validation runs" panel: every fold of the CV runs under LESIONLENS_CV_ROOTS.

Why here: a CV (`python -m training cv`, local or `--backend celery`) is not
a dashboard job, but its folds are long work on the same machines, and issue
18.1 asks for every fold's progress in one place. The fold folders are the
truth on either backend; `pipeline.cv_progress` reads them (the same code as
`python -m training cv-status` and the `cv` command's own overview), so the
page and the CLI show the same states, workers and epochs. The dashboard
never imports training.
"""

from __future__ import annotations

from pathlib import Path

import dash_bootstrap_components as dbc
from dash import html

from pipeline.cv_progress import CvProgress, FoldState, cv_runs

STATE_COLOR = {"done": "success", "training": "primary", "lost": "danger", "stopped": "warning",
               "waiting": "secondary"}


def _epoch(fold: FoldState) -> html.Td:
    if fold.epoch is None or not fold.epochs:
        return html.Td("")
    return html.Td(dbc.Progress(value=round(100 * fold.epoch / fold.epochs), label=f"{fold.stage} {fold.epoch}/"
                                f"{fold.epochs}", style={"height": "1.2rem", "minWidth": "9rem"}))


def run_table(progress: CvProgress) -> html.Div:
    head = html.Thead(html.Tr([html.Th(h) for h in ("Fold", "State", "Worker", "Epoch", "Detail")]))
    rows = [html.Tr([html.Td(f.fold), html.Td(dbc.Badge(f.state, color=STATE_COLOR.get(f.state, "secondary"))),
                     html.Td(f.worker or ""), _epoch(f),
                     html.Td(f.detail if f.epoch is None else "", className="small text-muted")])
            for f in progress.folds]
    return html.Div([
        html.Div(progress.headline, className="small fw-bold mt-2"),
        dbc.Table([head, html.Tbody(rows)], size="sm", className="mb-2 ll-cv-folds"),
    ], className="ll-cv-run")


def cv_panel(roots: tuple[Path, ...]) -> html.Div:
    runs = cv_runs(roots)
    if not runs:
        return html.P(f"No CV runs under {', '.join(map(str, roots))} (LESIONLENS_CV_ROOTS).",
                      className="text-muted small")
    return html.Div([run_table(progress) for progress in runs])
