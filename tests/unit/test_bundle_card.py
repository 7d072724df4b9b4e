"""Issue 17.1: the bundle card is a typed, versioned `BundleCard`: validated with errors naming the field,
every older card format still reads, weight files are checked against their sha256, preprocessing is
tokens the predictor executes, and training records data sources and provenance."""

from __future__ import annotations

import glob
import json
import logging
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline import card_parts, preprocess
from pipeline.bundle import (
    BrokenBundle,
    content_sha256,
    content_version,
    list_bundles,
    read_bundle_card,
    set_command,
    training_sources,
    write_bundle_card,
)
from pipeline.card import SCHEMA_VERSION, BundleCard, CardError, Member, data_sources_for
from pipeline.errors import BundleError
from pipeline.paths import REPO_ROOT
from tests.cards import FIXTURE, make_card, minimal_card_json

RESULT_CARDS = sorted(glob.glob(str(REPO_ROOT / "results" / "**" / "*bundle*.json"), recursive=True))


def fixture_json() -> dict:
    return json.loads((REPO_ROOT / FIXTURE).read_text())


def bundle_folder(folder: Path, card_json: dict) -> Path:
    """`card_json` as bundle.json with a small fake weights file for every file its members name."""
    for member in card_json["members"]:
        for key in ("seg", "cls", "refine"):
            if member.get(key):
                (folder / member[key]).parent.mkdir(parents=True, exist_ok=True)
                (folder / member[key]).write_bytes(f"weights of {member[key]}".encode())
    (folder / "bundle.json").write_text(json.dumps(card_json, indent=2))
    return folder


# -- reading every format --------------------------------------------------------------------------
def test_every_card_in_results_reads():
    assert len(RESULT_CARDS) >= 9
    for path in RESULT_CARDS:
        card = BundleCard.from_json(json.loads(Path(path).read_text()))
        # results/ keeps cards of every age: schema 1 (before the typed card) and the current one
        assert card.schema_version in (1, SCHEMA_VERSION) and card.members and card.thresholds.malignant > 0
        assert card.preprocessing.normalisation == "per_image_zscore" and card.preprocessing.resize == "letterbox"
        assert card.data_sources[0].name == "BUS-BRA"  # derived from training.dataset for schema-1 cards


def test_the_newest_format_reads_into_fields_the_predictor_uses():
    card = BundleCard.from_json(fixture_json())
    pre = card.preprocessing
    assert (pre.work_max_side, pre.seg_input_size, pre.cls_input_size, pre.detail_max_side) == (256, 128, 128, 512)
    assert (pre.refine_input_size, pre.refine_margin, pre.input, pre.downscale) == (128, 0.25, "uint8_gray", "lanczos")
    assert card.members == (Member("members/0/seg.keras", "members/0/cls.keras", "members/0/refine.keras"),)
    assert card.calibration is not None and card.calibration.fitted_on == "validation patients, predicted masks"
    assert card.presence is not None and card.presence.features[0] == "peak_logit"
    assert card.tta_views and card.training.split.kind == "cv" and card.training.split.fold == 1
    assert card.training.minutes["this_run"] == 115.7 and card.provenance.git_commit.startswith("1514574f")


def test_older_cards_read():
    temperature = make_card(calibration={"method": "temperature", "temperature": 2.0, "fitted_on": "validation"})
    assert temperature.calibration.scale == 0.5 and temperature.calibration.bias == 0.0
    assert make_card(calibration={"temperature": 4.0, "bias": 0.0}).calibration.scale == 0.25  # no method: by keys
    assert make_card(calibration={"kind": "platt", "scale": 1.1, "bias": -0.2}).calibration.bias == -0.2
    bare = make_card()  # no calibration, presence, tta_views, intended_use, provenance, data_sources
    assert bare.calibration is None and bare.presence is None and not bare.tta_views and bare.tta_flip
    assert bare.intended_use == "research use; not a medical device" and bare.data_sources[0].name == "synthetic cohort"
    flat = make_card(metrics={"auc": 0.81, "dice": 0.7}, training={"dataset": "synthetic:40:1", "epochs": {"seg": 2}})
    assert flat.metrics.extra == {"auc": 0.81, "dice": 0.7} and flat.training.epochs == {"seg": 2}
    ensemble = BundleCard.from_json(
        json.loads((REPO_ROOT / "results/ensemble-on-breast/ensemble/bundle.json").read_text())
    )
    assert ensemble.members[0].source == "fold_2" and ensemble.training.split.kind == "cv-ensemble"
    assert make_card(version=7).version == "7"


