"""Issue 19, item 3: `datasets describe` flags, before training, what would go wrong (manifests built in tmp_path)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.datasets import load_cases
from pipeline.datasets.describe import auc_ci_halfwidth, describe, format_summary
from pipeline.errors import DatasetError
from training.__main__ import main


def png(path: Path, shape=(200, 240), seed: int = 0, mode: str = "L", lesion: bool = True) -> str:
    """An image (or, with `lesion`, a mask-like box) written by PIL; distinct bytes per seed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    if mode == "I;16":
        Image.fromarray(rng.integers(0, 4000, shape, dtype=np.uint16)).save(path)
    else:
        grey = rng.integers(0, 255, shape, dtype=np.uint8)
        image = Image.fromarray(grey)
        (image.convert(mode) if mode != "L" else image).save(path)
    return path.name


def mask(path: Path, shape=(200, 240), empty: bool = False) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    m = np.zeros(shape, np.uint8)
    if not empty:
        m[50:90, 60:120] = 255
    Image.fromarray(m).save(path)
    return path.name


def clean_manifest(root: Path, n_mal: int = 25, n_ben: int = 40) -> list[list[str]]:
    """Rows (image, label, mask, patient_id) of a dataset with no problem at all."""
    rows = []
    for i in range(n_mal + n_ben):
        label = "malignant" if i < n_mal else "benign"
        rows.append([png(root / f"i{i}.png", seed=i), label, mask(root / f"i{i}_m.png"), f"P{i}"])
    return rows


def write(root: Path, rows: list[list[str]], header: str = "image,label,mask,patient_id") -> str:
    text = header + "\n" + "\n".join(",".join(r) for r in rows) + "\n"
    (root / "m.csv").write_text(text)
    return f"manifest:{root / 'm.csv'}"


def problems(spec: str) -> dict[str, str]:
    return {p.code: p.message for p in describe(load_cases(spec), spec).problems}


