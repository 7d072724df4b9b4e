"""Figure builders: titles, units, colours and empty-data messages, without a browser."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from dashboard.figures.image import CaseImage, ImageLayer, case_image_figure, probability_heatmap_figure
from dashboard.figures.metric_charts import (
    calibration_figure,
    confusion_matrix_figure,
    overlap_figure,
    pr_figure,
    roc_figure,
    thin,
)
from dashboard.figures.overlay import contour_width, downsample, level_width_to_window, overlay_rgba, windowed
from dashboard.figures.style import PREDICTION_COLOR, TRUTH_COLOR
from pipeline.metrics import confusion_matrix, operating_points, pr_curve, reliability_curve, roc_curve


@pytest.fixture
def scores():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    p = np.clip(0.35 * y + rng.random(300) * 0.65, 0, 1)
    return y, p


def _texts(fig):
    return fig.layout.xaxis.title.text, fig.layout.yaxis.title.text


def test_okabe_ito_overlay_colours():
    assert PREDICTION_COLOR.upper() == "#E69F00" and TRUTH_COLOR.upper() == "#56B4E9"


def test_overlay_fill_and_contour():
    mask = np.zeros((50, 60), bool)
    mask[10:30, 20:40] = True
    fill = overlay_rgba(mask, PREDICTION_COLOR, "fill")
    assert fill.shape == (50, 60, 4) and fill.dtype == np.uint8
    assert (fill[..., 3] > 0).sum() == mask.sum()
    assert tuple(fill[15, 25, :3]) == (0xE6, 0x9F, 0x00)
    contour = overlay_rgba(mask, TRUTH_COLOR, "contour")
    shown = contour[..., 3] > 0
    assert 0 < shown.sum() < mask.sum()
    assert not shown[20, 30]  # the inside of the lesion stays clear in contour mode
    assert contour_width((2000, 1000)) > contour_width((100, 100)) == 2


def test_overlay_of_empty_mask_is_transparent():
    assert overlay_rgba(np.zeros((8, 8), bool), PREDICTION_COLOR, "contour")[..., 3].max() == 0


def test_window_level():
    pixels = np.linspace(-1000, 1000, 100, dtype=np.float32).reshape(10, 10)
    low, high = level_width_to_window(0, 400)
    assert (low, high) == (-200, 200)
    out = windowed(pixels, low, high)
    assert out.dtype == np.uint8 and out.min() == 0 and out.max() == 255
    assert out[0, 0] == 0 and out[-1, -1] == 255


def test_downsample_keeps_mean():
    array = np.random.default_rng(0).random((400, 500)).astype(np.float32)
    small, step = downsample(array, 100)
    assert step == 5 and max(small.shape) <= 100
    assert small.mean() == pytest.approx(array.mean(), abs=1e-3)


def test_case_image_figure_layers_and_units():
    layers = (ImageLayer("/files/x/overlay.png?layer=pred", "Prediction", PREDICTION_COLOR, 0.3),)
    fig = case_image_figure(CaseImage(500, 400, "/files/x/display.png", layers, spacing_mm=(0.1, 0.1)))
    assert [img.source for img in fig.layout.images] == ["/files/x/display.png", "/files/x/overlay.png?layer=pred"]
    assert fig.layout.images[1].opacity == pytest.approx(0.3)
    x_title, y_title = _texts(fig)
    assert "mm" in x_title and "px" in y_title
    assert fig.layout.yaxis.range == (400, 0)  # rows go down like every viewer
    assert fig.layout.yaxis.scaleanchor == "x"
    assert "px" in _texts(case_image_figure(CaseImage(10, 10, "/b.png")))[0]


def test_probability_heatmap_scale():
    prob = np.zeros((300, 200), np.float32)
    prob[100:150, 50:100] = 0.9
    fig = probability_heatmap_figure(prob, "/files/x/display.png", max_side=100)
    heat = fig.data[0]
    assert heat.zmin == 0 and heat.zmax == 1 and heat.colorbar.title.text == "P(lesion)"
    assert max(np.asarray(heat.z).shape) <= 100
    assert _texts(fig) == ("column (px)", "row (px)")


def test_confusion_matrix_counts(scores):
    y, p = scores
    cm = confusion_matrix(y, p, 0.5)
    fig = confusion_matrix_figure(cm, 0.5)
    text = " ".join(" ".join(row) for row in fig.data[0].text)
    for value in (cm.tn, cm.fp, cm.fn, cm.tp):
        assert f"<b>{value}</b>" in text
    assert _texts(fig) == ("Predicted label (model)", "True label (pathology)")
    assert "0.50" in fig.layout.title.text


def test_confusion_matrix_empty():
    fig = confusion_matrix_figure(confusion_matrix(np.array([], int), np.array([]), 0.5), 0.5)
    assert "No cases" in fig.layout.annotations[0].text


def test_roc_with_ci_readers_and_threshold(scores):
    y, p = scores
    birads = np.where(p > 0.6, "5", np.where(p > 0.4, "4a", "3"))
    points = operating_points(y, birads)
    fig = roc_figure(roc_curve(y, p), (0.7, 0.8), points, (0.3, 0.7))
    names = [trace.name for trace in fig.data]
    assert any("AUC" in n and "95% CI 0.700–0.800" in n for n in names)
    assert "radiologists (BI-RADS ≥ k)" in names and "current threshold" in names
    assert "false positive rate" in _texts(fig)[0] and "sensitivity" in _texts(fig)[1]


def test_roc_single_class_says_why():
    fig = roc_figure(roc_curve(np.ones(5, int), np.linspace(0, 1, 5)))
    assert "both benign and malignant" in fig.layout.annotations[0].text


def test_pr_and_calibration(scores):
    y, p = scores
    fig = pr_figure(pr_curve(y, p), (0.5, 0.6), float(y.mean()), (0.7, 0.6))
    assert any("AP" in (t.name or "") for t in fig.data)
    assert _texts(fig) == ("recall (sensitivity)", "precision (PPV)")
    cal = calibration_figure(reliability_curve(y, p), 0.2)
    assert "ECE" in cal.layout.title.text and "Brier 0.200" in cal.layout.title.text
    assert _texts(cal) == ("predicted P(malignant)", "observed fraction malignant")


def test_overlap_histograms():
    fig = overlap_figure(np.array([0.8, 0.9, np.nan]), np.array([0.7, 0.8, np.nan]))
    assert len(fig.data) == 2 and "2 cases" in fig.layout.title.text
    assert fig.layout.yaxis.title.text == "cases (count)"
    assert "No cases" in overlap_figure(np.array([]), np.array([])).layout.annotations[0].text


def test_thin_keeps_ends():
    x = np.arange(5000)
    (small,) = thin(x, limit=100)
    assert len(small) <= 100 and small[0] == 0 and small[-1] == 4999
    (same,) = thin(np.arange(10), limit=100)
    assert len(same) == 10


# ------------------------------------------------ dict-built cohort figures


def _cohort_figures():
    from dashboard.figures.style import empty_figure

    rng = np.random.default_rng(2)
    y = (rng.random(10_000) < 0.35).astype(int)
    p = np.clip(np.where(y, rng.beta(4, 2, 10_000), rng.beta(2, 4, 10_000)), 0, 1)
    points = operating_points(y, np.where(p > 0.6, "5", np.where(p > 0.4, "4a", "3")))
    return {
        "confusion": confusion_matrix_figure(confusion_matrix(y, p, 0.5), 0.5),
        "roc": roc_figure(roc_curve(y, p), (0.7, 0.8), points, (0.3, 0.7)),
        "roc without extras": roc_figure(roc_curve(y, p)),
        "pr": pr_figure(pr_curve(y, p), (0.5, 0.6), float(y.mean()), (0.7, 0.6)),
        "calibration": calibration_figure(reliability_curve(y, p), 0.2),
        "overlap": overlap_figure(p, p * 0.9),
        "empty": empty_figure("nothing"),
    }


def _normalised(fig) -> dict:
    import json

    from plotly.io.json import to_json_plotly

    out = json.loads(to_json_plotly(fig))
    for trace in out["data"]:
        trace.pop("colorscale", None)  # "Blues" vs the same scale spelled out by the validator
    return out


def test_dict_built_figures_are_valid_and_already_normalised():
    """Built without plotly's validation: re-validating must accept them and change nothing."""
    import plotly.graph_objects as go

    for name, fig in _cohort_figures().items():
        validated = go.Figure(fig.to_plotly_json())  # raises on an invalid property
        assert _normalised(validated) == _normalised(fig), name


