"""Synthetic breast-ultrasound cohort: images, exact masks, metadata, DICOM.

Why: tests, demos and CI need data that can be shared freely, generated in
seconds and whose ground truth is known exactly. The cohort imitates the
real sets closely enough to exercise the whole pipeline, and is made hard
enough that a model cannot be trivially perfect.

Image model (per image): horizontal tissue layers with wavy boundaries
(bright skin, dark subcutaneous fat with occasional hypoechoic fat lobules,
brighter glandular tissue, striated pectoral muscle), a smooth texture
field, one lesion or none, multiplicative correlated Rayleigh speckle,
depth attenuation and log compression to 8 bits. Some scanners leave black
side margins; some images carry caliper crosses beside the lesion.

Lesion appearance by label (each rule is broken on purpose for a minority):
- benign: oval, circumscribed (sharp edge), wider than tall, hypoechoic to
  anechoic, posterior enhancement (brighter band below) in ~40%;
  ~15% look lobulated/irregular and ~10% are taller than wide.
- malignant: irregular, angular or spiculated, indistinct edge, taller than
  wide in ~65%, posterior shadowing (darker column below) in ~55%, an
  echogenic halo in ~20%; ~15% look oval and circumscribed.
- contrast varies: ~15% of lesions are nearly isoechoic (hard cases).
- normal (~10% of patients): no lesion, all-zero mask.

STATED metadata -> label relation (the ground truth of the cohort):
- P(normal) = 0.10, independent of everything else.
- For patients with a lesion, P(malignant) = sigmoid(-0.4 + 0.06 * (age - 55)
  + 1.0 * family_history - 0.7 * male): odds rise x1.82 per decade of age,
  family history multiplies odds by e (~2.7), a male's lesion has half the odds.
- Device has NO relation to the label (it only changes image appearance),
  so a model leaning on device is learning a spurious cue.
- Age ~ N(53, 12) for women, N(60, 12) for men, clipped to 22..88; 3% men;
  family history 15%. 30% of patients have two views of the same lesion.

Determinism: every image is drawn from its own SeedSequence([seed, index]),
so the same seed gives byte-identical PNGs and DICOM files.
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage


@dataclass(frozen=True)
class Device:
    """A made-up scanner: its look, not its diagnosis (no relation to the label)."""

    name: str
    weight: float
    size: tuple[int, int]  # typical (H, W)
    spacing_mm: float
    speckle: tuple[float, float]  # correlation sigma (axial, lateral) in px
    dynamic_range_db: float
    attenuation: float  # net after time-gain compensation
    margin: float  # black side margin as a fraction of width


DEVICES = (
    Device("Aurora LX-10", 0.40, (360, 440), 0.085, (0.8, 1.6), 40.0, 0.6, 0.0),
    Device("Borealis UX-7", 0.30, (420, 500), 0.070, (1.0, 2.2), 44.0, 0.9, 0.0),
    Device("Cetus LinearPro", 0.20, (320, 400), 0.100, (0.7, 1.2), 36.0, 0.4, 0.08),
    Device("Delphi HD-12", 0.10, (460, 480), 0.060, (1.2, 2.6), 48.0, 1.1, 0.04),
)


@dataclass(frozen=True)
class Patient:
    patient_id: str
    age: int
    sex: str  # F | M
    history: bool
    device: Device
    label: str


@dataclass(frozen=True)
class Lesion:
    """Shape and echo texture; a second view re-uses it with `view()` jitter."""

    half_width: float
    aspect: float  # height / width: > 1 is taller than wide
    rotation: float  # radians
    harmonics: tuple[tuple[float, float], ...]  # (amplitude, phase) for k = 2, 3, ...
    spikes: tuple[tuple[float, float, float], ...]  # (angle, length, width)
    edge_px: float  # blur of the boundary: ~0.7 circumscribed, 2-4 indistinct
    contrast: float  # lesion echo / surrounding echo
    posterior: str  # none | enhancement | shadowing
    posterior_strength: float
    halo: bool

    def view(self, rng: np.random.Generator) -> Lesion:
        """Another view of the same lesion: different cut, same character."""
        harmonics = tuple((a, p + rng.normal(0, 0.6)) for a, p in self.harmonics)
        return replace(
            self,
            half_width=self.half_width * rng.uniform(0.8, 1.2),
            rotation=self.rotation + rng.normal(0, 0.1),
            harmonics=harmonics,
        )


@dataclass(frozen=True)
class SynthCase:
    case_id: str
    index: int
    patient: Patient
    lesion: Lesion | None
    view: int  # 1 or 2

    @property
    def descriptors(self) -> dict[str, str]:
        """What a radiologist would write: the generator's own truth, for benchmarks."""
        if self.lesion is None:
            return {"shape": "not applicable", "orientation": "not applicable", "posterior": "not applicable"}
        lesion = self.lesion
        irregular = bool(lesion.spikes) or max(a for a, _ in lesion.harmonics) > 0.07
        return {
            "shape": ("spiculated" if lesion.spikes else "irregular") if irregular else "oval",
            "orientation": "not parallel" if lesion.aspect > 1.0 else "parallel",
            "posterior": lesion.posterior,
        }


