"""Issue 15.7: a bundle's version derives from its content (weights' sha256 + card), checked at load."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from pipeline.bundle import content_sha256, read_bundle_card, write_bundle_card
from pipeline.card import BundleCard, Member, Metrics
from pipeline.errors import BundleError
from tests.cards import minimal_card_json


def make(folder, weights: bytes = b"weights-1", version="20261201-120000", **extra):
    (folder / "members" / "0").mkdir(parents=True, exist_ok=True)
    for key in ("seg", "cls"):
        (folder / "members" / "0" / f"{key}.keras").write_bytes(weights + key.encode())
    extra = {"calibration": {"temperature": 1.0, "bias": 0.0}, "metrics": {"auc": 0.8}, **extra}
    card = minimal_card_json(name=folder.name, version=version, **extra)
    write_bundle_card(folder, BundleCard.from_json(card))
    return read_bundle_card(folder)


def test_version_follows_the_weights_and_the_inference_fields(tmp_path):
    first = make(tmp_path / "a")
    assert first.version.startswith("20261201-120000+") and first.content_sha256.startswith(
        first.version.split("+")[1])
    same = make(tmp_path / "b")  # same content, another folder: the same version (the name is the other key)
    assert same.version == first.version
    other_weights = make(tmp_path / "c", weights=b"weights-2")
    assert other_weights.version != first.version
    recalibrated = make(tmp_path / "d", calibration={"temperature": 2.0, "bias": 0.1})
    assert recalibrated.version != first.version
    # metrics and provenance do not change predictions: rewriting them keeps the version
    card = read_bundle_card(tmp_path / "a")
    write_bundle_card(tmp_path / "a", replace(card, metrics=Metrics(validation={"n": 12}, extra={"auc": 0.9})))
    assert read_bundle_card(tmp_path / "a").version == first.version


def test_an_ensemble_rebuilt_from_new_folds_gets_a_new_version(tmp_path):
    """training/ensemble.py copies its first member's version: the hash suffix makes the rebuild differ."""
    member = make(tmp_path / "fold_2")
    ensemble = make(tmp_path / "cv5", weights=b"fold-2-weights", version=member.version)
    rebuilt = make(tmp_path / "cv5", weights=b"fold-3-weights", version=member.version)
    assert len({member.version, ensemble.version, rebuilt.version}) == 3
    assert rebuilt.version.count("+") == 1  # the old suffix is replaced, not stacked


def test_every_weights_file_a_member_names_is_in_the_hash(tmp_path):
    first = make(tmp_path / "r1")
    folder = tmp_path / "r2"
    (folder / "members" / "0").mkdir(parents=True)
    for key in ("seg", "cls"):
        (folder / "members" / "0" / f"{key}.keras").write_bytes(b"weights-1" + key.encode())
    (folder / "members" / "0" / "refine.keras").write_bytes(b"stage two")
    card = replace(first, members=(Member("members/0/seg.keras", "members/0/cls.keras", "members/0/refine.keras"),))
    write_bundle_card(folder, card)
    with_refine = read_bundle_card(folder).version
    (folder / "members" / "0" / "refine.keras").write_bytes(b"stage two, retrained")
    with pytest.raises(BundleError):
        read_bundle_card(folder)
    write_bundle_card(folder, read_bundle_card(folder, verify=False))  # re-saved: hashed anew
    assert read_bundle_card(folder).version not in (with_refine, first.version)


def test_a_bundle_changed_after_writing_is_refused_at_load(tmp_path):
    make(tmp_path / "a")
    (tmp_path / "a" / "members" / "0" / "cls.keras").write_bytes(b"swapped in later")
    with pytest.raises(BundleError, match="cls.keras does not match the sha256 .* changed or damaged after the bundle was written"):
        read_bundle_card(tmp_path / "a")
    make(tmp_path / "b")
    path = tmp_path / "b" / "bundle.json"
    card = json.loads(path.read_text())
    card["thresholds"]["malignant"] = 0.2  # edited by hand, version kept
    path.write_text(json.dumps(card))
    with pytest.raises(BundleError, match="changed after it was written"):
        read_bundle_card(tmp_path / "b")


def test_cards_written_before_content_versions_still_read(tmp_path):
    card = make(tmp_path / "old")
    path = tmp_path / "old" / "bundle.json"
    legacy = json.loads(path.read_text())
    legacy.pop("content_sha256")
    legacy["version"] = "20250101-000000"
    path.write_text(json.dumps(legacy))
    assert read_bundle_card(tmp_path / "old").version == "20250101-000000"
    assert content_sha256(tmp_path / "old", legacy) == card.content_sha256
