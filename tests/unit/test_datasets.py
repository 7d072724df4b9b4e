"""Dataset loaders on tiny layouts built in tmp_path (no real data needed)."""

from __future__ import annotations

import math
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.datasets import load_cases, load_mask, parse_spec, read_gray


def save_gray(path: Path, shape=(20, 30), value=100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(zlib.crc32(path.name.encode()))
    Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8) // 2 + value // 2).save(path)
    return path


def save_mask(path: Path, shape=(20, 30), box=(2, 2, 8, 8), rgba=False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    mask = np.zeros(shape, dtype=np.uint8)
    r0, c0, r1, c1 = box
    mask[r0:r1, c0:c1] = 255
    if rgba:
        Image.fromarray(np.dstack([mask, mask, mask, np.full(shape, 255, np.uint8)])).save(path)
    else:
        Image.fromarray(mask).save(path)
    return path


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.lstrip("\n"))
    return path


def make_busi(root: Path) -> Path:
    save_gray(root / "benign" / "benign (1).png")
    save_mask(root / "benign" / "benign (1)_mask.png", box=(0, 0, 5, 5))
    save_mask(root / "benign" / "benign (1)_mask_1.png", box=(10, 10, 15, 15))
    save_gray(root / "malignant" / "malignant (1).png")
    save_mask(root / "malignant" / "malignant (1)_mask.png")
    save_gray(root / "normal" / "normal (1).png", shape=(25, 35))
    save_mask(root / "normal" / "normal (1)_mask.png", shape=(25, 35), box=(0, 0, 0, 0))
    save_gray(root / "normal" / "normal (2).png", shape=(25, 35))
    return root


def make_busbra(root: Path) -> Path:
    for ident in ("0001-l", "0001-r", "0002-s"):
        save_gray(root / "Images" / f"bus_{ident}.png")
        save_mask(root / "Masks" / f"mask_{ident}.png")
    write_text(root / "bus_data.csv", """
ID,Case,Histology,Pathology,BIRADS,Device,Width,Height,Side,BBOX
bus_0001-l,1,invasive ductal carcinoma,malignant,4,GE Logiq 7,30,20,left,"[1,2,3,4]"
bus_0001-r,1,invasive ductal carcinoma,malignant,5,GE Logiq 7,30,20,right,"[1,2,3,4]"
bus_0002-s,2,fibroadenoma,benign,3,GE Logiq 5,999,20,single,"[1,2,3,4]"
""")
    write_text(root / "5-fold-cv.csv", """
ID,Pathology,kFold,valid_1
bus_0001-l,malignant,3,1
bus_0001-r,malignant,3,NaN
bus_0002-s,benign,1,1
""")
    return root


def make_breast(root: Path) -> Path:
    folder = root / "images_and_masks"
    for n in (1, 2, 3):
        save_gray(folder / f"case00{n}.png")
    save_mask(folder / "case001_tumor.png", box=(0, 0, 4, 4))
    save_mask(folder / "case001_tumor2.png", box=(10, 10, 12, 12), rgba=True)
    save_mask(folder / "case001_other1.png", box=(15, 15, 20, 20))
    save_mask(folder / "case002_tumor.png")
    header = (
        "CaseID,Image_filename,Mask_tumor_filename,Mask_other_filename,Pixel_size,Age,Tissue_composition,"
        "Signs,Symptoms,Shape,Margin,Echogenicity,Posterior_features,Halo,Calcifications,Skin_thickening,"
        "Interpretation,BIRADS,Verification,Diagnosis,Classification\n"
    )
    rows = (
        "1,case001.png,case001_tumor.png&case001_tumor2.png,case001_other1.png,0.0078125,57,homogeneous: fat,"
        "palpable,family history of breast/ovarian cancer,irregular,not circumscribed - spiculated,hypoechoic,"
        "shadowing,no,no,no,Suspicion of malignancy,4c,confirmed by biopsy,Invasive carcinoma,malignant\n"
        "2,case002.png,case002_tumor.png,,0.01,,not available,no,not available,oval,circumscribed,hypoechoic,"
        "no,no,no,no,Fibroadenoma,3,confirmed by follow-up care,not applicable,benign\n"
        "3,case003.png,,,0.01,40,homogeneous: fat,no,no,not applicable,not applicable,not applicable,"
        "not applicable,not applicable,not applicable,no,not applicable,1,not applicable,not applicable,normal\n"
    )
    write_text(root / "clinical-data.csv", header + rows)
    return root


def assert_no_nan(cases) -> None:
    for case in cases:
        for key, value in case.metadata.items():
            assert not (isinstance(value, float) and math.isnan(value)), (case.case_id, key)


