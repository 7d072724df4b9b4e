"""One Predictor per worker process, loaded lazily on first use.

gunicorn forks workers from a master that imported `dashboard.app`; TensorFlow
must not be imported before that fork, so nothing here imports it at module
level. The first prediction in a worker loads the active bundle (seconds) under
a lock, so concurrent threads of that worker wait for one load instead of
starting several. Switching the active model replaces the cached Predictor on
the next call; the pid check drops an instance inherited through a fork.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable

from pipeline.card import BundleCard

log = logging.getLogger(__name__)


def _default_factory(bundle_dir: Path):
    from pipeline.predictor import Predictor  # imports TensorFlow: only here, only when needed

    return Predictor(bundle_dir)


def warm_up_record():
    """A small ultrasound-like image (speckle, one dark oval) for the warm-up prediction."""
    import numpy as np

    from pipeline.io import record_from_array

    rng = np.random.default_rng(0)
    image = rng.normal(140, 25, (192, 256)).clip(0, 255)
    rows, cols = np.ogrid[:192, :256]
    image[((rows - 90) / 24.0) ** 2 + ((cols - 110) / 30.0) ** 2 <= 1] = 30
    return record_from_array(image.astype(np.uint8))


class PredictorPool:
    def __init__(self, factory: Callable[[Path], Any] | None = None) -> None:
        self.factory = factory or _default_factory
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._predictor = None
        self._pid = os.getpid()
        self.load_seconds: float | None = None
        self.warm_seconds: float | None = None

    @staticmethod
    def key_of(card: BundleCard) -> tuple:
        return (str(card.path), card.name, card.version)

    def get(self, card: BundleCard):
        """The Predictor for `card`, loading it if this process has not yet."""
        key = self.key_of(card)
        if self._pid == os.getpid() and self._key == key and self._predictor is not None:
            return self._predictor
        with self._lock:
            if self._pid != os.getpid():
                self._key, self._predictor, self._pid = None, None, os.getpid()
            if self._key != key or self._predictor is None:
                started = time.perf_counter()
                self._predictor = None  # free the old model before loading the new one
                self._predictor = self.factory(Path(str(card.path)))
                self._key = key
                self.load_seconds = time.perf_counter() - started
                log.info("model %s %s loaded in %.1f s (pid %d)", key[1], key[2], self.load_seconds, os.getpid())
            return self._predictor

    def warm(self, card: BundleCard) -> float:
        """Load `card`'s model and run one throw-away prediction; returns the seconds it took.

        The first call of a freshly loaded Keras model traces its graph (the
        first upload after a restart took 1.9 s for a 50 ms model); doing it
        here, in a background thread right after the worker forked, keeps both
        the load and the tracing out of the first user's request. A request
        arriving meanwhile waits on the same lock instead of loading again.
        """
        started = time.perf_counter()
        predictor = self.get(card)
        predictor.predict(warm_up_record(), {})
        seconds = time.perf_counter() - started
        self.warm_seconds = seconds
        log.info("model %s %s warmed in %.1f s (pid %d)", card.name, card.version, seconds, os.getpid())
        return seconds

    def loaded(self) -> dict[str, Any] | None:
        if self._predictor is None or self._pid != os.getpid():
            return None
        return {"name": self._key[1], "version": self._key[2], "load_seconds": self.load_seconds}
