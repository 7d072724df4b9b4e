"""Issue 14.1: the model shipped with the repository (`shipped/busbra/`, what `make run` serves).

It must load (weights' sha256 checked against its card), say what it was trained on (BUS-BRA, with the
dataset's licence and citation), record the commit and the command that made it, and its card's metrics
must be the ones committed under results/shipped-busbra/ (made by that command). One real BUS-BRA image,
when the dataset is here, goes through it end to end.
"""

from __future__ import annotations

import json

import pytest

from pipeline.bundle import read_bundle_card
from pipeline.paths import REPO_ROOT, shared_data_dir

SHIPPED = REPO_ROOT / "shipped" / "busbra"
RESULTS = REPO_ROOT / "results" / "shipped-busbra"


def test_shipped_card_loads_and_says_where_it_comes_from():
    card = read_bundle_card(SHIPPED)  # verifies every weights file against weights_sha256
    assert card.name == "busbra" and card.weights_sha256
    assert card.training.dataset.startswith("busbra:")
    sources = {s.name: s for s in card.data_sources}
    busbra = next(s for name, s in sources.items() if "BUS-BRA" in name)
    assert "Gómez-Flores" in busbra.citation and busbra.licence
    assert card.provenance.git_commit and len(card.provenance.git_commit) == 40
    assert card.provenance.command.startswith("python -m training train --dataset busbra:")
    assert card.ood is not None, "the shipped model carries the out-of-distribution fingerprint"


def test_card_metrics_match_the_committed_results():
    card = read_bundle_card(SHIPPED)
    committed = json.loads((RESULTS / "metrics.json").read_text())
    assert card.metrics.to_json()["validation"] == committed["validation"]
    assert (card.stacking or {}) == committed.get("stacking", {})
    assert card.version == committed["version"]


@pytest.mark.slow
@pytest.mark.realdata
def test_a_real_busbra_image_goes_through_the_shipped_model():
    from pipeline.io import load_image
    from pipeline.predictor import Predictor

    images = sorted((shared_data_dir() / "bus-bra" / "Images").glob("bus_*.png"))
    if not images:
        pytest.skip("BUS-BRA not found under ../shared/data")
    prediction = Predictor(SHIPPED).predict(load_image(images[0]))
    assert prediction.model_name == "busbra"
    assert prediction.label in ("benign", "malignant", "normal")
    assert 0.0 <= prediction.probability <= 1.0 and prediction.out_of_distribution is False
