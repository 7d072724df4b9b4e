"""Synthetic cohort: deterministic bytes, exact masks, stated label model, DICOM, CLI."""

from __future__ import annotations

import csv
import json
from collections import Counter

import numpy as np
import pydicom
import pytest
from PIL import Image

from pipeline.datasets import load_cases, load_mask, read_gray
from pipeline.synthetic import malignancy_probability, render, sample_cohort, write_cohort
from training.__main__ import main

N = 20


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("syn")
    write_cohort(out, N, seed=3)
    return out


def test_layout_and_manifest_load(cohort_dir):
    cases = load_cases(f"manifest:{cohort_dir / 'manifest.csv'}")
    assert len(cases) == N
    assert {c.label for c in cases} <= {"benign", "malignant", "normal"}
    for case in cases:
        gray = read_gray(case.image_path)
        mask = load_mask(case)
        assert gray.dtype == np.uint8 and mask.shape == gray.shape
        assert 250 <= gray.shape[0] <= 560 and 300 <= gray.shape[1] <= 600
        assert mask.any() == (case.label != "normal")
        raw = np.asarray(Image.open(case.mask_paths[0])) if case.mask_paths else None
        if raw is not None:
            assert raw.dtype == np.uint8 and set(np.unique(raw)) <= {0, 255}
        m = case.metadata
        assert isinstance(m["age"], int) and m["sex"] in ("F", "M") and isinstance(m["history"], bool)
        assert m["device"] and m["spacing_mm"] > 0 and m["dicom"].endswith(".dcm")


def test_same_seed_same_bytes(cohort_dir, tmp_path):
    write_cohort(tmp_path, 6, seed=3)
    for sub, ext in (("images", "png"), ("masks", "png"), ("dicom", "dcm")):
        for path in sorted((tmp_path / sub).glob(f"*.{ext}")):
            assert path.read_bytes() == (cohort_dir / sub / path.name).read_bytes(), path.name


def test_other_seed_other_images():
    cases = sample_cohort(3, seed=1)
    a, _ = render(cases[0], seed=1)
    b, _ = render(sample_cohort(3, seed=2)[0], seed=2)
    assert a.shape != b.shape or (a != b).any()


def test_mask_matches_image_when_rendered_again():
    case = next(c for c in sample_cohort(10, seed=5) if c.lesion is not None)
    image, mask = render(case, seed=5)
    image2, mask2 = render(case, seed=5)
    assert (image == image2).all() and (mask == mask2).all()
    # lesions are hypoechoic on average (except the rare near-isoechoic ones)
    assert mask.sum() > 200


def test_dicom_copy(cohort_dir):
    with (cohort_dir / "manifest.csv").open() as fh:
        row = next(csv.DictReader(fh))
    ds = pydicom.dcmread(cohort_dir / row["dicom"])
    assert ds.Modality == "US" and ds.PatientSex == row["sex"]
    assert ds.PatientAge == f"{int(row['age']):03d}Y"
    assert str(ds.PatientName).startswith("SYNTHETIC^")
    assert float(ds.PixelSpacing[0]) == pytest.approx(float(row["spacing_mm"]), abs=1e-4)
    assert ds.ManufacturerModelName == row["device"]
    png = np.asarray(Image.open(cohort_dir / row["image"]))
    assert (ds.pixel_array == png).all()


def test_stated_relations_hold_in_a_large_cohort():
    cases = sample_cohort(3000, seed=0)  # metadata + shapes only: no pixels, fast
    patients = {c.patient.patient_id: c.patient for c in cases}.values()
    labels = Counter(p.label for p in patients)
    assert 0.07 < labels["normal"] / len(patients) < 0.13
    assert sum(p.sex == "M" for p in patients) > 0
    lesion = [p for p in patients if p.label != "normal"]
    old = [p.label == "malignant" for p in lesion if p.age >= 60]
    young = [p.label == "malignant" for p in lesion if p.age < 45]
    assert np.mean(old) > np.mean(young) + 0.2
    fam = [p.label == "malignant" for p in lesion if p.history]
    nofam = [p.label == "malignant" for p in lesion if not p.history]
    assert np.mean(fam) > np.mean(nofam)
    assert malignancy_probability(70, False) > malignancy_probability(40, False)
    assert malignancy_probability(50, True) > malignancy_probability(50, False)
    # some patients have two views; same label and patient for both
    per_patient = Counter(c.patient.patient_id for c in cases)
    assert 0.15 < sum(n == 2 for n in per_patient.values()) / len(per_patient) < 0.45
    # hard enough: the shape cue is informative but not perfect
    tall = {lab: np.mean([c.lesion.aspect > 1 for c in cases if c.patient.label == lab]) for lab in ("benign", "malignant")}
    assert 0.03 < tall["benign"] < 0.25 and 0.5 < tall["malignant"] < 0.8


def test_synthetic_spec_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("LESIONLENS_HOME", str(tmp_path))
    cases = load_cases("synthetic:4:9")
    assert len(cases) == 4 and all(c.dataset == "synthetic" for c in cases)
    folder = tmp_path / "cache" / "synthetic" / "4_9"
    marker = folder / ".complete"
    assert marker.is_file()
    stamp = (folder / "manifest.csv").stat().st_mtime_ns
    again = load_cases("synthetic:4:9")
    assert [c.case_id for c in again] == [c.case_id for c in cases]
    assert (folder / "manifest.csv").stat().st_mtime_ns == stamp  # reused, not regenerated
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no temp leftovers


def test_cli_synth_and_describe(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path / "c"), "--cases", "3", "--seed", "1", "--no-dicom"]) == 0
    assert "wrote 3 images" in capsys.readouterr().out
    assert not (tmp_path / "c" / "dicom").exists()
    # 3 images: too few malignant for any AUC, so describe flags it (exit status 1, "ok": false)
    assert main(["datasets", "describe", f"manifest:{tmp_path / 'c' / 'manifest.csv'}", "--json"]) == 1
    summary = json.loads(capsys.readouterr().out)
    assert summary["cases"] == 3 and summary["metadata_coverage"]["age"] == 3
    assert summary["ok"] is False and {p["code"] for p in summary["problems"]} & {"few_malignant", "no_malignant"}
    assert main(["datasets", "describe", "nonsense:x"]) == 2
    assert "unknown dataset scheme" in capsys.readouterr().err
