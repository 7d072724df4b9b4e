"""The case image with mask overlays, and the probability heatmap.

Images are plotly layout images referenced by URL (served and cached by the
files route), placed in data coordinates so zoom and pan keep the overlay
registered to the pixels. Axes are in image pixels with y pointing down like
every viewer; a square pixel aspect is enforced. Hover shows the pixel under
the cursor (and millimetres when the spacing is known).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import plotly.graph_objects as go

from dashboard.figures.overlay import downsample
from dashboard.figures.style import base_layout


@dataclass(frozen=True)
class ImageLayer:
    url: str
    name: str
    color: str
    opacity: float = 0.45


def _axis_titles(spacing_mm: tuple[float, float] | None) -> tuple[str, str]:
    if spacing_mm:
        return (f"column (px; 1 px = {spacing_mm[1]:.3g} mm)", f"row (px; 1 px = {spacing_mm[0]:.3g} mm)")
    return "column (px)", "row (px)"


def _frame(fig: go.Figure, width: int, height: int, spacing_mm, fig_height: int) -> go.Figure:
    x_title, y_title = _axis_titles(spacing_mm)
    fig.update_xaxes(range=[0, width], title=x_title, showgrid=False, zeroline=False, constrain="domain")
    fig.update_yaxes(
        range=[height, 0], title=y_title, showgrid=False, zeroline=False, scaleanchor="x", scaleratio=1,
        constrain="domain",
    )
    base_layout(fig, height=fig_height)
    # the page labels each panel with its colour swatch, so no legend eats image space
    fig.update_layout(dragmode="pan", margin={"l": 70, "r": 10, "t": 10, "b": 60}, uirevision="image",
                      showlegend=False)
    return fig


def _layout_image(source: str, width: int, height: int, layer: str, **extra) -> dict:
    """A plotly layout image covering the pixel axes exactly (x 0..width, y 0..height), so it stays registered."""
    return dict(source=source, xref="x", yref="y", x=0, y=0, sizex=width, sizey=height, sizing="stretch",
                layer=layer, **extra)


def _hover_grid(width: int, height: int, spacing_mm) -> go.Scatter:
    """Invisible points on a coarse grid: give the axes their extent and a pixel read-out."""
    step = max(1, max(width, height) // 40)
    xs, ys = np.meshgrid(np.arange(0, width, step), np.arange(0, height, step))
    if spacing_mm:
        template = "row %{y}, col %{x}<br>%{customdata[0]:.1f} mm, %{customdata[1]:.1f} mm<extra></extra>"
        custom = np.stack([ys.ravel() * spacing_mm[0], xs.ravel() * spacing_mm[1]], axis=1)
    else:
        template, custom = "row %{y}, col %{x}<extra></extra>", None
    return go.Scatter(
        x=xs.ravel(), y=ys.ravel(), mode="markers", marker={"opacity": 0, "size": 4},
        hovertemplate=template, customdata=custom, showlegend=False, name="pixel",
    )


@dataclass(frozen=True)
class CaseImage:
    """What a case image figure shows: the image (pixel size, URL), its overlay layers, the pixel
    spacing in mm (None: unknown) and the figure height.

    One value for both builders below, so the plotly figure and its fast dict form cannot be asked
    for different things; frozen and hashable, so the dict form caches its frame on it.
    """

    width: int
    height: int
    base_url: str
    layers: tuple[ImageLayer, ...] = ()
    spacing_mm: tuple[float, float] | None = None
    fig_height: int = 560


def case_image_figure(image: CaseImage) -> go.Figure:
    """Image plus overlay layers (each its own colour and opacity) with a legend."""
    width, height, spacing_mm = image.width, image.height, image.spacing_mm
    fig = go.Figure()
    fig.add_trace(_hover_grid(width, height, spacing_mm))
    images = [_layout_image(image.base_url, width, height, "below", opacity=1.0)]
    for layer in image.layers:
        images.append(_layout_image(layer.url, width, height, "above", opacity=float(layer.opacity), name=layer.name))
        fig.add_trace(
            go.Scatter(x=[None], y=[None], mode="markers", name=layer.name,
                       marker={"symbol": "square", "size": 14, "color": layer.color})
        )
    fig.update_layout(images=images)
    return _frame(fig, width, height, spacing_mm, image.fig_height)


@lru_cache(maxsize=128)
def _frame_dict(frame: CaseImage) -> dict:
    return case_image_figure(frame).to_plotly_json()


def case_image_figure_dict(image: CaseImage) -> dict:
    """`case_image_figure(image).to_plotly_json()` in about a millisecond instead of ~100 ms.

    Building the figure through plotly's validators (template, axes, hover grid) is what made a result
    card slow; everything but the image URLs and opacities depends only on the image size, spacing,
    height and layer colours, so that frame is built once per shape (per worker) and copied.
    """
    frame = CaseImage(
        int(image.width), int(image.height), "",
        tuple(ImageLayer("", layer.name, layer.color, 0.0) for layer in image.layers),
        spacing_mm=(float(image.spacing_mm[0]), float(image.spacing_mm[1])) if image.spacing_mm else None,
        fig_height=int(image.fig_height),
    )
    figure = copy.deepcopy(_frame_dict(frame))
    images = figure["layout"]["images"]
    images[0]["source"] = image.base_url
    for shown, layer in zip(images[1:], image.layers):
        shown["source"], shown["opacity"] = layer.url, float(layer.opacity)
    return figure


def probability_heatmap_figure(
    probability_map: np.ndarray,
    base_url: str | None = None,
    *,
    spacing_mm: tuple[float, float] | None = None,
    fig_height: int = 560,
    max_side: int = 160,
) -> go.Figure:
    """P(lesion) per pixel (Viridis, 0..1) over the image; downsampled for the browser."""
    height, width = probability_map.shape
    small, step = downsample(np.asarray(probability_map, dtype=np.float32), max_side)
    fig = go.Figure(
        go.Heatmap(
            z=np.round(small, 3), x0=step / 2, dx=step, y0=step / 2, dy=step,
            zmin=0, zmax=1, colorscale="Viridis", opacity=0.6 if base_url else 1.0,
            colorbar={"title": {"text": "P(lesion)", "side": "right"}, "thickness": 14},
            hovertemplate="row %{y:.0f}, col %{x:.0f}<br>P(lesion) %{z:.2f}<extra></extra>",
            name="P(lesion)",
        )
    )
    if base_url:
        fig.update_layout(images=[_layout_image(base_url, width, height, "below")])
    return _frame(fig, width, height, spacing_mm, fig_height)
