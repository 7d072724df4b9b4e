"""BUSI-layout loader (Al-Dhabyani et al. 2020, and any folder arranged like it).

Layout: `benign/`, `malignant/`, `normal/` (any that exist), each holding
`name.png` with `name_mask.png`, `name_mask_1.png`, ... beside it; several
masks of one image are merged by union when loaded. BUSI does not identify
patients, so each image is its own patient: splits cannot prevent two views
of one lesion from landing on both sides (BUSI is known to contain
near-duplicates; run `pipeline.splits.leakage_check`).
"""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.datasets.common import check_unique_ids, require_dir
from pipeline.errors import DatasetError
from pipeline.types import LABELS, Case

NAME = "busi"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
MASK_NAME = re.compile(r"^(?P<stem>.+)_mask(?:_(?P<index>\d+))?$", re.IGNORECASE)


def _label_folders(root: Path) -> dict[str, Path]:
    """Label -> folder, matching folder names case-insensitively."""
    found: dict[str, Path] = {}
    for child in sorted(root.iterdir()):
        if child.is_dir() and child.name.lower() in LABELS:
            found[child.name.lower()] = child
    return found


def _folder_cases(label: str, folder: Path) -> list[Case]:
    images: dict[str, Path] = {}
    masks: dict[str, list[tuple[int, Path]]] = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        match = MASK_NAME.match(path.stem)
        if match:
            index = int(match.group("index")) if match.group("index") else 0
            masks.setdefault(match.group("stem"), []).append((index, path))
        else:
            images[path.stem] = path
    orphans = sorted(set(masks) - set(images))
    if orphans:
        raise DatasetError(f"{folder.name}/: mask without image for {orphans[0]!r} ({len(orphans)} in all)")
    cases = []
    for stem, image in images.items():
        mask_paths = tuple(p for _, p in sorted(masks.get(stem, [])))
        if label != "normal" and not mask_paths:
            raise DatasetError(f"{folder.name}/{image.name}: {label} image has no {stem}_mask file")
        cases.append(
            Case(
                case_id=stem,
                patient_id=stem,
                image_path=image,
                label=label,
                mask_paths=mask_paths,
                metadata={"age": None, "sex": None, "history": None, "device": None, "spacing_mm": None},
                dataset=NAME,
            )
        )
    return cases


def load(directory: str) -> list[Case]:
    root = require_dir(Path(directory).expanduser().resolve(), "BUSI")
    folders = _label_folders(root)
    if not folders:
        raise DatasetError(f"BUSI folder {root} has none of the label folders {', '.join(LABELS)}")
    cases = [case for label, folder in sorted(folders.items()) for case in _folder_cases(label, folder)]
    if not cases:
        raise DatasetError(f"BUSI folder {root} holds no images")
    check_unique_ids(cases, f"BUSI folder {root.name}")
    return cases
