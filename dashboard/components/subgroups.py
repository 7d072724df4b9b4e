"""The Metrics page's subgroup table, drawn as plain HTML on the server.

Why not a DataTable: a dozen rows need no virtualisation, and DataTable's two lazy chunks
(620 kB of JavaScript) were the second-largest download of the Metrics page's first load
(bench/bench_dashboard.py, issue 14.4). Rows are ordered as `at_threshold` computes them
(overall, then each metadata column's subgroups), which is the order a reader scans anyway.
"""

from __future__ import annotations

import math

import dash_bootstrap_components as dbc
from dash import html

GROUP_NAMES = {"all": "All", "age_band": "Age band", "sex": "Sex", "device": "Device"}
COLUMNS = (("group", "Group"), ("subgroup", "Subgroup"), ("n", "Cases"), ("n_positive", "Malignant"),
           ("auc", "AUC"), ("sensitivity", "Sensitivity"), ("specificity", "Specificity"),
           ("dice_mean", "Mean Dice"))  # fmt: skip
NUMERIC = frozenset({"n", "n_positive", "auc", "sensitivity", "specificity", "dice_mean"})


def _number(value, digits: int = 3) -> float | None:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return round(value, digits)


def subgroup_rows(rows: list[dict]) -> list[dict]:
    """`at_threshold(...).subgroups` -> display rows (readable group names, rounded numbers, None when undefined)."""
    return [
        {
            "group": GROUP_NAMES.get(r["column"], r["column"]),
            "subgroup": r["subgroup"],
            "n": r["n"],
            "n_positive": r["n_positive"],
            "auc": _number(r.get("auc")),
            "sensitivity": _number(r.get("sensitivity")),
            "specificity": _number(r.get("specificity")),
            "dice_mean": _number(r.get("dice_mean")),
        }
        for r in rows
    ]


def _cell(key: str, value) -> html.Td:
    text = "—" if value is None else f"{value:,}" if isinstance(value, int) else str(value)
    return html.Td(text, className="text-end" if key in NUMERIC else None)


def render_subgroups(rows: list[dict]) -> dbc.Table:
    """Display rows (from `subgroup_rows`) as a compact striped table; "—" where a metric is undefined."""
    header = html.Thead(html.Tr([html.Th(name, className="text-end" if key in NUMERIC else None)
                                 for key, name in COLUMNS]))  # fmt: skip
    body = html.Tbody([html.Tr([_cell(key, row.get(key)) for key, _ in COLUMNS]) for row in rows])
    return dbc.Table([header, body], striped=True, hover=True, size="sm", className="mb-0 ll-subgroups")