@dataclass(frozen=True)
class CohortSummary:
    out_dir: Path
    manifest: Path
    cases: int
    patients: int
    labels: dict[str, int]
    seconds: float


def malignancy_probability(age: float, history: bool, male: bool = False) -> float:
    """The cohort's stated risk model (see module docstring)."""
    logit = -0.4 + 0.06 * (age - 55.0) + 1.0 * history - 0.7 * male
    return 1.0 / (1.0 + math.exp(-logit))


def _sample_lesion(label: str, rng: np.random.Generator) -> Lesion:
    malignant = label == "malignant"
    atypical = rng.random() < 0.15  # benign that looks irregular / malignant that looks oval
    irregular = malignant != atypical
    if irregular:
        harmonics = tuple((rng.uniform(0.04, 0.16) / (1 + 0.25 * k), rng.uniform(0, 2 * math.pi)) for k in range(2, 9))
        spiculated = malignant and rng.random() < 0.5
        n = int(rng.integers(5, 12)) if spiculated else 0
        spikes = tuple((rng.uniform(-math.pi, math.pi), rng.uniform(0.25, 0.7), rng.uniform(0.04, 0.1)) for _ in range(n))
        edge = rng.uniform(1.5, 4.0)
    else:
        harmonics = tuple((rng.uniform(0.0, 0.035), rng.uniform(0, 2 * math.pi)) for _ in range(2, 5))
        spikes = ()
        edge = rng.uniform(0.5, 1.0)
    tall = rng.random() < (0.65 if malignant else 0.10)
    aspect = rng.uniform(1.0, 1.5) if tall else rng.uniform(0.45, 0.9)
    if rng.random() < 0.15:
        contrast = rng.uniform(0.45, 0.7)  # nearly isoechoic: hard case
    elif not malignant and rng.random() < 0.25:
        contrast = rng.uniform(0.01, 0.04)  # anechoic cyst
    else:
        contrast = rng.uniform(0.06, 0.3)
    p_shadow, p_enh = (0.55, 0.10) if malignant else (0.05, 0.40)
    draw = rng.random()
    posterior = "shadowing" if draw < p_shadow else "enhancement" if draw < p_shadow + p_enh else "none"
    return Lesion(
        half_width=rng.uniform(25, 85) if malignant else rng.uniform(22, 80),
        aspect=aspect,
        rotation=rng.normal(0, 0.15),
        harmonics=harmonics,
        spikes=spikes,
        edge_px=edge,
        contrast=contrast,
        posterior=posterior,
        posterior_strength=rng.uniform(0.3, 0.75),
        halo=malignant and rng.random() < 0.2,
    )


def sample_cohort(n_cases: int, seed: int = 0) -> list[SynthCase]:
    """Patients, labels and lesion shapes (no pixels yet), deterministic by seed."""
    if n_cases < 1:
        raise ValueError("n_cases must be at least 1")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xC0407]))
    weights = np.array([d.weight for d in DEVICES])
    cases: list[SynthCase] = []
    while len(cases) < n_cases:
        male = rng.random() < 0.03
        age = int(np.clip(round(rng.normal(60 if male else 53, 12)), 22, 88))
        history = bool(rng.random() < 0.15)
        device = DEVICES[int(rng.choice(len(DEVICES), p=weights / weights.sum()))]
        if rng.random() < 0.10:
            label = "normal"
        else:
            label = "malignant" if rng.random() < malignancy_probability(age, history, male) else "benign"
        patient = Patient(f"p{len(cases) + 1:04d}", age, "M" if male else "F", history, device, label)
        lesion = None if label == "normal" else _sample_lesion(label, rng)
        views = 2 if rng.random() < 0.3 and n_cases - len(cases) >= 2 else 1
        for v in range(1, views + 1):
            index = len(cases)
            shown = lesion if (lesion is None or v == 1) else lesion.view(rng)
            cases.append(SynthCase(f"syn{index + 1:04d}", index, patient, shown, v))
    return cases


