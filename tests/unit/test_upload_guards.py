"""Issue 14, item 6: what a newcomer tripped over on the upload path (fake predictor, seconds)."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from dashboard.pages import new_case_batch
from pipeline.errors import ImageLoadError
from pipeline.io import Limits, load_image
from pipeline.io.limits import UPLOAD_MIN_SIDE, check_dimensions, check_not_blank
from tests.fakes_predictor import lesion_png


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


# ------------------------------------------------------------------ minimum size, blank images
def test_min_side_is_checked_from_the_header():
    limits = Limits(min_side=UPLOAD_MIN_SIDE)
    check_dimensions(32, 32, limits)
    for width, height in ((1, 1), (31, 400), (500, 12)):
        with pytest.raises(ImageLoadError, match=f"at least {UPLOAD_MIN_SIDE} pixels"):
            check_dimensions(width, height, limits)
    check_dimensions(1, 1, Limits())  # the library default accepts any size (test arrays, crops)
    with pytest.raises(ImageLoadError, match="too small"):
        load_image(png(np.full((1, 1), 128)), limits=limits)
    with pytest.raises(ValueError):
        Limits(min_side=0)


def test_blank_images_are_refused():
    with pytest.raises(ImageLoadError, match="blank"):
        check_not_blank(np.zeros((64, 64), np.uint8))
    with pytest.raises(ImageLoadError, match=r"same value \(255\)"):
        check_not_blank(np.full((64, 64), 255, np.uint8))
    image = np.zeros((64, 64), np.uint8)
    image[3, 3] = 1
    check_not_blank(image)


@pytest.mark.parametrize("array, message", [
    (np.full((1, 1), 200), "too small to analyse"),
    (np.full((16, 300), 90), "too small to analyse"),
    (np.zeros((400, 500)), "image is blank"),
    (np.full((400, 500), 255), "image is blank"),
])
def test_new_case_page_refuses_tiny_and_blank_images_in_words(app, services, array, message):
    before = services.store.count()
    with app.server.app_context():
        batch = new_case_batch.ingest_files(services.ingest, [data_url(png(array))], ["x.png"], {}, max_files=5)
    item = batch["items"][0]
    assert item["case_id"] is None and message in item["error"]
    assert services.store.count() == before  # nothing stored


def test_a_real_image_still_goes_through(app, services):
    with app.server.app_context():
        batch = new_case_batch.ingest_files(services.ingest, [data_url(lesion_png(64, 48))], ["ok.png"], {}, max_files=5)
    assert batch["items"][0]["case_id"]