# -- round trip ------------------------------------------------------------------------------------
def test_round_trip_keeps_every_key_and_value():
    raw = fixture_json()
    card = BundleCard.from_json(raw)
    out = card.to_json()
    assert BundleCard.from_json(out) == card
    assert set(raw) <= set(out)  # backward compatible: every schema-1 key is still written
    legacy_prose = ("input", "normalisation", "resize")  # now tokens
    assert {k: v for k, v in raw["preprocessing"].items() if k not in legacy_prose} == {
        k: v for k, v in out["preprocessing"].items() if k in raw["preprocessing"] and k not in legacy_prose
    }
    for key in ("thresholds", "calibration", "presence", "members", "models", "training", "label_map", "metrics"):
        assert out[key] == raw[key], key
    assert json.loads(json.dumps(out)) == out  # plain JSON
    unknown = dict(raw, site_note="kept as written", thresholds={**raw["thresholds"], "malignant_cnn_only": 0.3})
    again = BundleCard.from_json(unknown).to_json()
    assert again["site_note"] == "kept as written" and again["thresholds"]["malignant_cnn_only"] == 0.3


def test_a_written_card_reads_back_equal_with_hashes_sources_and_provenance(tmp_path):
    folder = bundle_folder(tmp_path / "b", fixture_json())
    set_command(["python", "-m", "training", "train", "--dataset", "busbra:../shared/data/bus-bra"])
    try:
        written = write_bundle_card(folder, BundleCard.from_json(fixture_json()))
    finally:
        set_command(__import__("sys").argv)
    read = read_bundle_card(folder)
    assert read == written and read.path == folder and read.has_weights
    stored = json.loads((folder / "bundle.json").read_text())
    assert stored["schema_version"] == SCHEMA_VERSION == 2 and stored["format_version"] == 1
    assert set(stored["weights_sha256"]) == {"members/0/seg.keras", "members/0/cls.keras", "members/0/refine.keras"}
    assert stored["provenance"]["command"] == "python -m training train --dataset busbra:../shared/data/bus-bra"
    assert stored["provenance"]["git_commit"] == stored["git_commit"] == "1514574f6935398fe5a62d41db8a22d80e8cf099"
    assert stored["data_sources"][0]["licence"].startswith("BUS-BRA licence")
    assert stored["preprocessing"]["normalisation"] == "per_image_zscore"
    assert read.version.startswith("20261204-055934+") and read.content_sha256 == content_sha256(folder, stored)


# -- errors name the field -------------------------------------------------------------------------
def _without(data: dict, dotted: str) -> dict:
    *parents, last = dotted.split(".")
    node = data
    for key in parents:
        node = node[key]
    del node[last]
    return data