def test_a_clean_dataset_has_no_problem(tmp_path, capsys):
    spec = write(tmp_path, clean_manifest(tmp_path))
    summary = describe(load_cases(spec), spec)
    assert summary.problems == [] and summary.ok and summary.notes == []
    assert summary.colour_modes == {"grey 8-bit": 65} and summary.distinct_sizes == 1
    assert "Problems: none found." in format_summary(summary)
    assert main(["datasets", "describe", spec, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is True and out["problems"] == []


def test_too_few_malignant_says_what_it_means_for_the_auc_ci(tmp_path, capsys):
    rows = clean_manifest(tmp_path, n_mal=12, n_ben=40)
    found = problems(write(tmp_path, rows))
    assert set(found) == {"few_malignant"}
    text = found["few_malignant"]
    assert "12 malignant images, 23.1% of 52" in text and "95% CI" in text and "too wide" in text
    assert f"±{auc_ci_halfwidth(12, 40):.2f}" in text
    assert main(["datasets", "describe", write(tmp_path, rows)]) == 1  # scripts can check the exit status
    out = capsys.readouterr().out
    assert "Problems (1):\n- Too few positives: 12 malignant images" in out


def test_malignant_share_below_ten_percent_is_flagged_even_with_twenty(tmp_path):
    root = tmp_path / "d"
    rows = clean_manifest(root, n_mal=21, n_ben=0)
    for i in range(200):  # 21 of 221 = 9.5% malignant
        rows.append([png(root / f"b{i}.png", shape=(130, 130), seed=1000 + i), "benign",
                     mask(root / f"b{i}_m.png", shape=(130, 130)), f"B{i}"])
    found = problems(write(root, rows))
    assert "21 malignant images, 9.5% of 221" in found["few_malignant"]
    assert "few_benign" not in found


def test_no_malignant_and_too_few_benign(tmp_path):
    assert "no_malignant" in problems(write(tmp_path, clean_manifest(tmp_path, n_mal=0, n_ben=30)))
    other = tmp_path / "b"
    assert set(problems(write(other, clean_manifest(other, n_mal=30, n_ben=8)))) == {"few_benign"}


def test_ci_halfwidth_shrinks_with_more_positives():
    assert auc_ci_halfwidth(10, 100) > auc_ci_halfwidth(20, 100) > auc_ci_halfwidth(200, 400)
    assert 0.10 < auc_ci_halfwidth(12, 40) < 0.20 and auc_ci_halfwidth(0, 10) == float("inf")


def test_lesion_images_without_mask_or_with_an_empty_one(tmp_path):
    rows = clean_manifest(tmp_path)
    rows[0][2] = ""  # malignant without mask
    rows[30][2] = mask(tmp_path / "empty.png", empty=True)  # benign with an all-zero mask
    rows.append([png(tmp_path / "n.png", seed=999), "normal", "", "N1"])  # normal without mask: fine
    rows.append([png(tmp_path / "n2.png", seed=998), "normal", mask(tmp_path / "n2_m.png"), "N2"])
    rows.append([png(tmp_path / "s.png", seed=997), "benign", mask(tmp_path / "s_m.png", shape=(100, 100)), "S"])
    found = problems(write(tmp_path, rows))
    assert set(found) == {"missing_masks", "empty_masks", "normal_with_lesion", "mask_size_mismatch"}
    assert found["missing_masks"].startswith("1 lesion image without a mask file: i0.png")
    assert "i30.png" in found["empty_masks"] and "background" in found["empty_masks"]
    assert "n2.png" in found["normal_with_lesion"] and "s.png" in found["mask_size_mismatch"]


def test_mixed_colour_modes_are_counted(tmp_path):
    rows = clean_manifest(tmp_path)
    png(tmp_path / "i1.png", seed=1, mode="RGB")
    png(tmp_path / "i2.png", seed=2, mode="RGBA")
    png(tmp_path / "i3.png", seed=3, mode="I;16")
    png(tmp_path / "i4.png", seed=4, mode="RGB")
    summary = describe(load_cases(write(tmp_path, rows)))
    assert summary.colour_modes == {"grey 8-bit": 61, "RGB": 2, "RGBA": 1, "16-bit grey": 1}
    (problem,) = summary.problems
    assert problem.code == "mixed_colour_modes" and len(problem.cases) == 4
    assert problem.message.startswith("Colour modes are mixed: grey 8-bit 61, RGB 2, RGBA 1, 16-bit grey 1")
    assert "colour:   grey 8-bit 61, RGB 2, RGBA 1, 16-bit grey 1" in format_summary(summary)


def test_mixed_and_small_sizes_report_the_spread(tmp_path):
    rows = clean_manifest(tmp_path)
    png(tmp_path / "i5.png", shape=(700, 900), seed=5)
    mask(tmp_path / "i5_m.png", shape=(700, 900))
    png(tmp_path / "i6.png", shape=(90, 120), seed=6)
    mask(tmp_path / "i6_m.png", shape=(90, 120))
    found = problems(write(tmp_path, rows))
    assert set(found) == {"mixed_sizes", "small_images"}
    assert "long side 120-900 px" in found["mixed_sizes"]
    assert "heights 90-700 px, widths 120-900 px, 3 distinct sizes" in found["mixed_sizes"]
    assert found["small_images"].startswith("1 image smaller than 128 px on a side (i6.png")


def test_duplicates_across_patients_are_a_problem_within_a_patient_a_note(tmp_path):
    rows = clean_manifest(tmp_path)
    shutil.copy(tmp_path / "i1.png", tmp_path / "copy_other_patient.png")
    shutil.copy(tmp_path / "i2.png", tmp_path / "copy_same_patient.png")
    rows.append(["copy_other_patient.png", "malignant", "i1_m.png", "P999"])
    rows.append(["copy_same_patient.png", "malignant", "i2_m.png", "P2"])
    summary = describe(load_cases(write(tmp_path, rows)))
    assert [p.code for p in summary.problems] == ["duplicates_across_patients"]
    text = summary.problems[0].message
    assert "i1.png (patient P1) = copy_other_patient.png (patient P999)" in text and "inflating" in text
    assert "copy_same_patient" not in text
    (note,) = summary.notes
    assert "same patient" in note and "i2.png = copy_same_patient.png" in note
    assert "note: 1 image file more than once for the same patient" in format_summary(summary)


def test_unreadable_image_is_a_problem(tmp_path):
    rows = clean_manifest(tmp_path)
    (tmp_path / "i3.png").write_bytes(b"not an image at all")
    summary = describe(load_cases(write(tmp_path, rows)))
    assert [p.code for p in summary.problems] == ["unreadable_images"] and summary.unreadable_images == 1
    assert "i3.png" in summary.problems[0].message


def test_unknown_labels_are_listed_by_value_and_line(tmp_path, capsys):
    rows = clean_manifest(tmp_path, n_mal=2, n_ben=6)
    rows[1][1], rows[3][1], rows[5][1], rows[6][1] = "malignat", "BIRADS 4", "malignat", ""
    spec = write(tmp_path, rows)
    with pytest.raises(DatasetError) as info:
        load_cases(spec)
    message = str(info.value)
    assert message == ("m.csv: 4 rows with a label other than benign, malignant, normal: "
                       "unknown label 'malignat' on lines 3, 7; unknown label 'BIRADS 4' on line 5; "
                       "empty label on line 8")
    assert main(["datasets", "describe", spec]) == 2
    assert "unknown label 'malignat' on lines 3, 7" in capsys.readouterr().err
