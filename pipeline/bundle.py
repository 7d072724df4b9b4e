"""Model bundles: self-describing folders (bundle.json + .keras weights).

Reading a bundle's card never imports TensorFlow, so the dashboard can list
models cheaply; `pipeline.predictor` loads the weights. A bundle states its
format version, preprocessing, labels, thresholds, calibration, training data
and metrics, and its intended use, so a model file is never separated from
what it needs to be used correctly.

Versions come from the content. `write_bundle_card` hashes the members'
weight files and the card's inference-relevant fields (everything but
provenance, metrics and the version itself) into `content_sha256`, and sets
`version` to "<declared version>+<first 10 hex digits>". Predictions are
stored and cached under (name, version), so a bundle rebuilt with other
weights or another calibration (an ensemble from new folds used to keep its
first member's version) gets a new version and never meets the old
predictions. `read_bundle_card` checks the hash against the files (once per
file size/mtime in a process): a bundle changed after it was written is
refused rather than served under its old version. Cards written before this
(no `content_sha256`) are read as they are.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pipeline.errors import BundleError

FORMAT_VERSION = 1
INTENDED_USE = "research use; not a medical device"
REQUIRED_KEYS = ("format_version", "name", "version", "preprocessing", "label_map", "thresholds", "members")
# card fields that do not change what the model predicts: left out of the content hash
NOT_CONTENT = ("version", "content_sha256", "path", "has_weights", "created", "git_commit", "tensorflow", "keras",
               "intended_use", "metrics", "training", "name")
_hash_cache: dict[tuple, str] = {}
_hash_lock = threading.Lock()


def _file_sha256(path: Path) -> str:
    """sha256 of a weights file, remembered per (path, size, mtime) so listing bundles stays cheap."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _hash_lock:
        if key in _hash_cache:
            return _hash_cache[key]
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    with _hash_lock:
        _hash_cache[key] = digest.hexdigest()
    return _hash_cache[key]


def content_sha256(bundle_dir: str | Path, card: dict[str, Any]) -> str:
    """Hash of the members' weight files (in member order) and the card's inference-relevant fields."""
    bundle_dir = Path(bundle_dir)
    digest = hashlib.sha256()
    for member in card["members"]:
        for key in sorted(member):  # seg, cls, and any other stage's weights (refine, ...): every file a member names
            rel = member[key]
            digest.update(f"{key}:{rel}:".encode())
            if isinstance(rel, str) and rel and (bundle_dir / rel).is_file():
                digest.update(_file_sha256(bundle_dir / rel).encode())
    fields = {k: v for k, v in card.items() if k not in NOT_CONTENT}
    digest.update(json.dumps(fields, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def content_version(declared: Any, digest: str) -> str:
    """"<declared>+<10 hex digits>"; a declared version that already has a hash suffix loses it first."""
    base = str(declared or "").split("+", 1)[0] or "bundle"
    return f"{base}+{digest[:10]}"


def git_commit(repo: Path | None = None) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo or Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def read_bundle_card(bundle_dir: str | Path, require_weights: bool = True) -> dict[str, Any]:
    """Parse and validate bundle.json; every problem becomes a BundleError.

    `require_weights=False` accepts a card whose .keras files are absent (a CV fold kept as text
    results only: its calibration and metrics are still valid) and says so in `has_weights`.
    """
    bundle_dir = Path(bundle_dir)
    card_path = bundle_dir / "bundle.json"
    if not bundle_dir.is_dir():
        raise BundleError(f"model bundle folder not found: {bundle_dir}")
    if not card_path.is_file():
        raise BundleError(f"{bundle_dir.name} is not a Lesion Lens bundle: bundle.json is missing")
    try:
        card = json.loads(card_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"bundle.json in {bundle_dir.name} is damaged: {exc}") from exc
    if not isinstance(card, dict):
        raise BundleError(f"bundle.json in {bundle_dir.name} is not a JSON object")
    missing = [k for k in REQUIRED_KEYS if k not in card]
    if missing:
        raise BundleError(f"bundle.json in {bundle_dir.name} lacks {', '.join(missing)}")
    if card["format_version"] != FORMAT_VERSION:
        raise BundleError(
            f"bundle {bundle_dir.name} has format version {card['format_version']}, "
            f"this program reads version {FORMAT_VERSION}"
        )
    if not card["members"]:
        raise BundleError(f"bundle {bundle_dir.name} lists no model members")
    missing_weights = [(key, member.get(key)) for member in card["members"] for key in ("seg", "cls")
                       if not member.get(key) or not (bundle_dir / member[key]).is_file()]
    if missing_weights and require_weights:
        key, rel = missing_weights[0]
        raise BundleError(f"bundle {bundle_dir.name} is incomplete: {key} weights {rel!r} are missing")
    card["has_weights"] = not missing_weights
    expected = card.get("content_sha256")
    if expected and not missing_weights:
        actual = content_sha256(bundle_dir, card)
        if actual != expected or card["version"] != content_version(card["version"], actual):
            raise BundleError(f"bundle {bundle_dir.name} changed after it was written (its weights or card no longer "
                              f"match content_sha256, so version {card['version']} would be stale): rebuild it")
    card["path"] = str(bundle_dir)
    return card


def list_bundles(models_dir: str | Path) -> list[dict[str, Any]]:
    """Valid bundles under `models_dir`, newest first; damaged ones are listed
    with an `error` so an administrator sees why a model is unavailable."""
    models_dir = Path(models_dir)
    out = []
    if not models_dir.is_dir():
        return out
    for child in sorted(models_dir.iterdir()):
        if not (child / "bundle.json").exists():
            continue
        try:
            out.append(read_bundle_card(child))
        except BundleError as exc:
            out.append({"path": str(child), "name": child.name, "error": str(exc)})
    return sorted(out, key=lambda c: c.get("created", ""), reverse=True)


def write_bundle_card(bundle_dir: str | Path, card: dict[str, Any]) -> Path:
    """Write bundle.json atomically, filling provenance fields."""
    import keras
    import tensorflow as tf

    bundle_dir = Path(bundle_dir)
    bundle_dir.mkdir(parents=True, exist_ok=True)
    full = {
        "format_version": FORMAT_VERSION,
        "created": now_iso(),
        "git_commit": git_commit(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "intended_use": INTENDED_USE,
        **card,
    }
    full.pop("path", None)
    full.pop("has_weights", None)  # facts about this folder as read, not part of the card
    digest = content_sha256(bundle_dir, full)
    full["content_sha256"] = digest
    full["version"] = content_version(full.get("version"), digest)
    tmp = bundle_dir / "bundle.json.tmp"
    tmp.write_text(json.dumps(full, indent=2, default=str))
    os.replace(tmp, bundle_dir / "bundle.json")
    return bundle_dir / "bundle.json"