def test_cohort_figures_keep_axis_titles_and_units():
    figs = _cohort_figures()
    assert _texts(figs["roc"]) == ("1 − specificity (false positive rate)", "sensitivity (true positive rate)")
    assert _texts(figs["pr"]) == ("recall (sensitivity)", "precision (PPV)")
    assert _texts(figs["calibration"]) == ("predicted P(malignant)", "observed fraction malignant")
    assert _texts(figs["overlap"]) == ("overlap with ground truth (0 = none, 1 = identical)", "cases (count)")
    assert _texts(figs["confusion"]) == ("Predicted label (model)", "True label (pathology)")
    for name, fig in figs.items():
        if name != "empty":
            assert fig.layout.title.text and fig.layout.height >= 380, name


def test_curves_are_thinned_and_the_marker_is_last():
    from dashboard.figures.metric_charts import MAX_CURVE_POINTS, pr_marker_index, roc_marker_index

    figs = _cohort_figures()
    roc, pr = figs["roc"], figs["pr"]
    model = next(t for t in roc.data if (t.name or "").startswith("model AUC"))
    assert len(model.x) <= MAX_CURVE_POINTS + 2 and (model.x[0], model.x[-1]) == (0, 1)
    reader = operating_points(np.array([0, 1, 1]), np.array(["3", "5", "4a"]))
    assert roc.data[roc_marker_index(reader)].name == "current threshold" == roc.data[-1].name
    assert pr.data[pr_marker_index(0.35)].name == "current threshold" == pr.data[-1].name
    bare = figs["roc without extras"]
    assert bare.data[roc_marker_index(())].name == "current threshold"
    assert bare.data[-1].visible is False and len(bare.data[-1].x) == 0  # hidden until there is a point


