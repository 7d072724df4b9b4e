"""Out-of-distribution guard: is this input like the images the model was trained on?

Pure numpy (`stats`, `gauss`, `fingerprint`); `encoder` imports Keras on use.
"""

from pipeline.ood.fingerprint import Fingerprint, OODResult, ood_message, source_of
from pipeline.ood.stats import STAT_NAMES, image_stats

__all__ = ["Fingerprint", "OODResult", "STAT_NAMES", "encoder_features", "encoder_input", "image_stats",
           "ood_message", "source_of"]


def __getattr__(name):
    if name in ("encoder_features", "encoder_input"):
        from pipeline.ood import encoder

        return getattr(encoder, name)
    raise AttributeError(name)
