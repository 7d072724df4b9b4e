"""Issue 13.2 / 14.5: the BI-RADS lexicon words of the drawn outline show beside the diagnosis.

The New case card and the case page (prediction_block), the PDF and the cached-prediction round trip all
carry `summary["lexicon"]["sentence"]`; a prediction without words (older rows) says "not assessable".
"""

from __future__ import annotations

import numpy as np

from dashboard.components.cards import lexicon_text, prediction_block
from dashboard.exports.pdf import case_report_pdf, result_rows
from dashboard.services.inference import payload_of, prediction_from_payload
from pipeline.predictor import describe_in_words
from pipeline.types import Prediction
from tests.unit.test_exports_builders import render_first_page, synthetic_export


def _irregular_lesion() -> tuple[np.ndarray, np.ndarray]:
    """A dark star-shaped lesion in speckle: its outline must read irregular / not circumscribed."""
    rng = np.random.default_rng(3)
    gray = rng.normal(150, 20, (200, 240)).clip(0, 255).astype(np.uint8)
    yy, xx = np.mgrid[:200, :240]
    angle = np.arctan2(yy - 100, xx - 120)
    radius = 40 + 14 * np.cos(7 * angle)
    mask = np.hypot(yy - 100, xx - 120) < radius
    gray[mask] = rng.normal(50, 10, int(mask.sum())).clip(0, 255).astype(np.uint8)
    return gray, mask


def _text(component) -> str:
    if isinstance(component, str):
        return component
    children = getattr(component, "children", None)
    if children is None:
        return ""
    if not isinstance(children, (list, tuple)):
        children = [children]
    return " ".join(_text(child) for child in children)


def test_words_of_an_irregular_outline_reach_the_card():
    gray, mask = _irregular_lesion()
    lexicon = describe_in_words(gray, mask, None)
    assert lexicon["shape"] == "irregular" and lexicon["margin"].startswith("not circumscribed")
    summary = {"label": "malignant", "probability": 0.8, "uncertainty": 0.05, "lesion_found": True, "area_px": 900,
               "model": {"name": "m", "version": "1"}, "lexicon": lexicon}
    assert lexicon_text(summary) == lexicon["sentence"]
    shown = _text(prediction_block(summary))
    assert "BI-RADS descriptors of the outline" in shown and lexicon["sentence"] in shown


def test_a_prediction_without_words_says_not_assessable():
    summary = {"label": "benign", "probability": 0.2, "uncertainty": 0.05, "lesion_found": True, "area_px": 900,
               "model": {"name": "m", "version": "1"}}
    assert lexicon_text(summary) is None
    assert "not assessable" in _text(prediction_block(summary))


def test_pdf_carries_the_sentence():
    sentence = "Irregular, not parallel mass; margin not circumscribed, angular; hypoechoic; posterior shadowing."
    export = synthetic_export()
    export.prediction["lexicon"] = {"shape": "irregular", "sentence": sentence}
    rows = dict(result_rows(export))
    assert rows["BI-RADS descriptors of the outline"] == sentence
    _pages, _pixels, text = render_first_page(case_report_pdf(export))
    assert "Irregular, not parallel mass" in " ".join(text.split())


def test_cached_prediction_keeps_words_and_cnn_logit():
    gray, mask = _irregular_lesion()
    lexicon = describe_in_words(gray, mask, None)
    prediction = Prediction(label="malignant", probability=0.8, uncertainty=0.05, mask=mask,
                            probability_map=mask.astype(np.float32), box=(60, 80, 140, 160), area_px=int(mask.sum()),
                            area_mm2=None, lesion_found=True, model_name="m", model_version="1",
                            lexicon=lexicon, cnn_logit=1.25)
    again = prediction_from_payload(payload_of(prediction))
    assert again.lexicon == lexicon and again.cnn_logit == 1.25
    assert again.summary()["lexicon"]["sentence"] == lexicon["sentence"]


def test_stacked_reasons_and_the_cnn_alone_show_on_card_and_pdf():
    summary = {"label": "malignant", "probability": 0.8, "uncertainty": 0.05, "lesion_found": True, "area_px": 900,
               "model": {"name": "m", "version": "1"}, "stacked": True, "cnn_probability": 0.61,
               "reasons": {"cnn": 0.3, "log_spiculation": 0.7, "log_angularity": 0.2}}
    shown = _text(prediction_block(summary))
    assert "What pushed the decision" in shown and "margin: towards malignant (+0.90 log-odds)" in shown
    assert "Image model (CNN) alone" in shown and "61%" in shown
    export = synthetic_export()
    export.prediction.update(summary)
    rows = dict(result_rows(export))
    assert rows["What pushed the decision"].startswith("margin: towards malignant")
    assert rows["Image model (CNN) alone"] == "61%"
    plain = {k: v for k, v in summary.items() if k not in ("reasons", "cnn_probability", "stacked")}
    assert "What pushed the decision" not in _text(prediction_block(plain))
