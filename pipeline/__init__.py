"""Lesion Lens inference library.

Importable without Dash and without TensorFlow: modules that need TensorFlow
(`pipeline.models`, `pipeline.predictor`) import it themselves, so the dataset
and image tools stay quick to load (TensorFlow alone takes ~6 s to import).
"""

from pipeline.errors import BundleError, DatasetError, ImageLoadError
from pipeline.types import Case, ImageRecord, Prediction

__all__ = [
    "BundleError",
    "Case",
    "DatasetError",
    "ImageLoadError",
    "ImageRecord",
    "Prediction",
]
