"""Lesion Lens inference library.

Importable without Dash and without TensorFlow: modules that need TensorFlow
(`pipeline.models`, `pipeline.predictor`) import it themselves, so the dataset
and image tools stay quick to load (TensorFlow alone takes ~6 s to import).
"""

from pipeline.errors import BundleError, DatasetError, ImageLoadError
from pipeline.types import Case, ImageRecord, Prediction

__all__ = [
    "BundleError",
    "Predictor",
    "load_cases",
    "load_image",
    "Case",
    "DatasetError",
    "ImageLoadError",
    "ImageRecord",
    "Prediction",
]


def __getattr__(name):
    """`pipeline.Predictor`, `pipeline.load_image`, `pipeline.load_cases` on first use."""
    if name == "Predictor":
        from pipeline.predictor import Predictor

        return Predictor
    if name == "load_image":
        from pipeline.io import load_image

        return load_image
    if name == "load_cases":
        from pipeline.datasets import load_cases

        return load_cases
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
