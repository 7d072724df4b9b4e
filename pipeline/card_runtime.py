"""The card's `runtime` record: exported network artefacts (e.g. TFLite) the predictor may run instead of Keras.

Why a record and not just files: an artefact is a second copy of the weights in another format, so the
card must say which Keras weights it was exported from (`source_sha256`, per stage, over the members'
`weights_sha256` in member order), its own sha256 (checked at load like the weights) and how closely it
was checked to match Keras (`tolerance`). A stale artefact (its source no longer matches the weights) or a
missing file is never used: the predictor falls back to the Keras models, which stay the source of truth.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.card_fields import CardError, as_float, as_object, as_str, obj, opt_str, req_str, wrong

RUNTIME_KINDS = ("tflite",)
STAGES = ("seg", "refine", "cls")


def stage_source_sha256(weights_sha256: Mapping[str, str], files: Sequence[str]) -> str:
    """One digest over the sha256 of a stage's weight files (member order): what an artefact was made from."""
    digest = hashlib.sha256()
    for rel in files:
        digest.update(f"{rel}:{weights_sha256.get(rel, '')};".encode())
    return digest.hexdigest()


def _hex(value: Any, path: str) -> str:
    if not isinstance(value, str) or len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise wrong(path, "a sha256 hex digest (64 lowercase hex digits)", value)
    return value


@dataclass(frozen=True)
class RuntimeArtefacts:
    """Per stage (seg, refine, cls) one artefact file running every member at once (relative path)."""

    kind: str
    files: Mapping[str, str]  # stage -> relative path
    sha256: Mapping[str, str]  # relative path -> sha256 of the artefact file
    source_sha256: Mapping[str, str]  # stage -> stage_source_sha256 of the Keras weights it was exported from
    tensorflow: str | None = None  # the converter's version
    tolerance: Mapping[str, float] = field(default_factory=dict)  # what the export checked, e.g. max_abs_diff

    @classmethod
    def from_json(cls, data: Any, prefix: str = "runtime") -> "RuntimeArtefacts":
        raw = as_object(data, prefix)
        kind = req_str(raw, "kind", prefix)
        if kind not in RUNTIME_KINDS:
            raise CardError(f"{prefix}.kind", f"is {kind!r}; known kinds: {', '.join(RUNTIME_KINDS)}")
        files = obj(raw, "files", prefix, required=True) or {}
        for stage, rel in files.items():
            path = f"{prefix}.files.{stage}"
            if stage not in STAGES:
                raise CardError(path, f"is not a stage ({', '.join(STAGES)})")
            rel = as_str(rel, path)
            if not rel or Path(rel).is_absolute() or ".." in Path(rel).parts:
                raise CardError(path, f"must be a path inside the bundle folder, not {rel!r}")
        hashes = obj(raw, "sha256", prefix, required=True) or {}
        sources = obj(raw, "source_sha256", prefix, required=True) or {}
        for stage, rel in files.items():
            _hex(hashes.get(rel), f"{prefix}.sha256.{rel}")
            _hex(sources.get(stage), f"{prefix}.source_sha256.{stage}")
        tolerance = obj(raw, "tolerance", prefix) or {}
        return cls(
            kind=kind,
            files={str(k): str(v) for k, v in files.items()},
            sha256={rel: str(hashes[rel]) for rel in files.values()},
            source_sha256={stage: str(sources[stage]) for stage in files},
            tensorflow=opt_str(raw, "tensorflow", prefix),
            tolerance={str(k): as_float(v, f"{prefix}.tolerance.{k}") for k, v in tolerance.items()},
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "files": dict(self.files),
            "sha256": dict(self.sha256),
            "source_sha256": dict(self.source_sha256),
            "tensorflow": self.tensorflow,
            "tolerance": dict(self.tolerance),
        }
