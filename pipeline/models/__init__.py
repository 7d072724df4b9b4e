"""Keras 3 model builders (importing this package imports TensorFlow/Keras)."""

from pipeline.models.classifier import ClassifierSpec, build_classifier
from pipeline.models.unet import UNetSpec, build_unet

__all__ = ["ClassifierSpec", "UNetSpec", "build_classifier", "build_unet"]
