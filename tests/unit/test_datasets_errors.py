"""Every data problem is one DatasetError whose message names the file/row."""

from __future__ import annotations

import pytest

from pipeline.datasets import load_cases, load_mask
from pipeline.errors import DatasetError
from pipeline.types import Case
from tests.unit.test_datasets import make_breast, make_busbra, make_busi, save_gray, write_text


def expect_error(spec: str, *fragments: str) -> str:
    with pytest.raises(DatasetError) as info:
        load_cases(spec)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


def replace_in(path, old: str, new: str) -> None:
    """Edit a file of a made-up dataset in place (the first step of most broken-input tests)."""
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("nonsense:/x", "unknown dataset scheme 'nonsense'"),
        ("/just/a/path", "SCHEME:LOCATION"),
        ("busbra:", "SCHEME:LOCATION"),
        ("synthetic:abc", "synthetic:N"),
        ("synthetic:0", "1 <= N"),
        ("synthetic:5:1:2", "synthetic:N"),
    ],
)
def test_bad_specs(spec, fragment):
    expect_error(spec, fragment)


def test_missing_folders(tmp_path):
    expect_error(f"busbra:{tmp_path / 'nope'}", "BUS-BRA folder not found", "nope")
    expect_error(f"breast-lesions-usg:{tmp_path}", "images_and_masks folder not found")
    expect_error(f"busi:{tmp_path}", "none of the label folders")
    expect_error(f"manifest:{tmp_path / 'm.csv'}", "CSV file not found", "m.csv")
    expect_error(f"manifest:{tmp_path}", "needs a CSV file")


def test_busbra_missing_image_and_mask(tmp_path):
    root = make_busbra(tmp_path / "bb")
    (root / "Masks" / "mask_0001-r.png").unlink()
    expect_error(f"busbra:{root}", "bus_data.csv line 3", "Masks/mask_0001-r.png not found")
    (root / "Images" / "bus_0002-s.png").unlink()
    make_busbra(tmp_path / "bb2")
    (tmp_path / "bb2" / "Images" / "bus_0002-s.png").unlink()
    expect_error(f"busbra:{tmp_path / 'bb2'}", "line 4", "Images/bus_0002-s.png not found")


def test_busbra_unknown_label_and_malformed_row(tmp_path):
    root = make_busbra(tmp_path / "bb")
    replace_in(root / "bus_data.csv", "fibroadenoma,benign", "fibroadenoma,maybe")
    expect_error(f"busbra:{root}", "line 4", "unknown label 'maybe'")
    replace_in(root / "bus_data.csv", "maybe,3,GE Logiq 5", "benign,3,GE Logiq 5,extra")
    expect_error(f"busbra:{root}", "bus_data.csv line 4", "expected 10 fields, found 11")


def test_busbra_fold_file_must_cover_every_image(tmp_path):
    root = make_busbra(tmp_path / "bb")
    folds = root / "5-fold-cv.csv"
    folds.write_text("\n".join(folds.read_text().splitlines()[:-1]) + "\n")
    expect_error(f"busbra:{root}", "no fold for 1 image", "bus_0002-s")


def test_breast_missing_mask_file_and_missing_mask_cell(tmp_path):
    root = make_breast(tmp_path / "br")
    (root / "images_and_masks" / "case001_tumor2.png").unlink()
    expect_error(f"breast:{root}", "clinical-data.csv line 2", "case001_tumor2.png not found")
    root = make_breast(tmp_path / "br2")
    replace_in(root / "clinical-data.csv", "case002.png,case002_tumor.png", "case002.png,")
    expect_error(f"breast:{root}", "line 3", "benign case has no Mask_tumor_filename")


def test_breast_bad_age(tmp_path):
    root = make_breast(tmp_path / "br")
    replace_in(root / "clinical-data.csv", "0.0078125,57,", "0.0078125,fifty,")
    expect_error(f"breast:{root}", "line 2", "Age 'fifty' is not a number")


def test_busi_lesion_without_mask(tmp_path):
    root = make_busi(tmp_path / "busi")
    (root / "malignant" / "malignant (1)_mask.png").unlink()
    expect_error(f"busi:{root}", "malignant/malignant (1).png", "has no malignant (1)_mask file")


def test_busi_mask_without_image(tmp_path):
    root = make_busi(tmp_path / "busi")
    (root / "benign" / "benign (1).png").unlink()
    expect_error(f"busi:{root}", "mask without image", "benign (1)")


@pytest.mark.parametrize(
    "body, fragments",
    [
        ("label\nbenign\n", ["missing required column(s) image"]),
        ("image,label\nx.png,benign\n", ["line 2", "image x.png not found"]),
        ("image,label\na.png,cancer\n", ["line 2", "unknown label 'cancer'"]),
        ("image,label\na.png,normal\n,benign\n", ["line 3", "image column is empty"]),
        ("image,label,mask\na.png,benign,m.png\n", ["line 2", "mask m.png not found"]),
        ("image,label,age\na.png,benign,old\n", ["line 2", "age 'old' is not a number"]),
        ("image,label,age\na.png,benign,300\n", ["age 300 is out of range"]),
        ("image,label,history\na.png,benign,maybe\n", ["history 'maybe' is not yes/no"]),
        ("image,label,fold\na.png,benign,0\n", ["fold 0 must be 1 or more"]),
        ("image,label,birads\na.png,benign,7\n", ["BIRADS '7' is not a BI-RADS category"]),
        ("image,label,sex\na.png,benign,X\n", ["sex 'X' is not F, M or O"]),
        ("image,label\na.png,benign,extra\n", ["line 2", "expected 2 fields, found 3"]),
        ("image,label\na.png,benign\na.png,benign\n", ["case id 'a' appears twice"]),
        ("image,label\n", ["no rows"]),
        ("", ["empty or has no header"]),
    ],
)
def test_manifest_errors(tmp_path, body, fragments):
    save_gray(tmp_path / "a.png")
    write_text(tmp_path / "m.csv", body) if body else (tmp_path / "m.csv").write_text("")
    message = expect_error(f"manifest:{tmp_path / 'm.csv'}", *fragments)
    assert "\n" not in message


def test_load_mask_refuses_lesion_without_mask(tmp_path):
    case = Case("c1", "p1", save_gray(tmp_path / "c1.png"), "benign")
    with pytest.raises(DatasetError, match="c1 \\(benign\\) has no lesion mask"):
        load_mask(case)
