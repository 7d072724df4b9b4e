"""Model bundles: self-describing folders (bundle.json + .keras weights).

Reading a bundle's card never imports TensorFlow, so the dashboard can list
models cheaply; `pipeline.predictor` loads the weights. A bundle states its
format version, preprocessing, labels, thresholds, calibration, training data
and metrics, and its intended use, so a model file is never separated from
what it needs to be used correctly.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pipeline.errors import BundleError

FORMAT_VERSION = 1
INTENDED_USE = "research use; not a medical device"
REQUIRED_KEYS = ("format_version", "name", "version", "preprocessing", "label_map", "thresholds", "members")


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
    tmp = bundle_dir / "bundle.json.tmp"
    tmp.write_text(json.dumps(full, indent=2, default=str))
    os.replace(tmp, bundle_dir / "bundle.json")
    return bundle_dir / "bundle.json"
