"""Shared look: Okabe-Ito colours (safe for the common colour-vision deficiencies)
and large type that still reads on a meeting-room projector."""

from __future__ import annotations

import plotly.graph_objects as go

# Okabe & Ito (2008) palette
ORANGE = "#E69F00"  # prediction
SKY_BLUE = "#56B4E9"  # ground truth
BLUISH_GREEN = "#009E73"
YELLOW = "#F0E442"
BLUE = "#0072B2"
VERMILION = "#D55E00"
REDDISH_PURPLE = "#CC79A7"
GREY = "#999999"
BLACK = "#000000"

PREDICTION_COLOR = ORANGE
TRUTH_COLOR = SKY_BLUE
MODEL_COLOR = BLUE
READER_COLOR = VERMILION
FONT_FAMILY = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'


_AXIS = {"showline": True, "linecolor": "#444", "ticks": "outside", "tickcolor": "#444", "showgrid": False,
         "zeroline": False, "title": {"standoff": 10}}
# A small template instead of plotly's "simple_white": the full built-in one is
# deep-copied and validated on every figure (~50 ms each), which dominated the
# threshold slider's response time on large cohorts.
TEMPLATE = {
    "layout": {
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "colorway": [BLUE, ORANGE, BLUISH_GREEN, VERMILION, SKY_BLUE, REDDISH_PURPLE, YELLOW, BLACK],
        "xaxis": _AXIS,
        "yaxis": _AXIS,
    }
}


def hex_to_rgb(color: str) -> tuple[int, int, int]:
    color = color.lstrip("#")
    return int(color[0:2], 16), int(color[2:4], 16), int(color[4:6], 16)


def base_layout(fig: go.Figure, *, title: str | None = None, height: int = 420) -> go.Figure:
    fig.update_layout(
        template=TEMPLATE,
        title={"text": title, "x": 0.02, "xanchor": "left"} if title else None,
        font={"family": FONT_FAMILY, "size": 15},
        margin={"l": 70, "r": 20, "t": 50 if title else 20, "b": 60},
        height=height,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "right", "x": 1},
        hoverlabel={"font": {"size": 14}},
    )
    return fig


def legend_inside(fig: go.Figure) -> go.Figure:
    """Legend in the lower-right corner of the plot (curves rarely go there), off the title."""
    fig.update_layout(legend={"orientation": "v", "x": 0.98, "xanchor": "right", "y": 0.02, "yanchor": "bottom",
                              "bgcolor": "rgba(255,255,255,0.85)", "bordercolor": "#ccc", "borderwidth": 1,
                              "font": {"size": 13}})
    return fig


# ------------------------------------------------------------ dict builders
# The cohort figures are written as plain dicts already in the form plotly's
# validators would produce ({"title": {"text": ...}}, not "title=..."), and
# wrapped with validation off: ~1-2 ms per figure instead of ~25 ms through
# add_trace/update_layout, and no validator loading (~0.5 s) in a fresh worker.
# tests/unit/test_dashboard_figures.py re-validates every builder's output.

LEGEND_INSIDE = {"orientation": "v", "x": 0.98, "xanchor": "right", "y": 0.02, "yanchor": "bottom",
                 "bgcolor": "rgba(255,255,255,0.85)", "bordercolor": "#ccc", "borderwidth": 1, "font": {"size": 13}}


def layout_dict(*, title: str | None = None, height: int = 420, legend: dict | None = None, **extra) -> dict:
    """The `base_layout` settings as a layout dict (plus `extra` keys such as axes)."""
    layout = {
        "template": TEMPLATE,
        "font": {"family": FONT_FAMILY, "size": 15},
        "margin": {"l": 70, "r": 20, "t": 50 if title else 20, "b": 60},
        "height": height,
        "legend": legend or {"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "right", "x": 1},
        "hoverlabel": {"font": {"size": 14}},
    }
    if title:
        layout["title"] = {"text": title, "x": 0.02, "xanchor": "left"}
    layout.update(extra)
    return layout


def axis(title: str, **settings) -> dict:
    return {"title": {"text": title}, **settings}


def figure(data: list[dict], layout: dict) -> go.Figure:
    """A go.Figure from trace and layout dicts without plotly's (slow) validation."""
    return go.Figure({"data": data, "layout": layout}, _validate=False)


def empty_figure(message: str, height: int = 320) -> go.Figure:
    """A blank figure that says why there is nothing to plot (never an empty axis)."""
    return figure([], layout_dict(
        height=height,
        annotations=[{"text": message, "showarrow": False, "font": {"size": 16, "color": "#555"}, "x": 0.5, "y": 0.5,
                      "xref": "paper", "yref": "paper"}],
        xaxis={"visible": False}, yaxis={"visible": False},
    ))
