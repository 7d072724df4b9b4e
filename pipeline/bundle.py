"""Model bundles: self-describing folders (bundle.json + .keras weights).

The card itself is `pipeline.card.BundleCard`; this module reads it from and writes it to a
folder. Reading a card never imports TensorFlow, so the dashboard can list models cheaply;
`pipeline.predictor` loads the weights.

Integrity. `write_bundle_card` records the sha256 of every weights file a member names
(`weights_sha256`) and `read_bundle_card` checks each one (once per file size/mtime in a
process): a changed or damaged file is refused with a BundleError naming it. Cards written
before the hashes (schema 1) load with a warning, unless their `content_sha256` covers them.
Exported runtime artefacts (`card.runtime`, e.g. TFLite) are checked the same way when present.

Versions come from the content. `write_bundle_card` hashes the members' weight files and the
card's inference-relevant fields (everything but provenance, metrics and the version itself)
into `content_sha256`, and sets `version` to "<declared version>+<first 10 hex digits>".
Predictions are stored and cached under (name, version), so a bundle rebuilt with other weights
or another calibration gets a new version and never meets the old predictions. The hash is
taken over the JSON exactly as stored (and computed as earlier programs did), so a card written
by an older program is checked against what that program wrote.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from pipeline.card import (
    FORMAT_VERSION,
    INTENDED_USE,
    SCHEMA_VERSION,
    BundleCard,
    CardError,
    DataSource,
    Provenance,
    Training,
    data_sources_for,
)
from pipeline.data_sources import merge_sources
from pipeline.errors import BundleError

__all__ = [
    "FORMAT_VERSION",
    "INTENDED_USE",
    "BrokenBundle",
    "content_sha256",
    "content_version",
    "list_bundles",
    "read_bundle_card",
    "read_card_file",
    "training_sources",
    "training_specs",
    "write_bundle_card",
]

log = logging.getLogger(__name__)

# card fields that do not change what the model predicts: left out of the content hash. Kept exactly
# as schema-1 programs had it, so they and this program compute the same hash of the same card.
NOT_CONTENT = (
    "version",
    "content_sha256",
    "path",
    "has_weights",
    "created",
    "git_commit",
    "tensorflow",
    "keras",
    "intended_use",
    "metrics",
    "training",
    "name",
)
_hash_cache: dict[tuple[str, int, int], str] = {}
_hash_lock = threading.Lock()
_warned_unhashed: set[str] = set()
_command: str | None = None


@dataclass(frozen=True)
class BrokenBundle:
    """A folder under the models directory whose bundle cannot be used, and why (shown to administrators)."""

    path: Path
    name: str
    error: str


def file_sha256(path: Path) -> str:
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


def content_sha256(bundle_dir: str | Path, card: BundleCard | Mapping[str, Any]) -> str:
    """Hash of the members' weight files (in member order) and the card's inference-relevant fields,
    over the card's JSON form (a BundleCard is hashed as `to_json()` gives it)."""
    bundle_dir = Path(bundle_dir)
    data = card.to_json() if isinstance(card, BundleCard) else card
    digest = hashlib.sha256()
    for member in data["members"]:
        for key in sorted(member):  # seg, cls, and any other stage's weights (refine, ...): every file a member names
            rel = member[key]
            digest.update(f"{key}:{rel}:".encode())
            if isinstance(rel, str) and rel and (bundle_dir / rel).is_file():
                digest.update(file_sha256(bundle_dir / rel).encode())
    fields = {k: v for k, v in data.items() if k not in NOT_CONTENT}
    digest.update(json.dumps(fields, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def content_version(declared: Any, digest: str) -> str:
    """ "<declared>+<10 hex digits>"; a declared version that already has a hash suffix loses it first."""
    base = str(declared or "").split("+", 1)[0] or "bundle"
    return f"{base}+{digest[:10]}"


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_commit(repo: Path | None = None) -> str | None:
    return _git("rev-parse", "HEAD") or None


def git_dirty() -> bool | None:
    """Whether tracked files differ from the commit (None when git is not available)."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    return None if status is None else bool(status)


def set_command(argv: Sequence[str]) -> None:
    """Record the command line this process runs (`python -m training` calls it with its arguments)."""
    global _command
    _command = shlex.join(argv)


def current_command() -> str:
    """The command line that is making a bundle: as `set_command` recorded it, else sys.argv joined."""
    return _command if _command is not None else shlex.join(sys.argv)


def _package_version(*names: str) -> str | None:
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def read_card_file(card_path: str | Path) -> BundleCard:
    """Parse and validate a bundle.json (no folder or weights checks)."""
    card_path = Path(card_path)
    source = card_path.parent.name
    try:
        raw = json.loads(card_path.read_text())
    except OSError as exc:
        raise BundleError(f"bundle.json of {source} cannot be read: {exc.strerror or exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"bundle.json in {source} is damaged: {exc}") from exc
    return _parse(raw, source)


def _parse(raw: Any, source: str) -> BundleCard:
    if not isinstance(raw, dict):
        raise BundleError(f"bundle.json in {source} is not a JSON object")
    try:
        return BundleCard.from_json(raw)
    except CardError as exc:
        raise exc.in_bundle(source) from None


def read_bundle_card(bundle_dir: str | Path, require_weights: bool = True, verify: bool = True) -> BundleCard:
    """Read, validate and check a bundle folder's card; every problem becomes a BundleError.

    `require_weights=False` accepts a card whose weight files are absent (a CV fold kept as text
    results only: its calibration and metrics are still valid) and says so in `has_weights`.
    `verify=False` skips the weight and content hashes (a report reads a card, not the weights).
    """
    bundle_dir = Path(bundle_dir)
    card_path = bundle_dir / "bundle.json"
    if not bundle_dir.is_dir():
        raise BundleError(f"model bundle folder not found: {bundle_dir}")
    if not card_path.is_file():
        raise BundleError(f"{bundle_dir.name} is not a Lesion Lens bundle: bundle.json is missing")
    try:
        raw = json.loads(card_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"bundle.json in {bundle_dir.name} is damaged: {exc}") from exc
    card = _parse(raw, bundle_dir.name)
    missing = [
        (stage, rel)
        for member in card.members
        for stage, rel in member.weight_files.items()
        if not (bundle_dir / rel).is_file()
    ]
    if missing and require_weights:
        stage, rel = missing[0]
        raise BundleError(f"bundle {bundle_dir.name} is incomplete: {stage} weights {rel!r} are missing")
    if verify and not missing:
        _check_weights(bundle_dir, card)
        _check_runtime(bundle_dir, card)
        expected = card.content_sha256
        if expected:
            actual = content_sha256(bundle_dir, raw)  # over the JSON as stored: what its writer hashed
            if actual != expected or card.version != content_version(card.version, actual):
                raise BundleError(
                    f"bundle {bundle_dir.name} changed after it was written (its weights or card no longer "
                    f"match content_sha256, so version {card.version} would be stale): rebuild it"
                )
    return replace(card, path=bundle_dir, has_weights=not missing)


def _check_weights(bundle_dir: Path, card: BundleCard) -> None:
    """Every weights file against its recorded sha256; schema-1 cards without hashes get a warning."""
    if not card.weights_sha256:
        key = str(bundle_dir.resolve())
        if not card.content_sha256 and key not in _warned_unhashed:
            _warned_unhashed.add(key)
            log.warning(
                "bundle %s: bundle.json (schema %d) records no sha256 of its weight files, so they are "
                "loaded unchecked; rewrite the card with this program to record them",
                bundle_dir.name,
                card.schema_version,
            )
        return
    for rel in card.weight_files:
        expected = card.weights_sha256.get(rel)
        if expected is None:
            raise BundleError(f"bundle {bundle_dir.name}: bundle.json records no sha256 for the weights file {rel}")
        actual = file_sha256(bundle_dir / rel)
        if actual != expected:
            raise BundleError(
                f"bundle {bundle_dir.name}: the weights file {rel} does not match the sha256 recorded in bundle.json "
                f"(recorded {expected[:12]}…, file {actual[:12]}…): it was changed or damaged after the bundle was "
                "written; restore the file or retrain"
            )


def _check_runtime(bundle_dir: Path, card: BundleCard) -> None:
    """Each exported runtime artefact that is present against its sha256 (an absent one is simply not
    used: the predictor falls back to the Keras weights, see pipeline.runtimes)."""
    if card.runtime is None:
        return
    for rel, expected in card.runtime.sha256.items():
        path = bundle_dir / rel
        if path.is_file() and file_sha256(path) != expected:
            raise BundleError(
                f"bundle {bundle_dir.name}: the runtime artefact {rel} does not match the sha256 recorded in "
                "bundle.json: it was changed or damaged after export; delete it (the Keras weights are then "
                "used) or export it again"
            )


def list_bundles(models_dir: str | Path) -> list[BundleCard | BrokenBundle]:
    """Bundles under `models_dir`, newest first; damaged ones are listed as `BrokenBundle`
    with the error, so an administrator sees why a model is unavailable."""
    models_dir = Path(models_dir)
    cards: list[BundleCard] = []
    broken: list[BrokenBundle] = []
    if not models_dir.is_dir():
        return []
    for child in sorted(models_dir.iterdir()):
        if not (child / "bundle.json").exists():
            continue
        try:
            cards.append(read_bundle_card(child))
        except BundleError as exc:
            broken.append(BrokenBundle(child, child.name, str(exc)))
    return [*sorted(cards, key=lambda c: c.created or "", reverse=True), *broken]


def write_bundle_card(bundle_dir: str | Path, card: BundleCard) -> BundleCard:
    """Write bundle.json atomically: fills provenance (when not set), the weights' sha256 and the
    content version; returns the card as written."""
    bundle_dir = Path(bundle_dir)
    bundle_dir.mkdir(parents=True, exist_ok=True)
    absent = [rel for rel in card.weight_files if not (bundle_dir / rel).is_file()]
    if absent:
        raise BundleError(f"cannot write the card of {bundle_dir.name}: weights file {absent[0]} is not in the folder")
    given = card.provenance
    provenance = Provenance(
        git_commit=given.git_commit or git_commit(),
        git_dirty=given.git_dirty if given.git_commit else git_dirty(),
        command=given.command or current_command(),
        tensorflow=given.tensorflow or _package_version("tensorflow", "tensorflow-cpu"),
        keras=given.keras or _package_version("keras"),
    )
    card = replace(
        card,
        format_version=FORMAT_VERSION,
        schema_version=SCHEMA_VERSION,
        created=card.created or now_iso(),
        provenance=provenance,
        weights_sha256={rel: file_sha256(bundle_dir / rel) for rel in card.weight_files},
        content_sha256=None,
    )
    stored = json.loads(json.dumps(card.to_json(), default=str))  # hashed as it will read back
    digest = content_sha256(bundle_dir, stored)
    card = replace(card, content_sha256=digest, version=content_version(card.version, digest))
    tmp = bundle_dir / "bundle.json.tmp"
    tmp.write_text(json.dumps(card.to_json(), indent=2, default=str))
    os.replace(tmp, bundle_dir / "bundle.json")
    return replace(card, path=bundle_dir, has_weights=True)


def _nested_specs(value: Any) -> list[str]:
    """`dataset` strings anywhere in free-form card JSON (an ensemble may nest its members' records)."""
    if isinstance(value, Mapping):
        found = [v for k, v in value.items() if k == "dataset" and isinstance(v, str)]
        return found + [s for v in value.values() for s in _nested_specs(v)]
    if isinstance(value, list):
        return [s for v in value for s in _nested_specs(v)]
    return []


def training_specs(training: Training) -> list[str]:
    """Every dataset spec whose images shaped a bundle (`card.training`): its own (and any nested in
    its training record), and those of the bundles its training started from (`--init-from`, recursively)."""
    specs = [training.dataset] if training.dataset else []
    specs += _nested_specs(training.extra) + _nested_specs(training.split.extra)
    for weights in dict.fromkeys(training.init_weights().values()):
        source = Path(weights).parents[2] / "bundle.json"  # BUNDLE/members/K/seg.keras
        try:
            specs += training_specs(read_card_file(source).training)
        except BundleError:
            log.warning("init weights %s: source bundle card not readable, its training data is unknown", weights)
    return list(dict.fromkeys(specs))


def training_sources(dataset_spec: str, init_weights: Iterable[str | None] = ()) -> tuple[DataSource, ...]:
    """A new card's `data_sources`: those of the dataset spec trained on, plus those recorded by the
    bundles training started from (`--init-from` weights, BUNDLE/members/K/seg.keras)."""
    inherited = []
    for weights in dict.fromkeys(w for w in init_weights if w):
        try:
            inherited.append(read_card_file(Path(weights).parents[2] / "bundle.json").data_sources)
        except (BundleError, IndexError):
            log.warning("init weights %s: no readable source bundle card, its data sources are not recorded", weights)
    return merge_sources(data_sources_for(dataset_spec), *inherited)
