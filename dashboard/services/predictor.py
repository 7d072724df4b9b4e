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

log = logging.getLogger(__name__)


def _default_factory(bundle_dir: Path):
    from pipeline.predictor import Predictor  # imports TensorFlow: only here, only when needed

    return Predictor(bundle_dir)


class PredictorPool:
    def __init__(self, factory: Callable[[Path], Any] | None = None) -> None:
        self.factory = factory or _default_factory
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._predictor = None
        self._pid = os.getpid()
        self.load_seconds: float | None = None

    @staticmethod
    def key_of(card: dict[str, Any]) -> tuple:
        return (str(card["path"]), str(card["name"]), str(card["version"]))

    def get(self, card: dict[str, Any]):
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
                self._predictor = self.factory(Path(card["path"]))
                self._key = key
                self.load_seconds = time.perf_counter() - started
                log.info("model %s %s loaded in %.1f s (pid %d)", key[1], key[2], self.load_seconds, os.getpid())
            return self._predictor

    def loaded(self) -> dict[str, Any] | None:
        if self._predictor is None or self._pid != os.getpid():
            return None
        return {"name": self._key[1], "version": self._key[2], "load_seconds": self.load_seconds}