@pytest.mark.parametrize(
    "field",
    [
        "name",
        "version",
        "preprocessing",
        "preprocessing.seg_input_size",
        "preprocessing.work_max_side",
        "thresholds.malignant",
        "members",
        "label_map",
        "format_version",
    ],
)
def test_a_missing_field_names_itself(field):
    with pytest.raises(CardError) as err:
        BundleCard.from_json(_without(fixture_json(), field))
    assert err.value.field == field and f"'{field}' is missing" in str(err.value)


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("preprocessing.seg_input_size", "128", "must be an integer"),
        ("preprocessing.cls_input_size", 12.5, "must be an integer"),
        ("preprocessing.normalisation", "histogram equalisation", "cannot execute"),
        ("preprocessing.downscale", "nearest", "cannot execute"),
        ("preprocessing.clahe", True, "not a preprocessing step"),
        ("thresholds.malignant", 1.5, "must lie in [0.0, 1.0]"),
        ("thresholds.segmentation", "0.5", "must be a finite number"),
        ("tta_flip", "yes", "must be true or false"),
        ("has_normal", 1, "must be true or false"),
        ("calibration.method", "isotonic", "expected 'platt' or 'temperature'"),
        ("calibration.scale", "1.0", "must be a finite number"),
        ("training.n_train", -3, "must be at least 0"),
        ("training.epochs.segmentation", "25", "must be an integer"),
        ("members[0].seg", "../elsewhere/seg.keras", "inside the bundle folder"),
        ("members[0].cls", 3, "must be a string"),
        ("label_map.1", 1, "must be a string"),
        ("presence.coef", [1.0], "has 1 numbers for 3 features"),
        ("format_version", 99, "this program reads format 1"),
        ("schema_version", 3, "newer Lesion Lens"),
        ("metrics.validation", [1, 2], "must be an object"),
        ("data_sources[0].licence", None, "is null"),
    ],
)
def test_an_ill_typed_field_names_itself(field, value, words):
    data = fixture_json()
    data["data_sources"] = [{"name": "BUS-BRA", "licence": "x", "citation": "", "url": ""}]
    node, keys = data, field.replace("[0]", ".0").split(".")
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[keys[-1]] = value
    with pytest.raises(CardError) as err:
        BundleCard.from_json(data)
    assert err.value.field == field, str(err.value)
    assert words in str(err.value) and f"'{field}'" in str(err.value)


def test_read_errors_name_the_bundle_and_the_field(tmp_path):
    data = fixture_json()
    del data["thresholds"]["malignant"]
    bundle_folder(tmp_path / "broken-model", data)
    with pytest.raises(CardError, match=r"bundle.json of broken-model: field 'thresholds.malignant' is missing"):
        read_bundle_card(tmp_path / "broken-model")
    listed = list_bundles(tmp_path)
    assert isinstance(listed[0], BrokenBundle) and "thresholds.malignant" in listed[0].error


# -- weight hashes ---------------------------------------------------------------------------------
def test_a_weights_file_that_no_longer_matches_its_sha256_is_refused(tmp_path):
    folder = bundle_folder(tmp_path / "b", fixture_json())
    write_bundle_card(folder, BundleCard.from_json(fixture_json()))
    (folder / "members/0/cls.keras").write_bytes(b"swapped in later")
    with pytest.raises(BundleError, match=r"members/0/cls.keras does not match the sha256 recorded in bundle.json"):
        read_bundle_card(folder)
    assert read_bundle_card(folder, verify=False).name == "cv-busbra-v2-fold1"  # a report may still read it
    stored = json.loads((folder / "bundle.json").read_text())
    del stored["weights_sha256"]["members/0/refine.keras"]
    with pytest.raises(CardError, match=r"'weights_sha256.members/0/refine.keras' is missing"):
        BundleCard.from_json(stored)
    stored["weights_sha256"]["members/0/refine.keras"] = "not-a-digest"
    with pytest.raises(CardError, match="sha256 hex digest"):
        BundleCard.from_json(stored)


def test_a_schema_1_card_without_hashes_loads_with_a_warning(tmp_path, caplog):
    folder = bundle_folder(tmp_path / "old", fixture_json())  # as the training running today writes it, minus weights
    with caplog.at_level(logging.WARNING, logger="pipeline.bundle"):
        card = read_bundle_card(folder)
    assert card.schema_version == 1 and card.weights_sha256 == {} and card.has_weights
    assert "records no sha256 of its weight files" in caplog.text


def test_a_schema_1_card_with_content_sha256_is_checked_as_its_writer_hashed_it(tmp_path, caplog):
    """The current training writes content_sha256 over its own JSON (prose preprocessing): still verified."""
    data = fixture_json()
    folder = bundle_folder(tmp_path / "v1", data)
    digest = content_sha256(folder, data)
    data.update(content_sha256=digest, version=content_version(data["version"], digest))
    (folder / "bundle.json").write_text(json.dumps(data))
    with caplog.at_level(logging.WARNING, logger="pipeline.bundle"):
        assert read_bundle_card(folder).version == data["version"]
    assert "records no sha256" not in caplog.text  # content_sha256 covers the weights
    (folder / "members/0/seg.keras").write_bytes(b"retrained")
    with pytest.raises(BundleError, match="changed after it was written"):
        read_bundle_card(folder)


