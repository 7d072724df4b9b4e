"""A patient-level subsample written as a manifest reads back as the same cases (issue 19's bench)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.datasets import load_cases
from pipeline.datasets.subsample import subsample_patients, write_manifest
from pipeline.errors import DatasetError
from pipeline.types import Case

ROOT = Path(__file__).resolve().parents[2]


def _cases(tmp_path: Path, n_patients: int = 20) -> list[Case]:
    """Two views per patient; every fourth patient malignant."""
    img = tmp_path / "img.png"
    mask = tmp_path / "mask.png"
    Image.fromarray(np.full((8, 8), 100, np.uint8)).save(img)
    Image.fromarray(np.pad(np.full((4, 4), 255, np.uint8), 2)).save(mask)
    label = lambda p: "malignant" if p % 4 == 0 else "benign"  # noqa: E731
    return [
        Case(case_id=f"p{p}-{v}", patient_id=f"p{p}", image_path=img, label=label(p), mask_paths=(mask,),
             metadata={"device": "GE", "birads": 4}, dataset="x", fold=p % 5 + 1)
        for p in range(n_patients) for v in range(2)
    ]  # fmt: skip


def test_whole_patients_kept_and_label_share_preserved(tmp_path: Path) -> None:
    cases = _cases(tmp_path)
    picked = subsample_patients(cases, 8, seed=1)
    patients = {c.patient_id for c in picked}
    assert len(patients) == 8
    assert len(picked) == 16  # both views of every chosen patient
    assert sum(c.label == "malignant" for c in picked) == 4  # 25% of 8 patients, two views each
    assert picked == subsample_patients(cases, 8, seed=1)
    assert {c.patient_id for c in subsample_patients(cases, 8, seed=2)} != patients


def test_asking_for_more_patients_than_exist_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="asked for 21 patients; the dataset has 20"):
        subsample_patients(_cases(tmp_path), 21)


def test_manifest_round_trip(tmp_path: Path) -> None:
    picked = subsample_patients(_cases(tmp_path), 6)
    path = write_manifest(picked, tmp_path / "out" / "sub.csv")
    back = load_cases(f"manifest:{path}")
    assert [(c.case_id, c.patient_id, c.label, c.fold) for c in back] == [
        (c.case_id, c.patient_id, c.label, c.fold) for c in picked
    ]
    assert back[0].image_path == picked[0].image_path.resolve()
    assert back[0].mask_paths == tuple(m.resolve() for m in picked[0].mask_paths)
    assert back[0].metadata["device"] == "GE"


def test_cli_writes_a_manifest(tmp_path: Path) -> None:
    out = tmp_path / "sub.csv"
    done = subprocess.run(
        [sys.executable, "-m", "training", "datasets", "subsample", "synthetic:12:0", "--patients", "5", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, env={"LESIONLENS_HOME": str(tmp_path / "home"), "PATH": ""},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "of 5 patients" in done.stdout
    assert len({c.patient_id for c in load_cases(f"manifest:{out}")}) == 5
