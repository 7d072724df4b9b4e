"""Replacement UIDs: a keyed hash, so one deployment maps a UID the same way every time.

Study, series and frame-of-reference UIDs tie images together; random new
UIDs would split one study into as many studies as files were exported, and
exporting the same file twice would create two different instances. A keyed
hash (HMAC-SHA256 with a secret salt) keeps those relationships and is
repeatable, while nobody without the salt can test a guessed original UID
against the output, which a plain hash would allow.

The output is a `2.25.<decimal UUID>` UID (PS3.5 B.2): no organisation root
is needed and it is at most 44 characters, well inside the 64 allowed.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import uuid
from pathlib import Path

from pipeline.paths import home, read_or_create_secret

SALT_ENV = "LESIONLENS_DEID_SALT"
SALT_FILE = "deid_salt"
MIN_SALT_BYTES = 16


def as_key(salt: bytes | str) -> bytes:
    """The salt as HMAC key bytes; ValueError when it is too short to be a secret."""
    key = salt.encode("utf-8") if isinstance(salt, str) else bytes(salt)
    if len(key) < MIN_SALT_BYTES:
        raise ValueError(f"the de-identification salt must be at least {MIN_SALT_BYTES} bytes long")
    return key


def deployment_salt(base: Path | None = None) -> bytes:
    """The deployment's secret: $LESIONLENS_DEID_SALT, else a file created once under home().

    Every worker and every later export must use the same salt for UIDs to
    stay consistent, so a per-process random salt would not do. The file is
    written with O_EXCL and linked into place, so two processes starting
    together agree on whichever wrote first; it is readable by its owner only.
    """
    env = os.environ.get(SALT_ENV)
    if env:
        return as_key(env)
    base = home() if base is None else base
    return as_key(read_or_create_secret(base / SALT_FILE))


class UidMapper:
    """Maps original UIDs to keyed-hash `2.25.` UIDs; the same input always gives the same output."""

    def __init__(self, salt: bytes | str) -> None:
        self._key = as_key(salt)
        self._cache: dict[str, str] = {}

    def __call__(self, original: str) -> str:
        original = str(original).strip().rstrip("\x00").strip()
        mapped = self._cache.get(original)
        if mapped is None:
            digest = hmac.new(self._key, original.encode("ascii", "replace"), hashlib.sha256).digest()
            # version=4 sets the UUID version/variant bits, as PS3.5 B.2 expects of a UUID
            mapped = f"2.25.{uuid.UUID(bytes=digest[:16], version=4).int}"
            self._cache[original] = mapped
        return mapped