def test_busi_layout_merges_masks_and_handles_normals(tmp_path):
    cases = load_cases(f"busi:{make_busi(tmp_path / 'busi')}")
    by_id = {c.case_id: c for c in cases}
    assert sorted(by_id) == ["benign (1)", "malignant (1)", "normal (1)", "normal (2)"]
    benign = by_id["benign (1)"]
    assert benign.label == "benign" and benign.patient_id == "benign (1)"
    assert [p.name for p in benign.mask_paths] == ["benign (1)_mask.png", "benign (1)_mask_1.png"]
    mask = load_mask(benign)
    assert mask.dtype == bool and mask.sum() == 25 + 25  # union of both files
    assert load_mask(by_id["normal (2)"]).shape == (25, 35)
    assert not load_mask(by_id["normal (2)"]).any()
    assert not load_mask(by_id["normal (1)"]).any()
    assert_no_nan(cases)


def test_busbra_layout(tmp_path):
    cases = load_cases(f"busbra:{make_busbra(tmp_path / 'bb')}")
    assert [c.case_id for c in cases] == ["bus_0001-l", "bus_0001-r", "bus_0002-s"]
    assert [c.patient_id for c in cases] == ["1", "1", "2"]
    assert [c.fold for c in cases] == [3, 3, 1]
    first = cases[0]
    assert first.metadata["birads"] == 4 and isinstance(first.metadata["birads"], int)
    assert first.metadata["device"] == "GE Logiq 7" and first.metadata["side"] == "left"
    assert first.metadata["histology"] == "invasive ductal carcinoma"
    assert first.mask_paths[0].name == "mask_0001-l.png"
    assert load_mask(first).shape == read_gray(first.image_path).shape
    assert_no_nan(cases)


def test_breast_layout_merges_tumor_masks_and_ignores_other(tmp_path):
    cases = load_cases(f"breast-lesions-usg:{make_breast(tmp_path / 'br')}")
    c1, c2, c3 = cases
    assert (c1.case_id, c1.patient_id, c1.label) == ("case001", "case001", "malignant")
    assert [p.name for p in c1.mask_paths] == ["case001_tumor.png", "case001_tumor2.png"]
    mask = load_mask(c1)
    assert mask.sum() == 16 + 4 and not mask[15:, 15:].any()  # other1 is not the lesion
    m = c1.metadata
    assert m["age"] == 57 and m["history"] is True and m["birads"] == "4c" and m["birads_major"] == 4
    assert m["spacing_mm"] == pytest.approx(0.078125) and m["device"] is None
    assert m["radiologist_shape"] == "irregular" and m["radiologist_posterior_features"] == "shadowing"
    assert m["histology"] == "Invasive carcinoma"
    assert c2.metadata["age"] is None and c2.metadata["history"] is None
    assert c2.metadata["tissue_composition"] is None and c2.metadata["histology"] is None
    assert c2.metadata["birads"] == "3"
    assert c3.label == "normal" and c3.mask_paths == () and c3.metadata["history"] is False
    assert not load_mask(c3).any()
    assert_no_nan(cases)


def test_manifest_defaults_relative_paths_and_extras(tmp_path):
    save_gray(tmp_path / "img" / "a.png")
    save_mask(tmp_path / "img" / "a_m1.png", box=(0, 0, 2, 2))
    save_mask(tmp_path / "img" / "a_m2.png", box=(5, 5, 7, 7))
    save_gray(tmp_path / "img" / "b.png")
    manifest = write_text(tmp_path / "data" / "list.csv", """
Image,label,mask,patient_id,age,sex,history,device,birads,fold,spacing_mm,site
../img/a.png,Malignant,../img/a_m1.png; ../img/a_m2.png,P1,045Y,female,yes,ScanX,4a,2,0.1,north
../img/b.png,normal,,,,,,,,,,
""")
    a, b = load_cases(f"manifest:{manifest}")
    assert a.case_id == "a" and a.patient_id == "P1" and a.label == "malignant" and a.fold == 2
    assert a.image_path == (tmp_path / "img" / "a.png").resolve()
    assert load_mask(a).sum() == 8
    assert a.metadata == {
        "age": 45, "sex": "F", "history": True, "device": "ScanX", "spacing_mm": 0.1,
        "birads": "4a", "birads_major": 4, "site": "north",
    }  # fmt: skip
    assert (b.case_id, b.patient_id, b.fold, b.mask_paths) == ("b", "b", None, ())
    assert all(v is None for v in b.metadata.values())


def test_read_gray_ignores_alpha(tmp_path):
    rgba = np.zeros((4, 5, 4), dtype=np.uint8)
    rgba[..., :3] = 120
    rgba[..., 3] = 0  # fully transparent: alpha must not change the gray value
    Image.fromarray(rgba).save(tmp_path / "x.png")
    gray = read_gray(tmp_path / "x.png")
    assert gray.dtype == np.uint8 and gray.shape == (4, 5) and (gray == 120).all()


def test_read_gray_rescales_16_bit(tmp_path):
    arr = np.array([[0, 1000], [2000, 4000]], dtype=np.uint16)
    Image.fromarray(arr).save(tmp_path / "x16.png")
    gray = read_gray(tmp_path / "x16.png")
    assert gray.dtype == np.uint8 and gray.min() == 0 and gray.max() == 255


def test_parse_spec_keeps_colons_in_location():
    assert parse_spec("synthetic:20:3") == ("synthetic", "20:3")
    assert parse_spec("BUSBRA:/data/x") == ("busbra", "/data/x")
