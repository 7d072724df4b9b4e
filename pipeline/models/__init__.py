"""Keras 3 model builders.

The specs (`pipeline.models.specs`) import no Keras; the builders are loaded
on first use so that importing a spec stays cheap.
"""

from pipeline.models.specs import ClassifierSpec, UNetSpec

__all__ = ["ClassifierSpec", "UNetSpec", "build_classifier", "build_unet"]


def __getattr__(name):
    if name == "build_unet":
        from pipeline.models.unet import build_unet

        return build_unet
    if name == "build_classifier":
        from pipeline.models.classifier import build_classifier

        return build_classifier
    raise AttributeError(name)
