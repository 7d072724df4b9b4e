"""flask-caching in front of the two expensive things: predictions and cohort figures.

Predictions are keyed by image sha256 + model name + version, so the same
image uploaded again (by anyone, in any worker) is answered without running
the model; cohort figures are keyed by filter + model + the store's data
version, so they refresh as soon as a case or review is added. A FileSystemCache
under home() serves one machine; CACHE_REDIS_URL switches to Redis for many.
A broken cache only costs speed: every call here degrades to a miss.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from typing import Any, Callable

from flask_caching import Cache

log = logging.getLogger(__name__)
LOCAL_ITEMS = 8  # memoised cohort results kept unpickled in each worker


def stable_key(prefix: str, *parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return f"ll:{prefix}:{hashlib.sha256(blob).hexdigest()[:32]}"


class CacheService:
    def __init__(self, settings, server) -> None:
        self.timeout = settings.cache_timeout_s
        if settings.cache_redis_url:
            config = {
                "CACHE_TYPE": "RedisCache",
                "CACHE_REDIS_URL": settings.cache_redis_url,
                "CACHE_KEY_PREFIX": "lesionlens:",
                "CACHE_OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 5},
            }
            self.backend = "redis"
        else:
            settings.cache_dir.mkdir(parents=True, exist_ok=True)
            config = {"CACHE_TYPE": "FileSystemCache", "CACHE_DIR": str(settings.cache_dir), "CACHE_THRESHOLD": 5000}
            self.backend = "filesystem"
        config["CACHE_DEFAULT_TIMEOUT"] = self.timeout
        self.cache = Cache(config=config)
        self.cache.init_app(server)
        self._local: OrderedDict[str, Any] = OrderedDict()
        self._guard = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}

    def get(self, key: str) -> Any:
        try:
            return self.cache.get(key)
        except Exception as exc:  # cache outage: behave as a miss
            log.warning("cache get failed (%s): %s", self.backend, exc)
            return None

    def set(self, key: str, value: Any, timeout: int | None = None) -> None:
        try:
            self.cache.set(key, value, timeout=timeout or self.timeout)
        except Exception as exc:
            log.warning("cache set failed (%s): %s", self.backend, exc)

    def delete(self, key: str) -> None:
        """Drop one entry (a deleted case's cached predictions); an outage is logged, not raised."""
        try:
            self.cache.delete(key)
        except Exception as exc:
            log.warning("cache delete failed (%s): %s", self.backend, exc)

    def memo(self, key: str, compute: Callable[[], Any], timeout: int | None = None) -> Any:
        """Value for `key` from this worker's small LRU, else the shared cache, else `compute()`.

        A per-key lock makes concurrent callbacks of one worker (several
        figures of one page load) wait for a single computation.
        """
        with self._guard:
            if key in self._local:
                self._local.move_to_end(key)
                return self._local[key]
            lock = self._key_locks.setdefault(key, threading.Lock())
        with lock:
            with self._guard:
                if key in self._local:
                    return self._local[key]
            value = self.get(key)
            if value is None:
                value = compute()
                self.set(key, value, timeout)
            with self._guard:
                self._local[key] = value
                while len(self._local) > LOCAL_ITEMS:
                    self._local.popitem(last=False)
                self._key_locks.pop(key, None)
        return value

    # ------------------------------------------------------------ predictions
    @staticmethod
    def prediction_key(sha256: str, model_name: str, model_version: str) -> str:
        return f"ll:pred:{model_name}:{model_version}:{sha256}"

    def get_prediction(self, sha256: str, model_name: str, model_version: str) -> dict | None:
        return self.get(self.prediction_key(sha256, model_name, model_version))

    def put_prediction(self, sha256: str, model_name: str, model_version: str, payload: dict) -> None:
        self.set(self.prediction_key(sha256, model_name, model_version), payload)

    def status(self) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            self.cache.set("ll:healthz", "ok", timeout=60)
            ok = self.cache.get("ll:healthz") == "ok"
            error = None if ok else "read back failed"
        except Exception as exc:
            ok, error = False, f"{type(exc).__name__}: {exc}"
        return {
            "ok": ok,
            "backend": self.backend,
            "ms": round((time.perf_counter() - started) * 1000, 1),
            **({"error": error} if error else {}),
        }