# ------------------------------------------------------------------ rendering


F32 = np.float32


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], scale: int) -> np.ndarray:
    """Zero-mean unit-std smooth float32 noise: drawn coarse, upsampled bilinearly (fast)."""
    h, w = shape
    coarse = ndimage.gaussian_filter(rng.standard_normal((h // scale + 3, w // scale + 3), dtype=F32), 1.0)
    big = (coarse.shape[1] * scale, coarse.shape[0] * scale)
    field = np.asarray(Image.fromarray(coarse).resize(big, Image.BILINEAR))[:h, :w]
    return (field - field.mean()) / (field.std() + F32(1e-6))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return F32(0.5) + F32(0.5) * np.tanh(F32(0.5) * z)


def _boundary(rng: np.random.Generator, w: int, base: float, wobble: float) -> np.ndarray:
    x = np.arange(w)
    curve = base + wobble * np.sin(2 * math.pi * x / rng.uniform(0.8, 2.5) / w + rng.uniform(0, 2 * math.pi))
    return (curve + wobble * 0.5 * _smooth_field(rng, (1, w), 16)[0]).astype(F32)


def _tissue(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Echogenicity (mean backscatter) of the layered breast, float32 H x W."""
    y = np.arange(h, dtype=F32)[:, None]
    skin = rng.uniform(8, 16)
    fat = _boundary(rng, w, skin + rng.uniform(0.12, 0.25) * h, rng.uniform(3, 12))
    gland = _boundary(rng, w, fat.mean() + rng.uniform(0.35, 0.5) * h, rng.uniform(5, 18))
    fat_level, gland_level = F32(rng.uniform(0.12, 0.25)), F32(rng.uniform(0.55, 0.9))
    echo = np.broadcast_to(1 - (1 - fat_level) * _sigmoid((y - F32(skin)) / F32(1.5)), (h, w)).copy()
    echo += (gland_level - fat_level) * _sigmoid((y - fat[None, :]) / F32(4.0))
    stripes = np.sin(F32(2 * math.pi / rng.uniform(7, 14)) * y + 2 * _smooth_field(rng, (h, w), 24))
    echo += (F32(0.35) * (1 + F32(0.35) * stripes) - gland_level) * _sigmoid((y - gland[None, :]) / F32(5.0))
    # fat lobules: normal anatomy that looks like a small hypoechoic mass
    for _ in range(int(rng.integers(0, 4))):
        cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(skin + 10, max(skin + 11, fat.mean() - 5))
        a, b = rng.uniform(15, 40), rng.uniform(6, 14)
        r0, r1, c0, c1 = max(0, int(cy - 3 * b)), min(h, int(cy + 3 * b)), max(0, int(cx - 3 * a)), min(w, int(cx + 3 * a))
        yy, xx = np.mgrid[r0:r1, c0:c1].astype(F32)
        inside = ((xx - F32(cx)) / F32(a)) ** 2 + ((yy - F32(cy)) / F32(b)) ** 2
        echo[r0:r1, c0:c1] *= 1 - F32(0.4) * np.exp(-(inside**2))
    return echo * np.exp(F32(0.25) * _smooth_field(rng, (h, w), 12))


def _lesion_geometry(
    lesion: Lesion, rng: np.random.Generator, h: int, w: int, margin: int
) -> tuple[np.ndarray, tuple[slice, slice]]:
    """Approximate px from the boundary (> 0 inside) in a window around the lesion, and that window.

    The exact mask is `inside >= 0`; the image blends with a sigmoid of the same
    field, so mask and picture share one boundary.
    """
    a = lesion.half_width
    b = a * lesion.aspect
    reach = 1.0 + sum(amp for amp, _ in lesion.harmonics) + max((s[1] for s in lesion.spikes), default=0.0)
    cx = rng.uniform(margin + a * reach + 5, w - margin - a * reach - 5) if w - 2 * margin > 2 * a * reach + 12 else w / 2
    cy = rng.uniform(max(0.3 * h, b * reach + 20), min(0.7 * h, h - b * reach - 20)) if h > 2 * b * reach + 40 else h / 2
    pad = reach * max(a, b) + 25  # room for the blurred edge and the halo
    r0, r1 = max(0, int(cy - pad)), min(h, int(cy + pad) + 1)
    c0, c1 = max(0, int(cx - pad)), min(w, int(cx + pad) + 1)
    y, x = np.mgrid[r0:r1, c0:c1].astype(np.float64)
    c, s = math.cos(lesion.rotation), math.sin(lesion.rotation)
    u = ((x - cx) * c + (y - cy) * s) / a
    v = (-(x - cx) * s + (y - cy) * c) / b
    rho, theta = np.hypot(u, v), np.arctan2(v, u)
    radius = np.ones_like(theta)
    for k, (amp, phase) in enumerate(lesion.harmonics, start=2):
        radius += amp * np.cos(k * theta + phase)
    for angle, length, width in lesion.spikes:
        diff = (theta - angle + math.pi) % (2 * math.pi) - math.pi
        radius += length * np.exp(-((diff / width) ** 2))
    return ((radius - rho) * min(a, b)).astype(F32), (slice(r0, r1), slice(c0, c1))


def _posterior(mask: np.ndarray, kind: str, strength: float) -> np.ndarray:
    """Multiplicative band below the lesion: brighter (enhancement) or darker (shadowing)."""
    h, _ = mask.shape
    cols = mask.any(axis=0)
    bottom = np.where(cols, h - 1 - np.argmax(mask[::-1], axis=0), 0).astype(F32)
    lateral = ndimage.gaussian_filter1d(cols.astype(F32), 4.0)
    y = np.arange(h, dtype=F32)[:, None]
    band = _sigmoid((y - bottom[None, :] - 3) / F32(3.0)) * lateral[None, :]
    if kind == "enhancement":  # +4..+8 dB
        return 1 + F32(2.0 * strength) * band
    return 1 - F32(strength) * band


def render(case: SynthCase, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 image, bool mask), deterministic for (case.index, seed)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, case.index, 0x5EED]))
    dev = case.patient.device
    h = int(round(dev.size[0] * rng.uniform(0.88, 1.12)))
    w = int(round(dev.size[1] * rng.uniform(0.88, 1.12)))
    margin = int(round(dev.margin * w))
    echo = _tissue(rng, h, w)
    mask = np.zeros((h, w), dtype=bool)
    if case.lesion is not None:
        lesion = case.lesion
        inside, win = _lesion_geometry(lesion, rng, h, w, margin)
        mask[win] = inside >= 0
        alpha = _sigmoid(inside / F32(lesion.edge_px))
        sub = echo[win]
        if lesion.halo:
            sub *= 1 + F32(0.7) * np.exp(-(((inside + 4) / F32(3.0)) ** 2))
        level = F32(lesion.contrast * float(np.median(sub[inside >= 0])))
        inner = level * np.exp(F32(0.3) * _smooth_field(rng, sub.shape, 6))
        echo[win] = sub * (1 - alpha) + inner * alpha
        if lesion.posterior != "none":
            echo *= _posterior(mask, lesion.posterior, lesion.posterior_strength)
    # correlated Rayleigh speckle: magnitude of smoothed complex Gaussian noise
    re = ndimage.gaussian_filter(rng.standard_normal((h, w), dtype=F32), dev.speckle)
    im = ndimage.gaussian_filter(rng.standard_normal((h, w), dtype=F32), dev.speckle)
    speckle = np.hypot(re, im)
    speckle /= speckle.mean()
    depth = np.exp(F32(-dev.attenuation * rng.uniform(0.7, 1.3) / h) * np.arange(h, dtype=F32))[:, None]
    db = F32(20.0) * np.log10(echo * speckle * depth + F32(1e-6))
    top = float(np.percentile(db, 99.5)) + 5.0 + rng.normal(0, 2.0)
    dr = dev.dynamic_range_db + rng.normal(0, 3.0)
    image = np.clip((db - F32(top - dr)) * F32(255.0 / dr), 0, 255)
    image[: int(rng.integers(2, 6))] *= F32(0.15)  # probe coupling line
    if margin:
        image[:, :margin] = 0
        image[:, w - margin :] = 0
    if case.lesion is not None and rng.random() < 0.2:
        _calipers(image, mask)
    return np.round(image).astype(np.uint8), mask


def _calipers(image: np.ndarray, mask: np.ndarray) -> None:
    """Burned-in '+' marks beside the lesion's left and right ends, as on real scans."""
    rows, cols = np.nonzero(mask)
    row = int(rows.mean())
    h, w = image.shape
    for col in (int(cols.min()) - 6, int(cols.max()) + 6):
        if 4 <= col < w - 4 and 4 <= row < h - 4:
            image[row, col - 4 : col + 5] = 255
            image[row - 4 : row + 5, col] = 255


# ------------------------------------------------------------------ writing

US_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.6.1"


def write_dicom(path: Path, image: np.ndarray, case: SynthCase, seed: int = 0) -> None:
    """The same pixels as a DICOM US image with pseudonymous, deterministic identifiers.

    UIDs come from `generate_uid(entropy_srcs=...)` so reruns are byte-identical;
    dates are fixed; names are 'SYNTHETIC^<patient>' and never real people.
    """
    from pydicom.dataset import FileMetaDataset, Dataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    p = case.patient
    key = f"lesionlens-synthetic/{seed}"
    study_uid = generate_uid(entropy_srcs=[key, p.patient_id, "study"])
    series_uid = generate_uid(entropy_srcs=[key, p.patient_id, "series"])
    instance_uid = generate_uid(entropy_srcs=[key, case.case_id, "instance"])
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = US_IMAGE_STORAGE
    meta.MediaStorageSOPInstanceUID = instance_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = generate_uid(entropy_srcs=["lesionlens-synthetic"])
    meta.ImplementationVersionName = "LESIONLENS_SYN"
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = US_IMAGE_STORAGE
    ds.SOPInstanceUID = instance_uid
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.Modality = "US"
    ds.PatientName = f"SYNTHETIC^{p.patient_id.upper()}"
    ds.PatientID = f"SYN-{p.patient_id.upper()}"
    ds.PatientAge = f"{p.age:03d}Y"
    ds.PatientSex = p.sex
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20240101"
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "120000"
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = case.view
    ds.Manufacturer = "Synthetic"
    ds.ManufacturerModelName = p.device.name
    ds.BodyPartExamined = "BREAST"
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.PixelSpacing = [f"{p.device.spacing_mm:.4f}", f"{p.device.spacing_mm:.4f}"]
    ds.set_pixel_data(image, photometric_interpretation="MONOCHROME2", bits_stored=8, generate_instance_uid=False)
    ds.save_as(path, enforce_file_format=True)


MANIFEST_COLUMNS = (
    "case_id", "patient_id", "image", "mask", "label", "age", "sex", "history", "device",
    "spacing_mm", "view", "dicom", "radiologist_shape", "radiologist_orientation", "radiologist_posterior",
)  # fmt: skip


def write_cohort(out_dir: Path | str, n_cases: int, seed: int = 0, dicom: bool = True) -> CohortSummary:
    """Write images/, masks/, dicom/ and manifest.csv (readable by the `manifest:` spec)."""
    start = time.perf_counter()
    out = Path(out_dir)
    for sub in ("images", "masks") + (("dicom",) if dicom else ()):
        (out / sub).mkdir(parents=True, exist_ok=True)
    cases = sample_cohort(n_cases, seed)
    rows = []
    for case in cases:
        image, mask = render(case, seed)
        Image.fromarray(image).save(out / "images" / f"{case.case_id}.png", compress_level=1)  # speckle barely compresses
        Image.fromarray(mask.astype(np.uint8) * 255).save(out / "masks" / f"{case.case_id}.png")
        if dicom:
            write_dicom(out / "dicom" / f"{case.case_id}.dcm", image, case, seed)
        p = case.patient
        d = case.descriptors
        rows.append({
            "case_id": case.case_id, "patient_id": p.patient_id,
            "image": f"images/{case.case_id}.png",
            "mask": f"masks/{case.case_id}.png" if case.lesion is not None else "",
            "label": p.label, "age": p.age, "sex": p.sex, "history": "yes" if p.history else "no",
            "device": p.device.name, "spacing_mm": p.device.spacing_mm, "view": case.view,
            "dicom": f"dicom/{case.case_id}.dcm" if dicom else "",
            "radiologist_shape": d["shape"], "radiologist_orientation": d["orientation"],
            "radiologist_posterior": d["posterior"],
        })  # fmt: skip
    manifest = out / "manifest.csv"
    with manifest.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    labels: dict[str, int] = {}
    for case in cases:
        labels[case.patient.label] = labels.get(case.patient.label, 0) + 1
    return CohortSummary(
        out_dir=out,
        manifest=manifest,
        cases=len(cases),
        patients=len({c.patient.patient_id for c in cases}),
        labels=dict(sorted(labels.items())),
        seconds=time.perf_counter() - start,
    )
