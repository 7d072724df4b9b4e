"""Decoded, downscaled training arrays, cached on disk.

Decoding 1,592 PNGs takes longer than a training epoch on this machine, so
each dataset is decoded once per `work_max_side` and kept as a compressed
pickle under `$LESIONLENS_HOME/cache/arrays/` (keyed by spec, case ids and
size). Images keep their aspect ratio; the letterbox to the model input happens
in the batch generators so configs with other input sizes reuse the cache.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from dataclasses import dataclass

import numpy as np
from PIL import Image
from tqdm import tqdm

from pipeline.datasets import load_mask, read_gray
from pipeline.paths import cache_dir
from pipeline.types import Case

log = logging.getLogger(__name__)


@dataclass
class CaseArrays:
    """Work-resolution gray image (uint8) and mask (bool) for one case."""

    case: Case
    image: np.ndarray
    mask: np.ndarray
    scale: float  # work pixels per original pixel

    @property
    def malignant(self) -> int:
        return int(self.case.label == "malignant")


def downscale(array: np.ndarray, max_side: int, nearest: bool = False) -> tuple[np.ndarray, float]:
    h, w = array.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale >= 1.0:
        return array, 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if array.dtype == bool:
        out = np.asarray(Image.fromarray(array.astype(np.uint8) * 255).resize(size, Image.BILINEAR)) >= 128
        return out, scale
    return np.asarray(Image.fromarray(array).resize(size, Image.LANCZOS if not nearest else Image.NEAREST)), scale


def _cache_key(cases: list[Case], max_side: int) -> str:
    digest = hashlib.sha256()
    for c in cases:
        digest.update(f"{c.dataset}|{c.case_id}|{c.image_path}|{c.mask_paths}|{c.label}\n".encode())
    digest.update(str(max_side).encode())
    return digest.hexdigest()[:20]


def load_arrays(cases: list[Case], max_side: int, use_cache: bool = True) -> list[CaseArrays]:
    path = cache_dir("arrays") / f"{_cache_key(cases, max_side)}.pkl"
    if use_cache and path.exists():
        with path.open("rb") as fh:
            stored = pickle.load(fh)
        return [CaseArrays(c, img, msk, s) for c, (img, msk, s) in zip(cases, stored)]
    out = []
    for case in tqdm(cases, desc="decoding images", unit="img", mininterval=2):
        gray = read_gray(case.image_path)
        mask = load_mask(case)
        if mask.shape != gray.shape:
            mask = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(gray.shape[::-1], Image.NEAREST)) >= 128
        img, scale = downscale(gray, max_side)
        msk, _ = downscale(mask, max_side)
        out.append(CaseArrays(case, img, msk, scale))
    if use_cache:
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            pickle.dump([(a.image, a.mask, a.scale) for a in out], fh, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(path)
    return out