def test_overlap_bins_count_every_case():
    fig = overlap_figure(np.array([0.0, 0.05, 0.5, 0.99, 1.0, np.nan]), np.array([0.1, 0.2, 0.3, 0.4, 1.0, np.nan]))
    dice = fig.data[0]
    assert sum(dice.y) == 5 and len(dice.x) == 20
    assert dice.y[-1] == 2  # 0.99 and 1.0 share the last, closed bin


# ------------------------------------------------ plotly.js partial bundle


def test_partial_plotlyjs_bundle_matches_plotly_py_and_covers_our_traces():
    from plotly.offline import get_plotlyjs_version

    from dashboard.figures import __version__ as vendored, plotlyjs

    assert plotlyjs.bundled_version() == get_plotlyjs_version() == plotlyjs.PLOTLYJS_VERSION == vendored
    used = {trace.type for fig in _cohort_figures().values() for trace in fig.data}
    image = CaseImage(10, 10, "/a.png", (ImageLayer("/b.png", "x", "#000"),))
    used |= {trace.type for trace in case_image_figure(image).data}
    used |= {trace.type for trace in probability_heatmap_figure(np.zeros((4, 4)), "/a.png").data}
    assert used <= plotlyjs.TRACE_TYPES, used - plotlyjs.TRACE_TYPES


def test_partial_plotlyjs_bundle_is_served_to_dcc_graph(tmp_path):
    import re

    from tests.auth_helpers import logged_in_client
    from tests.fakes_predictor import fake_app

    app = fake_app(tmp_path)
    client = logged_in_client(app, "viewer")
    html = client.get("/metrics").get_data(as_text=True)
    loaders = re.findall(r'src="([^"]*/dashboard\.figures/vendor/plotly-loader[^"]*)"', html)
    assert len(loaders) == 1 and "plotly-cartesian" not in html  # only the small loader is on every page
    loader = client.get(loaders[0])
    assert loader.status_code == 200 and b"_dashPlotlyJSURL" in loader.data
    # the URL the loader derives (same rule as its JavaScript regex) serves the bundle
    bundle = re.sub(r"plotly-loader(\.v[^/.]+)?\.js(\?.*)?$", r"plotly-cartesian\1.min.js", loaders[0])
    response = client.get(bundle)
    assert response.status_code == 200 and b"plotly.js (cartesian - minified) v4.1.1" in response.data[:200]
    assert "javascript" in response.headers["Content-Type"]


def test_partial_plotlyjs_bundle_refused_on_version_mismatch(monkeypatch):
    from dashboard.figures import plotlyjs

    class FakeApp:
        class scripts:  # noqa: N801 - mimics dash.Dash.scripts
            added: list = []

            @classmethod
            def append_script(cls, script):
                cls.added.append(script)

    monkeypatch.setattr(plotlyjs, "bundled_version", lambda: "0.0.1")
    assert plotlyjs.install(FakeApp()) is False and FakeApp.scripts.added == []


def test_case_image_figure_dict_is_the_same_figure_fast():
    """The New case card's figure: same content as case_image_figure, without plotly's validators each time."""
    import json
    import time

    from plotly.utils import PlotlyJSONEncoder

    from dashboard.figures.image import case_image_figure_dict

    layers = (ImageLayer("/files/c1/pred.png?v=2", "Prediction (mask)", "#E69F00", 0.45),)
    image = CaseImage(500, 400, "/files/c1/display.png?v=a", layers, spacing_mm=(0.1, 0.2), fig_height=380)
    slow = case_image_figure(image)
    fast = case_image_figure_dict(image)
    dump = lambda f: json.dumps(f, cls=PlotlyJSONEncoder, sort_keys=True)  # noqa: E731
    assert dump(fast) == dump(slow.to_plotly_json())
    other_layer = ImageLayer("/o.png", "Prediction (mask)", "#E69F00", 0.3)
    other = case_image_figure_dict(CaseImage(500, 400, "/files/c2/display.png", (other_layer,), fig_height=380))
    assert other["layout"]["images"][0]["source"] == "/files/c2/display.png"
    assert other["layout"]["images"][1]["opacity"] == 0.3 and fast["layout"]["images"][1]["opacity"] == 0.45
    started = time.perf_counter()
    for _ in range(20):
        case_image_figure_dict(replace(image, base_url="/x.png"))
    assert (time.perf_counter() - started) / 20 < 0.02
