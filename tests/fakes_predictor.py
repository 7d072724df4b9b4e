"""A stand-in Predictor for fast unit tests (no TensorFlow).

Same interface as pipeline.predictor.Predictor: name, version, card and
predict(record, metadata) -> Prediction. The "model" thresholds the darkest
pixels (lesions are hypoechoic on ultrasound), so the mask is plausible and
deterministic; P(malignant) grows with the region's irregularity proxy
(area fraction). Integration and browser tests use a real bundle instead.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from pipeline.bundle import read_card_file
from pipeline.types import ImageRecord, Prediction


class FakePredictor:
    loads = 0

    def __init__(self, bundle_dir: str | Path) -> None:
        FakePredictor.loads += 1
        self.card = read_card_file(Path(bundle_dir) / "bundle.json")
        self.name, self.version = self.card.identity
        self.calls = 0

    def predict(self, record: ImageRecord, metadata: dict | None = None) -> Prediction:
        self.calls += 1
        started = time.perf_counter()
        gray = record.display.astype(np.float32)
        threshold = np.percentile(gray, 12)
        mask = gray <= threshold
        prob_map = np.clip(1.0 - gray / max(float(gray.max()), 1.0), 0, 1).astype(np.float32)
        rows, cols = np.nonzero(mask)
        found = bool(mask.any())
        box = (int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1) if found else None
        fraction = float(mask.mean())
        probability = float(np.clip(0.2 + 4 * fraction + (int(record.sha256[:2], 16) / 255.0) * 0.3, 0, 1))
        spacing = record.spacing_mm
        area_px = int(mask.sum())
        return Prediction(
            label="malignant" if probability >= 0.5 else "benign",
            probability=probability,
            uncertainty=0.05,
            mask=mask,
            probability_map=prob_map,
            box=box,
            area_px=area_px,
            area_mm2=area_px * spacing[0] * spacing[1] if spacing else None,
            lesion_found=found,
            model_name=self.name,
            model_version=self.version,
            timings_ms={"total": (time.perf_counter() - started) * 1000},
        )


def make_fake_bundle(models_dir: Path, name: str = "fake", version: str = "1.0", **card) -> Path:
    """A bundle folder that pipeline.bundle accepts (card + empty weight files)."""
    bundle = Path(models_dir) / name
    bundle.mkdir(parents=True, exist_ok=True)
    (bundle / "seg.keras").write_bytes(b"fake")
    (bundle / "cls.keras").write_bytes(b"fake")
    full = {
        "format_version": 1,
        "name": name,
        "version": version,
        "created": card.pop("created", "2025-01-01T00:00:00+00:00"),
        "preprocessing": {"work_max_side": 256, "seg_input_size": 160, "cls_input_size": 96, "margin": 0.3},
        "label_map": {"0": "benign", "1": "malignant"},
        "thresholds": {"malignant": 0.5, "segmentation": 0.5},
        "members": [{"seg": "seg.keras", "cls": "cls.keras"}],
        "intended_use": "research use; not a medical device",
        "training": {
            "dataset": "synthetic:40:1",
            "epochs": {"segmentation": 2, "classifier": 2},
            "minutes": {"this_run": 0.1},
        },
        "metrics": {"auc": 0.81, "dice": 0.7},
        **card,
    }
    (bundle / "bundle.json").write_text(json.dumps(full, indent=2))
    return bundle


def lesion_png(width: int = 500, height: int = 400, seed: int = 0) -> bytes:
    """A speckled ultrasound-like PNG with one dark oval 'lesion'."""
    import io

    from PIL import Image

    rng = np.random.default_rng(seed)
    image = rng.normal(140, 25, (height, width)).clip(0, 255)
    rows, cols = np.ogrid[:height, :width]
    oval = ((rows - height * 0.45) / (height * 0.12)) ** 2 + ((cols - width * 0.4) / (width * 0.1)) ** 2 <= 1
    image[oval] = rng.normal(30, 8, int(oval.sum())).clip(0, 255)
    buffer = io.BytesIO()
    Image.fromarray(image.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def fake_app(tmp_path: Path, **settings_overrides):
    """A dashboard app on tmp storage with the fake predictor and one fake bundle."""
    from dashboard.factory import create_app
    from dashboard.settings import Settings

    models = tmp_path / "models"
    make_fake_bundle(models)
    settings = Settings(home=tmp_path / "home", models_dir=models, **settings_overrides)
    return create_app(settings, predictor_factory=FakePredictor)


def module_app(name: str):
    """A module-scoped `app` fixture: `app = module_app("exports")` gives a test module's tests one
    fake-predictor app (`fake_app`) on a fresh temp folder named `name`."""
    import pytest

    @pytest.fixture(scope="module")
    def app(tmp_path_factory):
        return fake_app(tmp_path_factory.mktemp(name))

    return app