def test_rewriting_a_card_adds_the_hashes_and_upgrades_its_schema(tmp_path):
    folder = bundle_folder(tmp_path / "old", fixture_json())
    card = read_bundle_card(folder)
    upgraded = write_bundle_card(folder, replace(card, metrics=replace(card.metrics, extra={"note": 1})))
    assert upgraded.schema_version == 2 and len(upgraded.weights_sha256) == 3
    assert read_bundle_card(folder) == upgraded


# -- data sources and provenance ---------------------------------------------------------------------
def test_data_sources_follow_the_dataset_spec():
    (busbra,) = data_sources_for("busbra:../shared/data/bus-bra")
    assert busbra.name == "BUS-BRA" and busbra.licence == (
        "BUS-BRA licence (permissive, see LICENSE.txt of the dataset; citation required)"
    )
    assert busbra.citation.startswith("Gómez-Flores W, Gregorio-Calas MJ, Coelho de Albuquerque Pereira W. BUS-BRA")
    assert data_sources_for("bus-bra:/x") == (busbra,)
    (breast,) = data_sources_for("breast:/data/breast")
    assert breast.licence == "CC BY 4.0" and breast.citation.startswith("Pawłowska A, et al. Curated benchmark")
    assert "Scientific Data, 2024" in breast.citation and data_sources_for("breast-lesions-usg:/y") == (breast,)
    (synthetic,) = data_sources_for("synthetic:40:1")
    assert synthetic.licence == "generated by the project"
    (other,) = data_sources_for("manifest:/site/cases.csv")
    assert other.licence.startswith("not recorded") and data_sources_for(None) == ()


def test_training_records_its_sources_and_those_of_its_init_bundle(tmp_path):
    source = bundle_folder(tmp_path / "busbra", fixture_json())
    write_bundle_card(source, BundleCard.from_json(fixture_json()))
    sources = training_sources("breast:/data/breast", [str(source / "members/0/seg.keras"), None])
    assert [s.name for s in sources] == ["BrEaST-Lesions-USG", "BUS-BRA"]
    assert [s.name for s in training_sources("synthetic:40:1")] == ["synthetic cohort"]


# -- preprocessing the predictor executes ----------------------------------------------------------
def test_every_preprocessing_token_a_card_accepts_has_code():
    assert set(card_parts.DOWNSCALES) == set(preprocess.DOWNSCALES)
    assert set(card_parts.NORMALISATIONS) == set(preprocess.NORMALISATIONS)
    assert set(card_parts.RESIZES) == set(preprocess.RESIZES)
    steps = preprocess.steps_for("lanczos", "per_image_zscore", "letterbox")
    assert steps.normalise is preprocess.standardize and steps.resize is preprocess.Letterbox
    with pytest.raises(BundleError, match="preprocessing.normalisation 'clahe' is not implemented"):
        preprocess.steps_for("lanczos", "clahe", "letterbox")


def test_inference_settings_come_from_the_card_fields():
    from pipeline.predictor import InferenceSettings

    card = BundleCard.from_json(fixture_json())
    settings = InferenceSettings.from_card(card)
    pre = settings.preprocessing
    assert pre is card.preprocessing and settings.thresholds is card.thresholds
    assert (pre.work_max_side, pre.seg_input_size, pre.cls_input_size) == (256, 128, 128)
    assert (pre.detail_max_side, settings.refine_size, pre.refine_margin) == (512, 128, 0.25)
    assert pre.normalisation == "per_image_zscore" and pre.downscale == "lanczos"
    assert settings.presence == card.presence
    assert settings.calibration == card.calibration and settings.tta_views
    assert InferenceSettings.from_card(make_card()).calibration.fitted_on == "identity"
    coarse = settings.without_refinement()  # the ablation: only the refiner is off
    assert coarse.refine_size == 0 and coarse.preprocessing.detail_max_side == 512 and settings.refine_size == 128


def test_minimal_card_helper_is_valid():
    assert minimal_card_json()["name"] == make_card().name == "test-model"
